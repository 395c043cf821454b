//! keygate's signer on the shared, language-neutral vectors (the verifier's tests read the same
//! file: crates/keygate-verify/tests/data/signatures.json).
use keygate_core::policy::identity::{Identity, Target};
use keygate_verify::Secret;

#[test]
fn identity_signatures_match_the_shared_vectors() {
    let vectors: serde_json::Value =
        serde_json::from_str(include_str!("../../keygate-verify/tests/data/signatures.json")).unwrap();
    let statics = |s: &str| -> &'static str {
        ["test", "live", "secret", "publishable", "restricted"].into_iter().find(|x| *x == s).unwrap()
    };
    for c in vectors.as_array().unwrap() {
        let i = &c["inputs"];
        let s = |k: &str| i[k].as_str().unwrap();
        let perms = s("permissions");
        let id = Identity {
            account: s("account"),
            key_id: s("key_id"),
            key_type: statics(s("key_type")),
            mode: statics(s("mode")),
            request_id: s("request_id"),
            verified: s("verified"),
            permissions: (!perms.is_empty()).then(|| perms.to_owned()),
        };
        let target = Target { method: s("method"), host: s("host"), path: s("path") };
        let t = i["t"].as_i64().unwrap();
        let cur = Secret::new(c["secret"].as_str().unwrap().as_bytes());
        let prev = Secret::new(c["previous_secret"].as_str().unwrap().as_bytes());
        assert_eq!(
            id.signature(std::slice::from_ref(&cur), t, target),
            c["header"].as_str().unwrap(),
            "{}",
            c["name"]
        );
        assert_eq!(id.signature(&[cur, prev], t, target), c["header_with_previous"].as_str().unwrap());
    }
}

/// The request id and the verified bound are signed: an identity that differs only in one of
/// them signs differently, and the verifier refuses the request when either header is changed.
#[test]
fn request_id_and_verified_are_part_of_the_signature() {
    let secret = "whsec_current_0123456789abcdef0123456789abcdef";
    let signing = [Secret::new(secret.as_bytes())];
    let id = Identity {
        account: "acct_123",
        key_id: "key_1",
        key_type: "secret",
        mode: "live",
        request_id: "req_4QbH7mZk2TfX9cLw1NpR8sVy",
        verified: "kv;max-staleness=120",
        permissions: None,
    };
    let target = Target { method: "GET", host: "origin.internal", path: "/v1/charges?limit=3" };
    let t = 1_795_331_173;
    let sig = id.signature(&signing, t, target);
    assert_ne!(
        sig,
        Identity { request_id: "req_4QbH7mZk2TfX9cLw1NpR8sVz", ..id.clone() }.signature(&signing, t, target)
    );
    assert_ne!(sig, Identity { verified: "do", ..id.clone() }.signature(&signing, t, target));

    let mut headers: Vec<(String, String)> =
        id.headers().into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned())).collect();
    headers.push(("keygate-signature".into(), sig));
    let verify = |h: &[(String, String)]| {
        keygate_verify::Verifier::new(&[secret]).verify(
            |n| h.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str()),
            target.method,
            target.host,
            target.path,
            t,
        )
    };
    let ok = verify(&headers).unwrap();
    assert_eq!((ok.request_id.as_str(), ok.verified.as_str()), (id.request_id, id.verified));
    for (name, forged) in [("keygate-request-id", "req_replayed000000000000000"), ("keygate-verified", "do")]
    {
        let h: Vec<_> = headers
            .iter()
            .map(|(k, v)| (k.clone(), if k == name { forged.to_owned() } else { v.clone() }))
            .collect();
        assert_eq!(verify(&h), Err(keygate_verify::VerifyError::BadSignature), "{name}");
    }
}

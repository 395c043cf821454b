//! keygate's signer on the shared, language-neutral vectors (the verifier's tests read the same
//! file: crates/keygate-verify/tests/data/signatures.json).
use keygate_core::identity::{Identity, Target};
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
            request_id: "req_irrelevant",
            verified: "do",
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

//! The shared, language-neutral vectors (tests/data/signatures.json, made by generate.py with
//! Python's hmac): the verifier accepts them, refuses any single change, and refuses what a
//! version 1 signer sent.
use keygate_verify::*;
use serde_json::Value;

fn vectors() -> Vec<Value> {
    serde_json::from_str(include_str!("data/signatures.json")).unwrap()
}

struct Case {
    v: Value,
}

impl Case {
    fn s(&self, k: &str) -> &str {
        self.v["inputs"][k].as_str().unwrap()
    }
    fn t(&self) -> i64 {
        self.v["inputs"]["t"].as_i64().unwrap()
    }
    fn signed(&self) -> Signed<'_> {
        Signed {
            method: self.s("method"),
            host: self.s("host"),
            path: self.s("path"),
            account: self.s("account"),
            key_id: self.s("key_id"),
            mode: self.s("mode"),
            key_type: self.s("key_type"),
            permissions: self.s("permissions"),
            request_id: self.s("request_id"),
            verified: self.s("verified"),
        }
    }
    fn headers(&self, sig: &str) -> Vec<(String, String)> {
        let mut h = vec![
            ("keygate-signature".into(), sig.to_owned()),
            ("keygate-account".into(), self.s("account").into()),
            ("keygate-key-id".into(), self.s("key_id").into()),
            ("keygate-mode".into(), self.s("mode").into()),
            ("keygate-key-type".into(), self.s("key_type").into()),
            ("keygate-request-id".into(), self.s("request_id").into()),
            ("keygate-verified".into(), self.s("verified").into()),
        ];
        if !self.s("permissions").is_empty() {
            h.push(("keygate-permissions".into(), self.s("permissions").into()));
        }
        h
    }
}

fn lookup<'a>(h: &'a [(String, String)]) -> impl Fn(&str) -> Option<&'a str> + 'a {
    move |name| h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[test]
fn signer_matches_the_vectors() {
    for v in vectors() {
        let c = Case { v };
        assert_eq!(
            String::from_utf8(canonical(c.t(), &c.signed())).unwrap(),
            c.v["canonical"].as_str().unwrap()
        );
        let cur = Secret::new(c.v["secret"].as_str().unwrap().as_bytes());
        let prev = Secret::new(c.v["previous_secret"].as_str().unwrap().as_bytes());
        assert_eq!(sign(std::slice::from_ref(&cur), c.t(), &c.signed()), c.v["header"].as_str().unwrap());
        assert_eq!(sign(&[cur, prev], c.t(), &c.signed()), c.v["header_with_previous"].as_str().unwrap());
    }
}

#[test]
fn verifier_accepts_the_vectors_and_rotation() {
    for v in vectors() {
        let c = Case { v };
        let (cur, prev) = (c.v["secret"].as_str().unwrap(), c.v["previous_secret"].as_str().unwrap());
        let s = c.signed();
        for header in [c.v["header"].as_str().unwrap(), c.v["header_with_previous"].as_str().unwrap()] {
            let h = c.headers(header);
            for secrets in [vec![cur], vec![cur, prev]] {
                let id =
                    Verifier::new(&secrets).verify(lookup(&h), s.method, s.host, s.path, c.t() + 10).unwrap();
                let want = Identity {
                    account: s.account.into(),
                    key_id: s.key_id.into(),
                    mode: s.mode.into(),
                    key_type: s.key_type.into(),
                    permissions: s.permissions.into(),
                    request_id: s.request_id.into(),
                    verified: s.verified.into(),
                    signed_at: c.t(),
                };
                assert_eq!(id, want, "{}", c.v["name"]);
            }
        }
        // A verifier that only knows the previous secret accepts the rotation header, not the plain one.
        let both = c.headers(c.v["header_with_previous"].as_str().unwrap());
        assert!(Verifier::new(&[prev]).verify(lookup(&both), s.method, s.host, s.path, c.t()).is_ok());
        let one = c.headers(c.v["header"].as_str().unwrap());
        assert_eq!(
            Verifier::new(&[prev]).verify(lookup(&one), s.method, s.host, s.path, c.t()),
            Err(VerifyError::BadSignature)
        );
    }
}

#[test]
fn any_single_change_fails() {
    let c = Case { v: vectors().remove(2) }; // a restricted key, with permissions
    let secret = c.v["secret"].as_str().unwrap();
    let v = Verifier::new(&[secret]);
    let s = c.signed();
    let t = c.t();
    let good = c.headers(c.v["header"].as_str().unwrap());
    assert!(v.verify(lookup(&good), s.method, s.host, s.path, t).is_ok());
    // The request line.
    assert_eq!(v.verify(lookup(&good), "GET", s.host, s.path, t), Err(VerifyError::BadSignature));
    assert_eq!(v.verify(lookup(&good), s.method, "evil.example", s.path, t), Err(VerifyError::BadSignature));
    assert_eq!(
        v.verify(lookup(&good), s.method, s.host, "/v1/charges?limit=4", t),
        Err(VerifyError::BadSignature)
    );
    // Each identity header.
    for name in [
        "keygate-account",
        "keygate-key-id",
        "keygate-mode",
        "keygate-key-type",
        "keygate-permissions",
        "keygate-request-id",
        "keygate-verified",
    ] {
        let h = tampered(&good, name);
        assert_eq!(
            v.verify(lookup(&h), s.method, s.host, s.path, t),
            Err(VerifyError::BadSignature),
            "{name}"
        );
    }
    // Dropping the permissions header changes the permissions digest.
    let h: Vec<_> = good.iter().filter(|(k, _)| k != "keygate-permissions").cloned().collect();
    assert_eq!(v.verify(lookup(&h), s.method, s.host, s.path, t), Err(VerifyError::BadSignature));
    // t itself.
    let sig = c.v["header"].as_str().unwrap().replacen(&format!("t={t}"), &format!("t={}", t + 1), 1);
    let h = c.headers(&sig);
    assert_eq!(v.verify(lookup(&h), s.method, s.host, s.path, t), Err(VerifyError::BadSignature));
    // One flipped hex digit of the signature.
    let mut sig = c.v["header"].as_str().unwrap().to_owned();
    let last = sig.pop().unwrap();
    sig.push(if last == '0' { '1' } else { '0' });
    assert_eq!(
        v.verify(lookup(&c.headers(&sig)), s.method, s.host, s.path, t),
        Err(VerifyError::BadSignature)
    );
    // Another secret.
    assert_eq!(
        Verifier::new(&["other"]).verify(lookup(&good), s.method, s.host, s.path, t),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn time_window() {
    let c = Case { v: vectors().remove(0) };
    let v = Verifier::new(&[c.v["secret"].as_str().unwrap()]);
    let s = c.signed();
    let h = c.headers(c.v["header"].as_str().unwrap());
    let t = c.t();
    assert!(v.verify(lookup(&h), s.method, s.host, s.path, t + 300).is_ok());
    assert!(v.verify(lookup(&h), s.method, s.host, s.path, t - 300).is_ok());
    assert_eq!(v.verify(lookup(&h), s.method, s.host, s.path, t + 301), Err(VerifyError::Stale { age: 301 }));
    assert_eq!(
        v.verify(lookup(&h), s.method, s.host, s.path, t - 301),
        Err(VerifyError::Future { ahead: 301 })
    );
    let strict = v.clone().with_tolerance(5);
    assert_eq!(
        strict.verify(lookup(&h), s.method, s.host, s.path, t + 6),
        Err(VerifyError::Stale { age: 6 })
    );
}

#[test]
fn missing_and_malformed() {
    let c = Case { v: vectors().remove(0) };
    let v = Verifier::new(&[c.v["secret"].as_str().unwrap()]);
    let s = c.signed();
    let t = c.t();
    let none: Vec<(String, String)> = vec![];
    assert_eq!(
        v.verify(lookup(&none), s.method, s.host, s.path, t),
        Err(VerifyError::Missing("Keygate-Signature"))
    );
    let good = c.headers(c.v["header"].as_str().unwrap());
    let h: Vec<_> = good.iter().filter(|(k, _)| k != "keygate-account").cloned().collect();
    assert_eq!(
        v.verify(lookup(&h), s.method, s.host, s.path, t),
        Err(VerifyError::Missing("Keygate-Account"))
    );
    let sig = &c.v["header"].as_str().unwrap()[c.v["header"].as_str().unwrap().find(",v2=").unwrap()..];
    for bad in [
        String::new(),
        "garbage".into(),
        format!("t={t}"),
        format!("t=,v2={}", &sig[4..]),
        format!("t=-5{sig}"),
        format!("t={t},t={t}{sig}"),
        format!("t={t},v2=abc"),
        format!("t={t},v2={}", "G".repeat(64)),
        format!("t={t},v2={}", "A".repeat(64)),
        format!("t={t},v1={}", &sig[4..]),
        "x".repeat(2000),
    ] {
        let h = c.headers(&bad);
        assert!(
            matches!(v.verify(lookup(&h), s.method, s.host, s.path, t), Err(VerifyError::Malformed(_))),
            "{bad:?}"
        );
    }
    // Other schemes alongside are ignored, version 1's included; v2 still decides.
    let h = c.headers(&format!("{},v1=zzz,v3=zzz", c.v["header"].as_str().unwrap()));
    assert!(v.verify(lookup(&h), s.method, s.host, s.path, t).is_ok());
    let h = c.headers(&format!("v1={},{}", "0".repeat(64), c.v["header"].as_str().unwrap()));
    assert!(v.verify(lookup(&h), s.method, s.host, s.path, t).is_ok());
    let mut bad_v2 = c.v["header"].as_str().unwrap().to_owned();
    let last = bad_v2.pop().unwrap();
    bad_v2.push(if last == '0' { '1' } else { '0' });
    let h = c.headers(&format!("{bad_v2},v1={}", &sig[4..]));
    assert_eq!(v.verify(lookup(&h), s.method, s.host, s.path, t), Err(VerifyError::BadSignature));
}

#[test]
fn request_id_and_verified_are_signed_and_required() {
    let c = Case { v: vectors().remove(0) };
    let v = Verifier::new(&[c.v["secret"].as_str().unwrap()]);
    let s = c.signed();
    let t = c.t();
    let good = c.headers(c.v["header"].as_str().unwrap());
    assert!(v.verify(lookup(&good), s.method, s.host, s.path, t).is_ok());
    for (name, display) in
        [("keygate-request-id", "Keygate-Request-Id"), ("keygate-verified", "Keygate-Verified")]
    {
        let h = tampered(&good, name);
        assert_eq!(
            v.verify(lookup(&h), s.method, s.host, s.path, t),
            Err(VerifyError::BadSignature),
            "{name}"
        );
        let h: Vec<_> = good.iter().filter(|(k, _)| k != name).cloned().collect();
        assert_eq!(
            v.verify(lookup(&h), s.method, s.host, s.path, t),
            Err(VerifyError::Missing(display)),
            "{name}"
        );
    }
}

#[test]
fn a_v1_only_header_is_refused() {
    for v in vectors() {
        let c = Case { v };
        let (cur, prev) = (c.v["secret"].as_str().unwrap(), c.v["previous_secret"].as_str().unwrap());
        let v = Verifier::new(&[cur, prev]);
        let s = c.signed();
        // What a version 1 signer sent for this request: genuine, and refused.
        let old = c.v["header_v1_only"].as_str().unwrap();
        assert!(old.contains(",v1=") && !old.contains("v2="));
        assert_eq!(
            v.verify(lookup(&c.headers(old)), s.method, s.host, s.path, c.t()),
            Err(VerifyError::Malformed("no v2 signature")),
            "{}",
            c.v["name"]
        );
        // The version 2 signatures relabelled as v1 are refused the same way.
        let relabelled = c.v["header_with_previous"].as_str().unwrap().replace("v2=", "v1=");
        assert_eq!(
            v.verify(lookup(&c.headers(&relabelled)), s.method, s.host, s.path, c.t()),
            Err(VerifyError::Malformed("no v2 signature"))
        );
        assert_eq!(parse_header(old), Err(VerifyError::Malformed("no v2 signature")));
    }
}

/// Moving the boundary between the request id and the verified bound (case 6 against case 0)
/// is the same string under naive concatenation, and a different message and signature here.
#[test]
fn the_request_id_and_verified_boundary_cannot_move() {
    let all = vectors();
    let (a, b) = (Case { v: all[0].clone() }, Case { v: all[6].clone() });
    assert_eq!(
        format!("{}{}", a.s("request_id"), a.s("verified")),
        format!("{}{}", b.s("request_id"), b.s("verified"))
    );
    assert_ne!(a.s("request_id"), b.s("request_id"));
    assert_ne!(canonical(a.t(), &a.signed()), canonical(b.t(), &b.signed()));
    let v = Verifier::new(&[a.v["secret"].as_str().unwrap()]);
    // a's signature on b's headers is refused.
    let s = b.signed();
    let h = b.headers(a.v["header"].as_str().unwrap());
    assert_eq!(v.verify(lookup(&h), s.method, s.host, s.path, b.t()), Err(VerifyError::BadSignature));
}

/// `headers` with one more character in the value of `name`.
fn tampered(headers: &[(String, String)], name: &str) -> Vec<(String, String)> {
    let mut h = headers.to_vec();
    for (k, val) in h.iter_mut() {
        if k == name {
            val.push('x');
        }
    }
    h
}

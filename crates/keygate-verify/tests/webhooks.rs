//! The webhook signature against the shared, language-neutral vectors (tests/data/webhooks.json,
//! made by generate_webhooks.py with Python's hmac): signing gives their headers, verifying
//! accepts them, and any change to the body, the time or the signature is refused.
use keygate_verify::webhook::{parse, sign, verify};
use keygate_verify::{Secret, VerifyError};
use serde_json::Value;

fn vectors() -> Vec<Value> {
    serde_json::from_str(include_str!("data/webhooks.json")).unwrap()
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap()
}

#[test]
fn signing_gives_the_vectors_headers() {
    for v in vectors() {
        let t = v["t"].as_i64().unwrap();
        let (cur, prev) =
            (Secret::new(s(&v, "secret").as_bytes()), Secret::new(s(&v, "previous_secret").as_bytes()));
        assert_eq!(
            sign(std::slice::from_ref(&cur), t, s(&v, "body").as_bytes()),
            s(&v, "header"),
            "{}",
            v["name"]
        );
        assert_eq!(
            sign(&[cur, prev], t, s(&v, "body").as_bytes()),
            s(&v, "header_rotating"),
            "{}",
            v["name"]
        );
    }
}

#[test]
fn verifying_accepts_the_vectors_and_refuses_any_change() {
    for v in vectors() {
        let t = v["t"].as_i64().unwrap();
        let body = s(&v, "body").as_bytes();
        let cur = Secret::new(s(&v, "secret").as_bytes());
        let prev = Secret::new(s(&v, "previous_secret").as_bytes());
        let name = &v["name"];
        assert_eq!(verify(std::slice::from_ref(&cur), s(&v, "header"), body, t + 10, 300), Ok(t), "{name}");
        // A receiver that knows only the previous secret still accepts a rotating delivery.
        assert_eq!(
            verify(std::slice::from_ref(&prev), s(&v, "header_rotating"), body, t, 300),
            Ok(t),
            "{name}"
        );
        assert_eq!(verify(&[prev], s(&v, "header"), body, t, 300), Err(VerifyError::BadSignature), "{name}");
        // Another body: one more byte, or one less.
        let longer = [body, b" "].concat();
        assert_eq!(
            verify(std::slice::from_ref(&cur), s(&v, "header"), &longer, t, 300),
            Err(VerifyError::BadSignature),
            "{name}"
        );
        if !body.is_empty() {
            assert_eq!(
                verify(std::slice::from_ref(&cur), s(&v, "header"), &body[1..], t, 300),
                Err(VerifyError::BadSignature)
            );
        }
        // Another time in the header (the signature covers it).
        let moved = s(&v, "header").replacen(&format!("t={t}"), &format!("t={}", t + 1), 1);
        assert_eq!(
            verify(std::slice::from_ref(&cur), &moved, body, t, 300),
            Err(VerifyError::BadSignature),
            "{name}"
        );
        // Replayed later than the tolerance, or from the future.
        assert_eq!(
            verify(std::slice::from_ref(&cur), s(&v, "header"), body, t + 301, 300),
            Err(VerifyError::Stale { age: 301 })
        );
        assert_eq!(
            verify(std::slice::from_ref(&cur), s(&v, "header"), body, t - 301, 300),
            Err(VerifyError::Future { ahead: 301 })
        );
        // The identity header's scheme is not the webhook's.
        let relabelled = s(&v, "header").replace("v1=", "v2=");
        assert_eq!(verify(&[cur], &relabelled, body, t, 300), Err(VerifyError::Malformed("no v1 signature")));
    }
}

#[test]
fn malformed_headers_are_named() {
    for (h, why) in [
        ("", "expected key=value pairs"),
        ("v1=00", "v1 must be 64 hex digits"),
        ("t=1", "no v1 signature"),
        ("t=1,t=2,v1=x", "t must be one unix time in seconds"),
        ("t=-1,v1=00", "t must be one unix time in seconds"),
    ] {
        assert_eq!(parse(h), Err(VerifyError::Malformed(why)), "{h:?}");
    }
    assert_eq!(parse(&"t=1,".repeat(300)), Err(VerifyError::Malformed("too long")));
}

#[test]
fn a_short_or_missing_secret_verifies_nothing() {
    let body = br#"{"id":"evt_forged","type":"key.revoked"}"#;
    let t = 1_767_225_600;
    // What an attacker signs with an empty secret, for a receiver whose variable is unset.
    let forged = sign(&[Secret::new(b"")], t, body);
    assert_eq!(verify(&[Secret::new(b"")], &forged, body, t, 300), Err(VerifyError::WeakSecret));
    assert_eq!(verify(&[], &forged, body, t, 300), Err(VerifyError::WeakSecret));
    let short = Secret::new(b"0123456789abcdef0123456789abcde");
    assert_eq!(
        verify(std::slice::from_ref(&short), &sign(std::slice::from_ref(&short), t, body), body, t, 300),
        Err(VerifyError::WeakSecret)
    );
}

//! Leak reports (GitHub's and the operator's), GitHub's keys document and its signature header:
//! never panic on any bytes.
#![no_main]
use keygate_core::api::leaks::{parse_github_report, parse_operator_report};
use keygate_core::policy::leaks::{SigningKeys, parse_signature};
use libfuzzer_sys::fuzz_target;

const DOC: &str = r#"{"public_keys":[{"key_identifier":"k","key":"-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE9MJJHnMfn2+H4xL4YaPDA4RpJqUq\nkCmRCBnYERxZanmcpzQSXs1X/AljlKkbJ8qpVIW4clayyef9gWhFbNHWAA==\n-----END PUBLIC KEY-----\n","is_current":true}]}"#;

fuzz_target!(|data: &[u8]| {
    let _ = parse_github_report(data);
    let _ = parse_operator_report(data);
    let _ = SigningKeys::from_json(data);
    // The first line is the signature header, the rest the body it is checked over.
    let text = String::from_utf8_lossy(data);
    let (sig, body) = text.split_once('\n').unwrap_or((&text, ""));
    if let Ok(signature) = parse_signature(Some("k"), Some(sig)) {
        let keys = SigningKeys::from_json(DOC.as_bytes()).expect("the document parses");
        let _ = keys.verify(&signature, body.as_bytes());
    }
});

//! Key parsing: never panics, an accepted key round-trips, and a refusal shows only the redacted
//! form of what was sent.
#![no_main]
use keygate_core::domain::key::{ApiKey, redact};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    match ApiKey::parse(s) {
        Ok(k) => {
            assert_eq!(k.expose_secret(), s);
            assert_eq!(ApiKey::parse(k.expose_secret()).unwrap(), k);
        }
        Err(e) => {
            let shown = redact(s);
            assert_eq!(e.message(), format!("Invalid API key provided: {shown}"));
            // The redaction is a known prefix and at most the last four characters.
            assert!(shown.chars().count() <= 8 + 1 + 4, "{shown:?}");
            if s.chars().count() > 12 {
                assert!(!shown.contains(s));
            }
        }
    }
});

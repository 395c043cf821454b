//! Key parsing: never panics, an accepted key round-trips, and no error message echoes the input.
#![no_main]
use keygate_core::key::{redact, ApiKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    match ApiKey::parse(s) {
        Ok(k) => {
            assert_eq!(k.expose_secret(), s);
            assert_eq!(ApiKey::parse(k.expose_secret()).unwrap(), k);
        }
        Err(e) => {
            if s.len() >= 20 {
                assert!(!e.message().contains(s));
            }
        }
    }
    let _ = redact(s);
});

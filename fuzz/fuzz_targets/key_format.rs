//! `KEY_FORMAT` and keys read with it: a declaration never panics, and neither does reading a
//! key with any format it accepts; an accepted key round-trips, and a refusal shows at most a
//! configured prefix and four characters of what was sent.
#![no_main]
use keygate_core::domain::key_format::KeyFormat;
use libfuzzer_sys::fuzz_target;

const MOMENT: &str = r#"{"prefixes": {"secret": {"test": "sk_test_", "live": "sk_"}, "publishable": {"test": "pk_test_", "live": "pk_"}}, "imported": {"min_length": 20, "max_length": 24}}"#;

fuzz_target!(|data: (&str, &str)| {
    let (declared, key) = data;
    let mut formats = vec![KeyFormat::parse_json(MOMENT).unwrap()];
    formats.extend(KeyFormat::parse_json(declared).ok());
    for f in &formats {
        match f.parse(key) {
            Ok(k) => {
                assert_eq!(k.expose_secret(), key);
                assert_eq!(f.parse(k.expose_secret()).unwrap(), k);
                assert!(key.starts_with(k.prefix()));
            }
            Err(e) => {
                let shown = f.redact(key);
                assert_eq!(e.message(), format!("Invalid API key provided: {shown}"));
                assert!(shown.chars().count() <= 16 + 1 + 4, "{shown:?}");
            }
        }
        let _ = f.looks_like_key(key);
        let _ = keygate_core::policy::credential::check_query(key, f);
    }
});

#![cfg(not(target_arch = "wasm32"))]
//! Property tests: the parsers never panic on any input, and what keygate writes, it reads back.
use keygate_core::domain::key::{ApiKey, KEY_LEN, KeyType, Mode};
use keygate_core::policy::credential::{Credential, check_query, decode_base64};
use keygate_core::policy::pattern::{EndpointPattern, OriginRule};
use keygate_core::rng::FixedRng;
use proptest::prelude::*;

fn key_type() -> impl Strategy<Value = KeyType> {
    prop_oneof![Just(KeyType::Secret), Just(KeyType::Publishable), Just(KeyType::Restricted)]
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![Just(Mode::Test), Just(Mode::Live)]
}

fn basic(s: &str) -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(s))
}

/// The base64 crate, configured as Basic credentials were decoded with it: the oracle for
/// `decode_base64`.
fn oracle(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const ENGINE: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    ENGINE.decode(text).ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn basic_base64_agrees_with_the_base64_crate(text in "[A-Za-z0-9+/=_\\-. ]{0,24}") {
        prop_assert_eq!(decode_base64(&text), oracle(&text), "{:?}", text);
    }

    #[test]
    fn basic_base64_agrees_on_encoded_bytes(data in proptest::collection::vec(any::<u8>(), 0..40), strip in 0usize..3, flip in any::<u8>()) {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(&data);
        prop_assert_eq!(decode_base64(&encoded), Some(data.clone()));
        // Padding removed, in part or whole, and one symbol changed: still the crate's answer.
        let trimmed = &encoded[..encoded.len() - strip.min(encoded.len() - encoded.trim_end_matches('=').len())];
        prop_assert_eq!(decode_base64(trimmed), oracle(trimmed));
        if !trimmed.is_empty() {
            let mut bytes = trimmed.as_bytes().to_vec();
            let i = usize::from(flip) % bytes.len();
            bytes[i] = b"AZaz09+/=-"[usize::from(flip) % 10];
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert_eq!(decode_base64(&changed), oracle(&changed), "{:?}", changed);
        }
    }

    #[test]
    fn generated_keys_round_trip(t in key_type(), m in mode(), seed in proptest::collection::vec(any::<u8>(), 1..64)) {
        let k = match ApiKey::generate(t, m, &mut FixedRng::new(seed.clone())) {
            Ok(k) => k,
            Err(e) => {
                // Only a source that never yields a usable byte may fail, and it must not hang.
                prop_assert!(seed.iter().all(|b| *b >= 248), "{e}");
                return Ok(());
            }
        };
        prop_assert_eq!(k.expose_secret().len(), KEY_LEN);
        let back = ApiKey::parse(k.expose_secret()).unwrap();
        prop_assert_eq!((back.key_type(), back.mode()), (t, m));
        // Both credential forms carry it unchanged.
        let bearer = format!("Bearer {}", k.expose_secret());
        let c = Credential::from_authorization(&bearer).unwrap();
        prop_assert_eq!(c.expose_secret(), k.expose_secret());
        let b = basic(&format!("{}:", k.expose_secret()));
        let c = Credential::from_authorization(&b).unwrap();
        prop_assert_eq!(c.expose_secret(), k.expose_secret());
    }

    #[test]
    fn any_single_substitution_is_caught(t in key_type(), m in mode(), seed in any::<[u8; 16]>(), pos in 8usize..KEY_LEN, c in "[0-9A-Za-z]") {
        let k = ApiKey::generate(t, m, &mut FixedRng::new(seed)).unwrap();
        let mut s = k.expose_secret().as_bytes().to_vec();
        let c = c.as_bytes()[0];
        prop_assume!(s[pos] != c);
        s[pos] = c;
        prop_assert!(ApiKey::parse(std::str::from_utf8(&s).unwrap()).is_err());
    }

    #[test]
    fn key_parsing_never_panics(s in any::<String>()) {
        if let Ok(k) = ApiKey::parse(&s) {
            prop_assert_eq!(k.expose_secret(), s.as_str());
        } else {
            prop_assert!(!ApiKey::parse(&s).unwrap_err().message().contains(&s) || s.len() < 8);
        }
    }

    #[test]
    fn credential_parsing_never_panics(s in any::<String>(), q in any::<String>()) {
        let _ = Credential::from_request(Some(&s), Some(&q));
        let _ = Credential::from_authorization(&s);
        let _ = check_query(&q);
    }

    #[test]
    fn credential_results_are_well_founded(token in "[!-~]{1,80}") {
        // Whatever the token, a Bearer credential is that token, or a precise error.
        let header = format!("Bearer {token}");
        match Credential::from_authorization(&header) {
            Ok(c) => prop_assert_eq!(c.expose_secret(), token.as_str()),
            Err(e) => prop_assert!(e.status() == 400 || e.status() == 431, "{e}"),
        }
    }

    #[test]
    fn pattern_and_origin_parsers_never_panic(s in any::<String>(), path in any::<String>(), method in "[A-Z]{1,7}") {
        if let Some(p) = EndpointPattern::parse(&s) {
            let _ = p.matches(&method, &path);
        }
        if let (Some(o), Ok(u)) = (OriginRule::parse(&s), url::Url::parse(&path)) {
            let _ = o.allows(&u);
        }
    }
}

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
        let _ = Credential::from_request(Some(&s), Some(&q), &keygate_core::domain::key_format::KeyFormat::default());
        let _ = Credential::from_authorization(&s);
        let _ = check_query(&q, &keygate_core::domain::key_format::KeyFormat::default());
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
        if let (Some(o), Some(u)) = (OriginRule::parse(&s), keygate_core::domain::web_url::WebOrigin::parse(&path)) {
            let _ = o.allows(&u);
        }
        let _ = keygate_core::domain::web_url::RequestUrl::parse(s.clone());
        let _ = keygate_core::domain::web_url::BaseUrl::parse(&s);
    }
}

mod web_urls {
    //! keygate's own URL reading (`domain::web_url`, which keeps the `url` crate out of the lean
    //! edge) against the `url` crate: whatever it accepts reads the same there, and what a
    //! browser or the runtime sends, it accepts.
    use keygate_core::domain::web_url::{BaseUrl, RequestUrl, WebOrigin};
    use proptest::prelude::*;

    fn host() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z0-9][a-zA-Z0-9-]{0,8}(\\.[a-zA-Z0-9-]{1,8}){0,3}",
            (0u8..=255, 0u8..=255, 0u8..=255, 0u8..=255).prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
            any::<[u16; 8]>().prop_map(|s| format!("[{}]", std::net::Ipv6Addr::from(s))),
            Just("localhost".to_owned()),
        ]
    }

    fn port() -> impl Strategy<Value = String> {
        prop_oneof![Just(String::new()), Just(":".to_owned()), (0u32..70_000).prop_map(|p| format!(":{p}"))]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Anything at all: an origin read here is the one the `url` crate reads.
        #[test]
        fn an_accepted_origin_reads_the_same_with_the_url_crate(
            s in "(https?|HTTPS|ftp|)(://|:/)[a-zA-Z0-9.\\-_@%:\\[\\]ü]{0,24}([/?#][a-z/?#]{0,6})?"
        ) {
            if let Some(o) = WebOrigin::parse(&s) {
                let u = url::Url::parse(&s).map_err(|e| TestCaseError::fail(format!("{s:?}: {e}")))?;
                prop_assert_eq!(u.scheme(), o.scheme, "{:?}", s);
                prop_assert_eq!(u.host_str(), Some(o.host.as_str()), "{:?}", s);
                prop_assert_eq!(u.port(), o.port, "{:?}", s);
                prop_assert_eq!(u.origin().ascii_serialization(), o.serialize(), "{:?}", s);
            }
        }

        /// What a browser sends (an ASCII origin or URL) is read, and as the `url` crate reads it.
        #[test]
        fn a_browser_origin_is_read(
            scheme in "https?|HTTPS", h in host(), p in port(), rest in "(/[a-z]{0,4}(\\?[a-z=]{0,4})?)?"
        ) {
            let s = format!("{scheme}://{h}{p}{rest}");
            let Ok(u) = url::Url::parse(&s) else { return Ok(()) };
            // The url crate reads a name whose last label is numeric as an IPv4 number; keygate
            // refuses any such name but a plain dotted quad.
            let o = WebOrigin::parse(&s);
            if u.host_str().is_some_and(|uh| uh.parse::<std::net::Ipv4Addr>().is_ok() && uh != h) {
                return Ok(());
            }
            let o = o.ok_or_else(|| TestCaseError::fail(format!("{s:?} refused")))?;
            prop_assert_eq!(u.origin().ascii_serialization(), o.serialize(), "{:?}", s);
        }

        /// A request URL as the runtime serialises it splits into the parts the `url` crate finds.
        #[test]
        fn a_request_url_splits_as_the_url_crate_reads_it(
            scheme in "https?", h in host(), p in port(),
            path in "(/[a-zA-Z0-9._~%!$&'()*+,;=:@-]{0,6}){0,3}", query in proptest::option::of("[a-z=&%?/]{0,8}"),
        ) {
            let raw = format!("{scheme}://{h}{p}{path}{}", query.map(|q| format!("?{q}")).unwrap_or_default());
            let Ok(u) = url::Url::parse(&raw) else { return Ok(()) };
            let r = RequestUrl::parse(u.as_str().to_owned()).ok_or_else(|| TestCaseError::fail(u.to_string()))?;
            prop_assert_eq!(r.scheme(), u.scheme());
            prop_assert_eq!(r.host_str(), u.host_str());
            prop_assert_eq!(r.path(), u.path());
            prop_assert_eq!(r.query(), u.query());
            prop_assert_eq!(r.as_str(), u.as_str());
        }

        /// An upstream URL is what joining and parsing with the `url` crate gave before.
        #[test]
        fn an_upstream_url_is_the_url_crates(
            base in "(https?://)[a-z0-9.]{1,10}(:[0-9]{1,5})?(/[a-z]{1,4}){0,2}/?",
            path in "(/[a-zA-Z0-9._~%-]{0,6}){1,3}", query in proptest::option::of("[a-z=&%]{0,8}"),
        ) {
            let Some(b) = BaseUrl::parse(&base) else {
                // Refused: what the url crate refuses too, or a host it reads as an IPv4 number.
                let numeric = url::Url::parse(&base).is_ok_and(|u| matches!(u.host(), Some(url::Host::Ipv4(_))));
                prop_assert!(url::Url::parse(&base).is_err() || numeric, "{:?} refused", base);
                return Ok(());
            };
            let origin = url::Url::parse(&base).map_err(|e| TestCaseError::fail(format!("{base:?}: {e}")))?;
            let (to, signed) = b.target(&path, query.as_deref());
            let joined = match &query {
                Some(q) => format!("{}{path}?{q}", origin.as_str().trim_end_matches('/')),
                None => format!("{}{path}", origin.as_str().trim_end_matches('/')),
            };
            let Ok(old) = url::Url::parse(&joined) else { return Ok(()) };
            // The request filter refuses a path that is not canonical: only those are compared.
            if old.path() != format!("{}{path}", origin.path().trim_end_matches('/')) {
                return Ok(());
            }
            prop_assert_eq!(to.as_str(), old.as_str());
            let host = match old.port() { Some(p) => format!("{}:{p}", old.host_str().unwrap()), None => old.host_str().unwrap().to_owned() };
            prop_assert_eq!(b.host_and_port(), host);
            let want = match old.query() { Some(q) => format!("{}?{q}", old.path()), None => old.path().to_owned() };
            prop_assert_eq!(signed, want);
        }
    }
}

mod key_formats {
    //! Keys read with a deployment's own format (`KEY_FORMAT`): never a panic, an accepted key
    //! round-trips, a refusal shows at most a configured prefix and four characters.
    use keygate_core::domain::key_format::KeyFormat;
    use proptest::prelude::*;

    const MOMENT: &str = r#"{"prefixes": {"secret": {"test": "sk_test_", "live": "sk_"}, "publishable": {"test": "pk_test_", "live": "pk_"}}, "imported": {"min_length": 20, "max_length": 24}}"#;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn keys_read_with_a_declared_format(key in "(sk_|pk_|sk_test_|xk_|)[0-9A-Za-z_\\-é]{0,44}") {
            let f = KeyFormat::parse_json(MOMENT).unwrap();
            match f.parse(&key) {
                Ok(k) => {
                    prop_assert_eq!(k.expose_secret(), key.as_str());
                    prop_assert!(key.starts_with(k.prefix()));
                    prop_assert_eq!(f.parse(k.expose_secret()).unwrap(), k);
                }
                Err(e) => {
                    let shown = f.redact(&key);
                    prop_assert_eq!(e.message(), format!("Invalid API key provided: {shown}"));
                    prop_assert!(shown.chars().count() <= 8 + 1 + 4);
                }
            }
        }

        #[test]
        fn declarations_never_panic(text in "\\{\"prefixes\": \\{\"secret\": \\{\"test\": \"[a-z_]{0,9}\", \"live\": \"[a-z_]{0,9}\"\\}\\}, \"alphabet\": \"(base62|base58|hex|[a-z0-9_]{0,20})\", \"random_length\": [0-9]{1,3}(, \"imported\": \\{\"min_length\": [0-9]{1,3}, \"max_length\": [0-9]{1,3}\\})?\\}") {
            if let Ok(f) = KeyFormat::parse_json(&text) {
                // Whatever it accepts, it can make keys with, and read them back.
                let mut rng = keygate_core::rng::FixedRng::new(*b"declared!!");
                for mode in keygate_core::domain::key::Mode::ALL {
                    let k = f.generate(keygate_core::domain::key::KeyType::Secret, mode, &mut rng).unwrap();
                    let read = f.parse(k.expose_secret()).unwrap();
                    prop_assert_eq!((read.mode(), read.imported()), (mode, false), "{}", text);
                }
            }
        }
    }
}

//! Key generation, redaction and the secrets-hygiene of Debug/Display.
mod common;

use keygate_core::domain::digest::{OperatorToken, Pepper, secret_eq};
use keygate_core::domain::key::{ApiKey, KEY_LEN, KeyType, Mode, checksum, redact};
use keygate_core::domain::keystate;
use keygate_core::policy::credential::Credential;
use keygate_core::rng::{FixedRng, Rng, SystemRng};

#[test]
fn generated_keys_parse_for_every_type_and_mode() {
    for t in KeyType::ALL {
        for m in Mode::ALL {
            let k = ApiKey::generate(t, m, &mut SystemRng).unwrap();
            assert_eq!(k.expose_secret().len(), KEY_LEN);
            assert!(k.expose_secret().starts_with(&format!("{}_{}_", t.prefix(), m.as_str())));
            assert_eq!(ApiKey::parse(k.expose_secret()).unwrap(), k);
        }
    }
}

#[test]
fn every_single_character_change_is_caught() {
    let k = ApiKey::generate(KeyType::Secret, Mode::Live, &mut SystemRng).unwrap();
    let s = k.expose_secret();
    for i in 8..s.len() {
        let mut b = s.as_bytes().to_vec();
        b[i] = if b[i] == b'a' { b'b' } else { b'a' };
        let m = String::from_utf8(b).unwrap();
        assert!(ApiKey::parse(&m).is_err(), "change at {i} not caught");
    }
}

#[test]
fn rejection_sampling_is_uniform_enough() {
    // Byte 247 maps to '9'+… ; bytes 248..=255 must be dropped, never mapped.
    let mut rng = FixedRng::new([255u8, 250, 248, 0, 61, 62, 247]);
    let s = keygate_core::domain::key::random_base62(&mut rng, 4).unwrap();
    assert_eq!(s, "0z0z");
}

#[test]
fn rng_failure_is_an_error_not_a_weak_key() {
    let mut rng = FixedRng::new([1u8]);
    rng.fail = true;
    assert!(ApiKey::generate(KeyType::Secret, Mode::Test, &mut rng).is_err());
    let mut buf = [0u8; 4];
    assert!(rng.fill(&mut buf).is_err());
}

#[test]
fn debug_and_display_are_redacted() {
    let k = ApiKey::generate(KeyType::Secret, Mode::Test, &mut SystemRng).unwrap();
    let s = k.expose_secret().to_owned();
    assert!(!format!("{k:?}").contains(&s));
    assert!(!format!("{k}").contains(&s));
    let header = format!("Bearer {s}");
    let c = Credential::from_authorization(&header).unwrap();
    assert!(!format!("{c:?}").contains(&s));
    let p = Pepper::new("0123456789abcdef0123456789abcdef").unwrap();
    assert!(!format!("{p:?}").contains("0123456789abcdef"));
    let new = keystate::create(
        "acct_1",
        &common::plain_key(KeyType::Secret, Mode::Test),
        &keygate_core::domain::key_format::Keyring::new(p.clone()),
        &mut SystemRng,
        1,
    )
    .unwrap();
    assert!(!format!("{new:?}").contains(new.key.expose_secret()));
    assert!(!new.stored.record.to_json().contains(new.key.expose_secret()));
}

#[test]
fn redaction() {
    assert_eq!(redact("sk_test_0123456789abcdefghijklmnopqrstuvwxyzAB"), "sk_test_…yzAB");
    assert_eq!(redact("password"), "…");
    assert_eq!(redact("sk_test_\u{0}\u{1}\u{2}\u{3}\u{4}\u{5}\u{6}\u{7}\u{8}"), "sk_test_…");
    assert_eq!(redact(""), "…");
    assert_eq!(checksum("").len(), 6);
}

#[test]
fn operator_token_comparison() {
    assert!(OperatorToken::new("short", "ADMIN_TOKEN").is_err());
    let t = OperatorToken::new("admin-token-admin-token-admin-token", "ADMIN_TOKEN").unwrap();
    assert!(t.verify("admin-token-admin-token-admin-token"));
    for bad in ["", "admin-token-admin-token-admin-toke", "admin-token-admin-token-admin-token ", "admin"] {
        assert!(!t.verify(bad), "{bad:?}");
    }
    assert!(secret_eq("a", "a"));
    assert!(!format!("{t:?}").contains("admin-token"));
}

#[test]
fn a_source_of_only_rejected_bytes_fails_instead_of_hanging() {
    let mut rng = FixedRng::new([250u8, 255]);
    let e = ApiKey::generate(KeyType::Secret, Mode::Test, &mut rng).unwrap_err();
    assert_eq!(e.code(), "internal_error");
    // One usable byte in the cycle is enough.
    assert!(ApiKey::generate(KeyType::Secret, Mode::Test, &mut FixedRng::new([250u8, 7])).is_ok());
}

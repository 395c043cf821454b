//! The policy decision, table-driven, including every boundary of `expires_at`.
use keygate_core::domain::key::{ApiKey, KeyType, Mode};
use keygate_core::domain::record::{KeyRecord, KeyStatus, RECORD_VERSION};
use keygate_core::policy::decision::{Deprecation, decide};
use keygate_core::rng::FixedRng;

fn key(t: KeyType, m: Mode) -> ApiKey {
    ApiKey::generate(t, m, &mut FixedRng::new(*b"seed-bytes")).unwrap()
}

fn record(k: &ApiKey, status: KeyStatus, expires_at: Option<i64>, rolled_at: Option<i64>) -> KeyRecord {
    KeyRecord {
        v: RECORD_VERSION,
        id: "key_1".into(),
        account: "acct_1".into(),
        mode: k.mode(),
        key_type: k.key_type(),
        status,
        name: String::new(),
        prefix: k.prefix().into(),
        last4: k.last4().into(),
        created_at: 0,
        expires_at,
        rolled_from: None,
        rolled_at,
        strict: false,
        permissions: None,
        restrictions: Default::default(),
        rate_limit: None,
        credits: false,
        canary: false,
    }
}

#[test]
fn decision_table() {
    let k = key(KeyType::Secret, Mode::Test);
    let now = 1_000;
    // (status, expires_at, rolled_at, expected code or "ok")
    let table: &[(KeyStatus, Option<i64>, Option<i64>, &str)] = &[
        (KeyStatus::Active, None, None, "ok"),
        (KeyStatus::Active, Some(now + 1), None, "ok"),
        (KeyStatus::Active, Some(now), None, "api_key_expired"), // exactly at expires_at
        (KeyStatus::Active, Some(now - 1), None, "api_key_expired"),
        (KeyStatus::Rolling, Some(now + 1), Some(now - 10), "ok"),
        (KeyStatus::Rolling, Some(now), Some(now - 10), "api_key_expired"),
        (KeyStatus::Expired, Some(now + 100), None, "api_key_expired"),
        (KeyStatus::Expired, None, None, "api_key_expired"),
        (KeyStatus::Revoked, None, None, "api_key_revoked"),
        (KeyStatus::Revoked, Some(now - 1), None, "api_key_revoked"),
    ];
    for &(status, exp, rolled, want) in table {
        let got = decide(&k, &record(&k, status, exp, rolled), now);
        match got {
            Ok(_) => assert_eq!(want, "ok", "{status:?} {exp:?}"),
            Err(e) => {
                assert_eq!(e.code(), want, "{status:?} {exp:?}");
                assert_eq!(e.status(), 403);
            }
        }
    }
}

#[test]
fn rolling_key_carries_deprecation() {
    let k = key(KeyType::Secret, Mode::Live);
    let d = decide(&k, &record(&k, KeyStatus::Rolling, Some(500), Some(100)), 200).unwrap();
    assert_eq!(d.deprecation, Some(Deprecation { rolled_at: 100, sunset: 500 }));
    let d = decide(&k, &record(&k, KeyStatus::Active, Some(500), None), 200).unwrap();
    assert_eq!(d.deprecation, None);
}

#[test]
fn expired_message_says_rolled() {
    let k = key(KeyType::Secret, Mode::Live);
    let e = decide(&k, &record(&k, KeyStatus::Rolling, Some(150), Some(100)), 200).unwrap_err();
    assert!(e.message().contains("rolled"), "{}", e.message());
    assert!(e.message().contains("150"));
    assert!(!e.message().contains(k.expose_secret()));
}

#[test]
fn record_of_other_mode_or_type_is_invalid() {
    let k = key(KeyType::Secret, Mode::Test);
    let mut r = record(&k, KeyStatus::Active, None, None);
    r.mode = Mode::Live;
    assert_eq!(decide(&k, &r, 0).unwrap_err().code(), "api_key_invalid");
    let mut r = record(&k, KeyStatus::Active, None, None);
    r.key_type = KeyType::Publishable;
    assert_eq!(decide(&k, &r, 0).unwrap_err().code(), "api_key_invalid");
}

//! The key-state machine, table-driven with an injected clock: every transition and boundary.
use keygate_core::domain::digest::Pepper;
use keygate_core::domain::key::{KeyType, Mode};
use keygate_core::domain::keystate::{
    self, MAX_GRACE, StoredKey, advance, expire, record_usage, revoke, roll,
};
use keygate_core::domain::record::KeyStatus;
use keygate_core::domain::settings::CreateKey;
use keygate_core::policy::decision::decide;
use keygate_core::rng::FixedRng;

const T0: i64 = 1_000_000;

fn pepper() -> keygate_core::domain::key_format::Keyring {
    keygate_core::domain::key_format::Keyring::new(
        Pepper::new("lifecycle-pepper-lifecycle-pepper-xx").unwrap(),
    )
}

fn fresh(expires_at: Option<i64>) -> (keygate_core::domain::key::ApiKey, StoredKey) {
    let params = CreateKey {
        key_type: KeyType::Secret,
        mode: Mode::Live,
        name: "n".into(),
        expires_at,
        strict: true,
        permissions: None,
        restrictions: Default::default(),
        rate_limit: None,
        credits: None,
        metadata: Default::default(),
        canary: false,
    };
    let new = keystate::create("acct_1", &params, &pepper(), &mut FixedRng::new(*b"abcdefgh"), T0).unwrap();
    (new.key, new.stored)
}

fn with_status(mut k: StoredKey, status: KeyStatus, expires_at: Option<i64>) -> StoredKey {
    k.record.status = status;
    k.record.expires_at = expires_at;
    k.kv_synced = true;
    k
}

#[test]
fn roll_table() {
    // (status, expires_at, grace, now) → Ok(old status, old expires_at) or Err(code)
    type Row = (KeyStatus, Option<i64>, i64, i64, Result<(KeyStatus, i64), &'static str>);
    let table: &[Row] = &[
        (KeyStatus::Active, None, 86_400, T0, Ok((KeyStatus::Rolling, T0 + 86_400))),
        (KeyStatus::Active, None, 1, T0, Ok((KeyStatus::Rolling, T0 + 1))),
        (KeyStatus::Active, None, 0, T0, Ok((KeyStatus::Expired, T0))),
        (KeyStatus::Active, None, MAX_GRACE, T0, Ok((KeyStatus::Rolling, T0 + MAX_GRACE))),
        // An earlier explicit expiry is kept: a roll never extends a key's life.
        (KeyStatus::Active, Some(T0 + 10), 86_400, T0, Ok((KeyStatus::Rolling, T0 + 10))),
        (KeyStatus::Active, None, MAX_GRACE + 1, T0, Err("parameter_invalid")),
        (KeyStatus::Active, None, -1, T0, Err("parameter_invalid")),
        (KeyStatus::Active, Some(T0), 60, T0, Err("key_not_active")), // exactly at expires_at
        (KeyStatus::Rolling, Some(T0 + 100), 60, T0, Err("key_not_active")),
        (KeyStatus::Expired, Some(T0 - 1), 60, T0, Err("key_not_active")),
        (KeyStatus::Revoked, None, 60, T0, Err("key_not_active")),
    ];
    for (status, exp, grace, now, want) in table {
        let (_, k) = fresh(None);
        let k = with_status(k, *status, *exp);
        let got = roll(&k, *grace, &pepper(), &mut FixedRng::new(*b"successor"), *now);
        match (got, want) {
            (Ok((old, new)), Ok((st, at))) => {
                assert_eq!(
                    (old.record.status, old.record.expires_at),
                    (*st, Some(*at)),
                    "{status:?} {exp:?} {grace}"
                );
                assert_eq!(old.record.rolled_at, Some(*now));
                assert!(!old.kv_synced, "a rolled key must be replicated again");
                let s = &new.stored.record;
                assert_eq!(s.rolled_from.as_deref(), Some(k.record.id.as_str()));
                assert_eq!(
                    (s.key_type, s.mode, &s.name, s.strict, &s.account),
                    (k.record.key_type, k.record.mode, &k.record.name, true, &k.record.account)
                );
                assert_eq!(s.expires_at, k.record.expires_at, "the successor keeps an explicit expiry");
                assert_eq!(s.status, KeyStatus::Active);
                assert_ne!(s.id, k.record.id);
                assert_ne!(new.stored.digest, k.digest);
            }
            (Err(e), Err(code)) => assert_eq!(e.code(), *code, "{status:?} {exp:?} {grace}"),
            (got, want) => panic!("{status:?} {exp:?} {grace}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn rolled_key_works_until_its_sunset_then_fails_at_the_edge() {
    let (key, k) = fresh(None);
    let (old, _) = roll(&k, 3600, &pepper(), &mut FixedRng::new(*b"s"), T0).unwrap();
    let d = decide(&key, &old.record, T0 + 3599).unwrap();
    assert_eq!(d.deprecation.map(|d| (d.rolled_at, d.sunset)), Some((T0, T0 + 3600)));
    let e = decide(&key, &old.record, T0 + 3600).unwrap_err();
    assert_eq!(e.code(), "api_key_expired");
    assert!(e.message().contains("rolled"));
}

#[test]
fn expire_table() {
    // (status, expires_at, now) → (status, expires_at)
    let table = [
        (KeyStatus::Active, None, T0, (KeyStatus::Expired, Some(T0))),
        (KeyStatus::Active, Some(T0 + 50), T0, (KeyStatus::Expired, Some(T0))),
        (KeyStatus::Active, Some(T0 - 50), T0, (KeyStatus::Expired, Some(T0 - 50))),
        (KeyStatus::Rolling, Some(T0 + 50), T0, (KeyStatus::Expired, Some(T0))),
        (KeyStatus::Expired, Some(T0 - 5), T0, (KeyStatus::Expired, Some(T0 - 5))),
        (KeyStatus::Revoked, None, T0, (KeyStatus::Revoked, None)),
    ];
    for (status, exp, now, want) in table {
        let (_, k) = fresh(None);
        let k = with_status(k, status, exp);
        let next = expire(&k, now);
        assert_eq!((next.record.status, next.record.expires_at), want, "{status:?} {exp:?}");
        assert_eq!(next.kv_synced, next == k, "only a change needs replicating");
    }
}

#[test]
fn revoke_is_terminal_and_idempotent() {
    for status in [KeyStatus::Active, KeyStatus::Rolling, KeyStatus::Expired, KeyStatus::Revoked] {
        let (key, k) = fresh(None);
        let k = with_status(k, status, Some(T0 + 2_000));
        let r = revoke(&k, T0);
        assert_eq!(r.record.status, KeyStatus::Revoked);
        assert_eq!(r.kv_synced, status == KeyStatus::Revoked, "a change must be replicated again");
        assert_eq!(decide(&key, &r.record, T0).unwrap_err().code(), "api_key_revoked");
        assert_eq!(revoke(&r, T0 + 1), r);
        assert!(roll(&r, 60, &pepper(), &mut FixedRng::new(*b"x"), T0).is_err());
        assert_eq!(expire(&r, T0).record.status, KeyStatus::Revoked);
    }
}

#[test]
fn advance_stores_expiries_at_exactly_their_time() {
    let (_, k) = fresh(Some(T0 + 100));
    let k = with_status(k, KeyStatus::Rolling, Some(T0 + 100));
    assert_eq!(advance(&k, T0 + 99), k);
    assert_eq!(k.next_change(T0 + 99), Some(T0 + 100));
    let a = advance(&k, T0 + 100);
    assert_eq!(a.record.status, KeyStatus::Expired);
    assert!(!a.kv_synced);
    assert_eq!(a.next_change(T0 + 100), None);
    assert_eq!(advance(&a, T0 + 200), a);
    let (_, never) = fresh(None);
    assert_eq!(never.next_change(T0), None);
}

#[test]
fn usage_is_minute_precise_per_day_and_bounded() {
    let (_, k) = fresh(None);
    let day0 = 1_795_331_173; // 2026-11-22T…
    let k = record_usage(&k, day0, 3);
    assert_eq!(k.last_used, Some(day0 - day0 % 60));
    let k = record_usage(&k, day0 - 600, 2); // an older, late report never moves last_used back
    assert_eq!(k.last_used, Some(day0 - day0 % 60));
    assert_eq!(k.usage.get("2026-11-22"), Some(&5));
    let mut k = k;
    for d in 1..=40 {
        k = record_usage(&k, day0 + d * 86_400, 1);
    }
    assert_eq!(k.usage.len(), keystate::USAGE_DAYS);
    assert!(!k.usage.contains_key("2026-11-22"), "oldest days are dropped");
}

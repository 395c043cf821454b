//! The whole edge decision with an in-memory store, including faults: every fault fails closed.
mod common;

use common::block_on;
use keygate_core::domain::digest::Pepper;
use keygate_core::domain::key::{KeyType, Mode};
use keygate_core::domain::keystate;
use keygate_core::domain::record::{KeyRecord, KeyStatus};
use keygate_core::domain::settings::CreateKey;
use keygate_core::policy::gate::{Authenticated, ParsedRecords, Presented, authenticate};
use keygate_core::policy::pins::HostPins;
use keygate_core::rng::FixedRng;
use keygate_core::store::{MemoryStore, StoreError};

const PEPPER: &str = "test-pepper-test-pepper-test-pepper";

fn setup(mode: Mode) -> (MemoryStore, Pepper, String) {
    let pepper = Pepper::new(PEPPER).unwrap();
    let store = MemoryStore::new();
    let params = CreateKey { name: "n".into(), ..common::plain_key(KeyType::Secret, mode) };
    let new = keystate::create(
        "acct_1",
        &params,
        &common::keyring(&pepper),
        &mut FixedRng::new(*b"0123456789"),
        100,
    )
    .unwrap();
    store.put(mode, &new.stored.digest, new.stored.record.to_json());
    (store, pepper, new.key.expose_secret().to_owned())
}

fn check(store: &MemoryStore, pepper: &Pepper, auth: &str) -> Result<Authenticated, keygate_core::Error> {
    check_with(store, pepper, &ParsedRecords::new(16), auth)
}

fn check_with(
    store: &MemoryStore,
    pepper: &Pepper,
    records: &ParsedRecords,
    auth: &str,
) -> Result<Authenticated, keygate_core::Error> {
    at_time(store, pepper, records, auth, 200)
}

fn bearer(k: &str) -> String {
    format!("Bearer {k}")
}

#[test]
fn valid_key_authenticates() {
    let (store, pepper, key) = setup(Mode::Test);
    let auth = bearer(&key);
    let ok = check(&store, &pepper, &auth).unwrap();
    assert_eq!(ok.record.account, "acct_1");
    assert_eq!(ok.record.mode, Mode::Test);
}

#[test]
fn malformed_key_costs_no_read() {
    let (store, pepper, key) = setup(Mode::Test);
    let mut bad = key.clone();
    bad.pop();
    bad.push(if key.ends_with('A') { 'B' } else { 'A' });
    let auth = bearer(&bad);
    let e = check(&store, &pepper, &auth).unwrap_err();
    assert_eq!(e.code(), "api_key_invalid");
    assert_eq!(store.reads(), 0, "checksum failure must not read the store");
}

#[test]
fn unknown_key_is_invalid_and_redacted() {
    let (_store, pepper, key) = setup(Mode::Test);
    let empty = MemoryStore::new();
    let auth = bearer(&key);
    let e = check(&empty, &pepper, &auth).unwrap_err();
    assert_eq!(e.code(), "api_key_invalid");
    assert_eq!(e.status(), 401);
    assert!(!e.message().contains(&key));
    assert!(e.message().contains(&key[key.len() - 4..]));
}

#[test]
fn modes_are_isolated() {
    // The record exists only in the live namespace; a test key with the same digest never finds it.
    let (store, pepper, key) = setup(Mode::Test);
    let live_only = MemoryStore::new();
    let digest = pepper.digest_str(&key);
    live_only.put(Mode::Live, &digest, "irrelevant");
    let auth = bearer(&key);
    let e = check(&live_only, &pepper, &auth).unwrap_err();
    assert_eq!(e.code(), "api_key_invalid");
    drop(store);
}

#[test]
fn store_faults_fail_closed() {
    for fault in [StoreError::Timeout, StoreError::Failed("boom".into())] {
        let (store, pepper, key) = setup(Mode::Live);
        store.set_fault(Some(fault));
        let auth = bearer(&key);
        let e = check(&store, &pepper, &auth).unwrap_err();
        assert_eq!(e.code(), "store_unavailable");
        assert!(e.status() >= 500);
    }
}

#[test]
fn corrupt_records_fail_closed() {
    let pepper = Pepper::new(PEPPER).unwrap();
    let (_, _, key) = setup(Mode::Test);
    let digest = pepper.digest_str(&key);
    for junk in ["", "{", "null", "[]", r#"{"v":1}"#, r#"{"v":2,"id":"key_1"}"#] {
        let store = MemoryStore::new();
        store.put(Mode::Test, &digest, junk);
        let auth = bearer(&key);
        let e = check(&store, &pepper, &auth).unwrap_err();
        assert_eq!(e.code(), "record_corrupt", "{junk}");
        assert_eq!(e.status(), 500);
    }
}

#[test]
fn wrong_pepper_finds_nothing() {
    let (store, _, key) = setup(Mode::Test);
    let other = Pepper::new("another-pepper-another-pepper-xxxx").unwrap();
    let auth = bearer(&key);
    let e = check(&store, &other, &auth).unwrap_err();
    assert_eq!(e.code(), "api_key_invalid");
}

#[test]
fn short_pepper_is_misconfiguration() {
    assert_eq!(Pepper::new("short").unwrap_err().code(), "misconfigured");
    assert_eq!(Pepper::new("").unwrap_err().status(), 500);
}

#[test]
fn missing_store_binding_is_misconfiguration() {
    let (store, pepper, key) = setup(Mode::Test);
    store.set_fault(Some(StoreError::Misconfigured("KEYS_TEST")));
    let auth = bearer(&key);
    let e = check(&store, &pepper, &auth).unwrap_err();
    assert_eq!(e, keygate_core::Error::Misconfigured { what: "KEYS_TEST" });
    assert_eq!(e.status(), 500);
}

#[test]
fn parsed_records_are_reused_only_for_identical_text() {
    let (store, pepper, key) = setup(Mode::Test);
    let records = ParsedRecords::new(16);
    let auth = bearer(&key);
    let first = check_with(&store, &pepper, &records, &auth).unwrap();
    let second = check_with(&store, &pepper, &records, &auth).unwrap();
    assert!(std::rc::Rc::ptr_eq(&first.record, &second.record), "same text, same parsed record");
    assert_eq!(store.reads(), 2, "the store is still read on every request");

    // The authority revokes the key: the store's text changes and the memo must not hide it.
    let digest = pepper.digest_str(&key);
    let mut revoked: KeyRecord = (*second.record).clone();
    revoked.status = KeyStatus::Revoked;
    store.put(Mode::Test, &digest, revoked.to_json());
    let e = check_with(&store, &pepper, &records, &auth).unwrap_err();
    assert_eq!(e.code(), "api_key_revoked");
    assert_eq!(records.len(), 1);
}

#[test]
fn corrupt_text_is_never_remembered_and_the_memo_is_bounded() {
    let pepper = Pepper::new(PEPPER).unwrap();
    let records = ParsedRecords::new(2);
    let (_, _, key) = setup(Mode::Test);
    let digest = pepper.digest_str(&key);
    assert!(records.parse(&digest, "{".into(), 200).is_err());
    assert!(records.is_empty());

    let (store, _, key) = setup(Mode::Test);
    check_with(&store, &pepper, &records, &bearer(&key)).unwrap();
    let (live, _, live_key) = setup(Mode::Live);
    check_with(&live, &pepper, &records, &bearer(&live_key)).unwrap();
    assert_eq!(records.len(), 2);
    // A third record does not grow the memo past its capacity.
    let other = keygate_core::domain::digest::KeyDigest("v1:other".into());
    let text = check(&store, &pepper, &bearer(&key)).unwrap().record.to_json();
    records.parse(&other, text, 200).unwrap();
    assert!(records.len() <= 2);

    let none = ParsedRecords::new(0);
    check_with(&store, &pepper, &none, &bearer(&key)).unwrap();
    assert!(none.is_empty(), "capacity 0 remembers nothing");
}

/// Authenticate `auth` at time `now` against `store`, through `records`.
fn at_time(
    store: &MemoryStore,
    pepper: &Pepper,
    records: &ParsedRecords,
    auth: &str,
    now: i64,
) -> Result<Authenticated, keygate_core::Error> {
    let presented = Presented { authorization: Some(auth), query: None, host: None };
    block_on(authenticate(
        presented,
        &HostPins::default(),
        store,
        common::lookup(pepper),
        records,
        open(),
        now,
    ))
}

#[test]
fn within_the_freshness_window_the_store_is_not_read() {
    let (store, pepper, key) = setup(Mode::Test);
    let auth = bearer(&key);
    let records = ParsedRecords::new(16);
    records.set_fresh_for(5);
    let at = |now| at_time(&store, &pepper, &records, &auth, now);
    at(200).unwrap();
    assert_eq!(store.reads(), 1);
    at(204).unwrap();
    assert_eq!(store.reads(), 1, "4 s after the read: remembered");

    // Revoked at the authority: the edge may keep the old record until the window ends…
    let digest = pepper.digest_str(&key);
    let mut revoked: KeyRecord = (*at(204).unwrap().record).clone();
    revoked.status = KeyStatus::Revoked;
    store.put(Mode::Test, &digest, revoked.to_json());
    at(204).unwrap();
    // …and not one second longer.
    assert_eq!(at(205).unwrap_err().code(), "api_key_revoked");
    assert_eq!(store.reads(), 2);
    assert_eq!(at(206).unwrap_err().code(), "api_key_revoked");
    assert_eq!(store.reads(), 2, "the revoked record is remembered too: it is well-formed");
}

#[test]
fn the_window_never_hides_faults_unknown_keys_or_a_clock_going_back() {
    let (store, pepper, key) = setup(Mode::Test);
    let auth = bearer(&key);
    let records = ParsedRecords::new(16);
    records.set_fresh_for(5);
    let at = |now| at_time(&store, &pepper, &records, &auth, now);
    // A fault is never remembered: the next request reads again.
    store.set_fault(Some(StoreError::Timeout));
    assert_eq!(at(200).unwrap_err().code(), "store_unavailable");
    store.set_fault(None);
    at(200).unwrap();
    assert_eq!(store.reads(), 2);
    // A clock that went back does not extend the window.
    at(190).unwrap();
    assert_eq!(store.reads(), 3);

    // An unknown key is never remembered.
    let empty = MemoryStore::new();
    let presented = Presented { authorization: Some(&auth), query: None, host: None };
    let other = ParsedRecords::new(16);
    other.set_fresh_for(5);
    let e = block_on(authenticate(
        presented,
        &HostPins::default(),
        &empty,
        common::lookup(&pepper),
        &other,
        open(),
        200,
    ))
    .unwrap_err();
    assert_eq!(e.code(), "api_key_invalid");
    assert!(other.is_empty());

    // With a window of 0 every request reads the store.
    records.set_fresh_for(0);
    let before = store.reads();
    at(200).unwrap();
    at(200).unwrap();
    assert_eq!(store.reads(), before + 2);
}

#[test]
fn the_staleness_budget_is_shared_between_kv_and_the_isolate() {
    use keygate_core::policy::gate::{KV_PROPAGATION, StalenessBudget};
    // The bound reported also counts KV's global propagation, which no setting shortens.
    assert_eq!(KV_PROPAGATION, 60);
    // Defaults: KV caches for 54 s and the isolate for at most 6 (5 s, whole-second clock), after
    // up to 60 s of propagation.
    let b = StalenessBudget::new(60, 5);
    assert_eq!((b.kv_cache_ttl, b.max_staleness), (54, 120));
    // No isolate window: KV alone.
    let b = StalenessBudget::new(60, 0);
    assert_eq!((b.kv_cache_ttl, b.max_staleness), (60, 120));
    // KV's floor of 30 s wins; the bound reported is then the honest sum.
    let b = StalenessBudget::new(30, 5);
    assert_eq!((b.kv_cache_ttl, b.max_staleness), (30, 96));
    let b = StalenessBudget::new(33, 5);
    assert_eq!((b.kv_cache_ttl, b.max_staleness), (30, 96));
    // Whatever the split, the bound is propagation, plus KV's cache, plus the isolate's window.
    for (bound, fresh_for) in [(30, 0), (45, 10), (60, 5), (120, 60), (600, 0)] {
        let b = StalenessBudget::new(bound, fresh_for);
        let window = if fresh_for == 0 { 0 } else { fresh_for + 1 };
        assert_eq!(b.max_staleness, KV_PROPAGATION + b.kv_cache_ttl + window, "{bound} {fresh_for}");
    }
}

/// No throttling: a fresh known-good set (leaked: tests only) and an address that is not blocked.
fn open() -> keygate_core::policy::throttle::Throttle<'static> {
    let known: &'static keygate_core::policy::throttle::KnownGood =
        Box::leak(Box::new(keygate_core::policy::throttle::KnownGood::new(64)));
    keygate_core::policy::throttle::Throttle { known, blocked_for: None }
}

fn throttled<'a>(
    known: &'a keygate_core::policy::throttle::KnownGood,
) -> keygate_core::policy::throttle::Throttle<'a> {
    keygate_core::policy::throttle::Throttle { known, blocked_for: Some(42) }
}

/// An attacker behind the user's address drove it past the failure limit. Guessing costs no
/// store read any more; the user's key, seen valid here, keeps working.
#[test]
fn a_throttled_address_keeps_known_keys_and_guesses_cost_no_read() {
    let (store, pepper, key) = setup(Mode::Test);
    let known = keygate_core::policy::throttle::KnownGood::new(16);
    let records = ParsedRecords::new(16);
    let run = |auth: &str, t: keygate_core::policy::throttle::Throttle<'_>, now: i64| {
        let presented = Presented { authorization: Some(auth), query: None, host: None };
        block_on(authenticate(
            presented,
            &HostPins::default(),
            &store,
            common::lookup(&pepper),
            &records,
            t,
            now,
        ))
    };
    let user = bearer(&key);
    let open = keygate_core::policy::throttle::Throttle { known: &known, blocked_for: None };
    run(&user, open, 200).unwrap();
    let reads = store.reads();
    // A crafted key with a valid checksum, a malformed key, a malformed header: 429, no read.
    let forged = {
        let mut rng = FixedRng::new(*b"forged-key");
        keygate_core::domain::key::ApiKey::generate(KeyType::Secret, Mode::Test, &mut rng).unwrap()
    };
    for auth in [bearer(forged.expose_secret()), bearer("sk_test_short"), "Bearer".to_owned()] {
        let e = run(&auth, throttled(&known), 201).unwrap_err();
        assert_eq!(e.code(), "too_many_failed_attempts", "{auth}");
        assert!(matches!(e, keygate_core::Error::TooManyFailedAttempts { retry_after: 42 }));
    }
    assert_eq!(store.reads(), reads, "no guess reached the store");
    // The user's key still passes, store read and all (a revocation still counts).
    run(&user, throttled(&known), 202).unwrap();
    assert_eq!(store.reads(), reads + 1);
    // A key never seen valid in this isolate is refused while the address is throttled…
    let fresh_isolate = keygate_core::policy::throttle::KnownGood::new(16);
    assert_eq!(run(&user, throttled(&fresh_isolate), 203).unwrap_err().code(), "too_many_failed_attempts");
    // …and a success vouches for a day.
    assert!(known.knows(&pepper.digest_str(&key), 202 + keygate_core::policy::throttle::KNOWN_FOR - 1));
    assert!(!known.knows(&pepper.digest_str(&key), 202 + keygate_core::policy::throttle::KNOWN_FOR));
}

/// The edge's shortcut for a throttled address gives exactly what the full path gives, for every
/// shape of credential, and answers only where the full path needs no secret, store or setting:
/// where it says nothing, the full path decides (a parsable key, even a forged one).
#[test]
fn the_throttled_shortcut_answers_as_the_full_path_does() {
    use keygate_core::policy::gate::throttled_without_credential;
    let (store, pepper, key) = setup(Mode::Test);
    let known = keygate_core::policy::throttle::KnownGood::new(16);
    let records = ParsedRecords::new(16);
    let forged = {
        let mut rng = FixedRng::new(*b"forged-key");
        keygate_core::domain::key::ApiKey::generate(KeyType::Secret, Mode::Test, &mut rng).unwrap()
    };
    let bad_checksum = format!("{}A", &key[..key.len() - 1]);
    let basic = format!("Basic {}", base64_of(&format!("{key}:")));
    let cases: Vec<(Option<String>, Option<&str>)> = vec![
        (None, None),
        (Some("Bearer".into()), None),
        (Some("bearer ".to_owned() + &key), None),
        (Some("Token abc".into()), None),
        (Some(bearer("sk_test_short")), None),
        (Some(bearer(&bad_checksum)), None),
        (Some(bearer(&format!("sk_live_{}", "A".repeat(38)))), None),
        (Some(bearer(&key)), Some(&*Box::leak(format!("api_key={key}").into_boxed_str()))),
        (None, Some("api_key=sk_test_x")),
        (Some("Basic !!!".into()), None),
        (Some(basic), None),
        (Some(bearer(forged.expose_secret())), None),
        (Some(bearer(&key)), None),
        (Some(format!("{}, {}", bearer(&key), bearer(&key))), None),
        (Some(format!("Bearer {}", "x".repeat(5000))), None),
    ];
    // The user's key is known here: throttled, it still passes, so no shortcut may answer it.
    let user = bearer(&key);
    let open = keygate_core::policy::throttle::Throttle { known: &known, blocked_for: None };
    let presented = Presented { authorization: Some(&user), query: None, host: None };
    block_on(authenticate(
        presented,
        &HostPins::default(),
        &store,
        common::lookup(&pepper),
        &records,
        open,
        299,
    ))
    .unwrap();
    let mut answered = 0;
    for (auth, query) in &cases {
        let presented = Presented { authorization: auth.as_deref(), query: *query, host: None };
        let reads = store.reads();
        let full = block_on(authenticate(
            presented,
            &HostPins::default(),
            &store,
            common::lookup(&pepper),
            &records,
            throttled(&known),
            300,
        ));
        match throttled_without_credential(presented, &common::FORMAT, 42) {
            Some(short) => {
                answered += 1;
                assert_eq!(Err(short), full.map(|_| ()), "{auth:?} {query:?}");
                assert_eq!(store.reads(), reads, "the full path read nothing either: {auth:?}");
            }
            // Not answered: a key that parses, which the full path looks up (or knows).
            None => assert!(
                keygate_core::policy::credential::Credential::from_request(
                    auth.as_deref(),
                    *query,
                    &common::FORMAT
                )
                .and_then(|c| c.into_key(&common::FORMAT))
                .is_ok(),
                "{auth:?} {query:?}"
            ),
        }
    }
    assert!(answered >= 10, "{answered}");
}

fn base64_of(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn the_known_good_set_is_bounded() {
    let known = keygate_core::policy::throttle::KnownGood::new(8);
    let pepper = Pepper::new(PEPPER).unwrap();
    for i in 0..100 {
        known.remember(&pepper.digest_str(&format!("k{i}")), i);
    }
    let kept = (0..100).filter(|i| known.knows(&pepper.digest_str(&format!("k{i}")), 100)).count();
    assert!((1..=8).contains(&kept), "{kept}");
    assert!(known.knows(&pepper.digest_str("k99"), 100), "the newest is kept");
}

/// A strict key (and self-service) is decided again on the authority's record, which beats a
/// stale replica: the store still says active, the authority says revoked.
#[test]
fn the_authority_beats_a_stale_replica() {
    let (store, pepper, key) = setup(Mode::Test);
    let authn = check(&store, &pepper, &bearer(&key)).unwrap();
    assert_eq!(authn.record.status, KeyStatus::Active);
    let mut revoked: KeyRecord = (*authn.record).clone();
    revoked.status = KeyStatus::Revoked;
    assert_eq!(authn.clone().confirm(revoked, 200).unwrap_err().code(), "api_key_revoked");
    let mut expired: KeyRecord = (*authn.record).clone();
    expired.expires_at = Some(150);
    assert_eq!(authn.clone().confirm(expired, 200).unwrap_err().code(), "api_key_expired");
    let mut narrowed: KeyRecord = (*authn.record).clone();
    narrowed.restrictions.allowed_ips = Some(vec!["203.0.113.7/32".into()]);
    let confirmed = authn.confirm(narrowed.clone(), 200).unwrap();
    assert_eq!(*confirmed.record, narrowed, "the authority's settings are the ones applied");
}

#[test]
fn failures_are_counted_per_ipv4_address_and_per_ipv6_64() {
    use keygate_core::policy::throttle::counted_as;
    assert_eq!(counted_as("203.0.113.7"), "203.0.113.7");
    assert_eq!(counted_as("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
    assert_eq!(counted_as("2001:db8:1:2:ffff:ffff:ffff:ffff"), counted_as("2001:db8:1:2::9"));
    assert_ne!(counted_as("2001:db8:1:3::1"), counted_as("2001:db8:1:2::1"));
    assert_eq!(counted_as("unknown"), "unknown");
}

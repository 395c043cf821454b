//! Canary keys (honeytokens): refused at the edge exactly as an unknown key (status, code,
//! message, store reads), never authenticating, hidden from self-service, and their use recorded
//! with what the request showed, at most once a minute per key.
mod common;

use common::block_on;
use keygate_core::api::error_body::ErrorBody;
use keygate_core::commands::authority::{Authority, Principal};
use keygate_core::commands::fakes::{MemoryKv, MemoryState};
use keygate_core::domain::digest::Pepper;
use keygate_core::domain::event::Page;
use keygate_core::domain::key::{ApiKey, KeyType, Mode};
use keygate_core::domain::leak::CanarySighting;
use keygate_core::domain::listing::KeyQuery;
use keygate_core::domain::settings::CreateKey;
use keygate_core::policy::gate::{ParsedRecords, Presented, authenticate};
use keygate_core::policy::pins::HostPins;
use keygate_core::policy::throttle::{KnownGood, Throttle};
use keygate_core::rng::FixedRng;

const T0: i64 = 2_000_000_000;
const ACCT: &str = "acct_canary";

fn pepper() -> Pepper {
    Pepper::new("canary-pepper-canary-pepper-canary-pe").unwrap()
}

struct World(common::Replicated);

impl std::ops::Deref for World {
    type Target = common::Replicated;
    fn deref(&self) -> &common::Replicated {
        &self.0
    }
}

impl World {
    fn new() -> Self {
        World(common::Replicated::new("canary-pepper-canary-pepper-canary-pe"))
    }
    fn a(&self) -> Authority<'_, MemoryState, MemoryKv> {
        self.0.authority()
    }
    /// A key made by the authority, its record put where the edge reads it.
    fn key(&self, canary: bool, seed: &[u8]) -> (String, String) {
        let params = CreateKey { name: "k".into(), canary, ..common::plain_key(KeyType::Secret, Mode::Live) };
        self.0.key(ACCT, &params, &mut FixedRng::new(seed.to_vec()), T0)
    }
    fn sync_kv(&self, secret: &str) {
        self.0.replicate(Mode::Live, secret);
    }
    fn present(&self, records: &ParsedRecords, secret: &str, now: i64) -> Result<(), keygate_core::Error> {
        let auth = format!("Bearer {secret}");
        let presented = Presented { authorization: Some(&auth), query: None, host: None };
        let known = KnownGood::new(16);
        let throttle = Throttle { known: &known, blocked_for: None };
        block_on(authenticate(
            presented,
            &HostPins::default(),
            &self.store,
            common::lookup(&pepper()),
            records,
            throttle,
            now,
        ))
        .map(|_| ())
    }
}

fn wire(e: &keygate_core::Error) -> (u16, String, String) {
    let body = serde_json::to_string(&ErrorBody::new(e, "https://doc")).unwrap();
    (e.status(), e.code().to_owned(), body)
}

#[test]
fn a_canary_is_refused_exactly_as_an_unknown_key_with_the_same_reads() {
    let w = World::new();
    let (id, canary) = w.key(true, b"canary-1");
    let unknown = ApiKey::generate(KeyType::Secret, Mode::Live, &mut FixedRng::new(*b"never-made")).unwrap();
    let records = ParsedRecords::new(16);
    records.set_fresh_for(5);
    let c = w.present(&records, &canary, T0).unwrap_err();
    let u = w.present(&records, unknown.expose_secret(), T0).unwrap_err();
    assert!(
        matches!(&c, keygate_core::Error::CanaryKeyUsed { key_id, account, .. } if *key_id == id && account == ACCT)
    );
    // Status, code and body are the unknown key's, but for the redacted key itself.
    let (cs, cc, cb) = wire(&c);
    let (us, uc, ub) = wire(&u);
    assert_eq!((cs, cc.as_str()), (us, uc.as_str()));
    assert_eq!(
        cb.replace(&canary[canary.len() - 4..], "XXXX"),
        ub.replace(&unknown.expose_secret()[unknown.expose_secret().len() - 4..], "XXXX")
    );
    assert!(c.counts_as_failed_auth(), "a canary counts as a failed attempt, as an unknown key does");
    // Every presentation reads the store, as an unknown key's does (no isolate memo for a canary).
    let before = w.store.reads();
    for i in 0..3 {
        w.present(&records, &canary, T0 + i).unwrap_err();
        w.present(&records, unknown.expose_secret(), T0 + i).unwrap_err();
    }
    assert_eq!(w.store.reads() - before, 6);
    // A real key is remembered (what the memo is for).
    let (_, real) = w.key(false, b"real-key");
    w.present(&records, &real, T0).unwrap();
    let before = w.store.reads();
    w.present(&records, &real, T0 + 1).unwrap();
    assert_eq!(w.store.reads(), before);
}

#[test]
fn an_ended_canary_is_simply_unknown() {
    let w = World::new();
    let (id, canary) = w.key(true, b"canary-2");
    block_on(w.a().revoke(ACCT, &id, T0 + 1, &Principal::Operator)).unwrap();
    w.sync_kv(&canary);
    let e = w.present(&ParsedRecords::new(16), &canary, T0 + 2).unwrap_err();
    assert!(matches!(e, keygate_core::Error::ApiKeyInvalid { .. }), "{e:?}");
}

#[test]
fn its_use_is_recorded_at_most_once_a_minute_and_self_service_never_sees_it() {
    let w = World::new();
    let (id, _) = w.key(true, b"canary-3");
    let seen = |ip: &str| CanarySighting {
        ip: ip.into(),
        user_agent: "x".repeat(1000),
        method: "GET".into(),
        path: "/v1/charges".into(),
        count: 1,
    };
    for i in 0..5 {
        block_on(w.a().canary_used(ACCT, &id, &seen(&format!("203.0.113.{i}")), T0 + i)).unwrap();
    }
    block_on(w.a().canary_used(ACCT, &id, &seen("198.51.100.7"), T0 + 61)).unwrap();
    let events = block_on(w.a().events(ACCT, &Page { limit: 50, starting_after: None })).unwrap().data;
    let used: Vec<_> = events.iter().filter(|e| e.kind == "key.canary_used").collect();
    assert_eq!(used.len(), 2);
    assert_eq!(used[1].data["ip"], "203.0.113.0");
    assert_eq!(used[0].data["ip"], "198.51.100.7");
    assert_eq!(used[0].data["uses"], 6);
    assert_eq!(used[0].data["user_agent"].as_str().map(str::len), Some(256), "cut");
    assert_eq!(
        (used[0].data["method"].as_str(), used[0].data["path"].as_str()),
        (Some("GET"), Some("/v1/charges"))
    );
    let key = block_on(w.a().load(ACCT, &id)).unwrap();
    assert_eq!(key.canary_seen.map(|(u, _)| u), Some(6));
    assert!(key.last_used.is_some());

    // Self-service: a (stolen) secret key of the account neither lists nor reaches the canary.
    let (caller_id, caller) = w.key(false, b"caller-1");
    let by = Principal::Key { key_id: caller_id, digest: pepper().digest_str(&caller) };
    let (listed, _) =
        block_on(w.a().list_page(ACCT, &by, &KeyQuery { limit: 100, ..Default::default() }, T0)).unwrap();
    assert!(listed.iter().all(|k| k.record.id != id));
    assert_eq!(block_on(w.a().load_in_scope(ACCT, &id, &by, T0)).unwrap_err().status(), 404);
    assert_eq!(block_on(w.a().revoke(ACCT, &id, T0, &by)).unwrap_err().status(), 404);
    // The operator sees it, marked.
    let (all, _) = block_on(w.a().list_page(
        ACCT,
        &Principal::Operator,
        &KeyQuery { limit: 100, ..Default::default() },
        T0,
    ))
    .unwrap();
    assert!(all.iter().any(|k| k.record.id == id && k.record.canary));
    // A use reported for a key that is not a canary changes nothing.
    let before = block_on(w.a().events(ACCT, &Page { limit: 50, starting_after: None })).unwrap().data.len();
    let (real_id, _) = w.key(false, b"real-2");
    block_on(w.a().canary_used(ACCT, &real_id, &seen("192.0.2.1"), T0)).unwrap();
    let after = block_on(w.a().events(ACCT, &Page { limit: 50, starting_after: None })).unwrap().data.len();
    assert_eq!(after, before + 1, "only the second key's creation");
}

#[test]
fn a_canary_reported_as_leaked_stays_a_canary_and_the_report_is_recorded_as_a_use() {
    use keygate_core::domain::leak::{Leak, REASON_GITHUB};
    let w = World::new();
    let (id, canary) = w.key(true, b"canary-leak");
    let leak = Leak {
        key_id: id.clone(),
        reason: REASON_GITHUB.into(),
        url: "https://gist.github.com/x/1".into(),
        source: Some("gist".into()),
    };
    // Reported (by GitHub, or by an attacker who posted it to disarm it), under `expire`.
    block_on(w.a().leaked(ACCT, &[leak], true, T0 + 5)).unwrap();
    let key = block_on(w.a().load(ACCT, &id)).unwrap();
    assert_eq!(key.status_at(T0 + 6).as_str(), "active", "not ended");
    assert!(key.exposed.is_none(), "not marked exposed");
    let events = block_on(w.a().events(ACCT, &Page { limit: 10, starting_after: None })).unwrap().data;
    let used: Vec<_> = events.iter().filter(|e| e.kind == "key.canary_used").collect();
    assert_eq!(used.len(), 1);
    assert_eq!(used[0].data["url"], "https://gist.github.com/x/1");
    // Still refused as an unknown key, and still reported when used.
    w.sync_kv(&canary);
    let e = w.present(&ParsedRecords::new(16), &canary, T0 + 7).unwrap_err();
    assert!(matches!(e, keygate_core::Error::CanaryKeyUsed { .. }), "{e:?}");
}

#[test]
fn an_isolates_report_counts_every_presentation_it_stands_for() {
    let w = World::new();
    let (id, _) = w.key(true, b"canary-count");
    let seen = CanarySighting { ip: "192.0.2.1".into(), count: 40, ..Default::default() };
    block_on(w.a().canary_used(ACCT, &id, &seen, T0)).unwrap();
    block_on(w.a().canary_used(ACCT, &id, &CanarySighting { count: 0, ..seen }, T0 + 1)).unwrap();
    assert_eq!(block_on(w.a().load(ACCT, &id)).unwrap().canary_seen.map(|(u, _)| u), Some(41));
}

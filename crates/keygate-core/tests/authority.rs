//! The Durable Object's logic with fake storage and a KV that fails on demand.
#![allow(async_fn_in_trait)]
mod common;

use common::block_on;
use keygate_core::api::object::KeyObject;
use keygate_core::commands::authority::{Authority, Created, KV_RETRY_SECONDS, Limits, Principal};
use keygate_core::commands::fakes::{MemoryKv, MemoryState};
use keygate_core::commands::ports::{RecordWriter, StateStore};
use keygate_core::domain::digest::Pepper;
use keygate_core::domain::event::Actor;
use keygate_core::domain::event::Page;
use keygate_core::domain::key::{KeyType, Mode};
use keygate_core::domain::record::KeyStatus;
use keygate_core::domain::settings::CreateKey;
use keygate_core::rng::FixedRng;
use keygate_core::store::StoreError;

const T0: i64 = 2_000_000_000;
const ACCT: &str = "acct_1";

fn pepper() -> keygate_core::domain::key_format::Keyring {
    keygate_core::domain::key_format::Keyring::new(
        Pepper::new("authority-pepper-authority-pepper-x").unwrap(),
    )
}

fn params(expires_at: Option<i64>) -> CreateKey {
    CreateKey { name: "n".into(), expires_at, ..common::plain_key(KeyType::Secret, Mode::Test) }
}

/// The API's view of a key just made (with its secret), as the management API answers it.
fn made(r: Result<Created, keygate_core::Error>) -> Result<KeyObject, keygate_core::Error> {
    r.map(|c| {
        let mut o = KeyObject::from_stored(&c.key, T0);
        o.secret = Some(c.secret.expose_secret().to_owned());
        o
    })
}

/// Reads as the management API answers them (the authority itself returns domain values).
trait Objects {
    async fn get(&self, account: &str, key_id: &str, now: i64) -> Result<KeyObject, keygate_core::Error>;
    async fn list(&self, account: &str, now: i64) -> Result<Vec<KeyObject>, keygate_core::Error>;
}

impl<S: StateStore, W: RecordWriter> Objects for Authority<'_, S, W> {
    async fn get(&self, account: &str, key_id: &str, now: i64) -> Result<KeyObject, keygate_core::Error> {
        Ok(KeyObject::from_stored(&self.load(account, key_id).await?, now))
    }
    async fn list(&self, account: &str, now: i64) -> Result<Vec<KeyObject>, keygate_core::Error> {
        // Every page, as a client pages through them.
        let mut query = keygate_core::domain::listing::KeyQuery { limit: 100, ..Default::default() };
        let mut all = Vec::new();
        loop {
            let (keys, more) = self.list_page(account, &Principal::Operator, &query, now).await?;
            query.after = keys.last().map(|k| keygate_core::domain::listing::Position {
                created_at: k.record.created_at,
                id: k.record.id.clone(),
            });
            all.extend(keys.iter().map(|k| KeyObject::from_stored(k, now)));
            if !more {
                return Ok(all);
            }
        }
    }
}

#[test]
fn create_writes_state_then_kv() {
    let (state, kv) = (MemoryState::new(), MemoryKv::default());
    let a = Authority { state: &state, kv: &kv, limits: Limits::default() };
    let obj = made(block_on(a.create(
        ACCT,
        &params(None),
        &pepper(),
        &mut FixedRng::new(*b"k1"),
        T0,
        &Actor::admin(),
    )))
    .unwrap();
    let secret = obj.secret.clone().unwrap();
    let digest = pepper().digest_str(&secret);
    assert_eq!(kv.status(Mode::Test, &digest), Some(KeyStatus::Active));
    let stored = block_on(a.load(ACCT, &obj.id)).unwrap();
    assert!(stored.kv_synced);
    assert_eq!(block_on(a.next_alarm(T0)).unwrap(), None, "nothing pending");
    assert_eq!(block_on(a.get(ACCT, &obj.id, T0)).unwrap().secret, None);
}

#[test]
fn failed_kv_write_is_retried_until_kv_agrees() {
    let (state, kv) = (MemoryState::new(), MemoryKv::default());
    let a = Authority { state: &state, kv: &kv, limits: Limits::default() };
    *kv.failing.borrow_mut() = true;
    let obj = made(block_on(a.create(
        ACCT,
        &params(None),
        &pepper(),
        &mut FixedRng::new(*b"k2"),
        T0,
        &Actor::admin(),
    )))
    .unwrap();
    let digest = pepper().digest_str(obj.secret.as_deref().unwrap());
    // The DO has the key (it is the authority); KV does not yet.
    assert!(!block_on(a.load(ACCT, &obj.id)).unwrap().kv_synced);
    assert_eq!(kv.status(Mode::Test, &digest), None);
    assert_eq!(block_on(a.next_alarm(T0)).unwrap(), Some(T0 + KV_RETRY_SECONDS));
    // The alarm retries while KV keeps failing …
    assert_eq!(block_on(a.sync(T0 + 5)).unwrap(), Some(T0 + 5 + KV_RETRY_SECONDS));
    let attempts = *kv.attempts.borrow();
    assert!(attempts >= 2);
    // … and once KV recovers, it agrees and the alarm stops.
    *kv.failing.borrow_mut() = false;
    assert_eq!(block_on(a.sync(T0 + 10)).unwrap(), None);
    assert_eq!(kv.status(Mode::Test, &digest), Some(KeyStatus::Active));
    assert!(block_on(a.load(ACCT, &obj.id)).unwrap().kv_synced);
    // A revocation during a KV outage reaches KV on the next sync.
    *kv.failing.borrow_mut() = true;
    block_on(a.revoke(ACCT, &obj.id, T0 + 20, &Principal::Operator)).unwrap();
    assert_eq!(kv.status(Mode::Test, &digest), Some(KeyStatus::Active), "KV is stale during the outage");
    *kv.failing.borrow_mut() = false;
    block_on(a.sync(T0 + 25)).unwrap();
    assert_eq!(kv.status(Mode::Test, &digest), Some(KeyStatus::Revoked));
}

#[test]
fn roll_then_grace_end_reaches_kv_through_the_alarm() {
    let (state, kv) = (MemoryState::new(), MemoryKv::default());
    let a = Authority { state: &state, kv: &kv, limits: Limits::default() };
    let old = made(block_on(a.create(
        ACCT,
        &params(None),
        &pepper(),
        &mut FixedRng::new(*b"k3"),
        T0,
        &Actor::admin(),
    )))
    .unwrap();
    let new = made(block_on(a.roll(
        ACCT,
        &old.id,
        3600,
        &pepper(),
        &mut FixedRng::new(*b"k4"),
        T0 + 1,
        &Principal::Operator,
    )))
    .unwrap();
    assert_eq!(new.rolled_from.as_deref(), Some(old.id.as_str()));
    let old_digest = pepper().digest_str(old.secret.as_deref().unwrap());
    let new_digest = pepper().digest_str(new.secret.as_deref().unwrap());
    assert_eq!(kv.status(Mode::Test, &old_digest), Some(KeyStatus::Rolling));
    assert_eq!(kv.status(Mode::Test, &new_digest), Some(KeyStatus::Active));
    assert_eq!(block_on(a.next_alarm(T0 + 1)).unwrap(), Some(T0 + 3601), "the alarm is due when grace ends");
    // A second roll of the same key is refused: exactly one successor.
    let again = made(block_on(a.roll(
        ACCT,
        &old.id,
        60,
        &pepper(),
        &mut FixedRng::new(*b"k5"),
        T0 + 2,
        &Principal::Operator,
    )));
    assert_eq!(again.unwrap_err().code(), "key_not_active");
    block_on(a.sync(T0 + 3601)).unwrap();
    assert_eq!(kv.status(Mode::Test, &old_digest), Some(KeyStatus::Expired));
    assert_eq!(block_on(a.list(ACCT, T0 + 3601)).unwrap().len(), 2);
    // The audit log has every step, newest first, with actors.
    let log = block_on(a.events(ACCT, &Page { limit: 10, starting_after: None })).unwrap();
    let kinds: Vec<(&str, &str)> = log.data.iter().map(|e| (e.kind.as_str(), e.actor.as_str())).collect();
    assert_eq!(
        kinds,
        [
            ("key.expired", "system"),
            ("key.created", "admin"),
            ("key.rolled", "admin"),
            ("key.created", "admin")
        ]
    );
    assert!(!log.has_more);
}

#[test]
fn events_paginate_like_stripe_lists() {
    let (state, kv) = (MemoryState::new(), MemoryKv::default());
    let a = Authority { state: &state, kv: &kv, limits: Limits::default() };
    let mut rng = FixedRng::new(*b"pagination");
    for i in 0..5 {
        made(block_on(a.create(
            ACCT,
            &params(None),
            &pepper(),
            &mut rng,
            T0 + i,
            &Actor(format!("key_{i}")),
        )))
        .unwrap();
    }
    let p1 = block_on(a.events(ACCT, &Page { limit: 2, starting_after: None })).unwrap();
    assert_eq!(p1.data.iter().map(|e| e.actor.as_str()).collect::<Vec<_>>(), ["key_4", "key_3"]);
    assert!(p1.has_more);
    let p2 =
        block_on(a.events(ACCT, &Page { limit: 2, starting_after: Some(p1.data[1].id.clone()) })).unwrap();
    assert_eq!(p2.data.iter().map(|e| e.actor.as_str()).collect::<Vec<_>>(), ["key_2", "key_1"]);
    let p3 =
        block_on(a.events(ACCT, &Page { limit: 2, starting_after: Some(p2.data[1].id.clone()) })).unwrap();
    assert_eq!(p3.data.iter().map(|e| e.actor.as_str()).collect::<Vec<_>>(), ["key_0"]);
    assert!(!p3.has_more);
}

#[test]
fn other_accounts_keys_are_not_found() {
    let (state, kv) = (MemoryState::new(), MemoryKv::default());
    let a = Authority { state: &state, kv: &kv, limits: Limits::default() };
    let obj = made(block_on(a.create(
        ACCT,
        &params(None),
        &pepper(),
        &mut FixedRng::new(*b"k6"),
        T0,
        &Actor::admin(),
    )))
    .unwrap();
    for r in [
        block_on(a.get("acct_2", &obj.id, T0)).map(|_| ()),
        block_on(a.revoke("acct_2", &obj.id, T0, &Principal::Operator)).map(|_| ()),
        block_on(a.expire("acct_2", &obj.id, T0, &Principal::Operator)).map(|_| ()),
    ] {
        assert_eq!(r.unwrap_err().code(), "resource_missing");
    }
    assert!(block_on(a.list("acct_2", T0)).unwrap().is_empty());
}

#[test]
fn strict_verify_checks_the_digest() {
    let (state, kv) = (MemoryState::new(), MemoryKv::default());
    let a = Authority { state: &state, kv: &kv, limits: Limits::default() };
    let obj = made(block_on(a.create(
        ACCT,
        &params(None),
        &pepper(),
        &mut FixedRng::new(*b"k7"),
        T0,
        &Actor::admin(),
    )))
    .unwrap();
    let digest = pepper().digest_str(obj.secret.as_deref().unwrap());
    assert_eq!(block_on(a.verify(ACCT, &obj.id, &digest)).unwrap().id, obj.id);
    let other = pepper().digest_str("something else");
    assert_eq!(block_on(a.verify(ACCT, &obj.id, &other)).unwrap_err().code(), "resource_missing");
}

#[test]
fn usage_reports_show_in_listings() {
    let (state, kv) = (MemoryState::new(), MemoryKv::default());
    let a = Authority { state: &state, kv: &kv, limits: Limits::default() };
    let obj = made(block_on(a.create(
        ACCT,
        &params(None),
        &pepper(),
        &mut FixedRng::new(*b"k8"),
        T0,
        &Actor::admin(),
    )))
    .unwrap();
    block_on(a.record_usage(ACCT, &obj.id, T0 + 125, 7, false)).unwrap();
    let listed = &block_on(a.list(ACCT, T0 + 200)).unwrap()[0];
    let at = T0 + 125;
    assert_eq!(listed.last_used, Some(at - at % 60));
    assert_eq!(listed.usage.values().sum::<u64>(), 7);
}

#[test]
fn storage_faults_fail_closed() {
    let (state, kv) = (MemoryState::new(), MemoryKv::default());
    let a = Authority { state: &state, kv: &kv, limits: Limits::default() };
    *state.fault.borrow_mut() = Some(StoreError::Timeout);
    let e = made(block_on(a.create(
        ACCT,
        &params(None),
        &pepper(),
        &mut FixedRng::new(*b"k9"),
        T0,
        &Actor::admin(),
    )))
    .unwrap_err();
    assert_eq!(e.code(), "store_unavailable");
    assert_eq!(*kv.attempts.borrow(), 0, "nothing reaches KV that the authority did not store");
    assert_eq!(block_on(a.list(ACCT, T0)).unwrap_err().status(), 503);
}

#[test]
fn exposure_is_flagged_once_and_optionally_expires() {
    let (state, kv) = (MemoryState::new(), MemoryKv::default());
    let a = Authority { state: &state, kv: &kv, limits: Limits::default() };
    let mut rng = FixedRng::new(*b"exposure");
    let flag =
        made(block_on(a.create(ACCT, &params(None), &pepper(), &mut rng, T0, &Actor::admin()))).unwrap();
    block_on(a.exposed(ACCT, &flag.id, "plain_http", false, T0 + 1)).unwrap();
    block_on(a.exposed(ACCT, &flag.id, "secret_key_in_browser", false, T0 + 2)).unwrap();
    let k = block_on(a.get(ACCT, &flag.id, T0 + 3)).unwrap();
    assert_eq!(
        k.exposed.as_ref().map(|e| (e.reason.as_str(), e.at)),
        Some(("plain_http", T0 + 1)),
        "first sighting kept"
    );
    assert_eq!(k.status, "active", "flag only");
    let log = block_on(a.events(ACCT, &Page { limit: 10, starting_after: None })).unwrap();
    assert_eq!(log.data.iter().filter(|e| e.kind == "key.exposed").count(), 1);

    let doomed =
        made(block_on(a.create(ACCT, &params(None), &pepper(), &mut rng, T0, &Actor::admin()))).unwrap();
    block_on(a.exposed(ACCT, &doomed.id, "plain_http", true, T0 + 5)).unwrap();
    let k = block_on(a.get(ACCT, &doomed.id, T0 + 6)).unwrap();
    assert_eq!((k.status.as_str(), k.expires_at), ("expired", Some(T0 + 5)));
    let digest = pepper().digest_str(doomed.secret.as_deref().unwrap());
    assert_eq!(kv.status(Mode::Test, &digest), Some(KeyStatus::Expired), "the expiry reaches KV");
}

//! The integrity rules, tried as an attacker would: self-service never yields more power than
//! the calling key has; every command that writes is serialised and never writes back a copy
//! read before a KV write; what the object stores is bounded.
mod common;

use std::rc::Rc;

use common::block_on;
use keygate_core::Error;
use keygate_core::api::object::{KeyObject, List, render};
use keygate_core::commands::authority::{Authority, KV_RETRY_SECONDS, Limits, Principal};
use keygate_core::commands::command::{self, Command};
use keygate_core::commands::fakes::{MemoryKv, MemoryState};
use keygate_core::domain::digest::{KeyDigest, Pepper};
use keygate_core::domain::event::Page;
use keygate_core::domain::event::{Actor, Event};
use keygate_core::domain::key::{KeyType, Mode};
use keygate_core::domain::keystate::ENDED_RETENTION;
use keygate_core::domain::leak::{CanarySighting, SeenBy};
use keygate_core::domain::record::KeyStatus;
use keygate_core::domain::settings::{CreateKey, KeySettings};
use keygate_core::domain::settings::{Level, Restrictions};
use keygate_core::rng::FixedRng;

const T0: i64 = 2_000_000_000;
const ACCT: &str = "acct_1";

fn pepper() -> keygate_core::domain::key_format::Keyring {
    keygate_core::domain::key_format::Keyring::new(
        Pepper::new("integrity-pepper-integrity-pepper-x").unwrap(),
    )
}

fn params(key_type: KeyType, restrictions: Restrictions, expires_at: Option<i64>) -> CreateKey {
    CreateKey {
        key_type,
        mode: Mode::Test,
        name: "n".into(),
        expires_at,
        strict: false,
        permissions: (key_type == KeyType::Restricted)
            .then(|| [("charges".to_owned(), Level::Read)].into_iter().collect()),
        restrictions,
        rate_limit: None,
        credits: None,
        metadata: Default::default(),
        canary: false,
    }
}

fn ips(list: &[&str]) -> Restrictions {
    Restrictions { allowed_ips: Some(list.iter().map(|s| s.to_string()).collect()), ..Default::default() }
}

/// A command's outcome as the Durable Object answers it.
struct Rendered {
    answer: Result<String, Error>,
    alarm: Option<Option<i64>>,
}

struct Object {
    state: Rc<MemoryState>,
    kv: Rc<MemoryKv>,
    limits: Limits,
    seed: std::cell::Cell<u8>,
}

impl Object {
    fn new() -> Self {
        Object {
            state: Rc::new(MemoryState::new()),
            kv: Rc::new(MemoryKv::default()),
            limits: Limits::default(),
            seed: std::cell::Cell::new(0),
        }
    }

    fn authority(&self) -> Authority<'_, MemoryState, MemoryKv> {
        Authority { state: &self.state, kv: &self.kv, limits: self.limits }
    }

    /// Run a command as the Durable Object does, at `now`: the answer as the JSON it sends.
    fn run(&self, command: Command, now: i64) -> Rendered {
        self.seed.set(self.seed.get() + 1);
        let mut rng = FixedRng::new([self.seed.get(), 7, 7, 7]);
        let out = block_on(command::run(&self.authority(), command, || Ok(pepper()), &mut rng, now));
        Rendered { answer: out.answer.and_then(|a| render(a, now, "doc")), alarm: out.alarm }
    }

    fn create(&self, key_type: KeyType, restrictions: Restrictions, expires_at: Option<i64>) -> KeyObject {
        let command = Command::Create {
            account: ACCT.into(),
            params: params(key_type, restrictions, expires_at),
            actor: Actor::admin(),
        };
        serde_json::from_str(&self.run(command, T0).answer.unwrap()).unwrap()
    }

    fn status(&self, id: &str) -> KeyStatus {
        block_on(self.authority().load(ACCT, id)).unwrap().record.status
    }
}

/// The principal of a key object that carries its secret.
fn as_key(k: &KeyObject) -> Principal {
    Principal::Key { key_id: k.id.clone(), digest: digest(k) }
}

fn digest(k: &KeyObject) -> KeyDigest {
    pepper().digest_str(k.secret.as_deref().unwrap())
}

fn code(outcome: &Rendered) -> String {
    match &outcome.answer {
        Ok(_) => "ok".into(),
        Err(e) => e.code().to_owned(),
    }
}

fn settings(json: &str) -> KeySettings {
    KeySettings::from_json(json.as_bytes()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// 1. Self-service never yields more power than the calling key has
// ---------------------------------------------------------------------------------------------

#[test]
fn a_restricted_key_cannot_roll_an_unrestricted_sibling_and_receive_its_secret() {
    let o = Object::new();
    let caller = o.create(KeyType::Secret, ips(&["203.0.113.0/24"]), None);
    let sibling = o.create(KeyType::Secret, Restrictions::default(), None);
    let roll =
        Command::Roll { account: ACCT.into(), key_id: sibling.id.clone(), grace: 60, by: as_key(&caller) };
    let out = o.run(roll, T0 + 1);
    assert_eq!(code(&out), "key_out_of_scope");
    assert!(out.answer.unwrap_err().message().contains("at least as restricted"));
    assert_eq!(o.status(&sibling.id), KeyStatus::Active, "nothing changed");
    // Revoking, expiring, reading and changing it are refused alike.
    for command in [
        Command::Revoke { account: ACCT.into(), key_id: sibling.id.clone(), by: as_key(&caller) },
        Command::Expire { account: ACCT.into(), key_id: sibling.id.clone(), by: as_key(&caller) },
        Command::Get { account: ACCT.into(), key_id: sibling.id.clone(), by: as_key(&caller) },
        Command::Update {
            account: ACCT.into(),
            key_id: sibling.id.clone(),
            settings: settings(r#"{"allowed_ips":["203.0.113.7"]}"#),
            by: as_key(&caller),
        },
    ] {
        assert_eq!(code(&o.run(command, T0 + 2)), "key_out_of_scope");
    }
    // The operator can.
    let op = Command::Roll { account: ACCT.into(), key_id: sibling.id, grace: 60, by: Principal::Operator };
    assert_eq!(code(&o.run(op, T0 + 3)), "ok");
}

#[test]
fn a_restricted_key_acts_on_itself_and_on_keys_at_least_as_restricted() {
    let o = Object::new();
    let caller = o.create(KeyType::Secret, ips(&["203.0.113.0/24", "2001:db8::/32"]), None);
    let narrower = o.create(KeyType::Secret, ips(&["203.0.113.8/29"]), None);
    let wider = o.create(KeyType::Secret, ips(&["203.0.0.0/16"]), None);
    let other_family = o.create(KeyType::Secret, ips(&["198.51.100.1"]), None);
    let list: List<KeyObject> = serde_json::from_str(
        &o.run(Command::List { account: ACCT.into(), by: as_key(&caller), query: all_in_one_page() }, T0)
            .answer
            .unwrap(),
    )
    .unwrap();
    let mut seen: Vec<&str> = list.data.iter().map(|k| k.id.as_str()).collect();
    seen.sort();
    let mut want = vec![caller.id.as_str(), narrower.id.as_str()];
    want.sort();
    assert_eq!(seen, want, "the list shows only keys in scope");
    for k in [&wider, &other_family] {
        let get = Command::Get { account: ACCT.into(), key_id: k.id.clone(), by: as_key(&caller) };
        assert_eq!(code(&o.run(get, T0)), "key_out_of_scope");
    }
    // Rolling a narrower key yields a successor just as narrow, with its secret.
    let roll =
        Command::Roll { account: ACCT.into(), key_id: narrower.id.clone(), grace: 0, by: as_key(&caller) };
    let out = o.run(roll, T0 + 1);
    let successor: KeyObject = serde_json::from_str(&out.answer.unwrap()).unwrap();
    assert_eq!(successor.allowed_ips, narrower.allowed_ips);
    // Rolling itself is allowed; the successor keeps its restrictions.
    let roll =
        Command::Roll { account: ACCT.into(), key_id: caller.id.clone(), grace: 60, by: as_key(&caller) };
    let me: KeyObject = serde_json::from_str(&o.run(roll, T0 + 2).answer.unwrap()).unwrap();
    assert_eq!(me.allowed_ips, caller.allowed_ips);
}

#[test]
fn an_expiring_key_cannot_mint_a_key_that_outlives_it() {
    let o = Object::new();
    let caller = o.create(KeyType::Secret, Restrictions::default(), Some(T0 + 3600));
    let forever = o.create(KeyType::Secret, Restrictions::default(), None);
    let later = o.create(KeyType::Secret, Restrictions::default(), Some(T0 + 7200));
    let sooner = o.create(KeyType::Secret, Restrictions::default(), Some(T0 + 60));
    for (k, want) in [(&forever, "key_out_of_scope"), (&later, "key_out_of_scope"), (&sooner, "ok")] {
        let roll =
            Command::Roll { account: ACCT.into(), key_id: k.id.clone(), grace: 0, by: as_key(&caller) };
        assert_eq!(code(&o.run(roll, T0 + 1)), want, "{:?}", k.expires_at);
    }
}

#[test]
fn endpoint_restrictions_bound_the_scope_by_pattern_containment() {
    let o = Object::new();
    let eps = |l: &[&str]| Restrictions {
        allowed_endpoints: Some(l.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    };
    let caller = o.create(KeyType::Secret, eps(&["GET /v1/**", "* /_keygate/v1/**"]), None);
    let inside = o.create(KeyType::Secret, eps(&["GET /v1/charges/{id}"]), None);
    let outside = o.create(KeyType::Secret, eps(&["POST /v1/charges"]), None);
    let any_method = o.create(KeyType::Secret, eps(&["* /v1/charges"]), None);
    for (k, want) in [(&inside, "ok"), (&outside, "key_out_of_scope"), (&any_method, "key_out_of_scope")] {
        let get = Command::Get { account: ACCT.into(), key_id: k.id.clone(), by: as_key(&caller) };
        assert_eq!(code(&o.run(get, T0)), want);
    }
}

#[test]
fn self_service_patch_only_narrows() {
    let o = Object::new();
    let caller = o.create(KeyType::Secret, Restrictions::default(), None);
    let target = o.create(KeyType::Secret, ips(&["203.0.113.0/24"]), None);
    let rk = o.create(KeyType::Restricted, Restrictions::default(), None);
    let patch = |key: &KeyObject, body: &str| Command::Update {
        account: ACCT.into(),
        key_id: key.id.clone(),
        settings: settings(body),
        by: as_key(&caller),
    };
    // Widening, each way: removing a restriction, adding an address, raising a permission.
    for (key, body, param) in [
        (&target, r#"{"allowed_ips":null}"#, "allowed_ips"),
        (&target, r#"{"allowed_ips":["203.0.113.0/24","198.51.100.0/24"]}"#, "allowed_ips"),
        (&target, r#"{"allowed_ips":["203.0.0.0/16"]}"#, "allowed_ips"),
        (&rk, r#"{"permissions":{"customers":"write"}}"#, "permissions"),
        (&rk, r#"{"permissions":{"charges":"write"}}"#, "permissions"),
    ] {
        let out = o.run(patch(key, body), T0);
        assert_eq!(code(&out), "widening_not_allowed", "{body}");
        assert_eq!(out.answer.unwrap_err().param(), Some(param));
    }
    let after = block_on(o.authority().load(ACCT, &target.id)).unwrap();
    assert_eq!(after.record.restrictions.allowed_ips, target.allowed_ips, "nothing changed");
    // Narrowing is fine: a sub-range, a new restriction on an unrestricted field, a lower level.
    for (key, body) in [
        (&target, r#"{"allowed_ips":["203.0.113.128/25"]}"#),
        (&target, r#"{"allowed_endpoints":["GET /v1/charges"]}"#),
        (&rk, r#"{"permissions":{"charges":"none"}}"#),
        (&rk, r#"{"permissions":null}"#),
    ] {
        assert_eq!(code(&o.run(patch(key, body), T0)), "ok", "{body}");
    }
    // The operator may widen.
    let op = Command::Update {
        account: ACCT.into(),
        key_id: target.id.clone(),
        settings: settings(r#"{"allowed_ips":null}"#),
        by: Principal::Operator,
    };
    assert_eq!(code(&o.run(op, T0)), "ok");
}

#[test]
fn a_caller_revoked_a_moment_ago_can_manage_nothing() {
    let o = Object::new();
    let caller = o.create(KeyType::Secret, Restrictions::default(), None);
    let other = o.create(KeyType::Secret, Restrictions::default(), None);
    let revoke = Command::Revoke { account: ACCT.into(), key_id: caller.id.clone(), by: Principal::Operator };
    assert_eq!(code(&o.run(revoke, T0)), "ok");
    let roll =
        Command::Roll { account: ACCT.into(), key_id: other.id.clone(), grace: 0, by: as_key(&caller) };
    assert_eq!(code(&o.run(roll, T0 + 1)), "api_key_revoked");
    // A digest that is not the caller's (a forged principal) is refused too.
    let forged = Principal::Key { key_id: other.id.clone(), digest: digest(&caller) };
    let roll = Command::Roll { account: ACCT.into(), key_id: other.id.clone(), grace: 0, by: forged };
    assert_eq!(code(&o.run(roll, T0 + 1)), "api_key_invalid");
    assert_eq!(o.status(&other.id), KeyStatus::Active);
}

// ---------------------------------------------------------------------------------------------
// 3. Every command that changes state runs serialised
// ---------------------------------------------------------------------------------------------

#[test]
fn every_command_that_writes_is_serialised() {
    let by = || Principal::Operator;
    let (a, k) = (|| ACCT.to_owned(), || "key_1".to_owned());
    let cases = [
        (
            Command::Create {
                account: a(),
                params: params(KeyType::Secret, Default::default(), None),
                actor: Actor::admin(),
            },
            true,
        ),
        (Command::Roll { account: a(), key_id: k(), grace: 0, by: by() }, true),
        (Command::Expire { account: a(), key_id: k(), by: by() }, true),
        (Command::Revoke { account: a(), key_id: k(), by: by() }, true),
        (Command::Update { account: a(), key_id: k(), settings: KeySettings::default(), by: by() }, true),
        (Command::Exposed { account: a(), key_id: k(), reason: "plain_http".into(), expire: true }, true),
        (Command::Usage { account: a(), key_id: k(), at: T0, count: 1 }, true),
        (Command::List { account: a(), by: by(), query: all_in_one_page() }, false),
        (Command::Get { account: a(), key_id: k(), by: by() }, false),
        (Command::Events { account: a(), page: Page { limit: 1, starting_after: None } }, false),
        (Command::Verify { account: a(), key_id: k(), digest: KeyDigest("v1:00".into()) }, false),
    ];
    for (command, serialised) in cases {
        assert_eq!(command.serialised(), serialised, "{command:?}");
    }
}

/// The reproduced race: a revoke lands while a PATCH's KV write is in flight. The PATCH must
/// not write back its copy from before the KV write, and KV must end up agreeing with the
/// authority.
#[test]
fn a_revoke_landing_during_a_patch_kv_write_stays_revoked() {
    let o = Object::new();
    let key = o.create(KeyType::Secret, Restrictions::default(), None);
    let (state, kv, limits, id) = (o.state.clone(), o.kv.clone(), o.limits, key.id.clone());
    *o.kv.during_put.borrow_mut() = Some(Box::new(move || {
        Box::pin(async move {
            let a = Authority { state: &*state, kv: &*kv, limits };
            a.revoke(ACCT, &id, T0 + 1, &Principal::Operator).await.unwrap();
        })
    }));
    let patch = Command::Update {
        account: ACCT.into(),
        key_id: key.id.clone(),
        settings: settings(r#"{"allowed_ips":["203.0.113.7"]}"#),
        by: Principal::Operator,
    };
    let out = o.run(patch, T0 + 1);
    let answered: KeyObject = serde_json::from_str(&out.answer.unwrap()).unwrap();
    assert_eq!(answered.status, "revoked", "the answer is the key as it is now");
    assert_eq!(o.status(&key.id), KeyStatus::Revoked, "the revoke was not overwritten");
    // The PATCH's older record landed in KV after the revoke's: the key is marked unsynced and
    // the alarm, which the PATCH scheduled, writes the current record again.
    let d = digest(&key);
    assert_eq!(o.kv.status(Mode::Test, &d), Some(KeyStatus::Active), "KV got the stale write last");
    assert_eq!(out.alarm, Some(Some(T0 + 1 + KV_RETRY_SECONDS)));
    block_on(o.authority().sync(T0 + 6)).unwrap();
    assert_eq!(o.kv.status(Mode::Test, &d), Some(KeyStatus::Revoked));
    // And a later PATCH of the revoked key is refused, never writing `active` anywhere.
    let again = Command::Update {
        account: ACCT.into(),
        key_id: key.id.clone(),
        settings: settings(r#"{"allowed_ips":null}"#),
        by: Principal::Operator,
    };
    assert_eq!(code(&o.run(again, T0 + 7)), "key_not_active");
    assert_eq!(o.kv.status(Mode::Test, &d), Some(KeyStatus::Revoked));
}

#[test]
fn a_patch_or_exposure_whose_kv_write_fails_schedules_the_retry() {
    let o = Object::new();
    let key = o.create(KeyType::Secret, Restrictions::default(), None);
    *o.kv.failing.borrow_mut() = true;
    let patch = Command::Update {
        account: ACCT.into(),
        key_id: key.id.clone(),
        settings: settings(r#"{"allowed_ips":["203.0.113.7"]}"#),
        by: Principal::Operator,
    };
    let out = o.run(patch, T0 + 1);
    assert_eq!(code(&out), "ok");
    assert_eq!(out.alarm, Some(Some(T0 + 1 + KV_RETRY_SECONDS)));
    let exposed = Command::Exposed {
        account: ACCT.into(),
        key_id: key.id.clone(),
        reason: "plain_http".into(),
        expire: true,
    };
    let out = o.run(exposed, T0 + 2);
    assert_eq!(code(&out), "ok");
    assert_eq!(out.alarm, Some(Some(T0 + 2 + KV_RETRY_SECONDS)));
    *o.kv.failing.borrow_mut() = false;
    block_on(o.authority().sync(T0 + 7)).unwrap();
    let kv = o.kv.record(Mode::Test, &digest(&key)).unwrap();
    assert_eq!(kv.status, KeyStatus::Expired);
    assert_eq!(kv.restrictions.allowed_ips, Some(vec!["203.0.113.7/32".to_owned()]));
}

#[test]
fn a_kv_write_that_landed_but_failed_is_retried_and_converges() {
    let o = Object::new();
    let key = o.create(KeyType::Secret, Restrictions::default(), None);
    *o.kv.landed_but_failed.borrow_mut() = true;
    let revoke = Command::Revoke { account: ACCT.into(), key_id: key.id.clone(), by: Principal::Operator };
    let out = o.run(revoke, T0 + 1);
    assert_eq!(code(&out), "ok");
    assert!(!block_on(o.authority().load(ACCT, &key.id)).unwrap().kv_synced);
    assert_eq!(out.alarm, Some(Some(T0 + 1 + KV_RETRY_SECONDS)));
    block_on(o.authority().sync(T0 + 6)).unwrap();
    assert!(block_on(o.authority().load(ACCT, &key.id)).unwrap().kv_synced);
    assert_eq!(o.kv.status(Mode::Test, &digest(&key)), Some(KeyStatus::Revoked));
}

#[test]
fn a_storage_write_that_landed_but_failed_still_schedules_the_alarm() {
    let o = Object::new();
    let key = o.create(KeyType::Secret, Restrictions::default(), None);
    *o.state.landed_but_failed.borrow_mut() = true;
    let revoke = Command::Revoke { account: ACCT.into(), key_id: key.id.clone(), by: Principal::Operator };
    let out = o.run(revoke, T0 + 1);
    assert_eq!(code(&out), "store_unavailable", "the caller is told it failed");
    assert_eq!(o.status(&key.id), KeyStatus::Revoked, "but the write landed");
    assert_eq!(out.alarm, Some(Some(T0 + 1 + KV_RETRY_SECONDS)), "so the alarm is set");
    block_on(o.authority().sync(T0 + 6)).unwrap();
    assert_eq!(o.kv.status(Mode::Test, &digest(&key)), Some(KeyStatus::Revoked));
}

// ---------------------------------------------------------------------------------------------
// 5. The object's storage does not grow without bound
// ---------------------------------------------------------------------------------------------

#[test]
fn keys_per_account_are_capped() {
    let mut o = Object::new();
    o.limits = Limits { max_keys: 3, ..Limits::default() };
    let first = o.create(KeyType::Secret, Restrictions::default(), None);
    o.create(KeyType::Secret, Restrictions::default(), None);
    o.create(KeyType::Publishable, Restrictions::default(), None);
    let create = Command::Create {
        account: ACCT.into(),
        params: params(KeyType::Secret, Restrictions::default(), None),
        actor: Actor::admin(),
    };
    let out = o.run(create.clone(), T0);
    assert_eq!(code(&out), "key_limit_reached");
    assert_eq!(out.answer.unwrap_err().status(), 409);
    let roll =
        Command::Roll { account: ACCT.into(), key_id: first.id.clone(), grace: 0, by: Principal::Operator };
    assert_eq!(code(&o.run(roll, T0)), "key_limit_reached", "a roll adds a key too");
    assert_eq!(o.status(&first.id), KeyStatus::Active, "and a refused roll changes nothing");
    // Ended keys count until they are removed, 30 days after they end.
    let revoke = Command::Revoke { account: ACCT.into(), key_id: first.id.clone(), by: Principal::Operator };
    assert_eq!(code(&o.run(revoke, T0 + 1)), "ok");
    assert_eq!(code(&o.run(create.clone(), T0 + 2)), "key_limit_reached");
    let next = block_on(o.authority().next_alarm(T0 + 2)).unwrap();
    assert_eq!(next, Some(T0 + 1 + ENDED_RETENTION), "the alarm comes back to remove it");
    block_on(o.authority().sync(T0 + 1 + ENDED_RETENTION)).unwrap();
    assert!(matches!(block_on(o.authority().load(ACCT, &first.id)), Err(Error::NotFound { .. })));
    assert_eq!(o.kv.status(Mode::Test, &digest(&first)), None, "gone from KV too");
    assert_eq!(code(&o.run(create, T0 + 2 + ENDED_RETENTION)), "ok");
}

#[test]
fn the_audit_log_keeps_the_newest_events() {
    let mut o = Object::new();
    o.limits = Limits { max_events: 4, ..Limits::default() };
    let keys: Vec<KeyObject> =
        (0..3).map(|_| o.create(KeyType::Secret, Restrictions::default(), None)).collect();
    for k in &keys {
        let revoke = Command::Revoke { account: ACCT.into(), key_id: k.id.clone(), by: Principal::Operator };
        assert_eq!(code(&o.run(revoke, T0 + 1)), "ok");
    }
    // Six events were written (3 created, 3 revoked); the four newest are kept.
    let events = Command::Events { account: ACCT.into(), page: Page { limit: 100, starting_after: None } };
    let list: List<Event> = serde_json::from_str(&o.run(events, T0 + 2).answer.unwrap()).unwrap();
    let ids: Vec<&str> = list.data.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["evt_000000000006", "evt_000000000005", "evt_000000000004", "evt_000000000003"]);
    let stored =
        block_on(keygate_core::commands::ports::StateStore::list(&*o.state, "event:", None, false, None));
    assert_eq!(stored.unwrap().len(), 4, "older events are deleted from storage, not just hidden");
}

// ---------------------------------------------------------------------------------------------
// 6. Usage: exact counts, coalesced per minute
// ---------------------------------------------------------------------------------------------

#[test]
fn usage_is_reported_once_a_minute_per_key_and_adds_up_exactly() {
    use keygate_core::policy::usage::Tally;
    let o = Object::new();
    let key = o.create(KeyType::Secret, Restrictions::default(), None);
    let tally = Tally::new(16);
    let minute = T0 - T0.rem_euclid(60);
    let mut reports = Vec::new();
    // 7 requests in one minute, 3 in the next, 1 two minutes later; another key in between.
    for t in [0, 1, 5, 20, 30, 58, 59, 60, 61, 119, 180].map(|s| minute + s) {
        if let Some(n) = tally.note(&key.id, t) {
            reports.push((t, n));
        }
        let first_of_minute = [minute, minute + 60, minute + 180].contains(&t);
        assert_eq!(tally.note("key_other", t).is_some(), first_of_minute, "another key has its own count");
    }
    assert_eq!(reports, [(minute, 1), (minute + 60, 7), (minute + 180, 3)]);
    for (at, count) in reports {
        let usage = Command::Usage { account: ACCT.into(), key_id: key.id.clone(), at, count };
        assert_eq!(code(&o.run(usage, at)), "ok");
    }
    let stored = block_on(o.authority().load(ACCT, &key.id)).unwrap();
    assert_eq!(stored.usage.values().sum::<u64>(), 11, "every request but the one still held");
    assert_eq!(stored.last_used, Some(minute + 180));
}

#[test]
fn the_edge_commands_are_read_as_the_commands_of_the_same_name() {
    use keygate_core::commands::command::EdgeCommand;
    let digest = KeyDigest("v1:abc".into());
    let ask = keygate_core::domain::quota::LeaseAsk {
        rate: true,
        credits: true,
        returned: Some((2, 5)),
        small: true,
        want: 400,
    };
    let pairs = [
        (
            EdgeCommand::Verify { account: ACCT, key_id: "key_1", digest: &digest },
            Command::Verify { account: ACCT.into(), key_id: "key_1".into(), digest: digest.clone() },
        ),
        (
            EdgeCommand::Usage { account: ACCT, key_id: "key_1", at: T0, count: 7 },
            Command::Usage { account: ACCT.into(), key_id: "key_1".into(), at: T0, count: 7 },
        ),
        (
            EdgeCommand::Exposed { account: ACCT, key_id: "key_1", reason: "plain_http", expire: true },
            Command::Exposed {
                account: ACCT.into(),
                key_id: "key_1".into(),
                reason: "plain_http".into(),
                expire: true,
            },
        ),
        (
            EdgeCommand::Lease { account: ACCT, key_id: "key_1", ask },
            Command::Lease { account: ACCT.into(), key_id: "key_1".into(), ask },
        ),
        (
            EdgeCommand::Refused { account: ACCT, key_id: "key_1", at: T0, count: 3 },
            Command::Refused { account: ACCT.into(), key_id: "key_1".into(), at: T0, count: 3 },
        ),
        (
            EdgeCommand::CanaryUsed {
                account: ACCT,
                key_id: "key_1",
                seen: SeenBy {
                    ip: "203.0.113.9",
                    user_agent: "curl/8 \"x\"",
                    method: "GET",
                    path: "/v1/a",
                    count: 3,
                },
            },
            Command::CanaryUsed {
                account: ACCT.into(),
                key_id: "key_1".into(),
                seen: CanarySighting {
                    ip: "203.0.113.9".into(),
                    user_agent: "curl/8 \"x\"".into(),
                    method: "GET".into(),
                    path: "/v1/a".into(),
                    count: 3,
                },
            },
        ),
    ];
    for (edge, full) in pairs {
        let sent = serde_json::to_string(&edge).unwrap();
        assert_eq!(sent, serde_json::to_string(&full).unwrap());
        assert_eq!(serde_json::from_str::<Command>(&sent).unwrap(), full);
    }
}

/// A page that holds every key these tests make.
fn all_in_one_page() -> keygate_core::domain::listing::KeyQuery {
    keygate_core::domain::listing::KeyQuery { limit: 100, ..Default::default() }
}

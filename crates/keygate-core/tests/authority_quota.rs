//! Usage controls at the authority: settings through the API's validation, leases through the
//! command protocol, rolls sharing the pool, operator changes, refills by the alarm.
mod common;

use common::block_on;
use keygate_core::api::object::{KeyObject, render};
use keygate_core::commands::authority::{Authority, Limits, Principal};
use keygate_core::commands::command::{Answer, Command, run};
use keygate_core::commands::fakes::{MemoryKv, MemoryState};
use keygate_core::domain::digest::Pepper;
use keygate_core::domain::event::Actor;
use keygate_core::domain::quota::{CreditChange, LeaseAsk, LeaseGrant};
use keygate_core::domain::settings::{CreateKey, KeySettings};
use keygate_core::rng::FixedRng;

const T0: i64 = 2_000_000_000 - 2_000_000_000 % 86_400 + 3600;
const ACCT: &str = "acct_1";

fn pepper() -> keygate_core::domain::key_format::Keyring {
    keygate_core::domain::key_format::Keyring::new(
        Pepper::new("authority-pepper-authority-pepper-x").unwrap(),
    )
}

struct World {
    state: MemoryState,
    kv: MemoryKv,
    seed: std::cell::Cell<u8>,
}

impl World {
    fn new() -> Self {
        World { state: MemoryState::new(), kv: MemoryKv::default(), seed: std::cell::Cell::new(0) }
    }

    fn run(&self, command: Command, now: i64) -> Result<Answer, keygate_core::Error> {
        let a = Authority { state: &self.state, kv: &self.kv, limits: Limits::default() };
        // Each command its own randomness: a roll's successor must not get its parent's id.
        self.seed.set(self.seed.get() + 1);
        block_on(run(&a, command, || Ok(pepper()), &mut FixedRng::new([b'q', self.seed.get()]), now)).answer
    }

    fn create(&self, body: &str) -> KeyObject {
        let params = CreateKey::from_json(body.as_bytes(), T0).unwrap();
        match self.run(Command::Create { account: ACCT.into(), params, actor: Actor::admin() }, T0).unwrap() {
            Answer::Created(c) => KeyObject::from_stored(&c.key, T0),
            other => panic!("{other:?}"),
        }
    }

    fn get(&self, id: &str, now: i64) -> KeyObject {
        match self
            .run(Command::Get { account: ACCT.into(), key_id: id.into(), by: Principal::Operator }, now)
            .unwrap()
        {
            Answer::Key(k) => KeyObject::from_stored(&k, now),
            other => panic!("{other:?}"),
        }
    }

    /// An operator's PATCH of `body` to key `id`.
    fn patch(&self, id: &str, body: &str, now: i64) -> Result<Answer, keygate_core::Error> {
        let settings = KeySettings::from_json(body.as_bytes())?;
        self.run(
            Command::Update { account: ACCT.into(), key_id: id.into(), settings, by: Principal::Operator },
            now,
        )
    }

    fn lease(&self, id: &str, ask: LeaseAsk, now: i64) -> LeaseGrant {
        match self.run(Command::Lease { account: ACCT.into(), key_id: id.into(), ask }, now).unwrap() {
            // Through the wire, as the edge reads it.
            answer @ Answer::Lease(_) => serde_json::from_str(&render(answer, now, "doc").unwrap()).unwrap(),
            other => panic!("{other:?}"),
        }
    }
}

const BOTH: LeaseAsk = LeaseAsk { rate: true, credits: true, returned: None, small: false, want: 0 };

#[test]
fn settings_are_validated_stored_and_shown() {
    let w = World::new();
    let k = w.create(
        r#"{"type":"secret","mode":"test","rate_limit":{"limit":5,"window":60},"credits":{"remaining":3,"refill":{"amount":100,"interval":"day"}}}"#,
    );
    assert_eq!(k.rate_limit.map(|r| (r.limit, r.window)), Some((5, 60)));
    let c = k.credits.clone().unwrap();
    assert_eq!((c.remaining, c.refilled_at), (3, None));
    // The edge's record says what to check, never how many credits are left.
    let json = serde_json::to_value(&k).unwrap();
    assert_eq!(json["credits"]["refill"]["interval"], "day");
    for (body, param) in [
        (r#"{"type":"secret","mode":"test","rate_limit":{"limit":0,"window":60}}"#, "rate_limit.limit"),
        (r#"{"type":"secret","mode":"test","rate_limit":{"limit":5}}"#, "rate_limit.window"),
        (
            r#"{"type":"secret","mode":"test","rate_limit":{"limit":5,"window":60,"burst":2}}"#,
            "rate_limit.burst",
        ),
        (r#"{"type":"secret","mode":"test","rate_limit":{"limit":5,"window":86401}}"#, "rate_limit.window"),
        (r#"{"type":"secret","mode":"test","rate_limit":{"limit":-1,"window":60}}"#, "rate_limit.limit"),
        (r#"{"type":"secret","mode":"test","rate_limit":[5,60]}"#, "rate_limit"),
        (r#"{"type":"secret","mode":"test","credits":{"refill":null}}"#, "credits.remaining"),
        (r#"{"type":"secret","mode":"test","credits":{"remaining":1.5}}"#, "credits.remaining"),
        (
            r#"{"type":"secret","mode":"test","credits":{"remaining":1,"refill":{"amount":5,"interval":"week"}}}"#,
            "credits.refill.interval",
        ),
        (
            r#"{"type":"secret","mode":"test","credits":{"remaining":1,"refill":{"amount":0,"interval":"day"}}}"#,
            "credits.refill.amount",
        ),
    ] {
        let e = CreateKey::from_json(body.as_bytes(), T0).unwrap_err();
        assert_eq!((e.status(), e.param()), (400, Some(param)), "{body}");
    }
}

#[test]
fn leases_draw_on_the_key_and_refuse_all_or_nothing() {
    let w = World::new();
    let k = w.create(
        r#"{"type":"secret","mode":"test","rate_limit":{"limit":5,"window":60},"credits":{"remaining":2}}"#,
    );
    for left in [1, 0] {
        let g = w.lease(&k.id, BOTH, T0 + 1);
        assert_eq!(
            (g.rate.unwrap().tokens, g.credits.unwrap().tokens, g.credits.unwrap().left),
            (1, 1, left)
        );
    }
    // Out of credits: refused, and no rate token is taken with the refusal.
    let g = w.lease(&k.id, BOTH, T0 + 2);
    assert_eq!((g.rate, g.credits, g.credits_exhausted, g.credits_retry_after), (None, None, true, None));
    let g = w.lease(&k.id, LeaseAsk { rate: true, ..Default::default() }, T0 + 2);
    assert_eq!(g.rate.unwrap().left, 2, "the window has had 2 of its 5, not 3");
    assert_eq!(w.get(&k.id, T0 + 3).credits.unwrap().remaining, 0);
    // An operator's top-up, audit-logged.
    let by = Principal::Operator;
    let change = Command::Credits {
        account: ACCT.into(),
        key_id: k.id.clone(),
        change: CreditChange::Increment(10),
        by,
    };
    match w.run(change, T0 + 4).unwrap() {
        Answer::Key(key) => assert_eq!(key.credits.unwrap().remaining, 10),
        other => panic!("{other:?}"),
    }
    let events = match w
        .run(
            Command::Events {
                account: ACCT.into(),
                page: keygate_core::domain::event::Page { limit: 100, starting_after: None },
            },
            T0 + 5,
        )
        .unwrap()
    {
        Answer::Events(p) => p.data,
        other => panic!("{other:?}"),
    };
    assert!(events.iter().any(|e| e.kind == "key.credits_adjusted"), "{events:?}");
    // A change below zero is refused and changes nothing.
    let change = Command::Credits {
        account: ACCT.into(),
        key_id: k.id.clone(),
        change: CreditChange::Decrement(11),
        by: Principal::Operator,
    };
    assert_eq!(w.run(change, T0 + 6).unwrap_err().status(), 400);
    assert_eq!(w.get(&k.id, T0 + 6).credits.unwrap().remaining, 10);
    // The rate limit's window: 5 in all, then refused until the window ends.
    for _ in 0..2 {
        assert!(w.lease(&k.id, LeaseAsk { rate: true, ..Default::default() }, T0 + 7).rate.is_some());
    }
    let g = w.lease(&k.id, LeaseAsk { rate: true, ..Default::default() }, T0 + 7);
    let window_end = (T0 + 7) / 60 * 60 + 60;
    assert_eq!(g.rate_limited, Some((window_end - (T0 + 7)) as u32));
    assert!(w.lease(&k.id, LeaseAsk { rate: true, ..Default::default() }, window_end).rate.is_some());
}

#[test]
fn a_roll_shares_the_pool_and_patch_changes_it() {
    let w = World::new();
    let k = w.create(
        r#"{"type":"secret","mode":"test","rate_limit":{"limit":3,"window":3600},"credits":{"remaining":4}}"#,
    );
    w.lease(&k.id, BOTH, T0 + 1);
    let roll =
        Command::Roll { account: ACCT.into(), key_id: k.id.clone(), grace: 3600, by: Principal::Operator };
    let successor = match w.run(roll, T0 + 2).unwrap() {
        Answer::Created(c) => KeyObject::from_stored(&c.key, T0 + 2),
        other => panic!("{other:?}"),
    };
    assert_eq!(successor.credits.clone().unwrap().remaining, 3, "the successor takes the credits over");
    assert_eq!(successor.rate_limit, k.rate_limit);
    let old = w.get(&k.id, T0 + 3);
    assert_eq!(old.shares_usage_controls_with.as_deref(), Some(successor.id.as_str()));
    assert!(old.credits.is_none());
    // The rolling key's credits are its successor's: changing them there is refused, not lost.
    let settings = KeySettings::from_json(br#"{"credits":{"remaining":9}}"#).unwrap();
    let update =
        Command::Update { account: ACCT.into(), key_id: k.id.clone(), settings, by: Principal::Operator };
    assert_eq!(w.run(update, T0 + 3).unwrap_err().param(), Some("credits"));
    let change = Command::Credits {
        account: ACCT.into(),
        key_id: k.id.clone(),
        change: CreditChange::Set(9),
        by: Principal::Operator,
    };
    assert!(w.run(change, T0 + 3).unwrap_err().message().contains(&successor.id));
    // The old key, still working, draws on the same credits and the same window.
    w.lease(&k.id, BOTH, T0 + 4);
    w.lease(&successor.id, BOTH, T0 + 5);
    let g = w.lease(&k.id, BOTH, T0 + 6);
    assert!(g.rate_limited.is_some(), "3 per hour across both keys: {g:?}");
    assert_eq!(w.get(&successor.id, T0 + 7).credits.unwrap().remaining, 1);
    // PATCH: new credits replace the old (a new period), null removes the rate limit.
    let settings = KeySettings::from_json(br#"{"credits":{"remaining":50},"rate_limit":null}"#).unwrap();
    let update = Command::Update {
        account: ACCT.into(),
        key_id: successor.id.clone(),
        settings,
        by: Principal::Operator,
    };
    match w.run(update, T0 + 8).unwrap() {
        Answer::Key(key) => {
            assert_eq!(key.credits.map(|c| (c.remaining, c.period)), Some((50, 1)));
            assert_eq!(key.record.rate_limit, None);
        }
        other => panic!("{other:?}"),
    }
    // A PATCH of credits alone is stored too (the record, and KV, do not change).
    w.patch(&successor.id, r#"{"credits":{"remaining":60}}"#, T0 + 8).unwrap();
    assert_eq!(w.get(&successor.id, T0 + 8).credits.unwrap().remaining, 60);
    w.patch(&successor.id, r#"{"credits":{"remaining":50}}"#, T0 + 8).unwrap();
    // A lease returned from an old period does not count in the new one.
    let g = w.lease(
        &successor.id,
        LeaseAsk { returned: Some((1, 1)), credits: true, ..Default::default() },
        T0 + 9,
    );
    assert_eq!(g.credits.unwrap().left, 50 - 1);
}

#[test]
fn refills_come_from_the_alarm_without_traffic() {
    let w = World::new();
    let k = w.create(
        r#"{"type":"secret","mode":"test","credits":{"remaining":0,"refill":{"amount":7,"interval":"day"}}}"#,
    );
    let a = Authority { state: &w.state, kv: &w.kv, limits: Limits::default() };
    let midnight = T0 - T0 % 86_400 + 86_400;
    assert_eq!(block_on(a.next_alarm(T0 + 1)).unwrap(), Some(midnight));
    block_on(a.sync(midnight + 2)).unwrap();
    let c = w.get(&k.id, midnight + 3).credits.unwrap();
    assert_eq!((c.remaining, c.refilled_at), (7, Some(midnight)));
    assert_eq!(block_on(a.next_alarm(midnight + 3)).unwrap(), Some(midnight + 86_400));
}

#[test]
fn self_service_cannot_grant_itself_credits_or_lift_its_limit() {
    let w = World::new();
    let k = w.create(
        r#"{"type":"secret","mode":"test","rate_limit":{"limit":10,"window":60},"credits":{"remaining":5}}"#,
    );
    let stored = match w
        .run(Command::Get { account: ACCT.into(), key_id: k.id.clone(), by: Principal::Operator }, T0)
        .unwrap()
    {
        Answer::Key(s) => s,
        other => panic!("{other:?}"),
    };
    let me = Principal::Key { key_id: k.id.clone(), digest: stored.digest.clone() };
    for (body, param) in [
        (r#"{"credits":{"remaining":1000}}"#, "credits"),
        (r#"{"rate_limit":null}"#, "rate_limit"),
        (r#"{"rate_limit":{"limit":20,"window":60}}"#, "rate_limit"),
        (r#"{"rate_limit":{"limit":10,"window":30}}"#, "rate_limit"),
    ] {
        let settings = KeySettings::from_json(body.as_bytes()).unwrap();
        let update = Command::Update { account: ACCT.into(), key_id: k.id.clone(), settings, by: me.clone() };
        let e = w.run(update, T0 + 1).unwrap_err();
        assert_eq!((e.code(), e.param()), ("widening_not_allowed", Some(param)), "{body}");
    }
    let credits = Command::Credits {
        account: ACCT.into(),
        key_id: k.id.clone(),
        change: CreditChange::Set(99),
        by: me.clone(),
    };
    assert_eq!(w.run(credits, T0 + 1).unwrap_err().code(), "widening_not_allowed");
    // Narrowing its own limit is allowed.
    let settings = KeySettings::from_json(br#"{"rate_limit":{"limit":5,"window":120}}"#).unwrap();
    let update = Command::Update { account: ACCT.into(), key_id: k.id.clone(), settings, by: me };
    assert!(w.run(update, T0 + 2).is_ok());
}

fn stored(w: &World, id: &str) -> keygate_core::domain::keystate::StoredKey {
    match w
        .run(Command::Get { account: ACCT.into(), key_id: id.into(), by: Principal::Operator }, T0)
        .unwrap()
    {
        Answer::Key(s) => s,
        other => panic!("{other:?}"),
    }
}

fn as_key(w: &World, id: &str) -> Principal {
    Principal::Key { key_id: id.into(), digest: stored(w, id).digest }
}

#[test]
fn a_key_with_usage_controls_cannot_mint_or_reach_a_looser_one() {
    let w = World::new();
    let trial = w.create(r#"{"type":"secret","mode":"test","credits":{"remaining":1}}"#);
    let unlimited = w.create(r#"{"type":"secret","mode":"test"}"#);
    let limited = w.create(r#"{"type":"secret","mode":"test","rate_limit":{"limit":10,"window":60}}"#);
    let tighter = w.create(r#"{"type":"secret","mode":"test","rate_limit":{"limit":5,"window":60}}"#);
    // A key with credits rolling an unlimited sibling would get a credential without credits.
    let roll = Command::Roll {
        account: ACCT.into(),
        key_id: unlimited.id.clone(),
        grace: 0,
        by: as_key(&w, &trial.id),
    };
    assert_eq!(w.run(roll, T0 + 1).unwrap_err().code(), "key_out_of_scope");
    // Nor a sibling with credits of its own: they cannot be compared.
    let other_trial = w.create(r#"{"type":"secret","mode":"test","credits":{"remaining":1000}}"#);
    let roll = Command::Roll {
        account: ACCT.into(),
        key_id: other_trial.id.clone(),
        grace: 0,
        by: as_key(&w, &trial.id),
    };
    assert_eq!(w.run(roll, T0 + 1).unwrap_err().code(), "key_out_of_scope");
    // A rate-limited key reaches only keys with a limit no looser.
    let get = |target: &str| Command::Get {
        account: ACCT.into(),
        key_id: target.into(),
        by: as_key(&w, &limited.id),
    };
    assert_eq!(w.run(get(&unlimited.id), T0 + 2).unwrap_err().code(), "key_out_of_scope");
    assert!(w.run(get(&tighter.id), T0 + 2).is_ok());
    // Each still manages itself.
    let roll = Command::Roll {
        account: ACCT.into(),
        key_id: trial.id.clone(),
        grace: 60,
        by: as_key(&w, &trial.id),
    };
    assert!(w.run(roll, T0 + 3).is_ok());
}

#[test]
fn new_credits_on_an_old_key_are_not_refilled_at_once() {
    let w = World::new();
    let k = w.create(r#"{"type":"secret","mode":"test"}"#);
    let later = T0 + 40 * 86_400 + 3600;
    let settings =
        KeySettings::from_json(br#"{"credits":{"remaining":5,"refill":{"amount":100,"interval":"day"}}}"#)
            .unwrap();
    w.run(
        Command::Update { account: ACCT.into(), key_id: k.id.clone(), settings, by: Principal::Operator },
        later,
    )
    .unwrap();
    let g = w.lease(&k.id, LeaseAsk { credits: true, ..Default::default() }, later + 1);
    assert_eq!(g.credits.unwrap().left, 4, "the 5 given, not a refill's 100");
    let a = Authority { state: &w.state, kv: &w.kv, limits: Limits::default() };
    let next_midnight = later - later % 86_400 + 86_400;
    assert_eq!(block_on(a.next_alarm(later + 2)).unwrap(), Some(next_midnight));
}

#[test]
fn leases_of_earlier_credits_never_come_back_into_new_ones() {
    let w = World::new();
    let k = w.create(r#"{"type":"secret","mode":"test","credits":{"remaining":100}}"#);
    let g = w.lease(&k.id, LeaseAsk { credits: true, ..Default::default() }, T0 + 1).credits.unwrap();
    // Credits removed, then given again: a new period, whatever the old one was.
    for body in [&br#"{"credits":null}"#[..], br#"{"credits":{"remaining":0}}"#] {
        let settings = KeySettings::from_json(body).unwrap();
        w.run(
            Command::Update { account: ACCT.into(), key_id: k.id.clone(), settings, by: Principal::Operator },
            T0 + 2,
        )
        .unwrap();
    }
    let back = LeaseAsk { credits: true, returned: Some((g.period, g.tokens)), ..Default::default() };
    let r = w.lease(&k.id, back, T0 + 3);
    assert!(r.credits_exhausted, "the returned block did not count: {r:?}");
    // The same after `set`.
    let settings = KeySettings::from_json(br#"{"credits":{"remaining":50}}"#).unwrap();
    w.run(
        Command::Update { account: ACCT.into(), key_id: k.id.clone(), settings, by: Principal::Operator },
        T0 + 4,
    )
    .unwrap();
    let g = w.lease(&k.id, LeaseAsk { credits: true, ..Default::default() }, T0 + 5).credits.unwrap();
    let set = Command::Credits {
        account: ACCT.into(),
        key_id: k.id.clone(),
        change: CreditChange::Set(0),
        by: Principal::Operator,
    };
    w.run(set, T0 + 6).unwrap();
    let r = w.lease(
        &k.id,
        LeaseAsk { credits: true, returned: Some((g.period, g.tokens)), ..Default::default() },
        T0 + 7,
    );
    assert!(r.credits_exhausted, "{r:?}");
}

#[test]
fn chained_rolls_share_one_window_and_ended_keys_lease_nothing() {
    let w = World::new();
    let k0 = w.create(r#"{"type":"secret","mode":"test","rate_limit":{"limit":3,"window":3600},"credits":{"remaining":10}}"#);
    let roll = |id: &str, at: i64| match w
        .run(
            Command::Roll { account: ACCT.into(), key_id: id.into(), grace: 3600, by: Principal::Operator },
            at,
        )
        .unwrap()
    {
        Answer::Created(c) => c.key.record.id,
        other => panic!("{other:?}"),
    };
    let k1 = roll(&k0.id, T0 + 1);
    let k2 = roll(&k1, T0 + 2);
    let mut granted = 0;
    for (i, id) in [&k0.id, &k1, &k2, &k0.id, &k1, &k2].into_iter().enumerate() {
        let g = w.lease(id, BOTH, T0 + 3 + i as i64);
        assert!(g.rate.is_some() || g.rate_limited.is_some(), "{id}: {g:?}");
        granted += g.rate.map_or(0, |r| r.tokens);
    }
    assert_eq!(granted, 3, "one window for the whole chain");
    assert_eq!(w.get(&k2, T0 + 10).credits.unwrap().remaining, 7);
    // A revoked key, still in an edge's stale copy, is refused as revoked.
    w.run(Command::Revoke { account: ACCT.into(), key_id: k2.clone(), by: Principal::Operator }, T0 + 11)
        .unwrap();
    let e = w.run(Command::Lease { account: ACCT.into(), key_id: k2, ask: BOTH }, T0 + 12).unwrap_err();
    assert_eq!(e.code(), "api_key_revoked");
}

#[test]
fn controls_removed_at_the_authority_answer_a_stale_edge_with_unlimited_blocks() {
    // The edge's copy of the record still says "credits" and "rate limit"; the operator has
    // removed both. Through the command protocol the answer must let the key go on, not leave
    // the edge asking until it gives up with a 429.
    let w = World::new();
    let k = w.create(
        r#"{"type":"secret","mode":"test","rate_limit":{"limit":5,"window":60},"credits":{"remaining":5}}"#,
    );
    w.patch(&k.id, r#"{"credits":null,"rate_limit":null}"#, T0 + 1).unwrap();
    let g = w.lease(&k.id, BOTH, T0 + 2);
    assert!(!g.credits_exhausted && g.rate_limited.is_none(), "{g:?}");
    assert_eq!(g.credits.map(|c| c.period), Some(keygate_core::domain::quota::UNLIMITED));
    assert!(g.rate.is_some_and(|r| r.tokens > 0));
}

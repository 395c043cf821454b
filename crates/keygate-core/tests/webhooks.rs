//! Webhooks: the authority's outbox, delivery with its retries, the signed body, the expiry
//! notices, and the faults: a lost answer, a failing endpoint, a misconfigured one, another
//! command in the middle of a send.
mod common;

use std::collections::BTreeSet;

use common::block_on;
use keygate_core::api::webhook::{WebhookEvent, body, deliver_due};
use keygate_core::commands::authority::{Authority, Limits, Principal};
use keygate_core::commands::fakes::{MemoryKv, MemoryReceiver, MemoryState};
use keygate_core::domain::digest::Pepper;
use keygate_core::domain::event::{Actor, Page};
use keygate_core::domain::key::{KeyType, Mode};
use keygate_core::domain::settings::CreateKey;
use keygate_core::domain::webhook::{AttemptOutcome, DeliveryStatus, RETRY_WINDOW};
use keygate_core::rng::FixedRng;
use keygate_verify::Secret;

const T0: i64 = 2_000_000_000;
const ACCT: &str = "acct_hooks";
const DAY: i64 = 86_400;

fn pepper() -> keygate_core::domain::key_format::Keyring {
    keygate_core::domain::key_format::Keyring::new(
        Pepper::new("webhook-pepper-webhook-pepper-webhook").unwrap(),
    )
}

fn secret() -> Secret {
    Secret::new(b"whsec_test_test_test_test_test_test_")
}

struct World {
    state: MemoryState,
    kv: MemoryKv,
    limits: Limits,
}

impl World {
    fn new(webhooks: bool) -> Self {
        World {
            state: MemoryState::new(),
            kv: MemoryKv::default(),
            limits: Limits { webhooks, ..Limits::default() },
        }
    }
    fn a(&self) -> Authority<'_, MemoryState, MemoryKv> {
        Authority { state: &self.state, kv: &self.kv, limits: self.limits }
    }
    fn create(&self, expires_at: Option<i64>, seed: &[u8], now: i64) -> (String, String) {
        let params =
            CreateKey { name: "hook".into(), expires_at, ..common::plain_key(KeyType::Secret, Mode::Test) };
        let c = block_on(self.a().create(
            ACCT,
            &params,
            &pepper(),
            &mut FixedRng::new(seed.to_vec()),
            now,
            &Actor::admin(),
        ))
        .unwrap();
        (c.key.record.id.clone(), c.secret.expose_secret().to_owned())
    }
    fn deliver(&self, rx: &MemoryReceiver, now: i64) -> usize {
        let secrets = [secret()];
        block_on(deliver_due(&self.a(), Ok((rx, &secrets)), || now, || now, 50)).unwrap()
    }
    fn all(&self) -> Vec<keygate_core::domain::webhook::Delivery> {
        block_on(self.a().deliveries(ACCT, &Page { limit: 100, starting_after: None })).unwrap().0
    }
}

/// What reached the receiver by `now`, each verified as a receiver does when it arrives.
fn events(rx: &MemoryReceiver, now: i64) -> Vec<WebhookEvent> {
    rx.received
        .borrow()
        .iter()
        .map(|(body, sig)| {
            let (sent, _) = keygate_verify::webhook::parse(sig).unwrap();
            assert!(sent <= now);
            keygate_verify::webhook::verify(&[secret()], sig, body, sent + 1, 300)
                .expect("a verifiable signature");
            serde_json::from_slice(body).unwrap()
        })
        .collect()
}

#[test]
fn each_change_is_stored_then_delivered_once_signed_and_without_the_secret() {
    let w = World::new(true);
    let (id, raw) = w.create(None, b"one", T0);
    // Stored before anything is sent; the alarm is due at once.
    let pending = w.all();
    assert_eq!(pending.len(), 1);
    assert_eq!((pending[0].kind.as_str(), pending[0].status), ("key.created", DeliveryStatus::Pending));
    assert_eq!(block_on(w.a().next_alarm(T0)).unwrap(), Some(T0));
    block_on(w.a().revoke(ACCT, &id, T0 + 1, &Principal::Operator)).unwrap();

    let rx = MemoryReceiver::default();
    assert_eq!(w.deliver(&rx, T0 + 2), 2);
    let got = events(&rx, T0 + 2);
    assert_eq!(got.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(), ["key.created", "key.revoked"]);
    assert_eq!(got[0].data.object.id, id);
    assert_eq!(got[0].data.object.status, "active", "the key as it was when the event happened");
    assert_eq!(got[1].data.object.status, "revoked");
    assert_eq!((got[0].account.as_str(), got[0].livemode, got[0].object.as_str()), (ACCT, false, "event"));
    for (body, _) in rx.received.borrow().iter() {
        let text = String::from_utf8_lossy(body);
        assert!(!text.contains(&raw) && !text.contains("\"secret\":"), "{text}");
    }
    assert!(w.all().iter().all(|d| d.status == DeliveryStatus::Delivered && d.attempts == 1));
    // Nothing more to send, and the alarm no longer waits on the outbox.
    assert_eq!(w.deliver(&rx, T0 + 3), 0);
    assert!(
        block_on(w.a().next_alarm(T0 + 3)).unwrap().is_none_or(|t| t > T0 + 86_400),
        "only the revoked key's removal is ahead"
    );
    // Ids are distinct, and stable (what the list shows is what was sent).
    let ids: BTreeSet<_> = got.iter().map(|e| e.id.clone()).collect();
    assert_eq!(ids.len(), 2);
    assert!(w.all().iter().all(|d| ids.contains(&d.id)));
}

#[test]
fn a_failing_endpoint_is_retried_with_backoff_for_three_days_then_the_operator_can_retry() {
    let w = World::new(true);
    w.create(None, b"backoff", T0);
    let rx = MemoryReceiver::default();
    rx.script.borrow_mut().extend(std::iter::repeat_n(AttemptOutcome::Answered(500), 100));
    let mut now = T0;
    let mut delays = Vec::new();
    loop {
        assert_eq!(w.deliver(&rx, now), 1);
        let d = &w.all()[0];
        match d.next_attempt_at {
            Some(at) => {
                delays.push(at - now);
                // Not due before its time.
                assert_eq!(w.deliver(&rx, at - 1), 0);
                assert_eq!(block_on(w.a().next_alarm(now)).unwrap(), Some(at));
                now = at;
            }
            None => break,
        }
    }
    assert_eq!(&delays[..4], &[60, 120, 240, 480]);
    assert!(delays.iter().all(|d| *d <= 6 * 3600));
    let d = &w.all()[0];
    assert_eq!(d.status, DeliveryStatus::Failed);
    assert!(
        now <= T0 + RETRY_WINDOW && now + 6 * 3600 > T0 + RETRY_WINDOW - 6 * 3600,
        "gave up near the window's end: {}",
        now - T0
    );
    assert_eq!(d.last_status, Some(500));
    assert_eq!(d.last_error.as_deref(), Some("the endpoint answered 500"));
    assert_eq!(rx.received.borrow().len() as u32, d.attempts);
    // The operator asks again: due now, delivered now that the endpoint is back.
    rx.script.borrow_mut().clear();
    let retried = block_on(w.a().retry_delivery(ACCT, &d.id, now + 10)).unwrap();
    assert_eq!((retried.status, retried.next_attempt_at), (DeliveryStatus::Pending, Some(now + 10)));
    assert_eq!(w.deliver(&rx, now + 10), 1);
    assert_eq!(w.all()[0].status, DeliveryStatus::Delivered);
    // Unknown ids, and another account's, are not found.
    assert_eq!(block_on(w.a().retry_delivery(ACCT, "evt_nope", now)).unwrap_err().status(), 404);
    assert_eq!(block_on(w.a().retry_delivery("acct_other", &d.id, now)).unwrap_err().status(), 404);
}

#[test]
fn a_lost_answer_means_the_same_event_again_never_a_lost_one() {
    let w = World::new(true);
    w.create(None, b"lost", T0);
    let rx = MemoryReceiver::default();
    *rx.lost_answers.borrow_mut() = 1;
    assert_eq!(w.deliver(&rx, T0), 1);
    let d = w.all()[0].clone();
    assert_eq!((d.status, d.attempts), (DeliveryStatus::Pending, 1));
    assert!(d.last_error.as_deref().unwrap().contains("timed out"));
    assert_eq!(w.deliver(&rx, T0 + 60), 1);
    let got = events(&rx, T0 + 60);
    assert_eq!(got.len(), 2, "at least once: it arrived twice");
    assert_eq!(got[0], got[1], "with the same id and body");
    assert_eq!(w.all()[0].status, DeliveryStatus::Delivered);
}

#[test]
fn a_misconfigured_endpoint_loses_nothing() {
    let w = World::new(true);
    w.create(None, b"misconf", T0);
    let rx = MemoryReceiver::default();
    let sent = block_on(deliver_due::<_, _, MemoryReceiver>(
        &w.a(),
        Err("WEBHOOK_SIGNING_SECRET is missing"),
        || T0,
        || T0,
        50,
    ))
    .unwrap();
    assert_eq!(sent, 1);
    let d = &w.all()[0];
    assert_eq!(
        (d.status, d.last_error.as_deref()),
        (DeliveryStatus::Pending, Some("WEBHOOK_SIGNING_SECRET is missing"))
    );
    assert_eq!(d.attempts, 0, "not an attempt: the deployment's own fault");
    assert_eq!(d.next_attempt_at, Some(T0 + 300), "looked at again in five minutes");
    assert!(rx.received.borrow().is_empty());
    // A week of misconfiguration: still pending, with a window that starts when it is fixed.
    let mut now = T0;
    for _ in 0..(7 * 86_400 / 300) {
        now += 300;
        block_on(deliver_due::<_, _, MemoryReceiver>(
            &w.a(),
            Err("WEBHOOK_URL is invalid"),
            || now,
            || now,
            50,
        ))
        .unwrap();
    }
    let d = &w.all()[0];
    assert_eq!((d.status, d.attempts), (DeliveryStatus::Pending, 0));
    assert!(d.retry_until >= now + RETRY_WINDOW - 300);
    assert_eq!(w.deliver(&rx, now + 300), 1);
    assert_eq!(w.all()[0].status, DeliveryStatus::Delivered);
}

#[test]
fn another_command_during_a_send_is_queued_and_delivered_too() {
    let w = std::rc::Rc::new(World::new(true));
    let (id, _) = w.create(None, b"middle", T0);
    let rx = MemoryReceiver::default();
    let w2 = w.clone();
    let id2 = id.clone();
    *rx.during_send.borrow_mut() = Some(Box::new(move || {
        Box::pin(async move {
            w2.a().revoke(ACCT, &id2, T0 + 1, &Principal::Operator).await.unwrap();
        })
    }));
    // The created event is in flight when the revoke lands: both are delivered, each once.
    assert_eq!(w.deliver(&rx, T0 + 1), 1);
    assert_eq!(w.deliver(&rx, T0 + 2), 1);
    let kinds: Vec<_> = events(&rx, T0 + 2).into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["key.created", "key.revoked"]);
    assert!(w.all().iter().all(|d| d.status == DeliveryStatus::Delivered));
}

#[test]
fn without_a_webhook_nothing_is_queued() {
    let w = World::new(false);
    let (id, _) = w.create(Some(T0 + 2 * DAY), b"off", T0);
    block_on(w.a().revoke(ACCT, &id, T0 + 1, &Principal::Operator)).unwrap();
    assert!(w.all().is_empty());
    assert_eq!(block_on(w.a().next_delivery()).unwrap(), None);
}

#[test]
fn expiry_notices_come_seven_days_and_one_day_before_once_each() {
    let w = World::new(true);
    let exp = T0 + 10 * DAY;
    let (id, _) = w.create(Some(exp), b"expiring", T0);
    let rx = MemoryReceiver::default();
    let kinds = |w: &World| w.all().iter().rev().map(|d| d.kind.clone()).collect::<Vec<_>>();
    block_on(w.a().sync(T0 + DAY)).unwrap();
    assert_eq!(kinds(&w), ["key.created"]);
    // The alarm knows when the first notice falls due.
    assert_eq!(
        block_on(w.a().next_alarm(T0 + DAY)).unwrap(),
        Some(T0 + DAY),
        "the created event is still due"
    );
    w.deliver(&rx, T0 + DAY);
    assert_eq!(block_on(w.a().next_alarm(T0 + DAY)).unwrap(), Some(exp - 7 * DAY));
    block_on(w.a().sync(exp - 7 * DAY)).unwrap();
    block_on(w.a().sync(exp - 7 * DAY + 5)).unwrap();
    assert_eq!(kinds(&w), ["key.created", "key.expiring"]);
    block_on(w.a().sync(exp - DAY)).unwrap();
    assert_eq!(kinds(&w), ["key.created", "key.expiring", "key.expiring"]);
    let notices: Vec<_> = w
        .all()
        .iter()
        .rev()
        .filter(|d| d.kind == "key.expiring")
        .map(|d| d.detail["days"].as_i64())
        .collect();
    assert_eq!(notices, [Some(7), Some(1)]);
    // Then the expiry itself.
    block_on(w.a().sync(exp)).unwrap();
    assert_eq!(kinds(&w).last().map(String::as_str), Some("key.expired"));
    w.deliver(&rx, exp);
    let got = events(&rx, exp);
    assert_eq!(got.iter().filter(|e| e.kind == "key.expiring").count(), 2);
    assert!(got.iter().all(|e| e.data.object.id == id));

    // A key made to expire within a day gets the one-day notice only; a rolled key's grace end
    // gets its notices too.
    let w = World::new(true);
    let (soon, _) = w.create(Some(T0 + 3600), b"soon", T0);
    let (rolling, _) = w.create(None, b"rolling", T0);
    block_on(w.a().roll(
        ACCT,
        &rolling,
        2 * DAY,
        &pepper(),
        &mut FixedRng::new(*b"next"),
        T0,
        &Principal::Operator,
    ))
    .unwrap();
    block_on(w.a().sync(T0 + 1)).unwrap();
    let notices: Vec<_> = w
        .all()
        .iter()
        .filter(|d| d.kind == "key.expiring")
        .map(|d| (d.key.record.id.clone(), d.detail["days"].as_i64()))
        .collect();
    assert!(notices.contains(&(soon.clone(), Some(1))), "{notices:?}");
    // Two days of grace: the notice says two days, not seven.
    assert!(notices.contains(&(rolling.clone(), Some(2))), "{notices:?}");
    block_on(w.a().sync(T0 + DAY + 1)).unwrap();
    let for_rolling =
        w.all().iter().filter(|d| d.kind == "key.expiring" && d.key.record.id == rolling).count();
    assert_eq!(for_rolling, 2);
    assert_eq!(w.all().iter().filter(|d| d.kind == "key.expiring" && d.key.record.id == soon).count(), 1);
}

#[test]
fn the_outbox_keeps_as_many_deliveries_as_the_audit_log_keeps_events() {
    let mut w = World::new(true);
    w.limits.max_events = 3;
    let (id, _) = w.create(None, b"retention", T0);
    for i in 0..4 {
        let settings = keygate_core::domain::settings::KeySettings::from_json(
            format!(r#"{{"name":"n{i}"}}"#).as_bytes(),
        )
        .unwrap();
        block_on(w.a().update(ACCT, &id, &settings, T0 + i, &Principal::Operator)).unwrap();
    }
    // Nothing was sent yet: every pending delivery is kept (up to twice the retention).
    assert_eq!(w.all().len(), 5);
    let rx = MemoryReceiver::default();
    assert_eq!(w.deliver(&rx, T0 + 10), 5);
    // Once settled, those beyond the retention go.
    let kept = w.all();
    assert_eq!(kept.len(), 3);
    assert!(kept.iter().all(|d| d.kind == "key.updated"));
    // Paging, newest first.
    let first = block_on(w.a().deliveries(ACCT, &Page { limit: 2, starting_after: None })).unwrap();
    assert_eq!((first.0.len(), first.1), (2, true));
    let rest =
        block_on(w.a().deliveries(ACCT, &Page { limit: 2, starting_after: Some(first.0[1].id.clone()) }))
            .unwrap();
    assert_eq!((rest.0.len(), rest.1), (1, false));
    assert!(rest.0[0].seq < first.0[1].seq);
    let bad =
        block_on(w.a().deliveries(ACCT, &Page { limit: 2, starting_after: Some("evt_unknown".into()) }));
    assert_eq!(bad.unwrap_err().code(), "parameter_invalid");
    // The body of a delivery can always be rendered again.
    assert!(body(&kept[0]).is_ok());
}

#[test]
fn credits_running_low_and_out_are_announced_once_each() {
    use keygate_core::domain::quota::{Credits, LeaseAsk};
    let w = World::new(true);
    let params = CreateKey {
        name: "metered".into(),
        credits: Some(Credits::new(100, None, "credits").unwrap()),
        ..common::plain_key(KeyType::Secret, Mode::Test)
    };
    let c = block_on(w.a().create(
        ACCT,
        &params,
        &pepper(),
        &mut FixedRng::new(*b"metered"),
        T0,
        &Actor::admin(),
    ))
    .unwrap();
    let id = c.key.record.id.clone();
    let ask = LeaseAsk { credits: true, ..LeaseAsk::default() };
    let mut granted = 0;
    for i in 0..200 {
        let g = block_on(w.a().lease(ACCT, &id, ask, T0 + i)).unwrap();
        match g.credits {
            Some(c) if c.tokens > 0 => granted += c.tokens,
            _ => break,
        }
    }
    assert_eq!(granted, 100, "every credit leased, none more");
    let notices: Vec<_> = w
        .all()
        .iter()
        .rev()
        .filter(|d| d.kind.starts_with("key.credits"))
        .map(|d| (d.kind.clone(), d.detail["remaining"].as_u64()))
        .collect();
    assert_eq!(notices.len(), 2, "{notices:?}");
    assert_eq!(notices[0].0, "key.credits_low");
    assert!(notices[0].1.is_some_and(|r| r <= 10 && r > 0), "{notices:?}");
    assert_eq!(notices[1], ("key.credits_exhausted".to_owned(), Some(0)));
    // A top-up is a new allowance: running low again is announced again.
    let key = block_on(w.a().adjust_credits(
        ACCT,
        &id,
        keygate_core::domain::quota::CreditChange::Increment(50),
        T0 + 300,
        &Principal::Operator,
    ))
    .unwrap();
    assert_eq!(key.credits.map(|c| c.remaining), Some(50));
    for i in 0..200 {
        if block_on(w.a().lease(ACCT, &id, ask, T0 + 400 + i)).unwrap().credits.is_none_or(|c| c.tokens == 0)
        {
            break;
        }
    }
    let kinds: Vec<_> =
        w.all().iter().rev().filter(|d| d.kind.starts_with("key.credits")).map(|d| d.kind.clone()).collect();
    assert_eq!(
        kinds,
        ["key.credits_low", "key.credits_exhausted", "key.credits_low", "key.credits_exhausted"]
    );
}

#[test]
fn a_fault_after_the_kv_write_keeps_the_event_and_its_webhook() {
    let w = std::rc::Rc::new(World::new(true));
    let (id, _) = w.create(None, b"lost-event", T0);
    let w2 = w.clone();
    *w.kv.during_put.borrow_mut() = Some(Box::new(move || {
        Box::pin(async move {
            // The platform fails (or the object is reset) while KV takes the record.
            *w2.state.fault.borrow_mut() = Some(keygate_core::store::StoreError::Failed("injected".into()));
        })
    }));
    assert!(block_on(w.a().revoke(ACCT, &id, T0 + 1, &Principal::Operator)).is_err());
    *w.state.fault.borrow_mut() = None;
    assert_eq!(block_on(w.a().load(ACCT, &id)).unwrap().record.status.as_str(), "revoked");
    // The event and its webhook were written with the change, before the KV write.
    let kinds: Vec<_> = w.all().iter().rev().map(|d| d.kind.clone()).collect();
    assert_eq!(kinds, ["key.created", "key.revoked"]);
    let audit = block_on(w.a().events(ACCT, &Page { limit: 10, starting_after: None })).unwrap().data;
    assert!(audit.iter().any(|e| e.kind == "key.revoked"));
}

#[test]
fn pending_deliveries_outlive_the_retention_until_twice_as_many_events_then_are_counted() {
    let mut w = World::new(true);
    w.limits.max_events = 3;
    let (id, _) = w.create(None, b"retention-2", T0);
    for i in 0..7 {
        let settings = keygate_core::domain::settings::KeySettings::from_json(
            format!(r#"{{"name":"m{i}"}}"#).as_bytes(),
        )
        .unwrap();
        block_on(w.a().update(ACCT, &id, &settings, T0 + i, &Principal::Operator)).unwrap();
    }
    // 8 events, none sent: the oldest two were dropped only past twice the retention (6).
    assert_eq!(w.all().len(), 6);
    let dropped =
        block_on(keygate_core::commands::ports::StateStore::get(&w.state, "meta:outbox_dropped")).unwrap();
    assert_eq!(dropped.as_deref(), Some("2"));
}

#[test]
fn an_entry_this_version_cannot_read_never_blocks_the_others() {
    let w = World::new(true);
    let (id, _) = w.create(None, b"poison", T0);
    block_on(w.a().revoke(ACCT, &id, T0 + 1, &Principal::Operator)).unwrap();
    let newer = r#"{"written":"by a newer version"}"#;
    block_on(keygate_core::commands::ports::StateStore::put(&w.state, "outbox:000000000001", newer)).unwrap();
    let rx = MemoryReceiver::default();
    assert_eq!(w.deliver(&rx, T0 + 2), 1);
    assert_eq!(events(&rx, T0 + 2).iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(), ["key.revoked"]);
    assert!(block_on(w.a().next_alarm(T0 + 3)).unwrap().is_none_or(|t| t > T0 + 3), "no hot alarm");
    assert_eq!(w.all().len(), 1, "the unreadable entry is not listed");
}

#[test]
fn event_ids_never_repeat_across_outboxes() {
    let (a, b) = (World::new(true), World::new(true));
    a.create(None, b"one", T0);
    b.create(None, b"two", T0);
    assert_ne!(a.all()[0].id, b.all()[0].id, "the same (mode, account, seq) in two outboxes");
}

#[test]
fn an_endpoint_that_does_not_answer_pauses_the_outbox_instead_of_timing_out_for_each() {
    let w = World::new(true);
    for i in 0..5u8 {
        w.create(None, &[b's', b'l', b'o', b'w', i], T0);
    }
    let rx = MemoryReceiver::default();
    rx.script.borrow_mut().push_back(AttemptOutcome::Failed("no answer within 10 s".into()));
    assert_eq!(w.deliver(&rx, T0), 1, "one timeout, then the others wait");
    assert_eq!(block_on(w.a().next_alarm(T0)).unwrap(), Some(T0 + 60));
    assert_eq!(w.deliver(&rx, T0 + 30), 0, "paused");
    assert_eq!(w.deliver(&rx, T0 + 60), 5, "the endpoint is back: everything goes");
}

#[test]
fn a_lease_returned_unspent_does_not_announce_exhaustion_again() {
    use keygate_core::domain::quota::{Credits, LeaseAsk};
    let w = World::new(true);
    let params = CreateKey {
        credits: Some(Credits::new(100, None, "credits").unwrap()),
        ..common::plain_key(KeyType::Secret, Mode::Test)
    };
    let made = block_on(w.a().create(
        ACCT,
        &params,
        &pepper(),
        &mut FixedRng::new(*b"returned"),
        T0,
        &Actor::admin(),
    ));
    let id = made.unwrap().key.record.id;
    let ask = LeaseAsk { credits: true, ..LeaseAsk::default() };
    let early = block_on(w.a().lease(ACCT, &id, ask, T0)).unwrap().credits.unwrap();
    for i in 1..300 {
        if block_on(w.a().lease(ACCT, &id, ask, T0 + i)).unwrap().credits.is_none_or(|c| c.tokens == 0) {
            break;
        }
    }
    let back =
        LeaseAsk { credits: true, returned: Some((early.period, early.tokens)), ..LeaseAsk::default() };
    block_on(w.a().lease(ACCT, &id, back, T0 + 500)).unwrap();
    for i in 0..50 {
        if block_on(w.a().lease(ACCT, &id, ask, T0 + 501 + i)).unwrap().credits.is_none_or(|c| c.tokens == 0)
        {
            break;
        }
    }
    let kinds: Vec<_> =
        w.all().iter().rev().filter(|d| d.kind.starts_with("key.credits")).map(|d| d.kind.clone()).collect();
    assert_eq!(kinds, ["key.credits_low", "key.credits_exhausted"], "once per grant");
}

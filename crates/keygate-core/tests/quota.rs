//! Usage controls: several isolates sharing one authority, with interleaved requests and leases
//! (a lease's answer may arrive after other requests and leases ran), proving that credits are
//! never over-spent, that no window proxies more than its limit, that a request refused by one
//! control spends nothing of the other, and measuring what leases leave unusable.

use keygate_core::Error;
use keygate_core::domain::quota::{
    Credits, HOT_BLOCK, Interval, LeaseAsk, LeaseGrant, MAX_BLOCK, RateLimit, RateWindow, Refill, lease,
};
use keygate_core::policy::quota::{CREDITS_RECHECK, Controls, Leases, Spend};

const T0: i64 = 2_000_000_000 - 2_000_000_000 % 86_400;

/// The authority's state for one key.
struct Authority {
    rate_limit: Option<RateLimit>,
    window: RateWindow,
    credits: Option<Credits>,
    calls: u64,
}

impl Authority {
    fn new(rate_limit: Option<(u64, i64)>, credits: Option<u64>) -> Self {
        Authority {
            rate_limit: rate_limit.map(|(l, w)| RateLimit::new(l, w, "rate_limit").unwrap()),
            window: RateWindow::default(),
            credits: credits.map(|c| Credits::new(c, None, "credits").unwrap()),
            calls: 0,
        }
    }

    fn lease(&mut self, ask: LeaseAsk, now: i64) -> LeaseGrant {
        self.calls += 1;
        lease(self.rate_limit.as_ref(), &mut self.window, self.credits.as_mut(), T0, ask, now)
    }
}

/// xorshift64*, seeded: the interleavings are reproducible.
struct Prng(u64);

impl Prng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

#[derive(Default, Debug)]
struct Outcome {
    proxied: u64,
    proxied_per_window: std::collections::BTreeMap<i64, u64>,
    rate_limited: u64,
    credits_exhausted: u64,
    gave_up: u64,
    /// The most requests waiting on an answer at once.
    most_in_flight: u64,
}

/// Run `requests` requests over `isolates` isolates: each step either starts a request in a
/// random isolate or answers one outstanding lease, in random order, with the clock advancing
/// `step_ms` per step. Requests are retried after a grant at most 3 times, as the edge does.
fn simulate(
    auth: &mut Authority,
    isolates: usize,
    requests: u64,
    step_ms: i64,
    seed: u64,
) -> (Outcome, Vec<Leases>) {
    let leases: Vec<Leases> = (0..isolates).map(|_| Leases::new(1000)).collect();
    let rl = auth.rate_limit;
    let controls = Controls { rate_limit: rl.as_ref(), credits: auth.credits.is_some() };
    let mut rng = Prng(seed | 1);
    let mut out = Outcome::default();
    // Outstanding leases: (isolate, ask, tries so far).
    let mut pending: Vec<(usize, LeaseAsk, u32)> = Vec::new();
    let (mut started, mut ms) = (0u64, 0i64);
    let spent = |out: &mut Outcome, now: i64| {
        out.proxied += 1;
        if let Some(rl) = rl {
            *out.proxied_per_window.entry(rl.window_of(now)).or_default() += 1;
        }
    };
    let refused = |out: &mut Outcome, e: Error| match e {
        Error::RateLimitExceeded { .. } => out.rate_limited += 1,
        Error::CreditsExhausted { .. } => out.credits_exhausted += 1,
        e => panic!("{e:?}"),
    };
    while started < requests || !pending.is_empty() {
        out.most_in_flight = out.most_in_flight.max(pending.len() as u64);
        ms += step_ms;
        let now = T0 + ms / 1000;
        let answer = !pending.is_empty() && (started == requests || rng.next(3) == 0);
        if answer {
            let (i, ask, tries) = pending.swap_remove(rng.next(pending.len() as u64) as usize);
            let grant = auth.lease(ask, now);
            match leases[i].granted("key_1", &ask, &grant, now) {
                Err(e) => refused(&mut out, e),
                Ok(()) => match leases[i].spend("key_1", controls, now) {
                    Spend::Spent(_) => spent(&mut out, now),
                    Spend::Ask(ask) if tries < 3 => pending.push((i, ask, tries + 1)),
                    Spend::Ask(_) => out.gave_up += 1,
                    Spend::Refused(e) => refused(&mut out, e),
                },
            }
        } else {
            started += 1;
            let i = rng.next(isolates as u64) as usize;
            match leases[i].spend("key_1", controls, now) {
                Spend::Spent(_) => spent(&mut out, now),
                Spend::Ask(ask) => pending.push((i, ask, 0)),
                Spend::Refused(e) => refused(&mut out, e),
            }
        }
    }
    (out, leases)
}

#[test]
fn credits_are_never_over_spent_across_isolates_and_interleavings() {
    for (isolates, credits, seed) in
        [(1, 3, 1), (4, 3, 2), (8, 100, 3), (16, 1000, 4), (32, 10_000, 5), (3, 1, 6)]
    {
        let mut auth = Authority::new(None, Some(credits));
        let requests = credits * 2 + 50;
        let (out, leases) = simulate(&mut auth, isolates, requests, 3, seed);
        let held: u64 = leases.iter().map(|l| l.credits_held("key_1")).sum();
        let remaining = auth.credits.unwrap().remaining;
        assert!(out.proxied <= credits, "{isolates} isolates: {} proxied of {credits}", out.proxied);
        // Exact accounting: every credit is proxied, still at the authority, or held in a lease.
        assert_eq!(out.proxied + held + remaining, credits, "{isolates} isolates, seed {seed}");
        // What leases leave unusable is at most one block per isolate (a 32nd of what was left
        // when it was granted, at most HOT_BLOCK), and one credit per request that was waiting on
        // an answer.
        assert!(
            held <= isolates as u64 * HOT_BLOCK.min(credits / 32).max(1) + out.most_in_flight,
            "{held} held"
        );
        assert_eq!(out.rate_limited, 0);
        assert_eq!(out.proxied + out.credits_exhausted + out.gave_up, requests);
        // Once exhausted, each isolate answers by itself for CREDITS_RECHECK seconds.
        let seconds = (requests as i64 * 2 * 3) / 1000 + 1;
        let rechecks = isolates as u64 * (seconds as u64 / CREDITS_RECHECK as u64 + 1);
        let blocks = credits; // at worst one credit per lease
        let bound = blocks + rechecks * 2 + isolates as u64 * 4 + out.most_in_flight * 4;
        assert!(auth.calls <= bound, "{} calls, bound {bound}", auth.calls);
        eprintln!(
            "{isolates:>2} isolates, {credits:>5} credits: {} proxied, {held} held unspent in leases, {} authority calls for {requests} requests",
            out.proxied, auth.calls
        );
    }
}

#[test]
fn what_leases_hold_unspent_midway_is_at_most_a_block_per_isolate() {
    for (isolates, credits, seed) in [(4, 10_000, 31), (16, 100_000, 32), (32, 1_000_000, 33)] {
        let mut auth = Authority::new(None, Some(credits));
        let requests = 5000;
        let (out, leases) = simulate(&mut auth, isolates, requests, 1, seed);
        let held: u64 = leases.iter().map(|l| l.credits_held("key_1")).sum();
        assert_eq!(out.proxied + out.gave_up, requests);
        assert_eq!(out.proxied + held + auth.credits.unwrap().remaining, credits);
        // One block per isolate (at most HOT_BLOCK, for an isolate that spent its last one within
        // seconds), and one credit per request that was waiting on an answer.
        let bound = isolates as u64 * HOT_BLOCK + out.most_in_flight;
        assert!(held <= bound, "{held} held, bound {bound}");
        eprintln!(
            "{isolates:>2} isolates, {credits:>7} credits, {requests} requests: {held} held unspent in leases (bound {bound}: a hot block per isolate and {} in flight), {} authority calls, {} gave up",
            out.most_in_flight, auth.calls, out.gave_up
        );
    }
}

#[test]
fn no_window_proxies_more_than_its_limit() {
    for (isolates, limit, window, seed) in
        [(1, 5, 60, 11), (4, 5, 60, 12), (8, 100, 10, 13), (16, 1000, 1, 14)]
    {
        let rl = RateLimit::new(limit, window, "rate_limit").unwrap();
        let mut auth =
            Authority { rate_limit: Some(rl), window: RateWindow::default(), credits: None, calls: 0 };
        // About three windows' worth of steps (a request is one or two steps).
        let requests = limit * 20;
        let step_ms = (window * 1000 * 3 / (requests as i64 * 2)).max(1);
        let (out, _) = simulate(&mut auth, isolates, requests, step_ms, seed);
        assert!(out.proxied_per_window.len() > 1, "the run spans several windows");
        for (w, n) in &out.proxied_per_window {
            assert!(*n <= limit, "window {w}: {n} proxied, limit {limit}");
        }
        assert_eq!(out.credits_exhausted, 0);
        assert!(out.rate_limited > 0);
    }
}

#[test]
fn a_request_refused_by_one_control_spends_nothing_of_the_other() {
    // Rate limit far below the credits: every refusal is the rate limit's, and the credits it
    // would have spent are all still there (at the authority or held).
    let mut auth = Authority::new(Some((5, 60)), Some(1000));
    let (out, leases) = simulate(&mut auth, 4, 200, 1, 21);
    let held: u64 = leases.iter().map(|l| l.credits_held("key_1")).sum();
    assert!(out.rate_limited > 0);
    assert_eq!(out.proxied + held + auth.credits.unwrap().remaining, 1000);
    // Credits far below the limit: every refusal is the credits', and the window's count only
    // holds what the credits let through, plus blocks granted with them.
    let mut auth = Authority::new(Some((10_000, 86_400)), Some(3));
    let (out, _) = simulate(&mut auth, 2, 100, 1, 22);
    assert_eq!(out.proxied, 3);
    assert!(out.credits_exhausted > 0);
    assert_eq!(out.rate_limited, 0);
    // Once credits were exhausted, no rate tokens were granted with a refusal.
    let grant = auth.lease(LeaseAsk { rate: true, credits: true, ..Default::default() }, T0 + 1);
    assert_eq!((grant.rate, grant.credits), (None, None));
    assert!(grant.credits_exhausted);
}

#[test]
fn leftovers_go_back_when_a_lease_ends_and_refills_come_on_time() {
    let mut credits =
        Credits::new(10_000, Some(Refill { amount: 500, interval: Interval::Day }), "credits").unwrap();
    let mut window = RateWindow::default();
    let g = lease(
        None,
        &mut window,
        Some(&mut credits),
        T0,
        LeaseAsk { credits: true, ..Default::default() },
        T0 + 5,
    );
    let block = g.credits.unwrap();
    assert_eq!((block.tokens, credits.remaining), (MAX_BLOCK, 10_000 - MAX_BLOCK));
    let leases = Leases::new(10);
    leases.granted("key_1", &LeaseAsk::default(), &g, T0 + 5).unwrap();
    let controls = Controls { rate_limit: None, credits: true };
    for _ in 0..40 {
        assert!(matches!(leases.spend("key_1", controls, T0 + 6), Spend::Spent(_)));
    }
    // After the lease ends, the next request returns the 60 unspent with its ask.
    match leases.spend("key_1", controls, block.until) {
        Spend::Ask(ask) => {
            assert_eq!(ask.returned, Some((block.period, 60)));
            lease(None, &mut window, Some(&mut credits), T0, ask, block.until);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(credits.remaining, 10_000 - 40 - MAX_BLOCK.min((10_000 - 40) / 32));
    // The refill at the next UTC midnight sets remaining to the amount, and a lease of the old
    // period returned afterwards does not count.
    let midnight = T0 + 86_400;
    let g = lease(
        None,
        &mut window,
        Some(&mut credits),
        T0,
        LeaseAsk { returned: Some((block.period, 50)), ..Default::default() },
        midnight,
    );
    assert_eq!(g, LeaseGrant::default());
    assert_eq!((credits.remaining, credits.refilled_at, credits.period), (500, Some(midnight), 1));
    // Exhausted: the refusal says when the next refill comes.
    credits.remaining = 0;
    let g = lease(
        None,
        &mut window,
        Some(&mut credits),
        T0,
        LeaseAsk { credits: true, ..Default::default() },
        midnight + 100,
    );
    assert_eq!((g.credits_exhausted, g.credits_retry_after), (true, Some((86_400 - 100) as u32)));
    // Days without traffic: one refill, dated on the calendar.
    credits.remaining = 0;
    assert!(credits.refill_due(T0, midnight + 3 * 86_400 + 5));
    assert_eq!((credits.remaining, credits.refilled_at), (500, Some(midnight + 3 * 86_400)));
}

#[test]
fn bad_settings_are_precise_400s() {
    for (limit, window, param) in [
        (0, 60, "rate_limit.limit"),
        (5, 0, "rate_limit.window"),
        (5, 86_401, "rate_limit.window"),
        (1 << 53, 60, "rate_limit.limit"),
    ] {
        let e = RateLimit::new(limit, window, "rate_limit").unwrap_err();
        assert_eq!((e.status(), e.param()), (400, Some(param)), "{limit} {window}");
    }
    let e = Credits::new(1 << 53, None, "credits").unwrap_err();
    assert_eq!(e.param(), Some("credits.remaining"));
    let e = Credits::new(1, Some(Refill { amount: 0, interval: Interval::Month }), "credits").unwrap_err();
    assert_eq!(e.param(), Some("credits.refill.amount"));
    let mut c = Credits::new(5, None, "credits").unwrap();
    assert!(c.adjust(keygate_core::domain::quota::CreditChange::Decrement(6)).is_err());
    assert_eq!(c.remaining, 5, "a refused change changes nothing");
    c.adjust(keygate_core::domain::quota::CreditChange::Increment(10)).unwrap();
    assert_eq!(c.remaining, 15);
}

#[test]
fn a_changed_rate_limit_takes_effect_at_the_next_request() {
    let leases = Leases::new(10);
    let five = RateLimit::new(5, 60, "rate_limit").unwrap();
    let mut window = RateWindow::default();
    let controls = Controls { rate_limit: Some(&five), credits: false };
    // The window is spent: refused, and the refusal is remembered.
    window.window = five.window_of(T0);
    window.granted = 5;
    let Spend::Ask(ask) = leases.spend("key_1", controls, T0) else { panic!() };
    let g = lease(Some(&five), &mut window, None, T0, ask, T0);
    assert!(leases.granted("key_1", &ask, &g, T0).is_err());
    assert!(matches!(leases.spend("key_1", controls, T0 + 1), Spend::Refused(_)));
    // The operator raises the limit: the next request asks again and goes on.
    let eight = RateLimit::new(8, 60, "rate_limit").unwrap();
    let controls = Controls { rate_limit: Some(&eight), credits: false };
    let Spend::Ask(ask) = leases.spend("key_1", controls, T0 + 2) else { panic!("asks again") };
    let g = lease(Some(&eight), &mut window, None, T0, ask, T0 + 2);
    leases.granted("key_1", &ask, &g, T0 + 2).unwrap();
    assert!(matches!(leases.spend("key_1", controls, T0 + 2), Spend::Spent(_)));
}

#[test]
fn controls_the_authority_no_longer_has_do_not_lock_the_key_out() {
    // The edge's copy of the record still has a rate limit and credits; the operator removed
    // both. The authority grants unlimited blocks, and the edge goes on.
    let leases = Leases::new(10);
    let five = RateLimit::new(5, 60, "rate_limit").unwrap();
    let controls = Controls { rate_limit: Some(&five), credits: true };
    let Spend::Ask(ask) = leases.spend("key_1", controls, T0) else { panic!() };
    let mut window = RateWindow::default();
    let g = lease(None, &mut window, None, T0, ask, T0);
    leases.granted("key_1", &ask, &g, T0).unwrap();
    for _ in 0..50 {
        assert!(matches!(leases.spend("key_1", controls, T0 + 1), Spend::Spent(_)));
    }
    // A window the authority counts in another length is still spent by its end time.
    let hour = RateLimit::new(100, 3600, "rate_limit").unwrap();
    let controls = Controls { rate_limit: Some(&five), credits: false };
    let leases = Leases::new(10);
    let Spend::Ask(ask) = leases.spend("key_2", controls, T0 + 10) else { panic!() };
    let g = lease(Some(&hour), &mut RateWindow::default(), None, T0, ask, T0 + 10);
    leases.granted("key_2", &ask, &g, T0 + 10).unwrap();
    assert!(matches!(leases.spend("key_2", controls, T0 + 10), Spend::Spent(_)));
}

#[test]
fn a_burst_of_concurrent_requests_leases_one_block_not_one_each() {
    let mut auth = Authority::new(None, Some(1_000_000));
    let leases = Leases::new(10);
    let controls = Controls { rate_limit: None, credits: true };
    // 32 requests run out at once: every one asks before any answer comes back.
    let asks: Vec<LeaseAsk> = (0..32)
        .map(|_| match leases.spend("key_1", controls, T0) {
            Spend::Ask(ask) => ask,
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(!asks[0].small && asks[1..].iter().all(|a| a.small));
    for ask in asks {
        let g = auth.lease(ask, T0);
        leases.granted("key_1", &ask, &g, T0).unwrap();
    }
    let held = leases.credits_held("key_1");
    assert_eq!(held, MAX_BLOCK + 31, "one block, and one credit for each other request in flight");
    assert_eq!(held + auth.credits.unwrap().remaining, 1_000_000);
}

/// One isolate serving a key at `per_second` requests a second for `seconds`: for each whole
/// block it asked for, the size it wanted and the (rate, credit) tokens granted; and the
/// authority's calls.
#[allow(clippy::type_complexity)]
fn steady(auth: &mut Authority, per_second: u64, seconds: i64) -> (Vec<(u64, u64, u64)>, u64, Leases) {
    let leases = Leases::new(10);
    let rl = auth.rate_limit;
    let controls = Controls { rate_limit: rl.as_ref(), credits: auth.credits.is_some() };
    let mut asks = Vec::new();
    for second in 0..seconds {
        for _ in 0..per_second {
            let now = T0 + second;
            let mut tries = 0;
            loop {
                match leases.spend("key_1", controls, now) {
                    Spend::Spent(_) => break,
                    Spend::Ask(ask) => {
                        let g = auth.lease(ask, now);
                        if !ask.small {
                            let tokens = (g.rate.map_or(0, |r| r.tokens), g.credits.map_or(0, |c| c.tokens));
                            asks.push((ask.want, tokens.0, tokens.1));
                        }
                        leases.granted("key_1", &ask, &g, now).unwrap();
                    }
                    Spend::Refused(e) => panic!("{e:?}"),
                }
                tries += 1;
                assert!(tries < 3, "a grant is spent at once");
            }
        }
    }
    (asks, auth.calls, leases)
}

fn wants(asks: &[(u64, u64, u64)]) -> Vec<u64> {
    asks.iter().map(|a| a.0).collect()
}

#[test]
fn a_busy_isolate_asks_for_larger_blocks_and_a_quiet_one_does_not() {
    // 1000 requests a second: blocks double from an ordinary one to HOT_BLOCK.
    let mut auth = Authority::new(None, Some(1_000_000_000));
    let (asks, calls, leases) = steady(&mut auth, 1000, 20);
    let w = wants(&asks);
    assert_eq!(w[..5], [0, 200, 400, 800, HOT_BLOCK], "{w:?}");
    assert!(w[5..].iter().all(|w| *w == HOT_BLOCK), "{w:?}");
    // 20 000 requests: the first 1500 in four blocks (100, 200, 400, 800), then one call per 1000.
    assert!(calls <= 4 + 19, "{calls} calls");
    let held = leases.credits_held("key_1");
    assert!(held <= HOT_BLOCK);
    assert_eq!(20_000 + held + auth.credits.unwrap().remaining, 1_000_000_000);
    eprintln!("1000 requests/s for 20 s: {calls} authority calls, {held} held at the end");

    // 20 requests a second spend a block in 5 s: ordinary blocks, ten times the calls.
    let mut quiet = Authority::new(None, Some(1_000_000_000));
    let (asks, calls, _) = steady(&mut quiet, 20, 20);
    assert!(wants(&asks).iter().all(|w| *w == 0), "{asks:?}");
    assert_eq!(calls, 4, "400 requests, blocks of {MAX_BLOCK}");

    // A rate limit's tokens that lapse with their window are not spent out: no growth.
    let mut lapsing = Authority::new(Some((1_000_000_000, 1)), None);
    let (asks, _, _) = steady(&mut lapsing, 5, 10);
    assert!(wants(&asks).iter().all(|w| *w == 0), "{asks:?}");
    // A rate limit spent out within its window grows like credits.
    let mut rate = Authority::new(Some((1_000_000_000, 60)), None);
    let (asks, calls, _) = steady(&mut rate, 1000, 20);
    assert!(wants(&asks).ends_with(&[HOT_BLOCK, HOT_BLOCK]), "{asks:?}");
    assert!(calls <= 4 + 19 + 1, "{calls} calls (one more for the new window)");
    // Never more than a 32nd of the limit, and the next block doubles what was granted, not
    // what was asked: a capped block does not grow a claim to HOT_BLOCK.
    let mut capped = Authority::new(Some((6400, 60)), None);
    let (asks, _, _) = steady(&mut capped, 1000, 5);
    assert!(asks.iter().all(|&(want, rate, _)| rate <= 6400 / 32 && want <= 2 * 6400 / 32), "{asks:?}");
}

#[test]
fn with_both_controls_a_fast_rate_limit_does_not_grow_the_credit_blocks() {
    // A rate block of 10 (320 a minute) runs out every 2 s at 5 requests a second, and credit
    // blocks of 100 last 20 s: the credits' asks stay ordinary whatever the rate limit does.
    let mut auth = Authority::new(Some((320, 60)), Some(1_000_000));
    let (asks, _, leases) = steady(&mut auth, 5, 120);
    let credit_grants: Vec<u64> = asks.iter().map(|a| a.2).filter(|t| *t > 0).collect();
    assert!(!credit_grants.is_empty() && credit_grants.iter().all(|t| *t == MAX_BLOCK), "{asks:?}");
    assert!(leases.credits_held("key_1") <= MAX_BLOCK);
}

#[test]
fn under_slow_traffic_leases_hold_at_most_an_ordinary_block_per_isolate() {
    // 4 and 16 isolates sharing 2000 requests at one request every 50 ms: each isolate spends a
    // block in far more than 2 s, so none grows.
    for (isolates, seed) in [(4, 41), (16, 42)] {
        let mut auth = Authority::new(None, Some(1_000_000));
        let (out, leases) = simulate(&mut auth, isolates, 2000, 50, seed);
        let held: u64 = leases.iter().map(|l| l.credits_held("key_1")).sum();
        assert_eq!(out.proxied + held + auth.credits.unwrap().remaining, 1_000_000);
        let bound = isolates as u64 * MAX_BLOCK + out.most_in_flight;
        assert!(held <= bound, "{isolates} isolates: {held} held, bound {bound}");
    }
}

#[test]
fn an_isolate_that_slows_down_asks_for_ordinary_blocks_again() {
    let mut auth = Authority::new(None, Some(1_000_000_000));
    let leases = Leases::new(10);
    let controls = Controls { rate_limit: None, credits: true };
    let spend_block = |now: i64, auth: &mut Authority| -> u64 {
        let mut want = None;
        loop {
            match leases.spend("key_1", controls, now) {
                Spend::Spent(_) if want.is_some() => return want.unwrap(),
                Spend::Spent(_) => {}
                Spend::Ask(ask) => {
                    want = Some(ask.want);
                    let g = auth.lease(ask, now);
                    leases.granted("key_1", &ask, &g, now).unwrap();
                }
                Spend::Refused(e) => panic!("{e:?}"),
            }
        }
    };
    // Fast: each block spent within the second it was granted.
    let sizes: Vec<u64> = (0..4).map(|_| spend_block(T0, &mut auth)).collect();
    assert_eq!(sizes, [0, 200, 400, 800]);
    // The 800 granted at T0 is spent out only at T0 + 10: slow, so the next ask is ordinary.
    assert_eq!(spend_block(T0 + 10, &mut auth), 0);
}

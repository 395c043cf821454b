//! Counting failures against the shared counter: an address's first failure in an isolate and
//! period is held back, and the threshold stays exact.
mod common;

use std::cell::RefCell;
use std::collections::HashMap;

use common::block_on;
use keygate_core::policy::throttle::{Counted, FailureCounter, HeldFailures, PERIOD, report};

const T0: i64 = 2_000_000_000 - 2_000_000_000 % 60;

/// The Rate Limiting binding as workerd emulates it: per key and period aligned to the clock,
/// `false` once `limit` hits have been counted, and every call counted.
struct Counter {
    limit: u64,
    now: RefCell<i64>,
    counts: RefCell<HashMap<(String, i64), u64>>,
    calls: RefCell<u64>,
    failing: bool,
}

impl Counter {
    fn new(limit: u64) -> Self {
        Counter {
            limit,
            now: RefCell::new(T0),
            counts: RefCell::default(),
            calls: RefCell::new(0),
            failing: false,
        }
    }
}

impl FailureCounter for Counter {
    async fn hit(&self, address: &str) -> Result<bool, ()> {
        *self.calls.borrow_mut() += 1;
        if self.failing {
            return Err(());
        }
        let period = self.now.borrow().div_euclid(PERIOD);
        let mut counts = self.counts.borrow_mut();
        let c = counts.entry((address.to_owned(), period)).or_insert(0);
        if *c >= self.limit {
            return Ok(false);
        }
        *c += 1;
        Ok(true)
    }
}

/// One isolate: its held failures and whether it has throttled an address.
struct Isolate {
    held: HeldFailures,
    blocked: RefCell<HashMap<String, i64>>,
}

impl Isolate {
    fn new() -> Self {
        Isolate { held: HeldFailures::new(10_000), blocked: RefCell::default() }
    }

    /// A failure of `address` at `now`, as the worker handles it: 429 from a block without
    /// counting, else counted. Returns whether it was answered as a failure (not a 429).
    fn fail(&self, counter: &Counter, address: &str, now: i64) -> bool {
        if self.blocked.borrow().get(address).is_some_and(|t| *t > now) {
            return false;
        }
        *counter.now.borrow_mut() = now;
        let times = self.held.to_report(address, now);
        match block_on(report(counter, address, times)) {
            Counted::Over => {
                self.blocked.borrow_mut().insert(address.to_owned(), now + PERIOD);
                false
            }
            Counted::Within | Counted::CounterFailed => true,
        }
    }
}

#[test]
fn in_one_isolate_the_threshold_is_exact_for_every_limit() {
    for limit in 1..=25u64 {
        let counter = Counter::new(limit);
        let isolate = Isolate::new();
        let answered: Vec<bool> =
            (0..limit + 5).map(|i| isolate.fail(&counter, "203.0.113.1", T0 + (i as i64 % 50))).collect();
        let first_429 = answered.iter().position(|a| !a).expect("a 429");
        assert_eq!(first_429 as u64, limit, "limit {limit}: failures answered as such before the 429");
        assert!(
            answered[first_429..].iter().all(|a| !a),
            "limit {limit}: throttled for the rest of the period"
        );
    }
}

#[test]
fn a_one_off_failure_calls_nothing_and_the_second_reports_both() {
    let counter = Counter::new(20);
    let isolate = Isolate::new();
    for i in 0..1000 {
        assert!(isolate.fail(&counter, &format!("198.18.{}.{}", i / 256, i % 256), T0 + 1));
    }
    assert_eq!(*counter.calls.borrow(), 0, "a thousand one-off failures, no call");
    isolate.fail(&counter, "198.18.0.7", T0 + 2);
    assert_eq!(*counter.calls.borrow(), 2, "the held one and this one");
    isolate.fail(&counter, "198.18.0.7", T0 + 3);
    assert_eq!(*counter.calls.borrow(), 3);
    assert_eq!(counter.counts.borrow()[&("198.18.0.7".to_owned(), T0 / PERIOD)], 3);
}

#[test]
fn a_held_failure_is_not_carried_into_the_next_period() {
    let counter = Counter::new(20);
    let isolate = Isolate::new();
    isolate.fail(&counter, "203.0.113.2", T0 + 59);
    // The next period: its first failure is held again, and the counter never saw the old one.
    isolate.fail(&counter, "203.0.113.2", T0 + 60);
    assert_eq!(*counter.calls.borrow(), 0);
    isolate.fail(&counter, "203.0.113.2", T0 + 61);
    assert_eq!(counter.counts.borrow()[&("203.0.113.2".to_owned(), T0 / PERIOD + 1)], 2);
}

#[test]
fn across_isolates_each_holds_at_most_one_failure_the_counter_never_hears_of() {
    let limit = 20;
    for isolates in [1usize, 2, 3, 8, 32] {
        let counter = Counter::new(limit);
        let all: Vec<Isolate> = (0..isolates).map(|_| Isolate::new()).collect();
        // One address, its failures spread round-robin over the isolates, far past the limit.
        let mut answered = 0u64;
        for i in 0..(limit as usize + 10) * isolates * 2 {
            answered += all[i % isolates].fail(&counter, "203.0.113.3", T0 + 5) as u64;
        }
        assert!(answered >= limit, "{isolates} isolates: {answered}");
        assert!(answered <= limit + isolates as u64, "{isolates} isolates: {answered} answered as failures");
        // Every isolate ends up throttling the address.
        for (n, iso) in all.iter().enumerate() {
            assert!(!iso.fail(&counter, "203.0.113.3", T0 + 6), "isolate {n} throttles it");
        }
    }
}

#[test]
fn a_failing_counter_throttles_nothing_and_a_full_table_is_reset() {
    let mut counter = Counter::new(1);
    counter.failing = true;
    let isolate = Isolate::new();
    assert!((0..50).all(|_| isolate.fail(&counter, "203.0.113.4", T0)), "refused as themselves, never 429");
    // A table of two: a third address resets it, and the first holds one failure again.
    let small = HeldFailures::new(2);
    assert_eq!(small.to_report("a", T0), 0);
    assert_eq!(small.to_report("a", T0), 2);
    assert_eq!(small.to_report("b", T0), 0);
    assert_eq!(small.to_report("c", T0), 0);
    assert_eq!(small.to_report("a", T0), 0);
    // A table of none holds nothing back.
    let none = HeldFailures::new(0);
    assert_eq!(none.to_report("a", T0), 1);
}

//! Failed-authentication throttling that bounds guessing without locking out valid keys.
//!
//! Failures are counted per client address (the worker uses the Rate Limiting binding). An
//! address past the limit is *throttled* for the period. A throttled address is not refused
//! outright, since a legitimate user may share it with the attacker (CGNAT, an office, every
//! caller from Workers): it keeps whatever it can prove **without a store read**:
//!
//! * a key whose digest this isolate saw authenticate successfully within [`KNOWN_FOR`]
//!   ([`KnownGood`]) goes on as usual, store read and all;
//! * the right operator token goes on as usual (comparing it reads nothing);
//! * everything else, a key never seen valid here or any malformed credential, gets
//!   `429 too_many_failed_attempts` before any store read.
//!
//! So a throttled address costs no store read for a guess, and a key that has worked here keeps
//! working through a flood of bad keys from its own address.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::clock::UnixSeconds;
use crate::domain::digest::KeyDigest;

/// How long a successful authentication vouches for its key while its address is throttled:
/// one day.
pub const KNOWN_FOR: UnixSeconds = 86_400;

/// Digests that authenticated successfully in this isolate, and when they last did. At most
/// `capacity` are kept; when full, the oldest half is forgotten.
#[derive(Debug)]
pub struct KnownGood {
    seen: RefCell<HashMap<String, UnixSeconds>>,
    capacity: usize,
}

impl KnownGood {
    /// Empty, holding at most `capacity` digests.
    pub fn new(capacity: usize) -> Self {
        KnownGood { seen: RefCell::new(HashMap::new()), capacity }
    }

    /// `digest` authenticated successfully at `now`.
    pub fn remember(&self, digest: &KeyDigest, now: UnixSeconds) {
        let mut seen = self.seen.borrow_mut();
        if let Some(t) = seen.get_mut(digest.as_str()) {
            *t = now;
            return;
        }
        if seen.len() >= self.capacity {
            let mut times: Vec<UnixSeconds> = seen.values().copied().collect();
            times.sort_unstable();
            let cut = times.get(times.len() / 2).copied().unwrap_or(UnixSeconds::MAX);
            seen.retain(|_, t| *t > cut);
            if seen.len() >= self.capacity {
                seen.clear();
            }
        }
        if self.capacity > 0 {
            seen.insert(digest.as_str().to_owned(), now);
        }
    }

    /// Whether `digest` authenticated successfully within [`KNOWN_FOR`] before `now`.
    pub fn knows(&self, digest: &KeyDigest, now: UnixSeconds) -> bool {
        self.seen.borrow().get(digest.as_str()).is_some_and(|t| (0..KNOWN_FOR).contains(&(now - t)))
    }
}

/// What the gate needs of throttling for one request.
#[derive(Debug, Clone, Copy)]
pub struct Throttle<'a> {
    /// The isolate's known-good digests (remembered on every success).
    pub known: &'a KnownGood,
    /// `Some(seconds left)` when the client address is throttled.
    pub blocked_for: Option<u32>,
}

/// The address failures are counted under: an IPv4 address as it is, an IPv6 address as its
/// /64 (one subscriber commonly holds a whole /64, so counting single addresses would give an
/// attacker 2^64 buckets), anything unparsable as it is.
pub fn counted_as(ip: &str) -> String {
    match ip.trim().parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            format!("{net}/64")
        }
        Ok(v4) => v4.to_string(),
        Err(_) => ip.to_owned(),
    }
}

/// The shared failure counter: the worker's Rate Limiting binding, a fake in tests.
#[allow(async_fn_in_trait)]
pub trait FailureCounter {
    /// Count one failure of `address`: `Ok(true)` while it is within the limit, `Ok(false)` once
    /// it is over, `Err(())` if the counter could not be asked.
    async fn hit(&self, address: &str) -> Result<bool, ()>;
}

/// What counting one failure found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// Within the limit: the failure is answered as itself.
    Within,
    /// Over the limit: `429 too_many_failed_attempts`, and the address is throttled here.
    Over,
    /// The counter failed: the failure is answered as itself, nothing is throttled.
    CounterFailed,
}

/// The period failures are counted in, seconds: the binding's `period` in `wrangler.toml`.
pub const PERIOD: UnixSeconds = 60;

/// An address's first failure in an isolate and period is held back from the shared counter,
/// which hears of it together with the address's second failure there (two hits at once).
///
/// Calling the shared counter is the dearest part of a refusal; most addresses that fail, fail
/// once (a typo, a stale key, one guess of many spread over a botnet), and their refusal then
/// costs no call at all. Within one isolate the threshold is exact: the held failure is counted
/// before the second one, so the counter's total is the address's true total from the second
/// failure on, and the one over the limit gets the 429 as before. Across isolates, each isolate an
/// address fails in holds at most one failure the counter never hears of: an address gets at most
/// the limit plus one failure per isolate it reaches, answered as failures, per period.
///
/// Per address (as [`counted_as`]), the period of its first failure and whether that one is
/// still held. At most `capacity` addresses are kept; when full, all are forgotten at once (each
/// can then hold one more).
#[derive(Debug)]
pub struct HeldFailures {
    seen: RefCell<HashMap<String, i64>>,
    capacity: usize,
}

impl HeldFailures {
    /// Empty, holding at most `capacity` addresses.
    pub fn new(capacity: usize) -> Self {
        HeldFailures { seen: RefCell::new(HashMap::new()), capacity }
    }

    /// How many failures of `address` to report to the shared counter now that it failed once
    /// more at `now`: 0 for its first in this period here (held), 2 for its second (the held one
    /// and this), 1 after that.
    pub fn to_report(&self, address: &str, now: UnixSeconds) -> u32 {
        let period = now.div_euclid(PERIOD);
        let mut seen = self.seen.borrow_mut();
        // Each entry is the period times two, plus one once the held failure has been reported.
        match seen.get_mut(address) {
            Some(e) if *e >> 1 == period => {
                if *e & 1 == 1 {
                    1
                } else {
                    *e |= 1;
                    2
                }
            }
            Some(e) => {
                *e = period << 1;
                0
            }
            None => {
                if seen.len() >= self.capacity {
                    seen.clear();
                }
                if self.capacity > 0 {
                    seen.insert(address.to_owned(), period << 1);
                    0
                } else {
                    1
                }
            }
        }
    }
}

/// Report `times` failures of `address` to `counter` (what [`HeldFailures::to_report`] said), one
/// hit after another: over the limit as soon as one hit is.
pub async fn report<C: FailureCounter>(counter: &C, address: &str, times: u32) -> Counted {
    for _ in 0..times {
        match counter.hit(address).await {
            Ok(true) => {}
            Ok(false) => return Counted::Over,
            Err(()) => return Counted::CounterFailed,
        }
    }
    Counted::Within
}

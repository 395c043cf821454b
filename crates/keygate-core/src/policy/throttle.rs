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

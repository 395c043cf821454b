//! Failed-authentication throttling per client address (`CF-Connecting-IP`), with the Workers
//! Rate Limiting binding `AUTH_FAILURES`. Only failures are counted. An address over the limit
//! is throttled in this isolate until the period ends (other isolates throttle it at its next
//! failure): it keeps what it proves without a store read, a key seen valid here or the right
//! operator token, and gets 429 for everything else (`keygate_core::policy::throttle`). An
//! address's first failure in an isolate and period is held back from the binding, which hears of
//! it with the second ([`HeldFailures`]): a one-off refusal calls nothing.

use std::cell::RefCell;
use std::collections::HashMap;

use keygate_core::Error;
use keygate_core::policy::throttle::{Counted, FailureCounter, HeldFailures, PERIOD, Throttle, report};
use worker::{Env, RateLimiter};

/// The binding.
pub const BINDING: &str = "AUTH_FAILURES";
/// How long an address stays refused, seconds (the binding's period).
pub const BLOCK_SECONDS: i64 = PERIOD;
/// Addresses remembered per isolate before the table is reset (bounds memory).
const MAX_TRACKED: usize = 10_000;

thread_local! {
    static BLOCKED: RefCell<HashMap<String, i64>> = RefCell::new(HashMap::new());
    static HELD: HeldFailures = HeldFailures::new(MAX_TRACKED);
}

/// The binding as the core's shared counter.
struct Binding(RateLimiter);

impl FailureCounter for Binding {
    async fn hit(&self, address: &str) -> Result<bool, ()> {
        self.0.limit(address.to_owned()).await.map(|o| o.success).map_err(|_| ())
    }
}

/// `Some(seconds left)` if the client address is throttled in this isolate. `address` gives it
/// as counted (`keygate_core::policy::throttle::counted_as`); it is asked for only when some address is blocked.
pub fn blocked_for<'a>(address: impl FnOnce() -> &'a str, now: i64) -> Option<u32> {
    // Nearly always nothing is blocked: then no address is parsed or formatted.
    if BLOCKED.with(|b| b.borrow().is_empty()) {
        return None;
    }
    let until = BLOCKED.with(|b| b.borrow().get(address()).copied());
    until.filter(|t| *t > now).map(|t| (t - now) as u32)
}

/// What the gate needs for a request from `address` (as [`blocked_for`] takes it) at `now`.
pub fn for_request<'a>(address: impl FnOnce() -> &'a str, now: i64) -> Throttle<'static> {
    Throttle { known: crate::platform::known_good(), blocked_for: blocked_for(address, now) }
}

/// Count a failed authentication of `key`, the client address as counted (`keygate_core::policy::throttle::counted_as`).
/// Returns the refusal to send: the original error, or `too_many_failed_attempts` once the
/// address is over the limit.
pub async fn on_failure(env: &Env, key: &str, now: i64, err: Error) -> Error {
    let limiter: RateLimiter = match env.get_binding(BINDING) {
        Ok(l) => l,
        Err(_) => return Error::Misconfigured { what: BINDING },
    };
    let times = HELD.with(|h| h.to_report(key, now));
    match report(&Binding(limiter), key, times).await {
        Counted::Over => {
            let until = now + BLOCK_SECONDS;
            BLOCKED.with(|b| {
                let mut b = b.borrow_mut();
                if b.len() >= MAX_TRACKED {
                    b.clear();
                }
                b.insert(key.to_owned(), until);
            });
            Error::TooManyFailedAttempts { retry_after: BLOCK_SECONDS as u32 }
        }
        // Within the limit (or held back), or the limiter failed: the request is refused anyway.
        Counted::Within | Counted::CounterFailed => err,
    }
}

//! The platform's clock, randomness and per-isolate caches.

use std::cell::RefCell;

use keygate_core::Error;
use keygate_core::clock::{Clock, UnixSeconds};
use keygate_core::digest::Pepper;
use keygate_core::key::random_id;
use keygate_core::rng::SystemRng;

/// `Date.now()` in seconds. (`std::time` panics on wasm32-unknown-unknown.)
#[derive(Debug, Default, Clone, Copy)]
pub struct WorkerClock;

impl Clock for WorkerClock {
    fn now(&self) -> UnixSeconds {
        (worker::Date::now().as_millis() / 1000) as i64
    }
}

/// A fresh request id, `req_…`. Falls back to a fixed marker if randomness fails, which only
/// affects correlation, never a security decision.
pub fn request_id() -> String {
    random_id("req_", &mut SystemRng).unwrap_or_else(|_| "req_unavailable".into())
}

thread_local! {
    /// The pepper's HMAC state, computed once per isolate and reused while the secret is unchanged.
    static PEPPER: RefCell<Option<(String, Pepper)>> = const { RefCell::new(None) };
}

/// The pepper for `secret`, from the isolate cache when the secret has not changed.
pub fn cached_pepper(secret: &str) -> Result<Pepper, Error> {
    PEPPER.with(|cell| {
        let mut slot = cell.borrow_mut();
        if let Some((s, p)) = slot.as_ref()
            && s == secret
        {
            return Ok(p.clone());
        }
        let p = Pepper::new(secret)?;
        *slot = Some((secret.to_owned(), p.clone()));
        Ok(p)
    })
}

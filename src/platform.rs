//! The platform's clock, randomness and per-isolate caches.

use std::cell::RefCell;
use std::rc::Rc;

use keygate_core::Error;
#[cfg(feature = "authority")]
use keygate_core::clock::{Clock, UnixSeconds};
use keygate_core::domain::digest::Pepper;
use keygate_core::domain::key::random_id;
use keygate_core::policy::gate::ParsedRecords;
use keygate_core::policy::throttle::KnownGood;
use keygate_core::rng::SystemRng;

/// `Date.now()` in seconds, for the Durable Object and its alarm (a request reads the time once,
/// into its `RequestContext`). `std::time` panics on wasm32-unknown-unknown.
#[cfg(feature = "authority")]
#[derive(Debug, Default, Clone, Copy)]
pub struct WorkerClock;

#[cfg(feature = "authority")]
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

/// One value derived from configuration, kept per isolate and rebuilt only when the
/// configuration it came from (`K`) changes.
pub struct IsolateCache<K, V>(RefCell<Option<(K, V)>>);

impl<K: PartialEq, V: Clone> IsolateCache<K, V> {
    /// Empty.
    pub const fn new() -> Self {
        IsolateCache(RefCell::new(None))
    }

    /// The value cached last, if any, whatever its key.
    pub fn peek(&self) -> Option<V> {
        self.0.borrow().as_ref().map(|(_, v)| v.clone())
    }

    /// The value for `key`, built with `build` if the cache holds none for it.
    pub fn get_or_try(&self, key: K, build: impl FnOnce(&K) -> Result<V, Error>) -> Result<V, Error> {
        if let Some((k, v)) = self.0.borrow().as_ref()
            && *k == key
        {
            return Ok(v.clone());
        }
        let v = build(&key)?;
        *self.0.borrow_mut() = Some((key, v.clone()));
        Ok(v)
    }
}

thread_local! {
    /// The pepper's HMAC state, computed once per isolate and reused while the secret is unchanged.
    static PEPPER: IsolateCache<String, Pepper> = const { IsolateCache::new() };
    /// The previous pepper's, during a rotation.
    static PEPPER_PREVIOUS: IsolateCache<String, Pepper> = const { IsolateCache::new() };
}

/// The pepper for `secret`, from the isolate cache when the secret has not changed.
pub fn cached_pepper(secret: String) -> Result<Pepper, Error> {
    PEPPER.with(|c| c.get_or_try(secret, |s| Pepper::new(s)))
}

/// The previous pepper for `secret` (`KEY_PEPPER_PREVIOUS`), cached as the current one is.
pub fn cached_previous_pepper(secret: String) -> Result<Pepper, Error> {
    PEPPER_PREVIOUS.with(|c| {
        c.get_or_try(secret, |s| {
            Pepper::new(s).map_err(|_| Error::Misconfigured { what: "KEY_PEPPER_PREVIOUS" })
        })
    })
}

/// Records parsed per isolate, at most this many. About 1 KiB each.
const PARSED_RECORDS: usize = 1024;

thread_local! {
    static RECORDS: Rc<ParsedRecords> = Rc::new(ParsedRecords::new(PARSED_RECORDS));
}

/// The isolate's memo of parsed records (KV is still read on every request).
pub fn parsed_records() -> Rc<ParsedRecords> {
    RECORDS.with(Rc::clone)
}

/// Digests seen authenticating successfully, per isolate, at most this many.
const KNOWN_GOOD: usize = 10_000;

thread_local! {
    static KNOWN: &'static KnownGood = Box::leak(Box::new(KnownGood::new(KNOWN_GOOD)));
}

/// The isolate's known-good digests (see `keygate_core::policy::throttle`).
pub fn known_good() -> &'static KnownGood {
    KNOWN.with(|k| *k)
}

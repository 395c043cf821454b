//! Injected time, as rustls's `TimeProvider`: policy decisions are pure functions of it.

/// Seconds since the unix epoch.
pub type UnixSeconds = i64;

/// Tells the current time.
pub trait Clock {
    /// Now, in unix seconds.
    fn now(&self) -> UnixSeconds;
}

/// A clock stopped at a given instant (tests, and callers that read the time once per request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedClock(pub UnixSeconds);

impl Clock for FixedClock {
    fn now(&self) -> UnixSeconds {
        self.0
    }
}

/// The host's clock. Not available on wasm32-unknown-unknown, where `std::time` panics; the
/// worker supplies its own clock from `Date.now()`.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

#[cfg(not(target_arch = "wasm32"))]
impl Clock for SystemClock {
    fn now(&self) -> UnixSeconds {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
}

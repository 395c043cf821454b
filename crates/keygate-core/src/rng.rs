//! Injected randomness, so key generation is deterministic under test.

use crate::Error;

/// A source of cryptographically secure random bytes.
pub trait Rng {
    /// Fill `dest` entirely, or fail (keygate then refuses; it never falls back to weak bytes).
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), Error>;
}

/// The operating system's CSPRNG through `getrandom` (Web Crypto `getRandomValues` on wasm).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemRng;

impl Rng for SystemRng {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), Error> {
        getrandom::fill(dest).map_err(|_| Error::Internal { what: "randomness unavailable" })
    }
}

/// A deterministic generator for tests: repeats `seed` bytes forever, or fails if `fail` is set.
#[derive(Debug, Clone)]
pub struct FixedRng {
    seed: Vec<u8>,
    pos: usize,
    /// When true, every call fails (fault injection).
    pub fail: bool,
}

impl FixedRng {
    /// A generator yielding `seed` cyclically.
    pub fn new(seed: impl Into<Vec<u8>>) -> Self {
        let seed = seed.into();
        FixedRng { seed, pos: 0, fail: false }
    }
}

impl Rng for FixedRng {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), Error> {
        if self.fail || self.seed.is_empty() {
            return Err(Error::Internal { what: "randomness unavailable" });
        }
        for b in dest {
            *b = self.seed[self.pos % self.seed.len()];
            self.pos += 1;
        }
        Ok(())
    }
}

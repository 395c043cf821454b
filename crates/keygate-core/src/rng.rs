//! Injected randomness, so key generation is deterministic under test, and characters drawn
//! from it uniformly.

use crate::Error;

/// A source of cryptographically secure random bytes.
pub trait Rng {
    /// Fill `dest` entirely, or fail (keygate then refuses; it never falls back to weak bytes).
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), Error>;
}

/// `len` characters drawn uniformly from `alphabet` (rejection sampling: a byte is used only
/// below the largest multiple of the alphabet's size, so every character is equally likely). A
/// source that keeps yielding only rejected bytes is broken: after a bounded number of refills
/// this fails instead of looping.
pub fn random_chars(alphabet: &[u8], rng: &mut impl Rng, len: usize) -> Result<String, Error> {
    let base = alphabet.len();
    let limit = 256 - 256 % base;
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    // Each refill of 64 bytes yields at least 32 characters (limit ≥ 128); this is far beyond need.
    let mut refills = 8 + len / 16;
    while out.len() < len {
        if refills == 0 {
            return Err(Error::Internal { what: "randomness unavailable" });
        }
        refills -= 1;
        rng.fill(&mut buf)?;
        for &b in &buf {
            if usize::from(b) < limit && out.len() < len {
                out.push(alphabet[usize::from(b) % base] as char);
            }
        }
    }
    Ok(out)
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

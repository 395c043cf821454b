//! API key format: `{type}_{mode}_{random}{checksum}`.
//!
//! * `type` is `sk` (secret), `pk` (publishable) or `rk` (restricted); `mode` is `test` or `live`.
//! * `random` is [`RANDOM_LEN`] base62 characters drawn uniformly from the injected [`Rng`]
//!   (32 × log2(62) ≈ 190.5 bits).
//! * `checksum` is CRC32 (IEEE) of everything before it, in base62, left-padded with `0` to
//!   [`CHECKSUM_LEN`] characters, as GitHub's tokens do. It lets keygate reject typos and garbage
//!   before any store read.
//!
//! The base62 alphabet is `0-9A-Za-z` in that order.

use std::fmt;

use crate::Error;
use crate::rng::Rng;

/// Base62 alphabet, in digit order.
pub const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Random characters in a key body.
pub const RANDOM_LEN: usize = 32;
/// Checksum characters at the end of a key.
pub const CHECKSUM_LEN: usize = 6;
/// Length of every prefix (`sk_test_`, `pk_live_`, …).
pub const PREFIX_LEN: usize = 8;
/// Total key length.
pub const KEY_LEN: usize = PREFIX_LEN + RANDOM_LEN + CHECKSUM_LEN;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    /// `sk_`: full access, server-side only.
    Secret,
    /// `pk_`: safe to embed in a web page or app; can do almost nothing.
    Publishable,
    /// `rk_`: least privilege, per-resource permissions.
    Restricted,
}

impl KeyType {
    /// All types.
    pub const ALL: [KeyType; 3] = [KeyType::Secret, KeyType::Publishable, KeyType::Restricted];

    /// Two-letter prefix.
    pub fn prefix(self) -> &'static str {
        match self {
            KeyType::Secret => "sk",
            KeyType::Publishable => "pk",
            KeyType::Restricted => "rk",
        }
    }

    /// The wire name (`secret`, `publishable`, `restricted`).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Secret => "secret",
            KeyType::Publishable => "publishable",
            KeyType::Restricted => "restricted",
        }
    }

    /// Parse the wire name.
    pub fn from_name(s: &str) -> Option<Self> {
        KeyType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    fn from_prefix(s: &str) -> Option<Self> {
        KeyType::ALL.into_iter().find(|t| t.prefix() == s)
    }
}

/// Test or live. The two are isolated: separate stores, separate origins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// No real money moves.
    Test,
    /// Real money.
    Live,
}

impl Mode {
    /// Both modes.
    pub const ALL: [Mode; 2] = [Mode::Test, Mode::Live];

    /// The wire name (`test`, `live`).
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Test => "test",
            Mode::Live => "live",
        }
    }

    /// Parse the wire name.
    pub fn from_name(s: &str) -> Option<Self> {
        Mode::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// `livemode` as Stripe reports it.
    pub fn is_live(self) -> bool {
        self == Mode::Live
    }
}

/// A syntactically valid API key with a correct checksum. Holds the secret: `Debug` and
/// `Display` show only the redacted form.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    raw: String,
    key_type: KeyType,
    mode: Mode,
}

impl ApiKey {
    /// Check format and checksum. Never touches a store. The error carries only a redacted key.
    pub fn parse(s: &str) -> Result<ApiKey, Error> {
        let (key_type, mode) = check(s)?;
        Ok(ApiKey { raw: s.to_owned(), key_type, mode })
    }

    /// [`ApiKey::parse`], keeping the presented string rather than copying it.
    pub fn parse_owned(raw: String) -> Result<ApiKey, Error> {
        let (key_type, mode) = check(&raw)?;
        Ok(ApiKey { raw, key_type, mode })
    }

    /// Generate a new key of this type and mode from `rng`.
    pub fn generate(key_type: KeyType, mode: Mode, rng: &mut impl Rng) -> Result<ApiKey, Error> {
        let mut raw = String::with_capacity(KEY_LEN);
        raw.push_str(key_type.prefix());
        raw.push('_');
        raw.push_str(mode.as_str());
        raw.push('_');
        raw.push_str(&random_base62(rng, RANDOM_LEN)?);
        let check = checksum(&raw);
        raw.push_str(&check);
        Ok(ApiKey { raw, key_type, mode })
    }

    /// The secret itself. Handle with care: never log or store it.
    pub fn expose_secret(&self) -> &str {
        &self.raw
    }

    /// `sk`, `pk` or `rk`.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// Test or live.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// `sk_test_` etc.
    pub fn prefix(&self) -> &str {
        &self.raw[..PREFIX_LEN]
    }

    /// The last four characters (part of the checksum, so they reveal none of the randomness).
    pub fn last4(&self) -> &str {
        &self.raw[KEY_LEN - 4..]
    }

    /// `sk_test_…abcd`.
    pub fn redacted(&self) -> String {
        redact(&self.raw)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({})", self.redacted())
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Format and checksum of a presented key; its type and mode if both are right.
fn check(s: &str) -> Result<(KeyType, Mode), Error> {
    let invalid = || Error::ApiKeyInvalid { redacted: redact(s) };
    let b = s.as_bytes();
    if b.len() != KEY_LEN {
        return Err(invalid());
    }
    let (prefix, body) = b.split_at(PREFIX_LEN);
    // Every byte after the prefix is an ASCII letter or digit. No early exit, so that the loop is
    // vectorised: a key is short, and the refusal costs the same whichever byte is wrong.
    if !body.iter().fold(true, |ok, c| ok & c.is_ascii_alphanumeric()) {
        return Err(invalid());
    }
    // A non-ASCII prefix is not UTF-8 on its own or names no type: refused either way.
    let (key_type, mode) = std::str::from_utf8(prefix).ok().and_then(parse_prefix).ok_or_else(invalid)?;
    let (payload, check) = b.split_at(KEY_LEN - CHECKSUM_LEN);
    if checksum_bytes(payload) != check {
        return Err(invalid());
    }
    Ok((key_type, mode))
}

/// The type and mode named by an 8-character prefix such as `sk_test_`.
pub fn parse_prefix(p: &str) -> Option<(KeyType, Mode)> {
    let b = p.as_bytes();
    if b.len() != PREFIX_LEN || b[2] != b'_' || b[7] != b'_' {
        return None;
    }
    let key_type = KeyType::from_prefix(p.get(..2)?)?;
    let mode = Mode::from_name(p.get(3..7)?)?;
    Some((key_type, mode))
}

/// Redact anything that was offered as a key, for messages and logs: a known prefix and the last
/// four characters when they are plain ASCII alphanumerics, otherwise just `…`. Short inputs show
/// nothing of their tail.
pub fn redact(s: &str) -> String {
    let prefix = s.get(..PREFIX_LEN).filter(|p| parse_prefix(p).is_some()).unwrap_or("");
    let tail = if s.len() >= 16 {
        s.get(s.len() - 4..).filter(|t| t.bytes().all(|c| c.is_ascii_alphanumeric())).unwrap_or("")
    } else {
        ""
    };
    let mut out = String::with_capacity(prefix.len() + '…'.len_utf8() + tail.len());
    out.push_str(prefix);
    out.push('…');
    out.push_str(tail);
    out
}

/// CRC32 (IEEE) of `payload`, base62, left-padded to [`CHECKSUM_LEN`].
pub fn checksum(payload: &str) -> String {
    checksum_bytes(payload.as_bytes()).iter().map(|&c| c as char).collect()
}

/// [`checksum`] without an allocation, for the request path.
fn checksum_bytes(payload: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut n = crc32fast::hash(payload);
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    // 62^6 > 2^32, so n is always 0 here.
    out
}

/// `len` characters drawn uniformly from [`BASE62`] (rejection sampling: bytes ≥ 248 are dropped
/// so that every character has probability exactly 1/62). A source that keeps yielding only
/// rejected bytes is broken: after a bounded number of refills this fails instead of looping.
pub fn random_base62(rng: &mut impl Rng, len: usize) -> Result<String, Error> {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    // Each refill of 64 bytes yields ~62 characters; 8 + len/32 refills is far beyond need.
    let mut refills = 8 + len / 32;
    while out.len() < len {
        if refills == 0 {
            return Err(Error::Internal { what: "randomness unavailable" });
        }
        refills -= 1;
        rng.fill(&mut buf)?;
        for &b in &buf {
            if b < 248 && out.len() < len {
                out.push(BASE62[(b % 62) as usize] as char);
            }
        }
    }
    Ok(out)
}

/// A random object id such as `key_…` or `req_…` (24 base62 characters, ≈143 bits).
pub fn random_id(prefix: &str, rng: &mut impl Rng) -> Result<String, Error> {
    Ok(format!("{prefix}{}", random_base62(rng, 24)?))
}

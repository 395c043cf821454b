//! API keys, in keygate's own format `{type}_{mode}_{random}{checksum}` unless the deployment
//! declares another (`KEY_FORMAT`, [`crate::domain::key_format`]).
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

/// A presented key that passed its format's checks: a keygate key (with a correct checksum), or
/// an imported one (see [`crate::domain::key_format`]). Holds the secret: `Debug` and `Display`
/// show only the redacted form.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    raw: String,
    key_type: KeyType,
    mode: Mode,
    prefix_len: usize,
    imported: bool,
}

impl ApiKey {
    /// A key checked by its format.
    pub(crate) fn from_parts(
        raw: String,
        key_type: KeyType,
        mode: Mode,
        prefix_len: usize,
        imported: bool,
    ) -> ApiKey {
        ApiKey { raw, key_type, mode, prefix_len, imported }
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

    /// Whether it is not a keygate key but has the form of an imported one: it is then looked up
    /// by its digests (current pepper, previous pepper, SHA-256 of an imported hash).
    pub fn imported(&self) -> bool {
        self.imported
    }

    /// Its configured prefix (`sk_test_` etc.).
    pub fn prefix(&self) -> &str {
        &self.raw[..self.prefix_len]
    }

    /// The last four characters (for a keygate key, part of the checksum, so they reveal none
    /// of the randomness).
    pub fn last4(&self) -> &str {
        &self.raw[self.raw.len().saturating_sub(4)..]
    }

    /// `sk_test_…abcd`.
    pub fn redacted(&self) -> String {
        redact_with(self.prefix(), &self.raw)
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

/// A raw key in transit between the edge and its authority (re-digesting a key found under an
/// outdated digest): never stored or logged. `Debug` is redacted.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct RawKey(pub String);

impl fmt::Debug for RawKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawKey({})", redact(&self.0))
    }
}

/// The type and mode named by an 8-character prefix of keygate's own format, such as `sk_test_`.
pub fn parse_prefix(p: &str) -> Option<(KeyType, Mode)> {
    let b = p.as_bytes();
    if b.len() != PREFIX_LEN || b[2] != b'_' || b[7] != b'_' {
        return None;
    }
    let key_type = KeyType::from_prefix(p.get(..2)?)?;
    let mode = Mode::from_name(p.get(3..7)?)?;
    Some((key_type, mode))
}

/// Redact anything that was offered as a key (keygate's own format), for `Debug` output: a
/// known prefix and the last four characters when they are plain ASCII alphanumerics,
/// otherwise just `…`. Messages and logs use the deployment's
/// [`KeyFormat::redact`](crate::domain::key_format::KeyFormat::redact).
pub fn redact(s: &str) -> String {
    let prefix = s.get(..PREFIX_LEN).filter(|p| parse_prefix(p).is_some()).unwrap_or("");
    redact_with(prefix, s)
}

/// `prefix` + `…` + the last four characters of `s` when `s` is at least 16 bytes and they are
/// plain ASCII alphanumerics.
pub(crate) fn redact_with(prefix: &str, s: &str) -> String {
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

/// CRC32 (IEEE) of `payload`, base62, left-padded to [`CHECKSUM_LEN`]: keygate's own format's
/// checksum.
pub fn checksum(payload: &str) -> String {
    let mut n = crc32fast::hash(payload.as_bytes());
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    // 62^6 > 2^32, so n is always 0 here.
    out.iter().map(|&c| c as char).collect()
}

/// `len` characters drawn uniformly from [`BASE62`] (see [`crate::rng::random_chars`]).
pub fn random_base62(rng: &mut impl Rng, len: usize) -> Result<String, Error> {
    crate::rng::random_chars(BASE62, rng, len)
}

/// A random object id such as `key_…` or `req_…` (24 base62 characters, ≈143 bits).
pub fn random_id(prefix: &str, rng: &mut impl Rng) -> Result<String, Error> {
    Ok(format!("{prefix}{}", random_base62(rng, 24)?))
}

//! The deployment's key format (`KEY_FORMAT`): the prefix of each type × mode, the alphabet and
//! length of a key's random part, and the lengths of keys imported from before keygate.
//!
//! ```json
//! {"prefixes": {"secret": {"test": "sk_test_", "live": "sk_"},
//!               "publishable": {"test": "pk_test_", "live": "pk_"}},
//!  "alphabet": "base62", "random_length": 32,
//!  "imported": {"min_length": 21, "max_length": 24}}
//! ```
//!
//! * Keys keygate makes are `prefix + random + checksum`: the checksum is CRC32 of everything
//!   before it, written in the alphabet in as few characters as hold 32 bits (6 in base62), so
//!   that garbage is refused before any read, whatever the format.
//! * A presented key is read with the longest prefix it starts with. A set of prefixes where one
//!   key could be read two ways (equal prefixes, or a longer one whose extra characters could
//!   all occur in a random part) is refused, never guessed.
//! * With `imported`, a key that is not a keygate key (wrong length or checksum) but has a
//!   configured prefix, only characters of the alphabet after it, and a length after the prefix
//!   within the range, is an imported key: looked up by its digests, never refused unread.
//! * Without `KEY_FORMAT`, the format is keygate's own (`sk_test_` + 32 base62 + 6 checksum).

use std::fmt;

use serde::Deserialize;

use crate::Error;
use crate::domain::digest::Pepper;
use crate::domain::key::{ApiKey, BASE62, KeyType, Mode};
use crate::rng::{Rng, random_chars};

/// How a presented key is read and found: the deployment's key format (`KEY_FORMAT`), its
/// pepper, and during a rotation the previous one (`KEY_PEPPER_PREVIOUS`).
#[derive(Debug, Clone, Copy)]
pub struct KeyLookup<'a> {
    /// The key format.
    pub format: &'a KeyFormat,
    /// `KEY_PEPPER`.
    pub pepper: &'a Pepper,
    /// `KEY_PEPPER_PREVIOUS`, while a rotation lasts.
    pub previous: Option<&'a Pepper>,
}

/// The deployment's key format and peppers, owned: what the authority and the management API
/// hold, lent to the request path's logic as a [`KeyLookup`].
#[derive(Debug, Clone)]
pub struct Keyring {
    /// `KEY_FORMAT`.
    pub format: KeyFormat,
    /// `KEY_PEPPER`.
    pub pepper: Pepper,
    /// `KEY_PEPPER_PREVIOUS`, while a rotation lasts.
    pub previous: Option<Pepper>,
}

impl Keyring {
    /// keygate's own format and `pepper`, no rotation.
    pub fn new(pepper: Pepper) -> Keyring {
        Keyring { format: KeyFormat::default(), pepper, previous: None }
    }

    /// Borrowed, for lookups.
    pub fn lookup(&self) -> KeyLookup<'_> {
        KeyLookup { format: &self.format, pepper: &self.pepper, previous: self.previous.as_ref() }
    }

    /// A key's digest under the current pepper.
    pub fn digest(&self, key: &ApiKey) -> crate::domain::digest::KeyDigest {
        self.pepper.digest(key)
    }

    /// The digest of a string under the current pepper.
    pub fn digest_str(&self, key: &str) -> crate::domain::digest::KeyDigest {
        self.pepper.digest_str(key)
    }
}

/// The most entropy a key's random part may lack: a format must give at least 128 bits.
pub const MIN_ENTROPY_BITS: f64 = 128.0;
/// The longest prefix accepted, in bytes.
pub const MAX_PREFIX_LEN: usize = 16;
/// The longest random part, and the longest imported key after its prefix.
pub const MAX_BODY_LEN: usize = 128;
/// The shortest imported key after its prefix.
pub const MIN_IMPORTED_LEN: usize = 8;

/// The base58 alphabet (Bitcoin's: no `0`, `O`, `I`, `l`).
pub const BASE58: &str = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// A key format, validated. `Default` is keygate's own format.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyFormat {
    /// The prefix of each type (by [`KeyType::ALL`] order) and mode (by [`Mode::ALL`] order).
    prefixes: [[Option<String>; 2]; 3],
    /// Every configured prefix with its type and mode, longest first.
    by_length: Vec<(String, KeyType, Mode)>,
    /// The alphabet, in digit order.
    alphabet: Vec<u8>,
    /// Whether each byte is in the alphabet.
    member: [bool; 256],
    /// Whether the alphabet is exactly the 62 ASCII letters and digits (keygate's own): then a
    /// key's characters are checked without the table, in a loop the compiler vectorises.
    alphanumeric: bool,
    random_len: usize,
    checksum_len: usize,
    imported: Option<(usize, usize)>,
}

/// `KEY_FORMAT` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Declared {
    prefixes: DeclaredPrefixes,
    #[serde(default)]
    alphabet: Option<String>,
    #[serde(default)]
    random_length: Option<usize>,
    #[serde(default)]
    imported: Option<DeclaredImported>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeclaredPrefixes {
    secret: DeclaredModes,
    #[serde(default)]
    publishable: Option<DeclaredModes>,
    #[serde(default)]
    restricted: Option<DeclaredModes>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeclaredModes {
    test: String,
    live: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeclaredImported {
    min_length: usize,
    max_length: usize,
}

impl Default for KeyFormat {
    fn default() -> Self {
        let prefixes =
            KeyType::ALL.map(|t| Mode::ALL.map(|m| Some(format!("{}_{}_", t.prefix(), m.as_str()))));
        KeyFormat::build(prefixes, BASE62.to_vec(), 32, None).unwrap_or_else(|_| unreachable!())
    }
}

impl KeyFormat {
    /// Parse and check `KEY_FORMAT`. Every fault is `Misconfigured` naming the var: the worker
    /// then refuses every request rather than guess.
    pub fn parse_json(text: &str) -> Result<KeyFormat, Error> {
        let bad = || Error::Misconfigured { what: "KEY_FORMAT" };
        let d: Declared = serde_json::from_str(text).map_err(|_| bad())?;
        let modes = |m: Option<DeclaredModes>| m.map_or([None, None], |m| [Some(m.test), Some(m.live)]);
        let prefixes =
            [modes(Some(d.prefixes.secret)), modes(d.prefixes.publishable), modes(d.prefixes.restricted)];
        let alphabet = match d.alphabet.as_deref() {
            None | Some("base62") => BASE62.to_vec(),
            Some("base58") => BASE58.as_bytes().to_vec(),
            Some("hex") => b"0123456789abcdef".to_vec(),
            Some(custom) => custom.as_bytes().to_vec(),
        };
        let imported = d.imported.map(|i| (i.min_length, i.max_length));
        KeyFormat::build(prefixes, alphabet, d.random_length.unwrap_or(32), imported).map_err(|_| bad())
    }

    fn build(
        prefixes: [[Option<String>; 2]; 3],
        alphabet: Vec<u8>,
        random_len: usize,
        imported: Option<(usize, usize)>,
    ) -> Result<KeyFormat, &'static str> {
        let mut member = [false; 256];
        for &c in &alphabet {
            let allowed = c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
            if !allowed || std::mem::replace(&mut member[c as usize], true) {
                return Err("the alphabet takes distinct letters, digits, - and _");
            }
        }
        let base = alphabet.len();
        if !(16..=64).contains(&base) {
            return Err("the alphabet has 16 to 64 characters");
        }
        if random_len > MAX_BODY_LEN || (random_len as f64) * (base as f64).log2() < MIN_ENTROPY_BITS {
            return Err("the random part holds at least 128 bits");
        }
        let mut checksum_len = 0;
        let mut capacity: u64 = 1;
        while capacity <= u64::from(u32::MAX) {
            capacity = capacity.saturating_mul(base as u64);
            checksum_len += 1;
        }
        if let Some((min, max)) = imported
            && !(MIN_IMPORTED_LEN <= min && min <= max && max <= MAX_BODY_LEN)
        {
            return Err("imported lengths are 8 to 128, min_length ≤ max_length");
        }
        let mut by_length = Vec::new();
        for (t, modes) in KeyType::ALL.into_iter().zip(&prefixes) {
            for (m, p) in Mode::ALL.into_iter().zip(modes) {
                let Some(p) = p else { continue };
                // Characters that mean nothing in a URL, a form or a Basic credential.
                let ok = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.');
                if p.is_empty() || p.len() > MAX_PREFIX_LEN || !p.bytes().all(ok) {
                    return Err("a prefix is 1 to 16 letters, digits, _, - or .");
                }
                by_length.push((p.clone(), t, m));
            }
        }
        // One reading per key: no prefix equals another, and a longer prefix's extra characters
        // cannot all occur in a random part (else `sk_` + `test_…` could be `sk_test_` + `…`).
        for (p, ..) in &by_length {
            for (q, ..) in &by_length {
                if std::ptr::eq(p, q) || !q.starts_with(p.as_str()) {
                    continue;
                }
                if q.len() == p.len() || q.as_bytes()[p.len()..].iter().all(|&c| member[c as usize]) {
                    return Err("ambiguous prefixes");
                }
            }
        }
        by_length.sort_by_key(|p| std::cmp::Reverse(p.0.len()));
        let alphanumeric = base == 62 && alphabet.iter().all(u8::is_ascii_alphanumeric);
        Ok(KeyFormat {
            prefixes,
            by_length,
            alphabet,
            member,
            alphanumeric,
            random_len,
            checksum_len,
            imported,
        })
    }

    /// The prefix of keys of `key_type` in `mode`, if this format has one.
    pub fn prefix(&self, key_type: KeyType, mode: Mode) -> Option<&str> {
        let t = KeyType::ALL.iter().position(|x| *x == key_type)?;
        let m = Mode::ALL.iter().position(|x| *x == mode)?;
        self.prefixes[t][m].as_deref()
    }

    /// Every configured prefix with its type and mode, longest first.
    pub fn prefixes(&self) -> &[(String, KeyType, Mode)] {
        &self.by_length
    }

    /// The length of a keygate key after its prefix (random part and checksum).
    pub fn body_len(&self) -> usize {
        self.random_len + self.checksum_len
    }

    /// The shortest and longest key after its prefix: a keygate key's, and imported keys'.
    pub fn body_lengths(&self) -> (usize, usize) {
        let native = self.body_len();
        self.imported.map_or((native, native), |(min, max)| (min.min(native), max.max(native)))
    }

    /// The lengths after the prefix of imported keys, if any are expected.
    pub fn imported(&self) -> Option<(usize, usize)> {
        self.imported
    }

    /// The alphabet, in digit order.
    pub fn alphabet(&self) -> &str {
        // Only ASCII bytes are ever accepted into it.
        std::str::from_utf8(&self.alphabet).unwrap_or_default()
    }

    /// Whether `c` may occur in a key's random part.
    pub fn in_alphabet(&self, c: u8) -> bool {
        self.member[c as usize]
    }

    /// The configured prefix `s` starts with (the longest), with its type and mode.
    pub fn match_prefix(&self, s: &str) -> Option<(&str, KeyType, Mode)> {
        self.by_length.iter().find(|(p, ..)| s.starts_with(p.as_str())).map(|(p, t, m)| (p.as_str(), *t, *m))
    }

    /// Check a presented key: a keygate key (prefix, alphabet, length, checksum), or, when the
    /// format expects imports, an imported one (prefix, alphabet, length in range). Never
    /// touches a store. The error carries only a redacted key.
    pub fn parse(&self, s: &str) -> Result<ApiKey, Error> {
        let (prefix_len, key_type, mode, imported) = self.check(s)?;
        Ok(ApiKey::from_parts(s.to_owned(), key_type, mode, prefix_len, imported))
    }

    /// [`KeyFormat::parse`], keeping the presented string rather than copying it.
    pub fn parse_owned(&self, s: String) -> Result<ApiKey, Error> {
        let (prefix_len, key_type, mode, imported) = self.check(&s)?;
        Ok(ApiKey::from_parts(s, key_type, mode, prefix_len, imported))
    }

    fn check(&self, s: &str) -> Result<(usize, KeyType, Mode, bool), Error> {
        let invalid = || Error::ApiKeyInvalid { redacted: self.redact(s) };
        let (prefix, key_type, mode) = self.match_prefix(s).ok_or_else(invalid)?;
        let body = &s.as_bytes()[prefix.len()..];
        // No early exit, so that the loop is vectorised and a refusal costs the same whichever
        // byte is wrong.
        let in_alphabet = if self.alphanumeric {
            body.iter().fold(true, |ok, c| ok & c.is_ascii_alphanumeric())
        } else {
            body.iter().fold(true, |ok, &c| ok & self.member[c as usize])
        };
        if !in_alphabet {
            return Err(invalid());
        }
        if body.len() == self.body_len() {
            let (payload, check) = s.as_bytes().split_at(s.len() - self.checksum_len);
            if self.checksum(payload).as_slice() == check {
                return Ok((prefix.len(), key_type, mode, false));
            }
        }
        match self.imported {
            Some((min, max)) if (min..=max).contains(&body.len()) => Ok((prefix.len(), key_type, mode, true)),
            _ => Err(invalid()),
        }
    }

    /// The prefix of keys of `key_type` in `mode`, or a `400` on `type` when this format has
    /// none (a create, a roll or an import of such a key).
    pub fn prefix_for(&self, key_type: KeyType, mode: Mode) -> Result<&str, Error> {
        self.prefix(key_type, mode).ok_or_else(|| {
            Error::invalid_param(
                "parameter_invalid",
                "type",
                format!(
                    "This deployment's key format (KEY_FORMAT) has no prefix for {} keys in {} mode.",
                    key_type.as_str(),
                    mode.as_str()
                ),
            )
        })
    }

    /// A new key of `key_type` in `mode`, drawn from `rng`; a `400` on `type` when this format
    /// has no prefix for them.
    pub fn generate(&self, key_type: KeyType, mode: Mode, rng: &mut impl Rng) -> Result<ApiKey, Error> {
        let prefix = self.prefix_for(key_type, mode)?;
        let mut raw = String::with_capacity(prefix.len() + self.body_len());
        raw.push_str(prefix);
        raw.push_str(&random_chars(&self.alphabet, rng, self.random_len)?);
        let check = self.checksum(raw.as_bytes());
        raw.extend(check.as_slice().iter().map(|&c| c as char));
        Ok(ApiKey::from_parts(raw, key_type, mode, prefix.len(), false))
    }

    /// CRC32 (IEEE) of `payload` in the alphabet, left-padded with its first character (on the
    /// stack: at most 8 characters, for an alphabet of 16).
    fn checksum(&self, payload: &[u8]) -> Checksum {
        let base = self.alphabet.len() as u64;
        let mut n = u64::from(crc32fast::hash(payload));
        let mut out = Checksum { chars: [self.alphabet[0]; MAX_CHECKSUM_LEN], len: self.checksum_len };
        for slot in out.chars[..self.checksum_len].iter_mut().rev() {
            *slot = self.alphabet[(n % base) as usize];
            n /= base;
        }
        out
    }

    /// Redact anything offered as a key, for messages and logs: its configured prefix and its
    /// last four characters when they are plain ASCII alphanumerics, otherwise just `…`. Short
    /// inputs show nothing of their tail.
    pub fn redact(&self, s: &str) -> String {
        let prefix = self.match_prefix(s).map_or("", |(p, ..)| p);
        crate::domain::key::redact_with(prefix, s)
    }

    /// Whether `s` looks like a key of this format: a configured prefix followed by at least
    /// eight characters of the alphabet (a key in a query string, or in a path, for the log).
    pub fn looks_like_key(&self, s: &str) -> bool {
        self.match_prefix(s).is_some_and(|(p, ..)| {
            let rest = &s.as_bytes()[p.len()..];
            rest.len() >= 8 && rest[..8].iter().all(|&c| self.member[c as usize])
        })
    }

    /// The regular expression of this format's secret and restricted keys, for secret scanning
    /// (no anchors; GitHub adds its own boundaries), with the prefixes it covers.
    pub fn scanning_pattern(&self) -> (String, Vec<String>) {
        let prefixes: Vec<String> = [KeyType::Secret, KeyType::Restricted]
            .into_iter()
            .flat_map(|t| Mode::ALL.into_iter().filter_map(move |m| self.prefix(t, m).map(str::to_owned)))
            .collect();
        let escaped: Vec<String> = prefixes.iter().map(|p| regex_escape(p)).collect();
        let class = char_class(&self.alphabet);
        let lengths = match self.body_lengths() {
            (min, max) if min == max => format!("{{{min}}}"),
            (min, max) => format!("{{{min},{max}}}"),
        };
        (format!("(?:{}){class}{lengths}", escaped.join("|")), prefixes)
    }
}

/// The longest checksum: 32 bits in an alphabet of 16.
const MAX_CHECKSUM_LEN: usize = 8;

/// A checksum, on the stack.
struct Checksum {
    chars: [u8; MAX_CHECKSUM_LEN],
    len: usize,
}

impl Checksum {
    fn as_slice(&self) -> &[u8] {
        &self.chars[..self.len]
    }
}

impl fmt::Debug for KeyFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyFormat")
            .field("prefixes", &self.by_length)
            .field("alphabet", &self.alphabet())
            .field("random_len", &self.random_len)
            .field("checksum_len", &self.checksum_len)
            .field("imported", &self.imported)
            .finish()
    }
}

fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if !c.is_ascii_alphanumeric() && c != '_' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The alphabet as a character class: `[0-9A-Za-z]` for base62, ranges where it has them.
fn char_class(alphabet: &[u8]) -> String {
    let mut sorted = alphabet.to_vec();
    sorted.sort();
    // Ranges in ASCII order, `-` last so that it is literal.
    let dash = sorted.contains(&b'-');
    sorted.retain(|&c| c != b'-');
    let mut out = String::from("[");
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j + 1 < sorted.len() && sorted[j + 1] == sorted[j] + 1 && sorted[j + 1].is_ascii_alphanumeric()
        {
            j += 1;
        }
        if j >= i + 2 {
            out.push(sorted[i] as char);
            out.push('-');
            out.push(sorted[j] as char);
        } else {
            for &c in &sorted[i..=j] {
                out.push(c as char);
            }
        }
        i = j + 1;
    }
    if dash {
        out.push('-');
    }
    out.push(']');
    out
}

/// Keys in keygate's own format (no `KEY_FORMAT`), for tests and tools. Here rather than in
/// [`crate::domain::key`], which the format builds on and so does not import.
impl ApiKey {
    /// Check a key in keygate's own format. The request path and the authority use the
    /// deployment's [`KeyFormat::parse`].
    pub fn parse(s: &str) -> Result<ApiKey, Error> {
        KeyFormat::default().parse(s)
    }

    /// Generate a key in keygate's own format.
    pub fn generate(key_type: KeyType, mode: Mode, rng: &mut impl Rng) -> Result<ApiKey, Error> {
        KeyFormat::default().generate(key_type, mode, rng)
    }
}

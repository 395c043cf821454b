//! `Keygate-Signature`: how an origin proves that a request came through keygate.
//!
//! keygate signs every proxied request (version 2):
//!
//! ```text
//! Keygate-Signature: t=<unix seconds>,v2=<hex HMAC-SHA256>[,v2=<hex, previous secret>]
//! ```
//!
//! The HMAC key is the `ORIGIN_SIGNING_SECRET` (its UTF-8 bytes). The message is the canonical
//! string: for each of these values, in order, its length in bytes (decimal), `:`, the value's
//! UTF-8 bytes, and `\n`:
//!
//! 1. `keygate-signature-v2`
//! 2. `t`, decimal
//! 3. the method, as sent (`POST`)
//! 4. the host the origin was called with (`Host` header: host, and `:port` if not default)
//! 5. the path with its query, exactly as sent (`/v1/charges?limit=3`)
//! 6. `Keygate-Account`
//! 7. `Keygate-Key-Id`
//! 8. `Keygate-Mode`
//! 9. `Keygate-Key-Type`
//! 10. lower-case hex SHA-256 of `Keygate-Permissions` (of the empty string when absent)
//! 11. `Keygate-Request-Id`
//! 12. `Keygate-Verified`
//!
//! Length prefixes make the encoding injective: no two different inputs give the same string.
//!
//! # Verifying
//!
//! [`Verifier::verify`] parses the header (exactly one `t`, at least one `v2`; other schemes,
//! version 1's `v1` among them, are ignored, and a header with no `v2` is
//! [`VerifyError::Malformed`]), refuses a `t` more than the tolerance (default
//! [`DEFAULT_TOLERANCE`], 300 s) from the origin's clock, and compares every `v2` with the HMAC
//! under every accepted secret in constant time. On success it returns the [`Identity`]: the
//! `Keygate-*` values it checked, and nothing else.
//!
//! # Refusing a replay
//!
//! A signature stays valid for the whole tolerance window, so a captured request can be sent
//! again within it. Every request keygate forwards has its own `Keygate-Request-Id`, and it is
//! signed. To refuse a replay, the origin remembers each [`Identity::request_id`] it accepted
//! for as long as the tolerance (300 s by default; a longer memory is harmless) and refuses a
//! request whose id it has already seen. Anything older than the tolerance is refused as
//! [`VerifyError::Stale`] anyway, so the memory never needs to be longer.
//!
//! # What is not covered
//!
//! * The body. keygate streams it and never buffers it, so it cannot sign it. An origin that
//!   needs the body's integrity must rely on TLS between keygate and the origin.
//! * Every other header: `Content-Type`, `Idempotency-Key`, cookies, anything the client sent.
//!   They reach the origin as the client sent them, and nothing here vouches for them. The
//!   origin must not use an unsigned header for authorisation.
//!
//! This crate is both keygate's signer and the origin's verifier, so the two cannot drift.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Version tag, the first canonical field.
pub const VERSION: &str = "keygate-signature-v2";
/// The header's key for a signature of this version: `v2=<hex>`.
pub const SCHEME: &str = "v2";
/// The header name.
pub const HEADER: &str = "Keygate-Signature";
/// Default tolerance between `t` and the verifier's clock, seconds.
pub const DEFAULT_TOLERANCE: i64 = 300;

/// What is signed besides `t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signed<'a> {
    /// Method.
    pub method: &'a str,
    /// Host the origin was called with.
    pub host: &'a str,
    /// Path with query.
    pub path: &'a str,
    /// `Keygate-Account`.
    pub account: &'a str,
    /// `Keygate-Key-Id`.
    pub key_id: &'a str,
    /// `Keygate-Mode`.
    pub mode: &'a str,
    /// `Keygate-Key-Type`.
    pub key_type: &'a str,
    /// `Keygate-Permissions` (empty when absent).
    pub permissions: &'a str,
    /// `Keygate-Request-Id`.
    pub request_id: &'a str,
    /// `Keygate-Verified`.
    pub verified: &'a str,
}

/// Lower-case hex SHA-256 of the empty string: the permissions field of every key that has none.
pub const EMPTY_SHA256_HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The canonical message for `t` and `s`.
pub fn canonical(t: i64, s: &Signed) -> Vec<u8> {
    let mut out = Message::new();
    write_canonical(t, s, &mut out);
    out.as_slice().to_vec()
}

/// Write the canonical message for `t` and `s` into `out`.
fn write_canonical(t: i64, s: &Signed, out: &mut Message) {
    // Most keys carry no permissions; their field is a constant, not one more SHA-256 block.
    let mut perm_buf = [0u8; 64];
    let perm = if s.permissions.is_empty() {
        EMPTY_SHA256_HEX.as_bytes()
    } else {
        hex_into(&Sha256::digest(s.permissions.as_bytes()), &mut perm_buf)
    };
    let mut t_buf = [0u8; 20];
    let t = decimal(t, &mut t_buf);
    let fields: [&[u8]; 12] = [
        VERSION.as_bytes(),
        t,
        s.method.as_bytes(),
        s.host.as_bytes(),
        s.path.as_bytes(),
        s.account.as_bytes(),
        s.key_id.as_bytes(),
        s.mode.as_bytes(),
        s.key_type.as_bytes(),
        perm,
        s.request_id.as_bytes(),
        s.verified.as_bytes(),
    ];
    for f in fields {
        out.field(f);
    }
}

/// The message being signed: on the stack while it fits (it does for every path shorter than
/// about 200 bytes), on the heap after that.
struct Message {
    stack: [u8; Message::STACK],
    len: usize,
    heap: Vec<u8>,
}

impl Message {
    const STACK: usize = 512;

    fn new() -> Self {
        Message { stack: [0; Message::STACK], len: 0, heap: Vec::new() }
    }

    /// Append one field: its length in decimal, `:`, the field, `\n`.
    fn field(&mut self, f: &[u8]) {
        let mut len_buf = [0u8; 20];
        let digits = decimal(f.len() as i64, &mut len_buf);
        let (d, need) = (digits.len(), digits.len() + f.len() + 2);
        if self.heap.is_empty()
            && let Some(dst) = self.stack.get_mut(self.len..self.len + need)
        {
            dst[..d].copy_from_slice(digits);
            dst[d] = b':';
            dst[d + 1..need - 1].copy_from_slice(f);
            dst[need - 1] = b'\n';
            self.len += need;
            return;
        }
        if self.heap.is_empty() {
            self.heap.reserve(2 * Message::STACK + need);
            self.heap.extend_from_slice(&self.stack[..self.len]);
        }
        self.heap.extend_from_slice(digits);
        self.heap.push(b':');
        self.heap.extend_from_slice(f);
        self.heap.push(b'\n');
    }

    fn as_slice(&self) -> &[u8] {
        if self.heap.is_empty() { &self.stack[..self.len] } else { &self.heap }
    }
}

/// `n` in decimal ASCII, written at the end of `buf` (20 bytes hold every `i64`).
fn decimal(n: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    let mut m = n.unsigned_abs();
    // 32-bit division is cheaper, and covers every length and every time until 2106.
    while m > u64::from(u32::MAX) {
        i -= 1;
        buf[i] = b'0' + (m % 10) as u8;
        m /= 10;
    }
    let mut m = m as u32;
    loop {
        i -= 1;
        buf[i] = b'0' + (m % 10) as u8;
        m /= 10;
        if m == 0 {
            break;
        }
    }
    if n < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

/// A signing secret with its HMAC key schedule computed once.
#[derive(Clone)]
pub struct Secret(HmacSha256, usize);

/// The shortest secret a webhook verifier accepts, bytes (keygate refuses shorter ones too).
pub const MIN_SECRET_LEN: usize = 32;

impl Secret {
    /// From the secret's bytes. Any length is accepted by HMAC; callers enforce a minimum.
    pub fn new(secret: &[u8]) -> Secret {
        // HMAC accepts keys of every length, so this cannot fail.
        Secret(<HmacSha256 as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!()), secret.len())
    }

    /// The secret's length in bytes.
    pub fn len(&self) -> usize {
        self.1
    }

    /// Whether the secret is empty (a variable that was never set).
    pub fn is_empty(&self) -> bool {
        self.1 == 0
    }

    fn tag(&self, message: &[u8]) -> [u8; 32] {
        let mut m = self.0.clone();
        m.update(message);
        m.finalize().into_bytes().into()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The header value: `t=<t>,v2=<sig>` with one `v2=` per secret (current first).
pub fn sign(secrets: &[Secret], t: i64, s: &Signed) -> String {
    let mut message = Message::new();
    write_canonical(t, s, &mut message);
    signature_header(secrets, t, SCHEME, message.as_slice())
}

/// `t=<t>,<scheme>=<hex>` with one tag of `message` per secret: the identity's header and the
/// webhooks' alike.
fn signature_header(secrets: &[Secret], t: i64, scheme: &str, message: &[u8]) -> String {
    let mut t_buf = [0u8; 20];
    let mut out = String::with_capacity(22 + secrets.len() * 68);
    out.push_str("t=");
    out.extend(decimal(t, &mut t_buf).iter().map(|&b| b as char));
    for secret in secrets {
        out.push(',');
        out.push_str(scheme);
        out.push('=');
        push_hex(&mut out, &secret.tag(message));
    }
    out
}

/// Why verification failed. More reasons may be added, so a `match` needs a `_` arm.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// A required header is absent.
    Missing(&'static str),
    /// The signature header is not `t=…,v2=…`.
    Malformed(&'static str),
    /// `t` is older than the tolerance.
    Stale {
        /// Seconds behind.
        age: i64,
    },
    /// `t` is further in the future than the tolerance.
    Future {
        /// Seconds ahead.
        ahead: i64,
    },
    /// No `v2` signature matches any secret.
    BadSignature,
    /// A secret given to the verifier is shorter than [`MIN_SECRET_LEN`] (an unset variable,
    /// say): nothing is verified with it.
    WeakSecret,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::Missing(h) => write!(f, "missing header {h}"),
            VerifyError::Malformed(w) => write!(f, "malformed Keygate-Signature: {w}"),
            VerifyError::Stale { age } => write!(f, "signature is {age} s old"),
            VerifyError::Future { ahead } => write!(f, "signature is {ahead} s in the future"),
            VerifyError::BadSignature => f.write_str("no signature matches"),
            VerifyError::WeakSecret => write!(f, "a signing secret is shorter than {MIN_SECRET_LEN} bytes"),
        }
    }
}

impl std::error::Error for VerifyError {}

/// The identity an origin can trust once verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `acct_…`.
    pub account: String,
    /// `key_…`.
    pub key_id: String,
    /// `test` or `live`.
    pub mode: String,
    /// `secret`, `publishable` or `restricted`.
    pub key_type: String,
    /// `charges=read,…` for restricted keys, else empty.
    pub permissions: String,
    /// `req_…`: this request's own id. Remember it for the tolerance window and refuse a
    /// repeat to refuse replays (see the crate docs).
    pub request_id: String,
    /// `do`, or `kv;max-staleness=<seconds>`: how stale the key's state may have been when
    /// keygate accepted it.
    pub verified: String,
    /// The signed time.
    pub signed_at: i64,
}

/// Verifies requests at the origin.
#[derive(Debug, Clone)]
pub struct Verifier {
    secrets: Vec<Secret>,
    tolerance: i64,
}

impl Verifier {
    /// Accept signatures by any of `secrets` (during a rotation, the current and the previous),
    /// within [`DEFAULT_TOLERANCE`] seconds.
    pub fn new<S: AsRef<[u8]>>(secrets: &[S]) -> Verifier {
        Verifier {
            secrets: secrets.iter().map(|s| Secret::new(s.as_ref())).collect(),
            tolerance: DEFAULT_TOLERANCE,
        }
    }

    /// Change the tolerance (seconds, both directions).
    pub fn with_tolerance(mut self, seconds: i64) -> Verifier {
        self.tolerance = seconds;
        self
    }

    /// Verify a request: `header` looks up a request header by its lower-case name; `method`,
    /// `host` and `path` (with query) are as the origin received them; `now` is unix seconds.
    pub fn verify<'h>(
        &self,
        header: impl Fn(&str) -> Option<&'h str>,
        method: &str,
        host: &str,
        path: &str,
        now: i64,
    ) -> Result<Identity, VerifyError> {
        let sig = header("keygate-signature").ok_or(VerifyError::Missing(HEADER))?;
        let (t, candidates) = parse_header(sig)?;
        if now - t > self.tolerance {
            return Err(VerifyError::Stale { age: now - t });
        }
        if t - now > self.tolerance {
            return Err(VerifyError::Future { ahead: t - now });
        }
        let need =
            |name: &'static str, display: &'static str| header(name).ok_or(VerifyError::Missing(display));
        let id = Identity {
            account: need("keygate-account", "Keygate-Account")?.to_owned(),
            key_id: need("keygate-key-id", "Keygate-Key-Id")?.to_owned(),
            mode: need("keygate-mode", "Keygate-Mode")?.to_owned(),
            key_type: need("keygate-key-type", "Keygate-Key-Type")?.to_owned(),
            permissions: header("keygate-permissions").unwrap_or("").to_owned(),
            request_id: need("keygate-request-id", "Keygate-Request-Id")?.to_owned(),
            verified: need("keygate-verified", "Keygate-Verified")?.to_owned(),
            signed_at: t,
        };
        let signed = Signed {
            method,
            host,
            path,
            account: &id.account,
            key_id: &id.key_id,
            mode: &id.mode,
            key_type: &id.key_type,
            permissions: &id.permissions,
            request_id: &id.request_id,
            verified: &id.verified,
        };
        let message = canonical(t, &signed);
        // Every candidate against every secret, without early exit on a match.
        let mut ok = subtle::Choice::from(0u8);
        for secret in &self.secrets {
            let expected = secret.tag(&message);
            for c in &candidates {
                ok |= subtle::ConstantTimeEq::ct_eq(&expected[..], &c[..]);
            }
        }
        if bool::from(ok) { Ok(id) } else { Err(VerifyError::BadSignature) }
    }
}

/// Parse `t=<digits>,v2=<64 hex>[,v2=…]`. Other schemes (`v1=`, or a later version's) are
/// ignored, so that a later version can be added alongside, but at least one `v2=` is required:
/// a version 1 header alone is refused.
pub fn parse_header(value: &str) -> Result<(i64, Vec<[u8; 32]>), VerifyError> {
    parse_signatures(value, SCHEME, ["v2 must be 64 hex digits", "no v2 signature"])
}

/// Parse `t=<digits>,<scheme>=<64 hex>[,<scheme>=…]`, ignoring other schemes (shared by the
/// identity's header and the webhooks').
/// `messages`: what a bad signature and the lack of one are called (stable: the other languages'
/// verifiers say the same).
fn parse_signatures(
    value: &str,
    scheme: &str,
    messages: [&'static str; 2],
) -> Result<(i64, Vec<[u8; 32]>), VerifyError> {
    if value.len() > 1024 {
        return Err(VerifyError::Malformed("too long"));
    }
    let mut t = None;
    let mut sigs = Vec::new();
    for part in value.split(',') {
        let (k, v) = part.trim().split_once('=').ok_or(VerifyError::Malformed("expected key=value pairs"))?;
        if k == "t" {
            if t.is_some() || v.is_empty() || v.len() > 12 || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(VerifyError::Malformed("t must be one unix time in seconds"));
            }
            t = v.parse::<i64>().ok();
        } else if k == scheme {
            sigs.push(unhex32(v).ok_or(VerifyError::Malformed(messages[0]))?);
        }
    }
    let t = t.ok_or(VerifyError::Malformed("no t"))?;
    if sigs.is_empty() {
        return Err(VerifyError::Malformed(messages[1]));
    }
    Ok((t, sigs))
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    push_hex(&mut s, bytes);
    s
}

/// Append the lower-case hex of `bytes` to `out`.
pub fn push_hex(out: &mut String, bytes: &[u8]) {
    let mut buf = [0u8; 64];
    for chunk in bytes.chunks(32) {
        // Every byte written is an ASCII hex digit.
        out.push_str(std::str::from_utf8(hex_into(chunk, &mut buf)).unwrap_or_default());
    }
}

/// The hex of at most 32 `bytes`, written into `buf`.
fn hex_into<'b>(bytes: &[u8], buf: &'b mut [u8; 64]) -> &'b [u8] {
    for (pair, &b) in buf.chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX[(b >> 4) as usize];
        pair[1] = HEX[(b & 15) as usize];
    }
    &buf[..bytes.len().min(32) * 2]
}

fn unhex32(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let nib = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks(2).enumerate() {
        out[i] = nib(pair[0])? << 4 | nib(pair[1])?;
    }
    Some(out)
}

pub mod webhook;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_permissions_constant_is_the_sha256_of_nothing() {
        assert_eq!(EMPTY_SHA256_HEX, hex(&Sha256::digest(b"")));
    }

    #[test]
    fn decimal_matches_std_formatting() {
        for n in [
            0,
            7,
            10,
            99,
            1_795_331_173,
            4_294_967_295,
            4_294_967_296,
            42_949_672_950,
            -1,
            -10,
            i64::MAX,
            i64::MIN,
        ] {
            let mut buf = [0u8; 20];
            assert_eq!(decimal(n, &mut buf), n.to_string().as_bytes(), "{n}");
        }
    }

    #[test]
    fn hex_of_any_length() {
        let bytes: Vec<u8> = (0..=255u8).collect();
        let expected: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex(&bytes), expected);
        assert_eq!(hex(&[]), "");
    }

    /// The canonical message written the slow, obvious way, for paths short enough to stay on the
    /// stack and long enough to spill to the heap, at and around the boundary.
    #[test]
    fn canonical_message_of_every_length() {
        let field = |v: &str| format!("{}:{v}\n", v.len());
        for len in (0..700).chain([Message::STACK * 4, 8192]) {
            let path = format!("/{}", "p".repeat(len));
            let s = Signed {
                method: "POST",
                host: "api.internal:8443",
                path: &path,
                account: "acct_1",
                key_id: "key_1",
                mode: "live",
                key_type: "restricted",
                permissions: "charges=read",
                request_id: "req_4QbH7mZk2TfX9cLw1NpR8sVy",
                verified: "kv;max-staleness=120",
            };
            let perm = hex(&Sha256::digest(b"charges=read"));
            let expected: String = [VERSION, "1795331173", "POST", "api.internal:8443", &path, "acct_1"]
                .into_iter()
                .chain(["key_1", "live", "restricted", &perm])
                .chain(["req_4QbH7mZk2TfX9cLw1NpR8sVy", "kv;max-staleness=120"])
                .map(field)
                .collect();
            assert_eq!(canonical(1_795_331_173, &s), expected.as_bytes(), "path of {len} bytes");
            let mut mac = <HmacSha256 as Mac>::new_from_slice(b"k").unwrap();
            mac.update(expected.as_bytes());
            let header = sign(&[Secret::new(b"k")], 1_795_331_173, &s);
            assert_eq!(header, format!("t=1795331173,v2={}", hex(&mac.finalize().into_bytes())));
        }
    }
}

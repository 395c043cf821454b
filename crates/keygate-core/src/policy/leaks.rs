//! What a leak report may do: which reports are GitHub's (their signature), and what happens to
//! a key reported as leaked (`ON_LEAK`).
//!
//! GitHub signs each secret-scanning report with ECDSA P-256 over SHA-256 of the raw body, and
//! names the key it used (`Github-Public-Key-Identifier`); the signature
//! (`Github-Public-Key-Signature`) is the base64 of its DER encoding. The public keys are in a
//! JSON document (`SECRET_SCANNING_KEYS_URL`), which [`KeysCache`] says when to fetch.

#[cfg(feature = "scanning")]
use base64::Engine;
#[cfg(feature = "scanning")]
use base64::engine::general_purpose::STANDARD;
#[cfg(feature = "scanning")]
use p256::ecdsa::signature::Verifier;
#[cfg(feature = "scanning")]
use p256::ecdsa::{Signature, VerifyingKey};
#[cfg(feature = "scanning")]
use p256::pkcs8::DecodePublicKey;

use crate::Error;
use crate::clock::UnixSeconds;

/// What happens to a secret or restricted key reported as leaked (`ON_LEAK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LeakPolicy {
    /// Mark it exposed (the key object and the audit log show the report), and leave it working.
    Flag,
    /// Mark it exposed and end it now (the default). A report comes from a public place, where
    /// keys are harvested within minutes; the seeds' rule is to revoke a compromised key at once.
    #[default]
    Expire,
}

impl LeakPolicy {
    /// Parse `ON_LEAK`: `flag`, `expire`, or unset (the default, `expire`).
    pub fn parse(value: Option<&str>) -> Option<LeakPolicy> {
        match value {
            None | Some("expire") => Some(LeakPolicy::Expire),
            Some("flag") => Some(LeakPolicy::Flag),
            Some(_) => None,
        }
    }

    /// Whether the key is ended as well as marked.
    pub fn expires(self) -> bool {
        self == LeakPolicy::Expire
    }
}

/// The header that names GitHub's signing key.
pub const KEY_ID_HEADER: &str = "github-public-key-identifier";
/// The header that carries GitHub's signature.
pub const SIGNATURE_HEADER: &str = "github-public-key-signature";
/// GitHub's document of signing keys, unless `SECRET_SCANNING_KEYS_URL` says otherwise.
pub const DEFAULT_KEYS_URL: &str = "https://api.github.com/meta/public_keys/secret_scanning";

/// The longest a header value may be (a key identifier is 64 hex characters; a DER signature
/// of P-256 is at most 72 bytes, 96 in base64).
const MAX_HEADER_LEN: usize = 256;

/// GitHub's signing keys, as its document lists them (feature `scanning`).
#[cfg(feature = "scanning")]
#[derive(Debug, Clone, Default)]
pub struct SigningKeys {
    keys: Vec<(String, VerifyingKey)>,
}

#[cfg(feature = "scanning")]
impl SigningKeys {
    /// Parse the document, `{"public_keys": [{"key_identifier", "key" (PEM), "is_current"}, …]}`.
    /// An entry whose key is not a P-256 public key is skipped (a key of another kind cannot
    /// have signed a report); a document that is not of this shape is an error.
    pub fn from_json(doc: &[u8]) -> Result<SigningKeys, &'static str> {
        #[derive(serde::Deserialize)]
        struct Doc {
            public_keys: Vec<Entry>,
        }
        #[derive(serde::Deserialize)]
        struct Entry {
            key_identifier: String,
            key: String,
        }
        let doc: Doc =
            serde_json::from_slice(doc).map_err(|_| "the signing keys document is not of GitHub's shape")?;
        let keys: Vec<_> = doc
            .public_keys
            .into_iter()
            .filter_map(|e| {
                VerifyingKey::from_public_key_pem(e.key.trim()).ok().map(|k| (e.key_identifier, k))
            })
            .collect();
        // A document without a usable key is a failed fetch: the keys held before are kept.
        if keys.is_empty() {
            return Err("the signing keys document lists no P-256 key");
        }
        Ok(SigningKeys { keys })
    }

    /// Whether a key with this identifier is listed.
    pub fn knows(&self, identifier: &str) -> bool {
        self.keys.iter().any(|(id, _)| id == identifier)
    }

    /// How many keys are listed.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Check `signature` over `body` with the key it names: [`unknown_identifier`]`(true)` when
    /// no listed key has that identifier.
    pub fn verify(&self, signature: &ReportSignature, body: &[u8]) -> Result<(), Error> {
        let key = self
            .keys
            .iter()
            .find(|(id, _)| *id == signature.identifier)
            .map(|(_, k)| k)
            .ok_or_else(|| unknown_identifier(true))?;
        key.verify(body, &signature.signature)
            .map_err(|_| rejected("signature_invalid", "The report's signature does not match its body."))
    }
}

/// A report's signature, decoded from its two headers before anything else is read (feature
/// `scanning`).
#[cfg(feature = "scanning")]
#[derive(Debug, Clone)]
pub struct ReportSignature {
    /// `Github-Public-Key-Identifier`.
    pub identifier: String,
    signature: Signature,
}

/// Decode the two signature headers: `signature_missing` when either is absent or empty,
/// `signature_malformed` when one is over-long or the signature is not base64 of DER.
#[cfg(feature = "scanning")]
pub fn parse_signature(identifier: Option<&str>, signature: Option<&str>) -> Result<ReportSignature, Error> {
    let (identifier, signature) = signature_headers(identifier, signature)?;
    let der = STANDARD.decode(signature).map_err(|_| malformed())?;
    let signature = Signature::from_der(&der).map_err(|_| malformed())?;
    Ok(ReportSignature { identifier: identifier.to_owned(), signature })
}

/// The answer to a report signed with a key the keys at hand do not list: when they were fetched
/// for this report, `401 signature_key_unknown` (counted towards throttling); when a fetch was
/// held back ([`MIN_REFRESH_INTERVAL`]), `503 signing_keys_unavailable`, not counted: GitHub may
/// have just rotated its key, and retries.
pub fn unknown_identifier(fetched_now: bool) -> Error {
    if fetched_now {
        rejected(
            "signature_key_unknown",
            "The report names a signing key (`Github-Public-Key-Identifier`) that GitHub does not list.",
        )
    } else {
        Error::SigningKeysUnavailable
    }
}

/// The two signature headers of a request, as given, each checked for presence and size.
pub fn signature_headers<'a>(
    identifier: Option<&'a str>,
    signature: Option<&'a str>,
) -> Result<(&'a str, &'a str), Error> {
    let present = |v: Option<&'a str>| v.map(str::trim).filter(|v| !v.is_empty());
    match (present(identifier), present(signature)) {
        (Some(id), Some(sig)) if id.len() <= MAX_HEADER_LEN && sig.len() <= MAX_HEADER_LEN => Ok((id, sig)),
        (Some(_), Some(_)) => Err(malformed()),
        _ => Err(rejected(
            crate::error::SIGNATURE_MISSING,
            "A secret-scanning report must carry `Github-Public-Key-Identifier` and `Github-Public-Key-Signature`.",
        )),
    }
}

fn malformed() -> Error {
    rejected(
        "signature_malformed",
        "`Github-Public-Key-Signature` is not the base64 of a DER-encoded ECDSA signature.",
    )
}

fn rejected(code: &'static str, message: &'static str) -> Error {
    Error::SignatureRejected { code, message }
}

/// How long fetched signing keys are trusted before they are fetched again, seconds.
pub const KEYS_TTL: UnixSeconds = 3600;
/// The longest signing keys are used without a successful refresh, seconds: a key GitHub has
/// withdrawn stops being trusted within a day even while its document cannot be fetched.
pub const MAX_KEYS_AGE: UnixSeconds = 86_400;
/// The largest signing keys document read, bytes.
pub const MAX_KEYS_DOCUMENT: usize = 64 * 1024;
/// The least time between two fetches of the signing keys, seconds: an unknown identifier
/// (GitHub rotated its key, or a forger made one up) triggers at most one fetch per minute.
pub const MIN_REFRESH_INTERVAL: UnixSeconds = 60;

/// One isolate's copy of the signing keys, and when to fetch them again (feature `scanning`).
#[cfg(feature = "scanning")]
#[derive(Debug, Clone, Default)]
pub struct KeysCache {
    keys: Option<SigningKeys>,
    fetched_at: Option<UnixSeconds>,
    attempted_at: Option<UnixSeconds>,
}

#[cfg(feature = "scanning")]
impl KeysCache {
    /// Whether a report signed by `identifier` at `now` calls for a fetch first: there are no
    /// keys yet, or they are older than [`KEYS_TTL`], or they do not list `identifier`; never
    /// sooner than [`MIN_REFRESH_INTERVAL`] after the last attempt, whatever its outcome.
    pub fn wants_fetch(&self, identifier: &str, now: UnixSeconds) -> bool {
        if self.attempted_at.is_some_and(|t| now - t < MIN_REFRESH_INTERVAL) {
            return false;
        }
        match (&self.keys, self.fetched_at) {
            (Some(keys), Some(at)) => now - at >= KEYS_TTL || !keys.knows(identifier),
            _ => true,
        }
    }

    /// Note that a fetch is starting at `now` (so that concurrent reports do not all fetch).
    pub fn attempting(&mut self, now: UnixSeconds) {
        self.attempted_at = Some(now);
    }

    /// Keep the keys fetched at `now`.
    pub fn fetched(&mut self, keys: SigningKeys, now: UnixSeconds) {
        self.keys = Some(keys);
        self.fetched_at = Some(now);
    }

    /// The keys to check a report with at `now`: the last ones fetched, for up to
    /// [`MAX_KEYS_AGE`] (past their TTL while a refresh fails: GitHub's keys rotate rarely, and a
    /// key can only accept what GitHub itself signed).
    pub fn keys(&self, now: UnixSeconds) -> Option<&SigningKeys> {
        self.keys.as_ref().filter(|_| self.fetched_at.is_some_and(|t| now - t < MAX_KEYS_AGE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_parses() {
        assert_eq!(LeakPolicy::parse(None), Some(LeakPolicy::Expire));
        assert_eq!(LeakPolicy::parse(Some("expire")), Some(LeakPolicy::Expire));
        assert_eq!(LeakPolicy::parse(Some("flag")), Some(LeakPolicy::Flag));
        assert_eq!(LeakPolicy::parse(Some("Flag")), None);
        assert_eq!(LeakPolicy::parse(Some("")), None);
    }

    #[test]
    fn headers_are_required_and_bounded() {
        let code = |r: Result<(&str, &str), Error>| r.err().map(|e| e.code().to_owned());
        assert_eq!(code(signature_headers(None, Some("x"))).as_deref(), Some("signature_missing"));
        assert_eq!(code(signature_headers(Some("id"), Some("  "))).as_deref(), Some("signature_missing"));
        let long = "A".repeat(MAX_HEADER_LEN + 1);
        assert_eq!(code(signature_headers(Some("id"), Some(&long))).as_deref(), Some("signature_malformed"));
        assert_eq!(signature_headers(Some(" id "), Some("sig")).unwrap(), ("id", "sig"));
    }

    #[cfg(feature = "scanning")]
    #[test]
    fn cache_fetches_once_a_minute_at_most() {
        let mut c = KeysCache::default();
        assert!(c.wants_fetch("k1", 1000));
        c.attempting(1000);
        // A failed fetch: not again within the minute, whatever the identifier.
        assert!(!c.wants_fetch("k1", 1059));
        assert!(c.wants_fetch("k1", 1060));
        c.attempting(1060);
        c.fetched(SigningKeys::default(), 1060);
        // Unknown identifier: a refresh, but only a minute after the last attempt.
        assert!(!c.wants_fetch("k2", 1100));
        assert!(c.wants_fetch("k2", 1120));
    }
}

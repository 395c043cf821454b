//! The stored form of a key: `v1:` + hex(HMAC-SHA256(pepper, key)). Only this digest is ever
//! stored or used as a lookup key; the raw key never is. The version tag lets the pepper rotate.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::Error;
use crate::domain::key::ApiKey;

type HmacSha256 = Hmac<Sha256>;

/// The shortest pepper accepted, in bytes. A shorter one is a misconfiguration.
pub const MIN_SECRET_LEN: usize = 32;

/// The digest version this build writes.
pub const DIGEST_VERSION: &str = "v1";

/// The secret pepper, with its HMAC key schedule computed once and cloned per digest.
#[derive(Clone)]
pub struct Pepper {
    mac: HmacSha256,
}

impl Pepper {
    /// Build from the `KEY_PEPPER` secret. Refuses a secret shorter than [`MIN_SECRET_LEN`].
    pub fn new(secret: &str) -> Result<Pepper, Error> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(Error::Misconfigured { what: "KEY_PEPPER" });
        }
        let mac = HmacSha256::new_from_slice(secret.as_bytes())
            .map_err(|_| Error::Misconfigured { what: "KEY_PEPPER" })?;
        Ok(Pepper { mac })
    }

    /// The stored digest of `key`.
    pub fn digest(&self, key: &ApiKey) -> KeyDigest {
        self.digest_str(key.expose_secret())
    }

    /// A short public fingerprint of the pepper (16 hex digits of an HMAC of a fixed label):
    /// which pepper a stored digest was made with, without revealing anything of it.
    pub fn id(&self) -> String {
        let mut mac = self.mac.clone();
        mac.update(b"keygate pepper id");
        let tag = mac.finalize().into_bytes();
        let mut out = String::with_capacity(16);
        keygate_verify::push_hex(&mut out, &tag[..8]);
        out
    }

    /// The alias of an imported key's SHA-256 (`sha256_id`, its `sha256:` lookup id): an HMAC of
    /// it under this pepper, `alias:` + hex. The authority finds an earlier import of the same key
    /// by it, whether that import gave the raw key or its hash, without keeping a plain SHA-256.
    pub fn hash_alias(&self, sha256_id: &KeyDigest) -> KeyDigest {
        let digest = self.digest_str(sha256_id.as_str());
        let hex = digest.0.split_once(':').map_or("", |(_, h)| h);
        KeyDigest(format!("alias:{hex}"))
    }

    /// The digest of an arbitrary string (known-answer tests use this).
    pub fn digest_str(&self, key: &str) -> KeyDigest {
        let mut mac = self.mac.clone();
        mac.update(key.as_bytes());
        let tag = mac.finalize().into_bytes();
        let mut out = String::with_capacity(DIGEST_VERSION.len() + 1 + 64);
        out.push_str(DIGEST_VERSION);
        out.push(':');
        keygate_verify::push_hex(&mut out, &tag);
        KeyDigest(out)
    }
}

impl fmt::Debug for Pepper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pepper(<redacted>)")
    }
}

/// A versioned key digest, e.g. `v1:3f2a…`. Not secret, but unique per key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct KeyDigest(pub String);

/// The tag of an imported SHA-256 hash's lookup id (`sha256:` + 64 hex digits).
pub const SHA256_TAG: &str = "sha256";

impl KeyDigest {
    /// The digest as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The lookup id of a key imported as its SHA-256 hash: `sha256:` + hex(SHA-256(key)), the
    /// whole key, prefix included. Replaced by the key's digest on its first use.
    pub fn sha256_of(raw: &str) -> KeyDigest {
        KeyDigest::sha256_hex(&Sha256::digest(raw.as_bytes()))
    }

    /// The lookup id of an imported SHA-256 hash given as its 32 bytes.
    pub fn sha256_hex(hash: &[u8]) -> KeyDigest {
        let mut out = String::with_capacity(SHA256_TAG.len() + 1 + 64);
        out.push_str(SHA256_TAG);
        out.push(':');
        keygate_verify::push_hex(&mut out, hash);
        KeyDigest(out)
    }

    /// Whether this is an imported hash's lookup id rather than a digest.
    pub fn is_imported_hash(&self) -> bool {
        self.0.starts_with("sha256:")
    }
}

/// Lower-case hex (one implementation, shared with the signature crate).
pub use keygate_verify::hex;

/// Compare a presented secret with the expected one in constant time. Both are hashed first, so
/// neither the content nor the length of the expected secret leaks through timing.
pub fn secret_eq(presented: &str, expected: &str) -> bool {
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.ct_eq(&b).into()
}

/// An operator secret (e.g. `ADMIN_TOKEN`) that must be long enough to resist guessing.
pub struct OperatorToken(String);

impl OperatorToken {
    /// Accept the configured token if it is at least [`MIN_SECRET_LEN`] bytes.
    pub fn new(value: &str, name: &'static str) -> Result<Self, Error> {
        if value.len() < MIN_SECRET_LEN {
            return Err(Error::Misconfigured { what: name });
        }
        Ok(OperatorToken(value.to_owned()))
    }

    /// Constant-time check of a presented token.
    pub fn verify(&self, presented: &str) -> bool {
        secret_eq(presented, &self.0)
    }
}

impl fmt::Debug for OperatorToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OperatorToken(<redacted>)")
    }
}

/// Which operator token a request presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhichToken {
    /// `ADMIN_TOKEN`.
    Current,
    /// `ADMIN_TOKEN_PREVIOUS`, accepted beside it during a rotation.
    Previous,
}

/// The operator's tokens: `ADMIN_TOKEN`, and during a rotation `ADMIN_TOKEN_PREVIOUS` beside it,
/// as the origin's signing secrets rotate.
#[derive(Debug)]
pub struct OperatorTokens {
    current: OperatorToken,
    previous: Option<OperatorToken>,
}

impl OperatorTokens {
    /// From the configured values (absent or empty: not set). `ADMIN_TOKEN` is required; either,
    /// when set, must be at least [`MIN_SECRET_LEN`] bytes, or it is the misconfigured one.
    pub fn new(current: Option<&str>, previous: Option<&str>) -> Result<Self, Error> {
        let current = current.ok_or(Error::Misconfigured { what: "ADMIN_TOKEN" })?;
        Ok(OperatorTokens {
            current: OperatorToken::new(current, "ADMIN_TOKEN")?,
            previous: previous.map(|p| OperatorToken::new(p, "ADMIN_TOKEN_PREVIOUS")).transpose()?,
        })
    }

    /// Whether `grant`, the digest under `pepper` of a token presented earlier (a console
    /// session's), is still the digest of the current or the previous token. Both are compared,
    /// each in constant time.
    pub fn still_grant(&self, grant: &str, pepper: &Pepper) -> bool {
        let current = secret_eq(grant, pepper.digest_str(&self.current.0).as_str());
        let previous =
            self.previous.as_ref().is_some_and(|p| secret_eq(grant, pepper.digest_str(&p.0).as_str()));
        current | previous
    }

    /// Which token `presented` is, if any. Both are always compared, each in constant time, so
    /// timing tells neither which one matched nor whether a previous token is configured.
    pub fn verify(&self, presented: &str) -> Option<WhichToken> {
        let current = self.current.verify(presented);
        let previous = match &self.previous {
            Some(p) => p.verify(presented),
            None => {
                std::hint::black_box(secret_eq(presented, ""));
                false
            }
        };
        if current {
            Some(WhichToken::Current)
        } else if previous {
            Some(WhichToken::Previous)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod grant_tests {
    use super::{OperatorTokens, Pepper};

    #[test]
    fn a_console_grant_lasts_as_long_as_its_admin_token_is_accepted() {
        let pepper = Pepper::new("grant-pepper-grant-pepper-grant-pepper").unwrap();
        let (old, new) =
            ("adm_old_old_old_old_old_old_old_old_old_", "adm_new_new_new_new_new_new_new_new_new_");
        let grant = pepper.digest_str(old);
        assert!(OperatorTokens::new(Some(old), None).unwrap().still_grant(grant.as_str(), &pepper));
        // During the rotation the previous token's sessions go on; once it is gone, so are they.
        assert!(OperatorTokens::new(Some(new), Some(old)).unwrap().still_grant(grant.as_str(), &pepper));
        assert!(!OperatorTokens::new(Some(new), None).unwrap().still_grant(grant.as_str(), &pepper));
        assert!(!OperatorTokens::new(Some(old), None).unwrap().still_grant("", &pepper));
    }
}

//! Phase 4 of the request path: decide whether a valid key with a found record may pass.
//! A pure function of the key, its record and the request time.

use crate::Error;
use crate::clock::UnixSeconds;
use crate::domain::key::ApiKey;
use crate::domain::record::{KeyRecord, KeyStatus};

/// A positive decision, with what the edge must tell the client and the origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Set while the key is rolling: when it was rolled and when it stops working, for the
    /// `Deprecation` and `Sunset` response headers.
    pub deprecation: Option<Deprecation>,
}

/// A key that still works but has a successor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deprecation {
    /// When the key was rolled.
    pub rolled_at: UnixSeconds,
    /// When it stops working.
    pub sunset: UnixSeconds,
}

/// Decide. The expiry is enforced against `now` here, so it never waits for a store update.
pub fn decide(key: &ApiKey, record: &KeyRecord, now: UnixSeconds) -> Result<Decision, Error> {
    // A record whose type or mode disagrees with the key's own prefix is not this key's record:
    // fail closed as an unknown key.
    if record.mode != key.mode() || record.key_type != key.key_type() {
        return Err(Error::ApiKeyInvalid { redacted: key.redacted() });
    }
    let redacted = || key.redacted();
    let expired = |at: UnixSeconds| Error::ApiKeyExpired {
        redacted: redacted(),
        expired_at: at,
        rolled: record.rolled_at.is_some(),
    };
    match record.status {
        KeyStatus::Revoked => return Err(Error::ApiKeyRevoked { redacted: redacted() }),
        KeyStatus::Expired => return Err(expired(record.expires_at.unwrap_or(now))),
        KeyStatus::Active | KeyStatus::Rolling => {}
    }
    if let Some(at) = record.expires_at
        && at <= now
    {
        return Err(expired(at));
    }
    let deprecation = match (record.status, record.rolled_at, record.expires_at) {
        (KeyStatus::Rolling, Some(rolled_at), Some(sunset)) => Some(Deprecation { rolled_at, sunset }),
        _ => None,
    };
    Ok(Decision { deprecation })
}

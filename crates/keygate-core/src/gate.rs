//! The edge decision as phases: credential → key → record → decision. The worker adds the
//! HTTPS check before and the upstream request after.

use crate::Error;
use crate::access::HostPins;
use crate::clock::UnixSeconds;
use crate::credential::Credential;
use crate::digest::{KeyDigest, Pepper};
use crate::key::ApiKey;
use crate::policy::{self, Decision};
use crate::record::KeyRecord;
use crate::store::{RecordStore, StoreError};

/// What a request presented, as far as authentication is concerned.
#[derive(Debug, Clone, Copy, Default)]
pub struct Presented<'a> {
    /// The `Authorization` header, repeated values joined with `, `.
    pub authorization: Option<&'a str>,
    /// The raw query string, without `?`.
    pub query: Option<&'a str>,
    /// The request's host, for mode pinning.
    pub host: Option<&'a str>,
}

/// An authenticated request: the key, its record and the positive decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// The presented key (redacted in `Debug`).
    pub key: ApiKey,
    /// Its digest.
    pub digest: KeyDigest,
    /// The key's record, as the edge store has it.
    pub record: KeyRecord,
    /// The decision, with deprecation details for rolling keys.
    pub decision: Decision,
}

impl Authenticated {
    /// Decide again on the authority's own record (strict keys, self-service), which wins over
    /// a possibly stale edge replica.
    pub fn confirm(mut self, authoritative: KeyRecord, now: UnixSeconds) -> Result<Authenticated, Error> {
        self.decision = policy::decide(&self.key, &authoritative, now)?;
        self.record = authoritative;
        Ok(self)
    }
}

/// Authenticate one request against `store`. Format and checksum are checked before any read,
/// so garbage never costs a store read. Every store fault fails closed.
pub async fn authenticate<S: RecordStore>(
    presented: Presented<'_>,
    pins: &HostPins,
    store: &S,
    pepper: &Pepper,
    now: UnixSeconds,
) -> Result<Authenticated, Error> {
    // Phase 1: exactly one credential.
    let credential = Credential::from_request(presented.authorization, presented.query)?;
    // Phase 2: a well-formed key with a valid checksum.
    let key = ApiKey::parse(credential.expose_secret())?;
    // Mode pinning, from the prefix alone: no store read for a key this host does not serve.
    pins.check(presented.host, key.mode())?;
    // Phase 3: its record, found by digest in its own mode's namespace.
    let digest = pepper.digest(&key);
    let raw = store
        .get(key.mode(), &digest)
        .await
        .map_err(|e| match e {
            StoreError::Misconfigured(what) => Error::Misconfigured { what },
            StoreError::Failed(_) | StoreError::Timeout => Error::StoreUnavailable,
        })?
        .ok_or_else(|| Error::ApiKeyInvalid { redacted: key.redacted() })?;
    let record = KeyRecord::from_json(&raw)?;
    // Phase 4: the policy decision.
    let decision = policy::decide(&key, &record, now)?;
    Ok(Authenticated { key, digest, record, decision })
}

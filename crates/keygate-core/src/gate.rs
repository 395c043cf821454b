//! The edge decision as phases: credential → key → record → decision. The worker adds the
//! HTTPS check before and the upstream request after.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

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
    /// The key's record, as the edge store has it (shared with the isolate's [`ParsedRecords`]).
    pub record: Rc<KeyRecord>,
    /// The decision, with deprecation details for rolling keys.
    pub decision: Decision,
}

impl Authenticated {
    /// Decide again on the authority's own record (strict keys, self-service), which wins over
    /// a possibly stale edge replica.
    pub fn confirm(mut self, authoritative: KeyRecord, now: UnixSeconds) -> Result<Authenticated, Error> {
        self.decision = policy::decide(&self.key, &authoritative, now)?;
        self.record = Rc::new(authoritative);
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
    records: &ParsedRecords,
    now: UnixSeconds,
) -> Result<Authenticated, Error> {
    // Phase 1: exactly one credential.
    let credential = Credential::from_request(presented.authorization, presented.query)?;
    // Phase 2: a well-formed key with a valid checksum.
    let key = credential.into_key()?;
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
    let record = records.parse(&digest, raw)?;
    // Phase 4: the policy decision.
    let decision = policy::decide(&key, &record, now)?;
    Ok(Authenticated { key, digest, record, decision })
}

/// Parsed key records, remembered per isolate by digest together with the exact text they were
/// parsed from. The store is still read on every request, and a record is parsed again as soon as
/// its text changes, so this never serves a stale decision: it only skips parsing the same bytes
/// twice. At most `capacity` records are kept; when full, all are forgotten at once.
#[derive(Debug)]
pub struct ParsedRecords {
    map: RefCell<HashMap<String, (String, Rc<KeyRecord>)>>,
    capacity: usize,
}

impl ParsedRecords {
    /// An empty memo holding at most `capacity` records.
    pub fn new(capacity: usize) -> Self {
        ParsedRecords { map: RefCell::new(HashMap::new()), capacity }
    }

    /// The record stored as `text` under `digest`: remembered if `text` is exactly what was parsed
    /// last time, else parsed (and remembered if well-formed).
    pub fn parse(&self, digest: &KeyDigest, text: String) -> Result<Rc<KeyRecord>, Error> {
        if let Some((seen, record)) = self.map.borrow().get(digest.as_str())
            && *seen == text
        {
            return Ok(Rc::clone(record));
        }
        let record = Rc::new(KeyRecord::from_json(&text)?);
        let mut map = self.map.borrow_mut();
        if map.len() >= self.capacity {
            map.clear();
        }
        if self.capacity > 0 {
            map.insert(digest.as_str().to_owned(), (text, Rc::clone(&record)));
        }
        Ok(record)
    }

    /// How many records are remembered.
    pub fn len(&self) -> usize {
        self.map.borrow().len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.map.borrow().is_empty()
    }
}

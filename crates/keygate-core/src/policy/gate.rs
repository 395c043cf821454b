//! The edge decision as phases: credential → key → record → decision. The worker adds the
//! HTTPS check before and the upstream request after.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::Error;
use crate::clock::UnixSeconds;
use crate::domain::digest::KeyDigest;
use crate::domain::key::ApiKey;
use crate::domain::key_format::KeyFormat;
pub use crate::domain::key_format::KeyLookup;
use crate::domain::record::KeyRecord;
use crate::policy::credential::Credential;
use crate::policy::decision::{self, Decision};
use crate::policy::pins::HostPins;
use crate::policy::throttle::Throttle;
use crate::store::RecordStore;

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

/// Under which digest a key's record was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Its digest under the current pepper: the usual case.
    Current,
    /// Its digest under the previous pepper (a rotation): the authority re-digests it.
    Previous(KeyDigest),
    /// The SHA-256 of an imported hash: the authority replaces it with the key's digest.
    Hash(KeyDigest),
}

impl Found {
    /// The digest the record was found under, if not the current one: the authority is then
    /// asked to store the key under its current digest.
    pub fn outdated(&self) -> Option<&KeyDigest> {
        match self {
            Found::Current => None,
            Found::Previous(d) | Found::Hash(d) => Some(d),
        }
    }
}

/// An authenticated request: the key, its record and the positive decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// The presented key (redacted in `Debug`).
    pub key: ApiKey,
    /// Its digest under the current pepper.
    pub digest: KeyDigest,
    /// Under which digest its record was found.
    pub found: Found,
    /// The key's record, as the edge store has it (shared with the isolate's [`ParsedRecords`]).
    pub record: Rc<KeyRecord>,
    /// The decision, with deprecation details for rolling keys.
    pub decision: Decision,
}

impl Authenticated {
    /// The digest the key's record is stored under, as far as the edge knows: what the
    /// authority confirms a caller by.
    pub fn stored_digest(&self) -> &KeyDigest {
        self.found.outdated().unwrap_or(&self.digest)
    }

    /// Decide again on the authority's own record (strict keys, self-service), which wins over
    /// a possibly stale edge replica.
    pub fn confirm(mut self, authoritative: KeyRecord, now: UnixSeconds) -> Result<Authenticated, Error> {
        self.decision = decision::decide(&self.key, &authoritative, now)?;
        self.record = Rc::new(authoritative);
        Ok(self)
    }
}

/// Authenticate one request against `store`. Format and checksum are checked before any read,
/// so garbage never costs a store read. Every store fault fails closed.
///
/// While the client address is throttled ([`Throttle::blocked_for`]), only a key this isolate
/// has seen authenticate goes on to the store; anything else is `429` without a read (see
/// [`crate::policy::throttle`]). Every success is remembered in [`Throttle::known`].
pub async fn authenticate<S: RecordStore>(
    presented: Presented<'_>,
    pins: &HostPins,
    store: &S,
    keys: KeyLookup<'_>,
    records: &ParsedRecords,
    throttle: Throttle<'_>,
    now: UnixSeconds,
) -> Result<Authenticated, Error> {
    let throttled = |e: Error| match throttle.blocked_for {
        Some(retry_after) => Error::TooManyFailedAttempts { retry_after },
        None => e,
    };
    // Phases 1 and 2: exactly one credential, a well-formed key with a valid checksum.
    let key = presented_key(presented, keys.format).map_err(throttled)?;
    // Mode pinning, from the prefix alone: no store read for a key this host does not serve.
    pins.check(presented.host, key.mode())?;
    // Phase 3: its record, found by digest in its own mode's namespace, unless this isolate
    // read it less than the memo's freshness window ago.
    let digest = keys.pepper.digest(&key);
    if let Some(retry_after) = throttle.blocked_for
        && !throttle.known.knows(&digest, now)
    {
        return Err(Error::TooManyFailedAttempts { retry_after });
    }
    let (record, found) = match records.fresh_found(&digest, now) {
        Some(hit) => hit,
        None => {
            let (raw, found) = find(store, &key, &digest, keys)
                .await?
                .ok_or_else(|| Error::ApiKeyInvalid { redacted: key.redacted() })?;
            (records.parse_found(&digest, raw, now, found.clone())?, found)
        }
    };
    // A canary is refused as an unknown key, whatever its state; one that can still be used is
    // reported (by the caller), one that ended is simply unknown.
    if record.canary {
        let redacted = key.redacted();
        return Err(match decision::decide(&key, &record, now) {
            Ok(_) => Error::CanaryKeyUsed {
                redacted,
                account: record.account.clone(),
                key_id: record.id.clone(),
                livemode: record.mode.is_live(),
            },
            Err(_) => Error::ApiKeyInvalid { redacted },
        });
    }
    // Phase 4: the policy decision.
    let decision = decision::decide(&key, &record, now)?;
    throttle.known.remember(&digest, now);
    Ok(Authenticated { key, digest, found, record, decision })
}

/// A key's record text and under which digest it was found: its digest under the current
/// pepper; else, only while a rotation lasts, under the previous one; else, only for a key of an
/// imported form, the SHA-256 of an imported hash. A key found nowhere costs one read, two
/// during a rotation, one more if it has an imported form. Every store fault fails closed.
pub async fn find<S: RecordStore>(
    store: &S,
    key: &ApiKey,
    digest: &KeyDigest,
    keys: KeyLookup<'_>,
) -> Result<Option<(String, Found)>, Error> {
    let mode = key.mode();
    if let Some(raw) = store.get(mode, digest).await.map_err(Error::from)? {
        return Ok(Some((raw, Found::Current)));
    }
    if let Some(previous) = keys.previous {
        let d = previous.digest(key);
        if let Some(raw) = store.get(mode, &d).await.map_err(Error::from)? {
            return Ok(Some((raw, Found::Previous(d))));
        }
    }
    if key.imported() {
        let d = KeyDigest::sha256_of(key.expose_secret());
        if let Some(raw) = store.get(mode, &d).await.map_err(Error::from)? {
            return Ok(Some((raw, Found::Hash(d))));
        }
    }
    Ok(None)
}

/// The answer [`authenticate`] gives a throttled address (`blocked_for`, seconds left) that
/// presents no usable credential (phase 1 or 2 fails), decided from the request alone: no
/// secret, store or setting is read. `None` when the credential parses, and the normal path
/// decides. The edge uses it first for a throttled address, once its settings have been read
/// fine in this isolate (they cannot change within one), so that a flood from a throttled
/// address costs the least of any request.
pub fn throttled_without_credential(
    presented: Presented<'_>,
    format: &KeyFormat,
    blocked_for: u32,
) -> Option<Error> {
    presented_key(presented, format)
        .is_err()
        .then_some(Error::TooManyFailedAttempts { retry_after: blocked_for })
}

/// Phase 1, exactly one credential, and phase 2, a well-formed key with a valid checksum. One
/// copy in the bundle, shared by [`authenticate`] and [`throttled_without_credential`].
#[inline(never)]
fn presented_key(presented: Presented<'_>, format: &KeyFormat) -> Result<ApiKey, Error> {
    Credential::from_request(presented.authorization, presented.query, format)?.into_key(format)
}

/// Workers KV's smallest `cacheTtl`, seconds.
pub const KV_MIN_CACHE_TTL: u64 = 30;

/// Workers KV's global propagation, seconds: how long a write can take to be visible at every
/// edge location, which Cloudflare documents as up to 60 s. No setting of keygate shortens it,
/// and it comes before any cache time: a cache can only be refreshed with what has arrived.
pub const KV_PROPAGATION: u64 = 60;

/// How the configured staleness bound (`KV_CACHE_TTL`) is split between KV's edge cache and the
/// isolate's freshness window (`EDGE_CACHE_TTL`), and the true worst case that results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StalenessBudget {
    /// The `cacheTtl` of KV reads.
    pub kv_cache_ttl: u64,
    /// The isolate's freshness window, seconds (0: none).
    pub fresh_for: u64,
    /// The most a record's state can lag the authority's KV write, seconds: KV's propagation
    /// ([`KV_PROPAGATION`]), plus KV's cache time, plus the isolate's window. What
    /// `Keygate-Verified: kv;max-staleness=` reports (120 with the defaults).
    pub max_staleness: u64,
}

impl StalenessBudget {
    /// Split `bound` seconds: the isolate window costs `fresh_for + 1` (whole-second clock), and
    /// KV gets the rest, but never less than [`KV_MIN_CACHE_TTL`]. The bound reported is the
    /// true worst case: [`KV_PROPAGATION`] plus the true sum of the two.
    pub fn new(bound: u64, fresh_for: u64) -> Self {
        let window = if fresh_for == 0 { 0 } else { fresh_for + 1 };
        let kv_cache_ttl = bound.saturating_sub(window).max(KV_MIN_CACHE_TTL);
        StalenessBudget { kv_cache_ttl, fresh_for, max_staleness: KV_PROPAGATION + kv_cache_ttl + window }
    }
}

/// Key records remembered per isolate by digest, with the exact text they were parsed from and
/// when the store was last read for them.
///
/// * Within `fresh_for` seconds of that read, a request uses the remembered record without
///   reading the store at all. This adds at most `fresh_for + 1` seconds (whole-second clock) to
///   how stale a record may be; the worker takes that from the store's own cache time, so the
///   documented bound is unchanged. `fresh_for = 0` reads the store on every request.
/// * After that the store is read again, and the record is parsed again only if its text
///   changed: parsing the same bytes twice is skipped.
///
/// Only well-formed records are remembered; an unknown key or a store fault never is. At most
/// `capacity` records are kept; when full, all are forgotten at once.
#[derive(Debug)]
pub struct ParsedRecords {
    map: RefCell<HashMap<String, Remembered>>,
    capacity: usize,
    fresh_for: std::cell::Cell<UnixSeconds>,
}

#[derive(Debug)]
struct Remembered {
    text: String,
    record: Rc<KeyRecord>,
    found: Found,
    read_at: UnixSeconds,
}

impl ParsedRecords {
    /// An empty memo holding at most `capacity` records, that reads the store on every request
    /// until [`ParsedRecords::set_fresh_for`] says otherwise.
    pub fn new(capacity: usize) -> Self {
        ParsedRecords { map: RefCell::new(HashMap::new()), capacity, fresh_for: std::cell::Cell::new(0) }
    }

    /// How many seconds after a store read its record may be used without reading again.
    pub fn set_fresh_for(&self, seconds: UnixSeconds) {
        self.fresh_for.set(seconds.max(0));
    }

    /// The record for `digest`, if the store was read for it less than `fresh_for` seconds
    /// before `now` (and not after `now`: a clock that went back does not extend the window).
    pub fn fresh(&self, digest: &KeyDigest, now: UnixSeconds) -> Option<Rc<KeyRecord>> {
        self.fresh_found(digest, now).map(|(r, _)| r)
    }

    /// [`ParsedRecords::fresh`], with under which digest the record was found.
    pub fn fresh_found(&self, digest: &KeyDigest, now: UnixSeconds) -> Option<(Rc<KeyRecord>, Found)> {
        let fresh_for = self.fresh_for.get();
        if fresh_for == 0 {
            return None;
        }
        let map = self.map.borrow();
        // A canary is read from the store every time, as an unknown key is.
        let r = map.get(digest.as_str()).filter(|r| !r.record.canary)?;
        let age = now - r.read_at;
        (0..fresh_for).contains(&age).then(|| (Rc::clone(&r.record), r.found.clone()))
    }

    /// The record stored as `text` under `digest`, read from the store at `now`: the remembered
    /// one if `text` is exactly what was parsed last time, else parsed (and remembered if
    /// well-formed).
    pub fn parse(&self, digest: &KeyDigest, text: String, now: UnixSeconds) -> Result<Rc<KeyRecord>, Error> {
        self.parse_found(digest, text, now, Found::Current)
    }

    /// [`ParsedRecords::parse`] for a key whose record was found as `found`, remembered under
    /// its current `digest`.
    pub fn parse_found(
        &self,
        digest: &KeyDigest,
        text: String,
        now: UnixSeconds,
        found: Found,
    ) -> Result<Rc<KeyRecord>, Error> {
        if let Some(r) = self.map.borrow_mut().get_mut(digest.as_str())
            && r.text == text
        {
            r.read_at = now;
            r.found = found;
            return Ok(Rc::clone(&r.record));
        }
        let record = Rc::new(KeyRecord::from_json(&text)?);
        let mut map = self.map.borrow_mut();
        if map.len() >= self.capacity {
            map.clear();
        }
        if self.capacity > 0 {
            map.insert(
                digest.as_str().to_owned(),
                Remembered { text, record: Rc::clone(&record), found, read_at: now },
            );
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

//! Key state as the Durable Object keeps it, and the lifecycle as pure transitions:
//!
//! ```text
//! active ──roll──▶ rolling (expires_at = now + grace) ──grace ends──▶ expired
//! active | rolling ──expire──▶ expired
//! any ──revoke──▶ revoked
//! ```
//!
//! Every transition is a function of the old state and an injected `now`; it never does I/O.

use std::collections::BTreeMap;

use crate::Error;
use crate::clock::UnixSeconds;
use crate::domain::digest::KeyDigest;
use crate::domain::key::{ApiKey, random_id};
use crate::domain::key_format::Keyring;
use crate::domain::quota::{Credits, LeaseAsk, LeaseGrant, RateWindow};
use crate::domain::record::{KeyRecord, KeyStatus, RECORD_VERSION};
use crate::domain::settings::{CreateKey, KeySettings};
use crate::rng::Rng;

/// Grace period of a roll when none is given: 24 hours.
pub const DEFAULT_GRACE: i64 = 86_400;
/// Longest grace period: 7 days.
pub const MAX_GRACE: i64 = 604_800;
/// How long a key that ended (expired or revoked) is kept, seconds: 30 days. Then the alarm
/// removes it from the object's storage and from KV, where the edge then knows it no more.
pub const ENDED_RETENTION: i64 = 30 * 86_400;

/// Days of request counts kept per key.
pub const USAGE_DAYS: usize = 30;

/// What the Durable Object stores per key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredKey {
    /// The record replicated to KV.
    pub record: KeyRecord,
    /// The KV key the record lives under.
    pub digest: KeyDigest,
    /// Last use, minute precision.
    #[serde(default)]
    pub last_used: Option<UnixSeconds>,
    /// Requests per UTC day (`YYYY-MM-DD`), the last [`USAGE_DAYS`] days.
    #[serde(default)]
    pub usage: BTreeMap<String, u64>,
    /// False while KV has not yet acknowledged the current record (the alarm retries).
    #[serde(default)]
    pub kv_synced: bool,
    /// Set once the key has been seen exposed.
    #[serde(default)]
    pub exposed: Option<Exposure>,
    /// When the key ended (expired or revoked): it is removed
    /// [`ENDED_RETENTION`] later.
    #[serde(default)]
    pub ended_at: Option<UnixSeconds>,
    /// The credits left, as the authority counts them (when the key has credits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits: Option<Credits>,
    /// Rate tokens granted in the current window (when the key has a rate limit).
    #[serde(default)]
    pub rate_window: RateWindow,
    /// While the key is rolling: the successor whose rate limit and credits it shares, so that
    /// a roll neither doubles a key's rate nor its credits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shares_with: Option<String>,
    /// The last credit period number used (see [`crate::domain::quota::Credits::period`]): new
    /// credits always start a later one, even after the key had none for a while, so a lease of
    /// earlier credits is never returned into them.
    #[serde(default)]
    pub credit_periods: u64,
    /// Requests refused by the rate limit or for want of credits, per UTC day (the last
    /// [`USAGE_DAYS`] days).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub refused: BTreeMap<String, u64>,
    /// The operator's key-value pairs (kept here only: not in the record the edge reads).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: crate::domain::settings::Metadata,
    /// The `key.expiring` notices sent for the key's current `expires_at`: that expiry, and the
    /// nearest notice sent, in days before it ([`EXPIRING_NOTICES`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiring_notice: Option<(UnixSeconds, i64)>,
    /// A canary's uses seen, and when the last `key.canary_used` event was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_seen: Option<(u64, UnixSeconds)>,
    /// The fingerprint ([`Pepper::id`]) of the pepper `digest` was made with; absent for keys
    /// stored before peppers could rotate, and for an imported hash not yet used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pepper_id: Option<String>,
    /// The digest the key was stored under before its last re-digest (a pepper rotation, or an
    /// imported hash's first use), kept in KV beside the current one until `until`, so that no
    /// edge location that still misses the new entry refuses the key meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired: Option<Retired>,
    /// How the key was imported, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported: Option<Imported>,
}

/// A digest a key was stored under before, and until when its KV entry is kept.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Retired {
    /// The old digest (or imported hash).
    pub digest: KeyDigest,
    /// When its KV entry is deleted.
    pub until: UnixSeconds,
}

/// How a key came from before keygate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Imported {
    /// From its raw secret, or from its SHA-256 hash.
    pub from: ImportedFrom,
    /// When it was imported.
    pub at: UnixSeconds,
    /// The alias of its SHA-256 under the pepper of its digest ([`Pepper::hash_alias`]): the
    /// authority's other lookup entry for it.
    ///
    /// [`Pepper::hash_alias`]: crate::domain::digest::Pepper::hash_alias
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<KeyDigest>,
}

/// What an import was given of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportedFrom {
    /// The raw key: only its digest was stored.
    Secret,
    /// Its SHA-256 hash, replaced by its digest on its first use.
    Sha256,
}

/// When and how a key was found exposed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Exposure {
    /// `plain_http` or `secret_key_in_browser` (seen at the edge), `github_secret_scanning` or
    /// `reported_leak` (a leak report).
    pub reason: String,
    /// When: first seen at the edge, or the last leak report.
    pub at: UnixSeconds,
    /// A leak report's place where the key was found (may be empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// A leak report's kind of place (`content`, `commit`, `npm`, …), if the scanner said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl StoredKey {
    /// The status as of `now`: an expiry that has passed reads as `expired` even before the
    /// stored status catches up.
    pub fn status_at(&self, now: UnixSeconds) -> KeyStatus {
        match (self.record.status, self.record.expires_at) {
            (KeyStatus::Active | KeyStatus::Rolling, Some(at)) if at <= now => KeyStatus::Expired,
            (s, _) => s,
        }
    }

    /// When this key's state changes by itself (a pending expiry), if it ever does.
    pub fn next_change(&self, now: UnixSeconds) -> Option<UnixSeconds> {
        match (self.record.status, self.record.expires_at) {
            (KeyStatus::Active | KeyStatus::Rolling, Some(at)) if at > now => Some(at),
            _ => None,
        }
    }

    /// Whether the key is stored under `digest`: its current one, or the one it had before its
    /// last re-digest while that is still kept (an edge location may still find it by that).
    pub fn stored_under(&self, digest: &KeyDigest) -> bool {
        &self.digest == digest || self.retired.as_ref().is_some_and(|r| &r.digest == digest)
    }

    /// Whether the key ended long enough ago to be removed.
    pub fn purge_due(&self, now: UnixSeconds) -> bool {
        self.ended_at.is_some_and(|t| t + ENDED_RETENTION <= now)
    }

    /// A copy with `record` changed by `f`, marked for replication.
    fn changed(&self, f: impl FnOnce(&mut KeyRecord)) -> StoredKey {
        let mut next = self.clone();
        f(&mut next.record);
        if next.record != self.record {
            next.kv_synced = false;
        }
        next
    }
}

/// A freshly created key: the secret (shown once) and what to store.
#[derive(Debug)]
pub struct NewKey {
    /// The raw key, for the creation response only.
    pub key: ApiKey,
    /// What the DO stores.
    pub stored: StoredKey,
}

/// Create a key for `account` as `params` asks.
pub fn create(
    account: &str,
    params: &CreateKey,
    keys: &Keyring,
    rng: &mut impl Rng,
    now: UnixSeconds,
) -> Result<NewKey, Error> {
    let key = keys.format.generate(params.key_type, params.mode, rng)?;
    let record = KeyRecord {
        v: RECORD_VERSION,
        id: random_id("key_", rng)?,
        account: account.to_owned(),
        mode: params.mode,
        key_type: params.key_type,
        status: KeyStatus::Active,
        name: params.name.clone(),
        prefix: key.prefix().to_owned(),
        last4: key.last4().to_owned(),
        created_at: now,
        expires_at: params.expires_at,
        rolled_from: None,
        rolled_at: None,
        strict: params.strict,
        permissions: params.permissions.clone(),
        restrictions: params.restrictions.clone(),
        rate_limit: params.rate_limit,
        credits: params.credits.is_some(),
        canary: params.canary,
    };
    let stored = StoredKey {
        record,
        digest: keys.digest(&key),
        last_used: None,
        usage: BTreeMap::new(),
        kv_synced: false,
        exposed: None,
        ended_at: None,
        credits: params.credits,
        rate_window: RateWindow::default(),
        shares_with: None,
        credit_periods: 0,
        refused: BTreeMap::new(),
        metadata: params.metadata.clone(),
        expiring_notice: None,
        canary_seen: None,
        pepper_id: Some(keys.pepper.id()),
        retired: None,
        imported: None,
    };
    Ok(NewKey { key, stored })
}

/// Roll an active key: a successor with the same type, name and options (and the same explicit
/// expiry, if the old key had one), while the old key keeps working for `grace` seconds
/// (0 ends it at once). Only an active key can be rolled.
pub fn roll(
    old: &StoredKey,
    grace: i64,
    keys: &Keyring,
    rng: &mut impl Rng,
    now: UnixSeconds,
) -> Result<(StoredKey, NewKey), Error> {
    let status = old.status_at(now);
    if status != KeyStatus::Active {
        return Err(Error::KeyNotActive { status: status.as_str() });
    }
    if !(0..=MAX_GRACE).contains(&grace) {
        return Err(Error::invalid_param(
            "parameter_invalid",
            "expires_in",
            format!("`expires_in` must be between 0 and {MAX_GRACE} seconds."),
        ));
    }
    let sunset = old.record.expires_at.map_or(now + grace, |at| at.min(now + grace));
    let mut retired = old.changed(|r| {
        r.status = if sunset <= now { KeyStatus::Expired } else { KeyStatus::Rolling };
        r.rolled_at = Some(now);
        r.expires_at = Some(sunset);
    });
    if sunset <= now {
        retired.ended_at = Some(sunset);
    }
    let params = CreateKey {
        key_type: old.record.key_type,
        mode: old.record.mode,
        name: old.record.name.clone(),
        expires_at: old.record.expires_at,
        strict: old.record.strict,
        permissions: old.record.permissions.clone(),
        restrictions: old.record.restrictions.clone(),
        rate_limit: old.record.rate_limit,
        credits: None,
        metadata: old.metadata.clone(),
        canary: old.record.canary,
    };
    let mut successor = create(&old.record.account, &params, keys, rng, now)?;
    successor.stored.record.rolled_from = Some(old.record.id.clone());
    // The successor takes over the usage controls' state; the old key shares it while it works.
    successor.stored.record.credits = old.record.credits;
    successor.stored.credits = old.credits;
    successor.stored.rate_window = old.rate_window;
    if retired.record.rate_limit.is_some() || retired.record.credits {
        retired.credits = None;
        retired.shares_with = Some(successor.stored.record.id.clone());
    }
    Ok((retired, successor))
}

/// Expire now. An active or rolling key becomes `expired` with `expires_at = now` (or its
/// earlier expiry); an expired or revoked key is left as it is.
pub fn expire(key: &StoredKey, now: UnixSeconds) -> StoredKey {
    match key.record.status {
        KeyStatus::Active | KeyStatus::Rolling => {
            let mut next = key.changed(|r| {
                r.status = KeyStatus::Expired;
                r.expires_at = Some(r.expires_at.map_or(now, |at| at.min(now)));
            });
            next.ended_at = next.record.expires_at;
            next
        }
        KeyStatus::Expired | KeyStatus::Revoked => key.clone(),
    }
}

/// Revoke at `now`: any state → `revoked`, for good. Revoking a revoked key changes nothing.
pub fn revoke(key: &StoredKey, now: UnixSeconds) -> StoredKey {
    let mut next = key.changed(|r| r.status = KeyStatus::Revoked);
    if next != *key && next.ended_at.is_none() {
        next.ended_at = Some(now);
    }
    next
}

/// Catch up with time: a key whose `expires_at` has passed is stored as `expired`.
pub fn advance(key: &StoredKey, now: UnixSeconds) -> StoredKey {
    if key.status_at(now) == KeyStatus::Expired && key.record.status != KeyStatus::Expired {
        let mut next = key.changed(|r| r.status = KeyStatus::Expired);
        next.ended_at = next.record.expires_at;
        next
    } else {
        key.clone()
    }
}

/// Change a key's permissions and restrictions. A revoked or expired key cannot be changed.
pub fn update(key: &StoredKey, settings: &KeySettings, now: UnixSeconds) -> Result<StoredKey, Error> {
    let status = key.status_at(now);
    if matches!(status, KeyStatus::Revoked | KeyStatus::Expired) {
        return Err(Error::KeyNotActive { status: status.as_str() });
    }
    let mut r = key.record.clone();
    if let Some(name) = &settings.name {
        r.name = name.clone();
    }
    let metadata = match &settings.metadata {
        Some(change) => change.apply(&key.metadata)?,
        None => key.metadata.clone(),
    };
    if let Some(p) = &settings.permissions {
        r.permissions = p.clone();
    }
    if let Some(v) = &settings.allowed_ips {
        r.restrictions.allowed_ips = v.clone();
    }
    if let Some(v) = &settings.allowed_origins {
        r.restrictions.allowed_origins = v.clone();
    }
    if let Some(v) = &settings.allowed_endpoints {
        r.restrictions.allowed_endpoints = v.clone();
    }
    if let Some(v) = &settings.rate_limit {
        r.rate_limit = *v;
    }
    let mut credits = key.credits;
    let mut periods = key.credit_periods;
    if let (Some(_), Some(successor)) = (&settings.credits, &key.shares_with) {
        return Err(Error::invalid_param(
            "parameter_invalid",
            "credits",
            format!("This key is rolling: it spends the credits of its successor {successor}. Change those."),
        ));
    }
    if let Some(v) = &settings.credits {
        r.credits = v.is_some();
        // New credits start a new period: leases of the old ones are not returned into them. Their
        // refills count from the last calendar boundary, not from the key's creation (which
        // would make one due at once).
        periods = next_period(key);
        credits = v.map(|mut c| {
            c.period = periods;
            c.refilled_at = c.refill.map(|f| f.interval.at_or_before(now));
            c
        });
    }
    crate::domain::settings::check_type_settings(
        r.key_type,
        settings.permissions.as_ref().is_some_and(Option::is_some),
        settings.allowed_origins.as_ref().is_some_and(Option::is_some),
    )?;
    let mut next = key.changed(|rec| *rec = r);
    next.credits = credits;
    next.credit_periods = periods;
    next.metadata = metadata;
    Ok(next)
}

/// The number of a new credit period for `key`: after every one it has used.
pub fn next_period(key: &StoredKey) -> u64 {
    key.credit_periods.max(key.credits.map_or(0, |c| c.period)) + 1
}

/// Lease what `ask` asks of the key `owner` (whose rate limit applies), drawing on `pool`: the
/// key's own controls' state, or its successor's while it is rolling (the caller passes the key
/// [`StoredKey::shares_with`] names). Returns the changed pool. Only an active or rolling key
/// leases; any other is refused as exhausted credits would be, since it cannot authenticate.
pub fn lease(
    owner: &StoredKey,
    pool: &StoredKey,
    ask: LeaseAsk,
    now: UnixSeconds,
) -> (StoredKey, LeaseGrant) {
    let mut next = pool.clone();
    let grant = crate::domain::quota::lease(
        owner.record.rate_limit.as_ref(),
        &mut next.rate_window,
        next.credits.as_mut(),
        pool.record.created_at,
        // A key without credits (removed while the edge's copy still shows them) is answered
        // by the domain with an unlimited block, not refused.
        ask,
        now,
    );
    (next, grant)
}

/// Count `count` requests refused by the usage controls at `at`.
pub fn record_refused(key: &StoredKey, at: UnixSeconds, count: u64) -> StoredKey {
    let mut next = key.clone();
    add_to_day(&mut next.refused, at, count);
    next
}

/// Refill the key's credits if a refill is due by `now` (the alarm does this without traffic).
/// A key that ended is left alone.
pub fn refill(key: &StoredKey, now: UnixSeconds) -> StoredKey {
    let mut next = key.clone();
    if let (Some(c), None) = (next.credits.as_mut(), key.ended_at) {
        c.refill_due(key.record.created_at, now);
    }
    next
}

/// When this key's credits are refilled next, if they ever are (never once it ended).
pub fn next_refill(key: &StoredKey) -> Option<UnixSeconds> {
    key.ended_at.is_none().then_some(())?;
    key.credits.and_then(|c| c.next_refill(key.record.created_at))
}

/// The fewest seconds between two `key.canary_used` events of one key: a canary hammered from
/// many addresses is counted, not logged a thousand times.
pub const CANARY_EVENT_INTERVAL: UnixSeconds = 60;

/// Count `count` uses of a canary key at `now`; `true` when they get an event (the first use, or
/// the first one [`CANARY_EVENT_INTERVAL`] after the last event).
pub fn canary_used(key: &StoredKey, count: u64, now: UnixSeconds) -> (StoredKey, bool) {
    let mut next = key.clone();
    let (uses, last) = key.canary_seen.map_or((0, None), |(u, t)| (u, Some(t)));
    let event = last.is_none_or(|t| now - t >= CANARY_EVENT_INTERVAL);
    next.canary_seen =
        Some((uses.saturating_add(count.max(1)), if event { now } else { last.unwrap_or(now) }));
    let minute = now - now.rem_euclid(60);
    next.last_used = Some(next.last_used.map_or(minute, |t| t.max(minute)));
    (next, event)
}

/// The notices a key gets before its `expires_at` (a rolled key's grace end included), in days.
pub const EXPIRING_NOTICES: [i64; 2] = [7, 1];
const DAY: UnixSeconds = 86_400;

/// The `key.expiring` notice due for `key` at `now`, in days before its expiry: the nearest of
/// [`EXPIRING_NOTICES`] whose time has come and that was not sent for this expiry (a key made
/// to expire within a day gets only the one-day notice).
pub fn expiring_due(key: &StoredKey, now: UnixSeconds) -> Option<i64> {
    let at = key.next_change(now)?;
    let sent = key.expiring_notice.filter(|(e, _)| *e == at).map(|(_, d)| d);
    EXPIRING_NOTICES
        .iter()
        .rev()
        .copied()
        .find(|d| now >= at - d * DAY)
        .filter(|d| sent.is_none_or(|s| s > *d))
}

/// Whole days left before `at` at `now`, rounded up: what a `key.expiring` notice says (one sent
/// 3 days before an expiry says 3, not 7).
pub fn days_left(at: UnixSeconds, now: UnixSeconds) -> i64 {
    (at - now + DAY - 1).div_euclid(DAY).max(0)
}

/// When the next `key.expiring` notice of `key` falls due, if one is still to come.
pub fn next_expiring_notice(key: &StoredKey, now: UnixSeconds) -> Option<UnixSeconds> {
    if expiring_due(key, now).is_some() {
        return Some(now);
    }
    let at = key.next_change(now)?;
    EXPIRING_NOTICES.iter().map(|d| at - d * DAY).filter(|t| *t > now).min()
}

/// Record that the notice `days` before the key's current expiry was sent.
pub fn mark_expiring(key: &StoredKey, days: i64) -> StoredKey {
    let mut next = key.clone();
    next.expiring_notice = key.record.expires_at.map(|at| (at, days));
    next
}

/// Record that the key was seen exposed (the first time only).
pub fn mark_exposed(key: &StoredKey, reason: &str, now: UnixSeconds) -> StoredKey {
    let mut next = key.clone();
    if next.exposed.is_none() {
        next.exposed = Some(Exposure { reason: reason.to_owned(), at: now, url: None, source: None });
    }
    next
}

/// Record a leak report on the key. A report says more than an exposure seen at the edge (where
/// the key is, for anyone), so it replaces one; after that the first report of each source
/// stands: a key reported again, from the same place or another (GitHub retries; a key copied
/// into many places is reported for each), and a key that already ended, change nothing, so
/// reports can never flood the audit log.
pub fn mark_leaked(key: &StoredKey, leak: &crate::domain::leak::Leak, now: UnixSeconds) -> StoredKey {
    let mut next = key.clone();
    let reported = next.exposed.as_ref().is_some_and(|e| e.reason == leak.reason);
    if !reported && matches!(key.status_at(now), KeyStatus::Active | KeyStatus::Rolling) {
        next.exposed = Some(Exposure {
            reason: leak.reason.clone(),
            at: now,
            url: Some(leak.url.clone()),
            source: leak.source.clone(),
        });
    }
    next
}

/// Count `count` requests at `at`: `last_used` (minute precision) and the per-day counts.
pub fn record_usage(key: &StoredKey, at: UnixSeconds, count: u64) -> StoredKey {
    let mut next = key.clone();
    let minute = at - at.rem_euclid(60);
    next.last_used = Some(next.last_used.map_or(minute, |t| t.max(minute)));
    add_to_day(&mut next.usage, at, count);
    next
}

/// Add `count` to `at`'s UTC day in `days`, keeping the last [`USAGE_DAYS`] days.
fn add_to_day(days: &mut BTreeMap<String, u64>, at: UnixSeconds, count: u64) {
    *days.entry(crate::time::day(at)).or_default() += count;
    while days.len() > USAGE_DAYS {
        let Some(oldest) = days.keys().next().cloned() else { break };
        days.remove(&oldest);
    }
}

/// What an import stores of one key: its settings, the digest it is found by (of its raw
/// secret, or an imported SHA-256 hash), and what is shown of it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImportKey {
    /// Type, mode, name, expiry and settings, as a create takes them.
    pub params: CreateKey,
    /// The digest of its raw secret, or the lookup id of its SHA-256 hash.
    pub digest: KeyDigest,
    /// Its configured prefix.
    pub prefix: String,
    /// Its last four characters.
    pub last4: String,
    /// Its original creation time, if given.
    pub created_at: Option<UnixSeconds>,
    /// Its position in the import request (for the answer's `param`).
    pub index: usize,
    /// The alias of its SHA-256 under the current pepper ([`Pepper::hash_alias`]), stored as
    /// the authority's second lookup entry for it: a later import finds it by it, whether that
    /// import gives the raw key or its hash.
    ///
    /// [`Pepper::hash_alias`]: crate::domain::digest::Pepper::hash_alias
    pub alias: KeyDigest,
    /// Other ids an earlier import of this key may be stored under, during a pepper rotation:
    /// its digest and alias under the previous pepper. Never stored.
    #[serde(default)]
    pub also: Vec<KeyDigest>,
}

impl ImportKey {
    /// The ids an earlier import of this key would be found by.
    pub fn lookup_ids(&self) -> impl Iterator<Item = &KeyDigest> {
        [&self.digest, &self.alias].into_iter().chain(&self.also)
    }

    /// The parameter an import names for this key (`keys[i].secret` or `keys[i].hash`).
    pub fn param(&self) -> String {
        let field = if self.digest.is_imported_hash() { "hash" } else { "secret" };
        format!("keys[{}].{field}", self.index)
    }
}

/// The key an import stores for `item`, under `key_id`. Never active past its expiry: an item
/// whose `expires_at` has passed is refused by the API layer.
pub fn import(
    account: &str,
    item: &ImportKey,
    key_id: String,
    pepper_id: &str,
    now: UnixSeconds,
) -> StoredKey {
    let p = &item.params;
    let from = if item.digest.is_imported_hash() { ImportedFrom::Sha256 } else { ImportedFrom::Secret };
    let record = KeyRecord {
        v: RECORD_VERSION,
        id: key_id,
        account: account.to_owned(),
        mode: p.mode,
        key_type: p.key_type,
        status: KeyStatus::Active,
        name: p.name.clone(),
        prefix: item.prefix.clone(),
        last4: item.last4.clone(),
        created_at: item.created_at.unwrap_or(now),
        expires_at: p.expires_at,
        rolled_from: None,
        rolled_at: None,
        strict: p.strict,
        permissions: p.permissions.clone(),
        restrictions: p.restrictions.clone(),
        rate_limit: p.rate_limit,
        credits: p.credits.is_some(),
        canary: p.canary,
    };
    StoredKey {
        record,
        digest: item.digest.clone(),
        last_used: None,
        usage: BTreeMap::new(),
        kv_synced: false,
        exposed: None,
        ended_at: None,
        credits: p.credits,
        rate_window: RateWindow::default(),
        shares_with: None,
        credit_periods: 0,
        refused: BTreeMap::new(),
        metadata: p.metadata.clone(),
        expiring_notice: None,
        canary_seen: None,
        pepper_id: (from == ImportedFrom::Secret).then(|| pepper_id.to_owned()),
        retired: None,
        imported: Some(Imported { from, at: now, alias: Some(item.alias.clone()) }),
    }
}

/// Store `key` under `digest` (made with the pepper `pepper_id`) instead of its outdated one,
/// whose KV entry is kept until `until` (see [`crate::commands::authority::Limits`]). The record
/// is unchanged.
pub fn redigest(key: &StoredKey, digest: KeyDigest, pepper_id: &str, until: UnixSeconds) -> StoredKey {
    let mut next = key.clone();
    let old = std::mem::replace(&mut next.digest, digest);
    next.retired = Some(Retired { digest: old, until });
    next.pepper_id = Some(pepper_id.to_owned());
    next.kv_synced = false;
    next
}

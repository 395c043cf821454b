//! The authority for the keys of one (mode, account): what the `KeyStore` Durable Object does,
//! written against two small traits so that it runs natively with fakes that fail on demand.
//!
//! Storage layout (values are JSON text):
//! * `key:{key_id}` → [`StoredKey`]
//! * `event:{seq:012}` → [`Event`], `seq` counting up from 1
//! * `meta:event_seq` → the last `seq` used
//!
//! Every change is written to the state store first, then to KV. A KV write that fails leaves the
//! key with `kv_synced = false`; [`Authority::sync`] (the DO's alarm) retries until KV agrees, and
//! also stores expiries whose time has come, so KV learns of them.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;

use crate::Error;
use crate::admin::{CreateKey, KeyObject, KeySettings, List, Page};
use crate::clock::UnixSeconds;
use crate::delegation;
use crate::digest::{KeyDigest, Pepper};
use crate::key::Mode;
use crate::keystate::{self, StoredKey};
use crate::record::{KeyRecord, KeyStatus};
use crate::rng::Rng;
use crate::store::StoreError;

/// Seconds between KV replication retries.
pub const KV_RETRY_SECONDS: i64 = 5;

/// How long a key that ended (expired or revoked) is kept, seconds: 30 days. Then the alarm
/// removes it from the object's storage and from KV, where the edge then knows it no more.
pub const ENDED_RETENTION: i64 = 30 * 86_400;

/// Bounds on what one object stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Keys stored per (mode, account), ended keys included until they are removed
    /// ([`ENDED_RETENTION`]). A create or roll beyond it is `409 key_limit_reached`.
    pub max_keys: usize,
    /// Audit-log events kept per (mode, account): each new event beyond it removes the oldest.
    pub max_events: u64,
}

/// The default of `MAX_KEYS_PER_ACCOUNT`.
pub const DEFAULT_MAX_KEYS: usize = 500;
/// The audit log's retention, in events per (mode, account).
pub const MAX_EVENTS: u64 = 10_000;

impl Default for Limits {
    fn default() -> Self {
        Limits { max_keys: DEFAULT_MAX_KEYS, max_events: MAX_EVENTS }
    }
}

/// The Durable Object's own transactional storage, as JSON text values.
#[allow(async_fn_in_trait)]
pub trait StateStore {
    /// The value at `key`.
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Store `value` at `key`.
    async fn put(&self, key: &str, value: &str) -> Result<(), StoreError>;
    /// Remove `key` (nothing if absent).
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Entries whose key starts with `prefix`, in key order (descending when `reverse`), only
    /// keys before `end` (exclusive, in ascending order) when given, at most `limit`.
    async fn list(
        &self,
        prefix: &str,
        end: Option<&str>,
        reverse: bool,
        limit: Option<usize>,
    ) -> Result<Vec<(String, String)>, StoreError>;
}

/// Writes key records to the edge's KV namespaces.
#[allow(async_fn_in_trait)]
pub trait RecordWriter {
    /// Store `record` under `digest` in `mode`'s namespace.
    async fn put(&self, mode: Mode, digest: &KeyDigest, record: &str) -> Result<(), StoreError>;
    /// Remove the record under `digest` in `mode`'s namespace.
    async fn delete(&self, mode: Mode, digest: &KeyDigest) -> Result<(), StoreError>;
}

/// Who asks for a change to a key: the operator, or a key of the account (self-service), whose
/// own current record then bounds what it may act on (see [`crate::delegation`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Principal {
    /// `ADMIN_TOKEN`.
    Operator,
    /// A secret key of the account, confirmed by its digest.
    Key {
        /// Its id.
        key_id: String,
        /// Its digest: the object confirms that the caller is still this key.
        digest: KeyDigest,
    },
}

impl Principal {
    /// The audit log's actor for this principal.
    pub fn actor(&self) -> Actor {
        match self {
            Principal::Operator => Actor::admin(),
            Principal::Key { key_id, .. } => Actor(key_id.clone()),
        }
    }
}

/// Who made a change: the operator, a key (self-service), or keygate itself (an expiry).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Actor(pub String);

impl Actor {
    /// The operator, through the admin API.
    pub fn admin() -> Self {
        Actor("admin".into())
    }
    /// keygate itself (an expiry whose time came).
    pub fn system() -> Self {
        Actor("system".into())
    }
}

/// One audit-log entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Event {
    /// `evt_…`, ordered by time within an account and mode.
    pub id: String,
    /// Always `event`.
    pub object: String,
    /// `key.created`, `key.rolled`, `key.expired`, `key.revoked`, `key.updated`, `key.exposed`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `acct_…`.
    pub account: String,
    /// Mode.
    pub mode: Mode,
    /// The key concerned.
    pub key_id: String,
    /// `admin`, `system`, or the id of the key that acted (self-service).
    pub actor: String,
    /// When.
    pub created_at: UnixSeconds,
    /// Details, e.g. `{"rolled_to":"key_…","expires_at":…}`.
    pub data: serde_json::Value,
}

fn event_id(seq: u64) -> String {
    format!("evt_{seq:012}")
}

/// The sequence number inside an event id, if it is one.
pub fn parse_event_id(id: &str) -> Option<u64> {
    let digits = id.strip_prefix("evt_")?;
    if digits.len() != 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The authority over one (mode, account)'s keys.
pub struct Authority<'a, S, W> {
    /// The DO's own storage.
    pub state: &'a S,
    /// The KV namespaces.
    pub kv: &'a W,
    /// What it may store.
    pub limits: Limits,
}

impl<S: StateStore, W: RecordWriter> Authority<'_, S, W> {
    /// Create a key; the answer includes the secret, once.
    pub async fn create(
        &self,
        account: &str,
        params: &CreateKey,
        pepper: &Pepper,
        rng: &mut impl Rng,
        now: UnixSeconds,
        actor: &Actor,
    ) -> Result<KeyObject, Error> {
        self.check_room().await?;
        let new = keystate::create(account, params, pepper, rng, now)?;
        let stored = self.commit(new.stored).await?;
        let data =
            serde_json::json!({ "type": stored.record.key_type, "expires_at": stored.record.expires_at });
        self.log("key.created", &stored.record, actor, now, data).await?;
        let mut object = KeyObject::from_stored(&stored, now);
        object.secret = Some(new.key.expose_secret().to_owned());
        Ok(object)
    }

    /// Roll an active key with `grace` seconds of overlap. Returns the successor with its secret.
    #[allow(clippy::too_many_arguments)]
    pub async fn roll(
        &self,
        account: &str,
        key_id: &str,
        grace: i64,
        pepper: &Pepper,
        rng: &mut impl Rng,
        now: UnixSeconds,
        by: &Principal,
    ) -> Result<KeyObject, Error> {
        let actor = &by.actor();
        let old = self.load_in_scope(account, key_id, by, now).await?;
        let (retired, successor) = keystate::roll(&old, grace, pepper, rng, now)?;
        self.check_room().await?;
        // Both states are stored before either reaches KV, so no failure can lose the successor.
        self.save(&retired).await?;
        self.save(&successor.stored).await?;
        let retired = self.replicate(retired).await?;
        let stored = self.replicate(successor.stored).await?;
        let data =
            serde_json::json!({ "rolled_to": stored.record.id, "expires_at": retired.record.expires_at });
        self.log("key.rolled", &retired.record, actor, now, data).await?;
        self.log(
            "key.created",
            &stored.record,
            actor,
            now,
            serde_json::json!({ "rolled_from": old.record.id }),
        )
        .await?;
        let mut object = KeyObject::from_stored(&stored, now);
        object.secret = Some(successor.key.expose_secret().to_owned());
        Ok(object)
    }

    /// End a key now.
    pub async fn expire(
        &self,
        account: &str,
        key_id: &str,
        now: UnixSeconds,
        by: &Principal,
    ) -> Result<KeyObject, Error> {
        self.change(
            account,
            key_id,
            now,
            by,
            "key.expired",
            |k| Ok(keystate::expire(k, now)),
            |k| serde_json::json!({ "expires_at": k.record.expires_at }),
        )
        .await
    }

    /// Revoke a key for good.
    pub async fn revoke(
        &self,
        account: &str,
        key_id: &str,
        now: UnixSeconds,
        by: &Principal,
    ) -> Result<KeyObject, Error> {
        self.change(
            account,
            key_id,
            now,
            by,
            "key.revoked",
            |k| Ok(keystate::revoke(k, now)),
            |_| serde_json::json!({}),
        )
        .await
    }

    /// Change a key's permissions and restrictions.
    pub async fn update(
        &self,
        account: &str,
        key_id: &str,
        settings: &KeySettings,
        now: UnixSeconds,
        by: &Principal,
    ) -> Result<KeyObject, Error> {
        let data = serde_json::to_value(settings).unwrap_or_default();
        let self_service = matches!(by, Principal::Key { .. });
        self.change(
            account,
            key_id,
            now,
            by,
            "key.updated",
            |k| {
                // Self-service only narrows; widening is the operator's alone.
                if self_service {
                    delegation::check_narrowing(&k.record, settings)?;
                }
                keystate::update(k, settings, now)
            },
            |_| data,
        )
        .await
    }

    /// Apply one transition to a key: store and replicate it and log `kind` if it changed
    /// anything; answer with the key as it now is.
    #[allow(clippy::too_many_arguments)]
    async fn change(
        &self,
        account: &str,
        key_id: &str,
        now: UnixSeconds,
        by: &Principal,
        kind: &str,
        transition: impl FnOnce(&StoredKey) -> Result<StoredKey, Error>,
        data: impl FnOnce(&StoredKey) -> serde_json::Value,
    ) -> Result<KeyObject, Error> {
        let old = self.load_in_scope(account, key_id, by, now).await?;
        let next = transition(&old)?;
        if next == old {
            return Ok(KeyObject::from_stored(&old, now));
        }
        let next = self.commit(next).await?;
        self.log(kind, &next.record, &by.actor(), now, data(&next)).await?;
        Ok(KeyObject::from_stored(&next, now))
    }

    /// Record that a key was seen exposed (`plain_http`, `secret_key_in_browser`); with `expire`,
    /// also end it now. Only the first sighting is logged.
    pub async fn exposed(
        &self,
        account: &str,
        key_id: &str,
        reason: &str,
        expire: bool,
        now: UnixSeconds,
    ) -> Result<(), Error> {
        let old = self.load(account, key_id).await?;
        let marked = keystate::mark_exposed(&old, reason, now);
        if marked != old {
            self.save(&marked).await?;
            self.log(
                "key.exposed",
                &marked.record,
                &Actor::system(),
                now,
                serde_json::json!({ "reason": reason }),
            )
            .await?;
        }
        if expire {
            let ended = keystate::expire(&marked, now);
            if ended != marked {
                let ended = self.commit(ended).await?;
                let data = serde_json::json!({ "expires_at": ended.record.expires_at, "reason": reason });
                self.log("key.expired", &ended.record, &Actor::system(), now, data).await?;
            }
        }
        Ok(())
    }

    /// One key.
    pub async fn get(&self, account: &str, key_id: &str, now: UnixSeconds) -> Result<KeyObject, Error> {
        Ok(KeyObject::from_stored(&self.load(account, key_id).await?, now))
    }

    /// All of the account's keys, newest first.
    pub async fn list(&self, account: &str, now: UnixSeconds) -> Result<Vec<KeyObject>, Error> {
        let mut keys: Vec<KeyObject> = self
            .all_keys()
            .await?
            .iter()
            .filter(|k| k.record.account == account)
            .map(|k| KeyObject::from_stored(k, now))
            .collect();
        keys.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.id.cmp(&b.id)));
        Ok(keys)
    }

    /// The keys `by` may see, newest first: all of the account's for the operator and for an
    /// unrestricted key; for a key with restrictions, those at least as restricted as itself.
    pub async fn list_in_scope(
        &self,
        account: &str,
        by: &Principal,
        now: UnixSeconds,
    ) -> Result<Vec<KeyObject>, Error> {
        let bound = self.caller_bound(account, by, now).await?;
        let mut keys: Vec<KeyObject> = self
            .all_keys()
            .await?
            .iter()
            .filter(|k| k.record.account == account)
            .filter(|k| bound.as_ref().is_none_or(|c| delegation::within(&k.record, c)))
            .map(|k| KeyObject::from_stored(k, now))
            .collect();
        keys.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.id.cmp(&b.id)));
        Ok(keys)
    }

    /// The key `key_id`, if `by` may act on it: [`Error::KeyOutOfScope`] when a restricted
    /// caller names a key less restricted than itself.
    pub async fn load_in_scope(
        &self,
        account: &str,
        key_id: &str,
        by: &Principal,
        now: UnixSeconds,
    ) -> Result<StoredKey, Error> {
        let bound = self.caller_bound(account, by, now).await?;
        let key = self.load(account, key_id).await?;
        match bound {
            Some(caller) if !delegation::within(&key.record, &caller) => Err(Error::KeyOutOfScope),
            _ => Ok(key),
        }
    }

    /// What bounds `by`'s reach: nothing for the operator and for an unrestricted key; the
    /// caller's own current record for a key with restrictions. The caller is read here, in the
    /// same step as the change it asks for, so a caller revoked or narrowed a moment ago is held
    /// to what it is now.
    async fn caller_bound(
        &self,
        account: &str,
        by: &Principal,
        now: UnixSeconds,
    ) -> Result<Option<KeyRecord>, Error> {
        let Principal::Key { key_id, digest } = by else { return Ok(None) };
        let caller = self.load(account, key_id).await?;
        let redacted = caller.record.redacted();
        if &caller.digest != digest || caller.record.key_type != crate::key::KeyType::Secret {
            return Err(Error::ApiKeyInvalid { redacted });
        }
        match caller.status_at(now) {
            KeyStatus::Revoked => return Err(Error::ApiKeyRevoked { redacted }),
            KeyStatus::Expired => {
                return Err(Error::ApiKeyExpired {
                    redacted,
                    expired_at: caller.record.expires_at.unwrap_or(now),
                    rolled: caller.record.rolled_at.is_some(),
                });
            }
            KeyStatus::Active | KeyStatus::Rolling => {}
        }
        Ok(delegation::restricted(&caller.record).then_some(caller.record))
    }

    /// Refuse a new key when the object holds [`Limits::max_keys`] already.
    async fn check_room(&self) -> Result<(), Error> {
        let stored = self.state.list("key:", None, false, None).await.map_err(store_error)?.len();
        if stored >= self.limits.max_keys {
            return Err(Error::KeyLimitReached { limit: self.limits.max_keys });
        }
        Ok(())
    }

    /// The audit log, newest first, a page at a time.
    pub async fn events(&self, account: &str, page: &Page) -> Result<List<Event>, Error> {
        let end =
            page.starting_after.as_deref().and_then(parse_event_id).map(|seq| format!("event:{seq:012}"));
        let rows = self
            .state
            .list("event:", end.as_deref(), true, Some(page.limit + 1))
            .await
            .map_err(store_error)?;
        let mut data = Vec::with_capacity(rows.len());
        for (_, text) in rows {
            let e: Event = serde_json::from_str(&text).map_err(|_| Error::RecordCorrupt)?;
            if e.account == account {
                data.push(e);
            }
        }
        let has_more = data.len() > page.limit;
        data.truncate(page.limit);
        Ok(List { object: "list".into(), data, has_more })
    }

    /// The authoritative record of `key_id`, for strict keys: it must also be stored under
    /// `digest`, or the request did not present this key.
    pub async fn verify(&self, account: &str, key_id: &str, digest: &KeyDigest) -> Result<KeyRecord, Error> {
        let key = self.load(account, key_id).await?;
        if &key.digest != digest {
            return Err(Error::NotFound { what: "key".into() });
        }
        Ok(key.record)
    }

    /// Count use of a key (reported by the edge, coalesced).
    pub async fn record_usage(
        &self,
        account: &str,
        key_id: &str,
        at: UnixSeconds,
        count: u64,
    ) -> Result<(), Error> {
        let key = self.load(account, key_id).await?;
        self.save(&keystate::record_usage(&key, at, count)).await
    }

    /// Catch up: store expiries whose time has come, retry every KV write not yet acknowledged.
    /// Returns when to run again: the next pending expiry, or soon if KV still disagrees.
    pub async fn sync(&self, now: UnixSeconds) -> Result<Option<UnixSeconds>, Error> {
        let ids: Vec<(String, String)> =
            self.all_keys().await?.into_iter().map(|k| (k.record.account, k.record.id)).collect();
        for (account, id) in ids {
            // Read again here, after the KV writes of the keys before it: never act on a copy
            // read before an await on anything but this object's own storage.
            let key = match self.load(&account, &id).await {
                Ok(k) => k,
                Err(Error::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            if key.purge_due(now) {
                self.purge(&key).await?;
                continue;
            }
            let next = keystate::advance(&key, now);
            if next != key {
                let next = self.commit(next).await?;
                let data =
                    serde_json::json!({ "expires_at": next.record.expires_at, "reason": "expires_at" });
                self.log("key.expired", &next.record, &Actor::system(), now, data).await?;
            } else if !key.kv_synced {
                self.replicate(key).await?;
            }
        }
        self.next_alarm(now).await
    }

    /// When the alarm should next run: soon while any key awaits KV, else at the next expiry.
    pub async fn next_alarm(&self, now: UnixSeconds) -> Result<Option<UnixSeconds>, Error> {
        let keys = self.all_keys().await?;
        let retry = keys.iter().any(|k| !k.kv_synced).then_some(now + KV_RETRY_SECONDS);
        let expiry = keys.iter().filter_map(|k| k.next_change(now)).min();
        let purge = keys.iter().filter_map(|k| k.ended_at.map(|t| (t + ENDED_RETENTION).max(now))).min();
        Ok([retry, expiry, purge].into_iter().flatten().min())
    }

    /// Remove a key that ended more than [`ENDED_RETENTION`] ago: from KV first, then from the
    /// object's storage, so a failed KV delete is retried by the next alarm.
    async fn purge(&self, key: &StoredKey) -> Result<(), Error> {
        if self.kv.delete(key.record.mode, &key.digest).await.is_err() {
            return Ok(());
        }
        self.state.delete(&format!("key:{}", key.record.id)).await.map_err(store_error)
    }

    /// The key `key_id` of `account`. Another account's key is "not found", never "forbidden".
    pub async fn load(&self, account: &str, key_id: &str) -> Result<StoredKey, Error> {
        let text = self.state.get(&format!("key:{key_id}")).await.map_err(store_error)?;
        let key: StoredKey = match text {
            Some(t) => serde_json::from_str(&t).map_err(|_| Error::RecordCorrupt)?,
            None => return Err(Error::NotFound { what: "key".into() }),
        };
        if key.record.account != account {
            return Err(Error::NotFound { what: "key".into() });
        }
        Ok(key)
    }

    async fn all_keys(&self) -> Result<Vec<StoredKey>, Error> {
        let rows = self.state.list("key:", None, false, None).await.map_err(store_error)?;
        rows.iter().map(|(_, t)| serde_json::from_str(t).map_err(|_| Error::RecordCorrupt)).collect()
    }

    async fn save(&self, key: &StoredKey) -> Result<(), Error> {
        let json = serde_json::to_string(key).map_err(|_| Error::Internal { what: "encoding a key" })?;
        self.state.put(&format!("key:{}", key.record.id), &json).await.map_err(store_error)
    }

    /// Store first, then replicate.
    async fn commit(&self, key: StoredKey) -> Result<StoredKey, Error> {
        if key.kv_synced {
            return Ok(key);
        }
        self.save(&key).await?;
        self.replicate(key).await
    }

    /// Write the record to KV, then record the outcome on the key **as it is stored now**, read
    /// again after the KV write: never on the copy from before it, which another change may
    /// have replaced meanwhile. If the stored record is still the one written, and KV
    /// acknowledged it, the key is synced. If another change landed meanwhile, KV may now hold
    /// this older record over the newer one, so the key is marked unsynced and the alarm writes
    /// the current record again. A KV failure is not an error here: the alarm retries.
    async fn replicate(&self, key: StoredKey) -> Result<StoredKey, Error> {
        let written = self.kv.put(key.record.mode, &key.digest, &key.record.to_json()).await.is_ok();
        let mut current = self.load(&key.record.account, &key.record.id).await?;
        let same = current.record == key.record && current.digest == key.digest;
        let synced = same && written;
        if current.kv_synced != synced {
            current.kv_synced = synced;
            self.save(&current).await?;
        }
        Ok(current)
    }

    async fn log(
        &self,
        kind: &str,
        record: &KeyRecord,
        actor: &Actor,
        now: UnixSeconds,
        data: serde_json::Value,
    ) -> Result<(), Error> {
        let last = self.state.get("meta:event_seq").await.map_err(store_error)?;
        let seq = last.and_then(|s| s.parse::<u64>().ok()).unwrap_or(0) + 1;
        let event = Event {
            id: event_id(seq),
            object: "event".into(),
            kind: kind.into(),
            account: record.account.clone(),
            mode: record.mode,
            key_id: record.id.clone(),
            actor: actor.0.clone(),
            created_at: now,
            data,
        };
        let json =
            serde_json::to_string(&event).map_err(|_| Error::Internal { what: "encoding an event" })?;
        self.state.put(&format!("event:{seq:012}"), &json).await.map_err(store_error)?;
        self.state.put("meta:event_seq", &seq.to_string()).await.map_err(store_error)?;
        // Retention: the newest `max_events` events are kept; each new one removes the oldest.
        if let Some(gone) = seq.checked_sub(self.limits.max_events).filter(|g| *g > 0) {
            self.state.delete(&format!("event:{gone:012}")).await.map_err(store_error)?;
        }
        Ok(())
    }
}

fn store_error(e: StoreError) -> Error {
    match e {
        StoreError::Misconfigured(what) => Error::Misconfigured { what },
        StoreError::Failed(_) | StoreError::Timeout => Error::StoreUnavailable,
    }
}

/// Something a fake runs in the middle of a write: another command, as a platform that lets
/// other events in while a write is in flight would.
pub type Hook = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()>>>>;

/// In-memory [`StateStore`] for tests, with fault injection.
#[derive(Debug, Default)]
pub struct MemoryState {
    data: RefCell<BTreeMap<String, String>>,
    /// When set, every operation fails with it.
    pub fault: RefCell<Option<StoreError>>,
    /// When set, the next `put` stores its value and then fails ("the write landed but the call
    /// failed"); it is cleared by that put.
    pub landed_but_failed: RefCell<bool>,
}

impl MemoryState {
    /// Empty.
    pub fn new() -> Self {
        Self::default()
    }
}

impl StateStore for MemoryState {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        if let Some(f) = self.fault.borrow().clone() {
            return Err(f);
        }
        Ok(self.data.borrow().get(key).cloned())
    }

    async fn put(&self, key: &str, value: &str) -> Result<(), StoreError> {
        if let Some(f) = self.fault.borrow().clone() {
            return Err(f);
        }
        self.data.borrow_mut().insert(key.to_owned(), value.to_owned());
        if self.landed_but_failed.replace(false) {
            return Err(StoreError::Failed("injected: the write landed but the call failed".into()));
        }
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        if let Some(f) = self.fault.borrow().clone() {
            return Err(f);
        }
        self.data.borrow_mut().remove(key);
        Ok(())
    }

    async fn list(
        &self,
        prefix: &str,
        end: Option<&str>,
        reverse: bool,
        limit: Option<usize>,
    ) -> Result<Vec<(String, String)>, StoreError> {
        if let Some(f) = self.fault.borrow().clone() {
            return Err(f);
        }
        let data = self.data.borrow();
        let matching =
            data.iter().filter(|(k, _)| k.starts_with(prefix) && end.is_none_or(|e| k.as_str() < e));
        let rows: Vec<(String, String)> = if reverse {
            matching.rev().map(|(k, v)| (k.clone(), v.clone())).collect()
        } else {
            matching.map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        Ok(rows.into_iter().take(limit.unwrap_or(usize::MAX)).collect())
    }
}

/// In-memory [`RecordWriter`] for tests: remembers what KV holds, and fails on demand: every
/// write while `failing`; the next write after it landed with `landed_but_failed`; and it runs
/// `during_put` (another command) while the next write is in flight, before it lands.
#[derive(Default)]
pub struct MemoryKv {
    /// (mode, digest) → record JSON.
    pub data: RefCell<HashMap<(Mode, String), String>>,
    /// When true, every write fails.
    pub failing: RefCell<bool>,
    /// When true, the next write lands and then reports failure (cleared by it).
    pub landed_but_failed: RefCell<bool>,
    /// Run once, in the middle of the next write, before its value lands.
    pub during_put: RefCell<Option<Hook>>,
    /// How many writes were attempted.
    pub attempts: RefCell<usize>,
}

impl std::fmt::Debug for MemoryKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryKv").field("data", &self.data).field("attempts", &self.attempts).finish()
    }
}

impl MemoryKv {
    /// The record KV holds for `digest`, parsed.
    pub fn record(&self, mode: Mode, digest: &KeyDigest) -> Option<KeyRecord> {
        self.data.borrow().get(&(mode, digest.0.clone())).and_then(|s| KeyRecord::from_json(s).ok())
    }

    /// The status KV holds for `digest`.
    pub fn status(&self, mode: Mode, digest: &KeyDigest) -> Option<KeyStatus> {
        self.record(mode, digest).map(|r| r.status)
    }
}

impl RecordWriter for MemoryKv {
    async fn put(&self, mode: Mode, digest: &KeyDigest, record: &str) -> Result<(), StoreError> {
        *self.attempts.borrow_mut() += 1;
        let hook = self.during_put.borrow_mut().take();
        if let Some(hook) = hook {
            hook().await;
        }
        if *self.failing.borrow() {
            return Err(StoreError::Failed("injected KV failure".into()));
        }
        self.data.borrow_mut().insert((mode, digest.0.clone()), record.to_owned());
        if self.landed_but_failed.replace(false) {
            return Err(StoreError::Failed("injected: the write landed but the call failed".into()));
        }
        Ok(())
    }

    async fn delete(&self, mode: Mode, digest: &KeyDigest) -> Result<(), StoreError> {
        if *self.failing.borrow() {
            return Err(StoreError::Failed("injected KV failure".into()));
        }
        self.data.borrow_mut().remove(&(mode, digest.0.clone()));
        Ok(())
    }
}

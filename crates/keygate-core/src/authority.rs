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

use crate::Error;
use crate::admin::{CreateKey, KeyObject, KeySettings, List, Page};
use crate::clock::UnixSeconds;
use crate::digest::{KeyDigest, Pepper};
use crate::key::Mode;
use crate::keystate::{self, StoredKey};
use crate::record::{KeyRecord, KeyStatus};
use crate::rng::Rng;
use crate::store::StoreError;

/// Seconds between KV replication retries.
pub const KV_RETRY_SECONDS: i64 = 5;

/// The Durable Object's own transactional storage, as JSON text values.
#[allow(async_fn_in_trait)]
pub trait StateStore {
    /// The value at `key`.
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Store `value` at `key`.
    async fn put(&self, key: &str, value: &str) -> Result<(), StoreError>;
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
        actor: &Actor,
    ) -> Result<KeyObject, Error> {
        let old = self.load(account, key_id).await?;
        let (retired, successor) = keystate::roll(&old, grace, pepper, rng, now)?;
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
        actor: &Actor,
    ) -> Result<KeyObject, Error> {
        self.change(
            account,
            key_id,
            now,
            actor,
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
        actor: &Actor,
    ) -> Result<KeyObject, Error> {
        self.change(
            account,
            key_id,
            now,
            actor,
            "key.revoked",
            |k| Ok(keystate::revoke(k)),
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
        actor: &Actor,
    ) -> Result<KeyObject, Error> {
        let data = serde_json::to_value(settings).unwrap_or_default();
        self.change(
            account,
            key_id,
            now,
            actor,
            "key.updated",
            |k| keystate::update(k, settings, now),
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
        actor: &Actor,
        kind: &str,
        transition: impl FnOnce(&StoredKey) -> Result<StoredKey, Error>,
        data: impl FnOnce(&StoredKey) -> serde_json::Value,
    ) -> Result<KeyObject, Error> {
        let old = self.load(account, key_id).await?;
        let next = transition(&old)?;
        if next == old {
            return Ok(KeyObject::from_stored(&old, now));
        }
        let next = self.commit(next).await?;
        self.log(kind, &next.record, actor, now, data(&next)).await?;
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
        for key in self.all_keys().await? {
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
        Ok([retry, expiry].into_iter().flatten().min())
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

    /// Write the record to KV; on success, remember that KV has it. A KV failure is not an error
    /// here: the key stays unsynced and the alarm retries.
    async fn replicate(&self, mut key: StoredKey) -> Result<StoredKey, Error> {
        if self.kv.put(key.record.mode, &key.digest, &key.record.to_json()).await.is_ok() {
            key.kv_synced = true;
            self.save(&key).await?;
        }
        Ok(key)
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
        self.state.put("meta:event_seq", &seq.to_string()).await.map_err(store_error)
    }
}

fn store_error(e: StoreError) -> Error {
    match e {
        StoreError::Misconfigured(what) => Error::Misconfigured { what },
        StoreError::Failed(_) | StoreError::Timeout => Error::StoreUnavailable,
    }
}

/// In-memory [`StateStore`] for tests, with fault injection.
#[derive(Debug, Default)]
pub struct MemoryState {
    data: RefCell<BTreeMap<String, String>>,
    /// When set, every operation fails with it.
    pub fault: RefCell<Option<StoreError>>,
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

/// In-memory [`RecordWriter`] for tests: remembers what KV holds, and fails while `failing`.
#[derive(Debug, Default)]
pub struct MemoryKv {
    /// (mode, digest) → record JSON.
    pub data: RefCell<HashMap<(Mode, String), String>>,
    /// When true, every write fails.
    pub failing: RefCell<bool>,
    /// How many writes were attempted.
    pub attempts: RefCell<usize>,
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
        if *self.failing.borrow() {
            return Err(StoreError::Failed("injected KV failure".into()));
        }
        self.data.borrow_mut().insert((mode, digest.0.clone()), record.to_owned());
        Ok(())
    }
}

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

use crate::Error;
use crate::clock::UnixSeconds;
use crate::commands::ports::{RecordWriter, StateStore};
use crate::domain::digest::{KeyDigest, Pepper};
use crate::domain::event::{Actor, Event, EventPage, Page};
use crate::domain::ids::{event_id, parse_event_id};
use crate::domain::key::ApiKey;
use crate::domain::keystate::{self, ENDED_RETENTION, StoredKey};
use crate::domain::record::{KeyRecord, KeyStatus};
use crate::domain::settings::{CreateKey, KeySettings};
use crate::policy::delegation;
use crate::rng::Rng;
use crate::store::StoreError;

/// Seconds between KV replication retries.
pub const KV_RETRY_SECONDS: i64 = 5;

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

/// Who asks for a change to a key: the operator, or a key of the account (self-service), whose
/// own current record then bounds what it may act on (see [`crate::policy::delegation`]).
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

/// A key just made (created, or a roll's successor), with its secret: shown once, in the answer.
#[derive(Debug)]
pub struct Created {
    /// What the authority stores.
    pub key: StoredKey,
    /// The raw key (redacted in `Debug`).
    pub secret: ApiKey,
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
    ) -> Result<Created, Error> {
        self.check_room().await?;
        let new = keystate::create(account, params, pepper, rng, now)?;
        let stored = self.commit(new.stored).await?;
        let data =
            serde_json::json!({ "type": stored.record.key_type, "expires_at": stored.record.expires_at });
        self.log("key.created", &stored.record, actor, now, data).await?;
        Ok(Created { key: stored, secret: new.key })
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
    ) -> Result<Created, Error> {
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
        Ok(Created { key: stored, secret: successor.key })
    }

    /// End a key now.
    pub async fn expire(
        &self,
        account: &str,
        key_id: &str,
        now: UnixSeconds,
        by: &Principal,
    ) -> Result<StoredKey, Error> {
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
    ) -> Result<StoredKey, Error> {
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
    ) -> Result<StoredKey, Error> {
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
    ) -> Result<StoredKey, Error> {
        let old = self.load_in_scope(account, key_id, by, now).await?;
        let next = transition(&old)?;
        if next == old {
            return Ok(old);
        }
        let next = self.commit(next).await?;
        self.log(kind, &next.record, &by.actor(), now, data(&next)).await?;
        Ok(next)
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

    /// The keys `by` may see, newest first: all of the account's for the operator and for an
    /// unrestricted key; for a key with restrictions, those at least as restricted as itself.
    pub async fn list_in_scope(
        &self,
        account: &str,
        by: &Principal,
        now: UnixSeconds,
    ) -> Result<Vec<StoredKey>, Error> {
        let bound = self.caller_bound(account, by, now).await?;
        let mut keys: Vec<StoredKey> = self
            .all_keys()
            .await?
            .iter()
            .filter(|k| k.record.account == account)
            .filter(|k| bound.as_ref().is_none_or(|c| delegation::within(&k.record, c)))
            .cloned()
            .collect();
        keys.sort_by(|a, b| {
            b.record.created_at.cmp(&a.record.created_at).then_with(|| a.record.id.cmp(&b.record.id))
        });
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
        if &caller.digest != digest || caller.record.key_type != crate::domain::key::KeyType::Secret {
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
    pub async fn events(&self, account: &str, page: &Page) -> Result<EventPage, Error> {
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
        Ok(EventPage { data, has_more })
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

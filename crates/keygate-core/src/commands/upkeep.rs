//! The authority's writes and upkeep: storage first, then KV, with the acknowledgement recorded
//! on the key as stored after the KV write; the audit log with its retention; and the alarm's
//! catch-up (expiries, KV retries, removal of keys that ended long ago).

use crate::Error;
use crate::clock::UnixSeconds;
use crate::commands::authority::{Authority, KV_RETRY_SECONDS};
use crate::commands::ports::{RecordWriter, StateStore};
use crate::domain::event::Actor;
use crate::domain::event::Event;
use crate::domain::ids::event_id;
use crate::domain::keystate::{self, ENDED_RETENTION, StoredKey};

impl<S: StateStore, W: RecordWriter> Authority<'_, S, W> {
    /// Catch up: store expiries whose time has come, retry every KV write not yet acknowledged.
    /// Returns when to run again: the next pending expiry, or soon if KV still disagrees.
    pub async fn sync(&self, now: UnixSeconds) -> Result<Option<UnixSeconds>, Error> {
        let keys = self.all_keys().await?;
        self.ensure_index(Some(keys.len())).await?;
        self.portal_upkeep(now).await?;
        let ids: Vec<(String, String)> = keys.into_iter().map(|k| (k.record.account, k.record.id)).collect();
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
            let key = self.drop_retired(key, now).await?;
            // Credits refill on time, traffic or not.
            let refilled = keystate::refill(&key, now);
            if refilled != key {
                self.save(&refilled).await?;
                let data = serde_json::json!({ "credits": refilled.credits.map(|c| c.remaining) });
                self.log("key.credits_refilled", &refilled, &Actor::system(), now, data).await?;
            }
            let key = refilled;
            // The notices before an expiry (webhooks only: a notice changes nothing).
            let key = match keystate::expiring_due(&key, now).filter(|_| self.limits.webhooks) {
                Some(days) => {
                    let noticed = keystate::mark_expiring(&key, days);
                    self.save(&noticed).await?;
                    let at = noticed.record.expires_at.unwrap_or(now);
                    let data = serde_json::json!({ "expires_at": at, "days": keystate::days_left(at, now) });
                    self.enqueue("key.expiring", &noticed, data, now).await?;
                    noticed
                }
                None => key,
            };
            let next = keystate::advance(&key, now);
            if next != key {
                let data =
                    serde_json::json!({ "expires_at": next.record.expires_at, "reason": "expires_at" });
                self.commit_logged(next, "key.expired", &Actor::system(), now, data).await?;
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
        let retired = keys.iter().filter_map(|k| k.retired.as_ref().map(|r| r.until.max(now))).min();
        let refill = keys.iter().filter_map(|k| keystate::next_refill(k).map(|t| t.max(now))).min();
        let (notice, delivery) = if self.limits.webhooks {
            let notice = keys.iter().filter_map(|k| keystate::next_expiring_notice(k, now)).min();
            (notice, self.next_delivery().await?.map(|t| t.max(now)))
        } else {
            (None, None)
        };
        let portal = self.portal_next().await?;
        Ok([retry, expiry, purge, retired, refill, notice, delivery, portal].into_iter().flatten().min())
    }

    /// Remove a key that ended more than [`ENDED_RETENTION`] ago: from KV first, then from the
    /// object's storage, so a failed KV delete is retried by the next alarm.
    pub(crate) async fn purge(&self, key: &StoredKey) -> Result<(), Error> {
        if self.kv.delete(key.record.mode, &key.digest).await.is_err() {
            return Ok(());
        }
        if let Some(r) = &key.retired
            && self.kv.delete(key.record.mode, &r.digest).await.is_err()
        {
            return Ok(());
        }
        if let Some(imported) = &key.imported {
            self.state.delete(&format!("lookup:{}", key.digest.as_str())).await.map_err(Error::from)?;
            if let Some(alias) = &imported.alias {
                self.state.delete(&format!("lookup:{}", alias.as_str())).await.map_err(Error::from)?;
            }
        }
        self.state.delete(&format!("key:{}", key.record.id)).await.map_err(Error::from)?;
        let index = crate::domain::listing::index_name(key.record.created_at, &key.record.id);
        self.state.delete(&index).await.map_err(Error::from)?;
        self.count_indexed(-1).await
    }

    /// Store `key` and record the event `kind` about it (audit log, and webhook outbox), then
    /// replicate it: the change, its event and its webhook are written together, before any I/O
    /// outside the object, so that a fault during or after the KV write cannot lose the event.
    pub(crate) async fn commit_logged(
        &self,
        key: StoredKey,
        kind: &str,
        actor: &Actor,
        now: UnixSeconds,
        data: serde_json::Value,
    ) -> Result<StoredKey, Error> {
        self.save(&key).await?;
        self.log(kind, &key, actor, now, data).await?;
        if key.kv_synced {
            return Ok(key);
        }
        self.replicate(key).await
    }

    /// Write the record to KV, then record the outcome on the key **as it is stored now**, read
    /// again after the KV write: never on the copy from before it, which another change may
    /// have replaced meanwhile. If the stored record is still the one written, and KV
    /// acknowledged it, the key is synced. If another change landed meanwhile, KV may now hold
    /// this older record over the newer one, so the key is marked unsynced and the alarm writes
    /// the current record again. A KV failure is not an error here: the alarm retries.
    pub(crate) async fn replicate(&self, key: StoredKey) -> Result<StoredKey, Error> {
        let json = key.record.to_json();
        let mut written = self.kv.put(key.record.mode, &key.digest, &json).await.is_ok();
        // An outdated digest's entry, while kept, follows every change: an edge location that
        // still finds the key by it must not find an older state.
        if let Some(r) = &key.retired {
            written &= self.kv.put(key.record.mode, &r.digest, &json).await.is_ok();
        }
        let mut current = self.load(&key.record.account, &key.record.id).await?;
        let same =
            current.record == key.record && current.digest == key.digest && current.retired == key.retired;
        let synced = same && written;
        if current.kv_synced != synced {
            current.kv_synced = synced;
            self.save(&current).await?;
        }
        Ok(current)
    }

    /// Record the event `kind` about `key` (as stored) in the audit log, and, when webhooks are
    /// on, in the outbox with the key as it is.
    pub(crate) async fn log(
        &self,
        kind: &str,
        key: &StoredKey,
        actor: &Actor,
        now: UnixSeconds,
        data: serde_json::Value,
    ) -> Result<(), Error> {
        let last = self.state.get("meta:event_seq").await.map_err(Error::from)?;
        let seq = last.and_then(|s| s.parse::<u64>().ok()).unwrap_or(0) + 1;
        let event = Event {
            id: event_id(seq),
            object: "event".into(),
            kind: kind.into(),
            account: key.record.account.clone(),
            mode: key.record.mode,
            key_id: key.record.id.clone(),
            actor: actor.0.clone(),
            created_at: now,
            data,
        };
        let json =
            serde_json::to_string(&event).map_err(|_| Error::Internal { what: "encoding an event" })?;
        self.state.put(&format!("event:{seq:012}"), &json).await.map_err(Error::from)?;
        self.state.put("meta:event_seq", &seq.to_string()).await.map_err(Error::from)?;
        // Retention: the newest `max_events` events are kept; each new one removes the oldest.
        if let Some(gone) = seq.checked_sub(self.limits.max_events).filter(|g| *g > 0) {
            self.state.delete(&format!("event:{gone:012}")).await.map_err(Error::from)?;
        }
        // The webhook, in the same storage and step as the audit event.
        self.enqueue(kind, key, event.data, now).await
    }

    pub(crate) async fn save(&self, key: &StoredKey) -> Result<(), Error> {
        let json = serde_json::to_string(key).map_err(|_| Error::Internal { what: "encoding a key" })?;
        self.state.put(&format!("key:{}", key.record.id), &json).await.map_err(Error::from)
    }
}

//! The authority's reads: a key and the caller's reach over it (self-service scope), lists,
//! the audit log, the room left for new keys, and the authoritative record for the edge.

use crate::Error;
use crate::clock::UnixSeconds;
use crate::commands::authority::{Authority, Principal, store_error};
use crate::commands::ports::{RecordWriter, StateStore};
use crate::domain::digest::KeyDigest;
use crate::domain::event::{Event, EventPage, Page};
use crate::domain::ids::parse_event_id;
use crate::domain::keystate::StoredKey;
use crate::domain::record::{KeyRecord, KeyStatus};
use crate::policy::delegation;

impl<S: StateStore, W: RecordWriter> Authority<'_, S, W> {
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
    pub(crate) async fn caller_bound(
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
    pub(crate) async fn check_room(&self) -> Result<(), Error> {
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

    pub(crate) async fn all_keys(&self) -> Result<Vec<StoredKey>, Error> {
        let rows = self.state.list("key:", None, false, None).await.map_err(store_error)?;
        rows.iter().map(|(_, t)| serde_json::from_str(t).map_err(|_| Error::RecordCorrupt)).collect()
    }
}

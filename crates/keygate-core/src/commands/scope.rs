//! The authority's reads: a key and the caller's reach over it (self-service scope), lists,
//! the audit log, the room left for new keys, and the authoritative record for the edge.

use crate::Error;
use crate::clock::UnixSeconds;
use crate::commands::authority::{Authority, Principal};
use crate::commands::ports::{RecordWriter, StateStore};
use crate::domain::digest::KeyDigest;
use crate::domain::event::{Event, EventPage, Page};
use crate::domain::ids::parse_event_id;
use crate::domain::keystate::StoredKey;
use crate::domain::listing::{self, KeyQuery};
use crate::domain::record::{KeyRecord, KeyStatus};
use crate::policy::delegation;

/// Index entries read at a time while filling a page.
const INDEX_CHUNK: usize = 128;
/// Set once the index covers every stored key.
const INDEX_MARK: &str = "meta:index";

impl<S: StateStore, W: RecordWriter> Authority<'_, S, W> {
    /// One page of the keys `by` may see, newest first, and whether more follow: all of the
    /// account's for the operator and for an unrestricted key; for a key with restrictions,
    /// those at least as restricted as itself. Read from the index a chunk at a time: a page
    /// reads the index entries up to its last key and the keys that may match, never the
    /// whole account.
    pub async fn list_page(
        &self,
        account: &str,
        by: &Principal,
        query: &KeyQuery,
        now: UnixSeconds,
    ) -> Result<(Vec<StoredKey>, bool), Error> {
        let bound = self.caller_bound(account, by, now).await?;
        self.ensure_index(None).await?;
        let limit = query.limit.clamp(1, listing::MAX_LIMIT);
        let mut keys = Vec::with_capacity(limit + 1);
        let mut start = query.start();
        loop {
            let rows = self
                .state
                .scan(listing::INDEX_PREFIX, start.as_deref(), INDEX_CHUNK)
                .await
                .map_err(Error::from)?;
            let last_chunk = rows.len() < INDEX_CHUNK;
            for (name, value) in rows {
                start = Some(format!("{name}\u{0}"));
                if !query.may_match(&value) {
                    continue;
                }
                let key = match self.load(account, listing::id_of(&name)).await {
                    // An entry is only ever the one its key was indexed under.
                    Ok(k) if listing::index_name(k.record.created_at, &k.record.id) == name => k,
                    // Removed since the entry was read, another account's, or a stray entry:
                    // not listed.
                    Ok(_) | Err(Error::NotFound { .. }) => continue,
                    Err(e) => return Err(e),
                };
                if !query.matches(&key, now)
                    || bound.as_ref().is_some_and(|c| !delegation::within(&key.record, c))
                    || (key.record.canary && !matches!(by, Principal::Operator))
                {
                    continue;
                }
                keys.push(key);
                if keys.len() > limit {
                    keys.truncate(limit);
                    return Ok((keys, true));
                }
            }
            if last_chunk {
                return Ok((keys, false));
            }
        }
    }

    /// The index of keys by creation: written once for the keys stored before it existed (a
    /// deployment that upgraded), then kept as keys are made and removed. Its mark counts the
    /// keys it was told of; given how many keys are stored (`stored`, which creates and the
    /// alarm know anyway), a count short of it means keys were made by a version that kept no
    /// index (a rollback, then forward again), and the index is completed.
    pub(crate) async fn ensure_index(&self, stored: Option<usize>) -> Result<(), Error> {
        let mark = self.state.get(INDEX_MARK).await.map_err(Error::from)?;
        if let Some(count) = mark.and_then(|m| m.parse::<usize>().ok())
            && stored.is_none_or(|stored| count >= stored)
        {
            return Ok(());
        }
        let keys = self.all_keys().await?;
        for key in &keys {
            self.index(&key.record).await?;
        }
        self.state.put(INDEX_MARK, &keys.len().to_string()).await.map_err(Error::from)
    }

    /// Index a new key, and count it in the index's mark.
    pub(crate) async fn index_new(&self, record: &KeyRecord) -> Result<(), Error> {
        self.index(record).await?;
        self.count_indexed(1).await
    }

    /// Change the index mark's count by `by` (a key made or removed).
    pub(crate) async fn count_indexed(&self, by: isize) -> Result<(), Error> {
        let mark = self.state.get(INDEX_MARK).await.map_err(Error::from)?;
        let Some(count) = mark.and_then(|m| m.parse::<usize>().ok()) else { return Ok(()) };
        let count = count.saturating_add_signed(by);
        self.state.put(INDEX_MARK, &count.to_string()).await.map_err(Error::from)
    }

    /// Write `record`'s index entry (its value never changes, so writing it again is harmless).
    pub(crate) async fn index(&self, record: &KeyRecord) -> Result<(), Error> {
        let name = listing::index_name(record.created_at, &record.id);
        self.state.put(&name, &listing::index_value(record)).await.map_err(Error::from)
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
        // A canary is the operator's secret: to a key of the account (which may be stolen) it
        // does not exist.
        if key.record.canary && !matches!(by, Principal::Operator) {
            return Err(Error::NotFound { what: "key".into() });
        }
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
        if !caller.stored_under(digest) || caller.record.key_type != crate::domain::key::KeyType::Secret {
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
    /// Refuse a new key when the account is full; else how many keys are stored.
    pub(crate) async fn check_room(&self) -> Result<usize, Error> {
        let stored = self.state.list("key:", None, false, None).await.map_err(Error::from)?.len();
        if stored >= self.limits.max_keys {
            return Err(Error::KeyLimitReached { limit: self.limits.max_keys });
        }
        Ok(stored)
    }

    /// The audit log, newest first, a page at a time.
    pub async fn events(&self, account: &str, page: &Page) -> Result<EventPage, Error> {
        let end =
            page.starting_after.as_deref().and_then(parse_event_id).map(|seq| format!("event:{seq:012}"));
        let rows = self
            .state
            .list("event:", end.as_deref(), true, Some(page.limit + 1))
            .await
            .map_err(Error::from)?;
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
        if !key.stored_under(digest) {
            return Err(Error::NotFound { what: "key".into() });
        }
        Ok(key.record)
    }

    /// The key `key_id` of `account`. Another account's key is "not found", never "forbidden".
    pub async fn load(&self, account: &str, key_id: &str) -> Result<StoredKey, Error> {
        let text = self.state.get(&format!("key:{key_id}")).await.map_err(Error::from)?;
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
        let rows = self.state.list("key:", None, false, None).await.map_err(Error::from)?;
        rows.iter().map(|(_, t)| serde_json::from_str(t).map_err(|_| Error::RecordCorrupt)).collect()
    }
}

//! Moving an API behind keygate: importing existing keys (by their raw secret or their SHA-256
//! hash), re-digesting a key found under an outdated digest (a hash's first use, or a pepper
//! rotation), and what is left of a migration.
//!
//! Storage, besides [`crate::commands::authority`]'s: `lookup:{digest}` → key id, for imported
//! keys only, so that importing the same key twice finds the first (a key keygate made is
//! random, and never collides).

use crate::Error;
use crate::clock::UnixSeconds;
use crate::commands::authority::Authority;
use crate::commands::ports::{RecordWriter, StateStore};
use crate::domain::digest::KeyDigest;
use crate::domain::event::Actor;
use crate::domain::key::random_id;
use crate::domain::key_format::Keyring;
use crate::domain::keystate::{self, ImportKey, ImportedFrom, StoredKey};
use crate::domain::record::KeyStatus;
use crate::rng::Rng;

/// The most items one import takes: each imported key is one KV write from the `KeyStore`, and
/// a Worker invocation may make at most 1000 KV operations (Cloudflare's limit, paid and free
/// plans alike), some of which the duplicate check and retries need.
pub const MAX_IMPORT: usize = 500;

/// One (mode, account)'s migration, as far as its keys show it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct MigrationStatus {
    /// Keys that still work (active or rolling).
    pub keys: usize,
    /// Of those, imported ones.
    pub imported: usize,
    /// Of those, imported as a SHA-256 hash and not used since: only their hash is stored.
    pub awaiting_first_use: usize,
    /// Of the keys that work, those whose digest is still under `KEY_PEPPER_PREVIOUS` (0 when
    /// no rotation is under way): they are re-digested on their next use.
    pub under_previous_pepper: usize,
    /// Outdated digests whose KV entry is still kept beside the current one.
    pub retired_digests: usize,
}

impl<S: StateStore, W: RecordWriter> Authority<'_, S, W> {
    /// Import `items`: one result per item, in order: the key stored, or why not. One item's
    /// failure never affects another; an item is stored whole or not at all (its KV write, like
    /// a create's, is retried by the alarm if it fails).
    pub async fn import(
        &self,
        account: &str,
        items: &[ImportKey],
        keys: &Keyring,
        rng: &mut impl Rng,
        now: UnixSeconds,
        actor: &Actor,
    ) -> Result<Vec<Result<StoredKey, Error>>, Error> {
        if items.len() > MAX_IMPORT {
            return Err(Error::invalid_param(
                "parameter_invalid",
                "keys",
                format!("An import takes at most {MAX_IMPORT} keys; send the rest in further calls."),
            ));
        }
        let mut stored = self.state.list("key:", None, false, None).await.map_err(Error::from)?.len();
        self.ensure_index(Some(stored)).await?;
        let pepper_id = keys.pepper.id();
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some(key_id) = self.imported_as(account, item).await? {
                out.push(Err(Error::KeyAlreadyExists { key_id, param: item.param() }));
                continue;
            }
            if stored >= self.limits.max_keys {
                out.push(Err(Error::KeyLimitReached { limit: self.limits.max_keys }));
                continue;
            }
            let key = keystate::import(account, item, random_id("key_", rng)?, &pepper_id, now);
            // Found by its lookup entry first: a fault after this leaves a key that a second
            // import finds (and reports), never a second copy.
            self.state.put(&lookup_name(&key.digest), &key.record.id).await.map_err(Error::from)?;
            self.state.put(&lookup_name(&item.alias), &key.record.id).await.map_err(Error::from)?;
            self.index_new(&key.record).await?;
            let from =
                if key.digest.is_imported_hash() { ImportedFrom::Sha256 } else { ImportedFrom::Secret };
            let data = serde_json::json!({
                "type": key.record.key_type,
                "expires_at": key.record.expires_at,
                "imported": from,
            });
            out.push(Ok(self.commit_logged(key, "key.created", actor, now, data).await?));
            stored += 1;
        }
        Ok(out)
    }

    /// The edge found `key_id` under an outdated digest (an imported hash, or the previous
    /// pepper's digest) when `secret` was presented: store it under its current digest. The
    /// old KV entry is kept beside the new one until [`crate::commands::authority::Limits`]'s
    /// `retired_keep` has passed. Nothing happens unless `secret` really is the key (its
    /// outdated digest is the stored one), nor for a key already re-digested, nor for a key that
    /// ended; nor while an earlier outdated digest is still kept (an imported hash upgraded just
    /// before a pepper rotation): it is never forgotten with its KV entry left behind, and the
    /// edge asks again a minute later, until the alarm has dropped it. Nor when another key is
    /// already stored under the new digest.
    pub async fn redigest(
        &self,
        account: &str,
        key_id: &str,
        secret: &str,
        keys: &Keyring,
        now: UnixSeconds,
    ) -> Result<(), Error> {
        let key = self.load(account, key_id).await?;
        let current = keys.pepper.digest_str(secret);
        if key.digest == current || !matches!(key.status_at(now), KeyStatus::Active | KeyStatus::Rolling) {
            return Ok(());
        }
        let reason = if key.digest.is_imported_hash() {
            (KeyDigest::sha256_of(secret) == key.digest).then_some("imported_hash_first_use")
        } else {
            keys.previous.as_ref().filter(|p| p.digest_str(secret) == key.digest).map(|_| "pepper_rotation")
        };
        let Some(reason) = reason else { return Ok(()) };
        if key.retired.is_some() {
            return Ok(());
        }
        // Another key stored under the new digest (a copy imported into another account, or one
        // this object stores): nothing is moved onto it. A lookup entry without its key is none.
        if let Some(other) = self.state.get(&lookup_name(&current)).await.map_err(Error::from)?
            && other != key.record.id
            && self.load(account, &other).await.is_ok()
        {
            return Ok(());
        }
        match self.kv.get(key.record.mode, &current).await {
            Ok(None) => {}
            Ok(Some(text)) => {
                let theirs = crate::domain::record::KeyRecord::from_json(&text).ok();
                if theirs.is_none_or(|r| r.id != key.record.id) {
                    return Ok(());
                }
            }
            // Unknown: asked again later (the edge asks once a minute while it finds the key the
            // old way).
            Err(_) => return Ok(()),
        }
        let next = keystate::redigest(&key, current, &keys.pepper.id(), now + self.limits.retired_keep);
        let mut next = next;
        if let Some(imported) = &mut next.imported {
            // Its lookup entries follow it: its digest, and its alias under the current pepper.
            self.state.delete(&lookup_name(&key.digest)).await.map_err(Error::from)?;
            self.state.put(&lookup_name(&next.digest), &next.record.id).await.map_err(Error::from)?;
            if let Some(old) = imported.alias.take() {
                self.state.delete(&lookup_name(&old)).await.map_err(Error::from)?;
            }
            let alias = keys.pepper.hash_alias(&KeyDigest::sha256_of(secret));
            self.state.put(&lookup_name(&alias), &next.record.id).await.map_err(Error::from)?;
            imported.alias = Some(alias);
        }
        let data = serde_json::json!({ "reason": reason });
        self.commit_logged(next, "key.redigested", &Actor::system(), now, data).await?;
        Ok(())
    }

    /// The KV entry of a retired digest whose time has come is deleted, then forgotten; one
    /// whose delete fails is retried by the next alarm.
    pub(crate) async fn drop_retired(&self, key: StoredKey, now: UnixSeconds) -> Result<StoredKey, Error> {
        let Some(retired) = key.retired.clone().filter(|r| r.until <= now) else { return Ok(key) };
        if self.kv.delete(key.record.mode, &retired.digest).await.is_err() {
            return Ok(key);
        }
        // Read again after the KV call: another change may have landed meanwhile.
        let mut current = self.load(&key.record.account, &key.record.id).await?;
        if current.retired.as_ref() == Some(&retired) {
            current.retired = None;
            self.save(&current).await?;
        }
        Ok(current)
    }

    /// What is left of the migration of this (mode, account).
    pub async fn migration_status(&self, keys: &Keyring, now: UnixSeconds) -> Result<MigrationStatus, Error> {
        let previous = keys.previous.as_ref().map(|p| p.id());
        let mut status = MigrationStatus::default();
        for key in self.all_keys().await? {
            status.retired_digests += usize::from(key.retired.is_some());
            if !matches!(key.status_at(now), KeyStatus::Active | KeyStatus::Rolling) {
                continue;
            }
            status.keys += 1;
            status.imported += usize::from(key.imported.is_some());
            let hashed = key.digest.is_imported_hash();
            status.awaiting_first_use += usize::from(hashed);
            // A key stored before peppers had fingerprints was made with the pepper of its day,
            // which a rotation makes the previous one.
            let under_previous = match (&previous, &key.pepper_id) {
                (Some(p), Some(id)) => p == id,
                (Some(_), None) => !hashed,
                (None, _) => false,
            };
            status.under_previous_pepper += usize::from(under_previous);
        }
        Ok(status)
    }
}

impl<S: StateStore, W: RecordWriter> Authority<'_, S, W> {
    /// The id of the key of `account` an earlier import stored `item` as, if any. An entry whose
    /// key is not stored (an import cut short between its writes) is no import.
    async fn imported_as(&self, account: &str, item: &ImportKey) -> Result<Option<String>, Error> {
        for id in item.lookup_ids() {
            let Some(key_id) = self.state.get(&lookup_name(id)).await.map_err(Error::from)? else { continue };
            match self.load(account, &key_id).await {
                Ok(_) => return Ok(Some(key_id)),
                Err(Error::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }
}

/// The storage name of an imported key's lookup entry.
fn lookup_name(digest: &KeyDigest) -> String {
    format!("lookup:{}", digest.as_str())
}

//! Key state as the Durable Object keeps it. The DO stores one [`StoredKey`] per key id and
//! replicates its [`KeyRecord`] to KV under the digest.

use crate::Error;
use crate::admin::CreateKey;
use crate::clock::UnixSeconds;
use crate::digest::{KeyDigest, Pepper};
use crate::key::{ApiKey, random_id};
use crate::record::{KeyRecord, KeyStatus, RECORD_VERSION};
use crate::rng::Rng;

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
    /// False while KV has not yet acknowledged the current record (the alarm retries).
    #[serde(default)]
    pub kv_synced: bool,
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
    pepper: &Pepper,
    rng: &mut impl Rng,
    now: UnixSeconds,
) -> Result<NewKey, Error> {
    let key = ApiKey::generate(params.key_type, params.mode, rng)?;
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
    };
    let stored = StoredKey { record, digest: pepper.digest(&key), last_used: None, kv_synced: false };
    Ok(NewKey { key, stored })
}

/// Revoke: any state → `revoked`, for good. Revoking a revoked key changes nothing.
pub fn revoke(key: &StoredKey) -> StoredKey {
    let mut next = key.clone();
    if next.record.status != KeyStatus::Revoked {
        next.record.status = KeyStatus::Revoked;
        next.kv_synced = false;
    }
    next
}

//! Listing an account's keys a page at a time, newest first, with Stripe's cursor
//! (`starting_after`) and filters, from an index that is read a page at a time: a page never
//! loads every key of a large account.
//!
//! The index has one entry per key, named by its creation time (inverted, so that ascending
//! order is newest first) and id, whose value holds what never changes about the key (its type
//! and last four characters). It is written when the key is made and removed with it. What does
//! change (the status) is decided on the key itself, read for each candidate.

use crate::clock::UnixSeconds;
use crate::domain::key::KeyType;
use crate::domain::keystate::StoredKey;
use crate::domain::record::{KeyRecord, KeyStatus};

/// The index's entries start with this.
pub const INDEX_PREFIX: &str = "idx:";
/// Most keys on one page.
pub const MAX_LIMIT: usize = 100;
/// Keys on a page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 10;

/// Where a key sits in the newest-first order: its creation time and id.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Position {
    /// Creation time.
    pub created_at: UnixSeconds,
    /// Id (ties in time are in id order).
    pub id: String,
}

/// One page of an account's keys: how many, after which key, and which.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyQuery {
    /// At most this many (1 to [`MAX_LIMIT`]).
    pub limit: usize,
    /// Only keys after (older than) this one.
    #[serde(default)]
    pub after: Option<Position>,
    /// Only keys with this status (as of the request).
    #[serde(default)]
    pub status: Option<KeyStatus>,
    /// Only keys of this type.
    #[serde(default)]
    pub key_type: Option<KeyType>,
    /// Only keys ending in these four characters.
    #[serde(default)]
    pub last4: Option<String>,
}

impl Default for KeyQuery {
    fn default() -> Self {
        KeyQuery { limit: DEFAULT_LIMIT, after: None, status: None, key_type: None, last4: None }
    }
}

/// The index entry's name for a key made at `created_at` with `id`.
pub fn index_name(created_at: UnixSeconds, id: &str) -> String {
    format!("{INDEX_PREFIX}{:019}:{id}", i64::MAX - created_at.max(0))
}

/// The index entry's value for `record`: what never changes about it.
pub fn index_value(record: &KeyRecord) -> String {
    format!("{}:{}", record.key_type.as_str(), record.last4)
}

/// The key id an index entry names.
pub fn id_of(index_name: &str) -> &str {
    index_name.rsplit(':').next().unwrap_or_default()
}

impl KeyQuery {
    /// Where the index is read from: just after the cursor's entry, or its start.
    pub fn start(&self) -> Option<String> {
        self.after.as_ref().map(|p| format!("{}\u{0}", index_name(p.created_at, &p.id)))
    }

    /// Whether an index entry's value can match (type and last four, without reading the key).
    pub fn may_match(&self, index_value: &str) -> bool {
        let (key_type, last4) = index_value.split_once(':').unwrap_or((index_value, ""));
        self.key_type.is_none_or(|t| t.as_str() == key_type)
            && self.last4.as_deref().is_none_or(|l| l == last4)
    }

    /// Whether `key` matches, as of `now`.
    pub fn matches(&self, key: &StoredKey, now: UnixSeconds) -> bool {
        let r = &key.record;
        self.status.is_none_or(|s| key.status_at(now) == s)
            && self.key_type.is_none_or(|t| r.key_type == t)
            && self.last4.as_deref().is_none_or(|l| r.last4 == l)
    }
}

/// Keys in newest-first order, as the index orders them.
pub fn newest_first(a: &KeyRecord, b: &KeyRecord) -> std::cmp::Ordering {
    b.created_at.cmp(&a.created_at).then_with(|| a.id.cmp(&b.id))
}

//! The key record: what KV replicates to the edge and the Durable Object keeps as authority.
//! It never holds the raw key; it is stored under the key's digest.

use crate::Error;
use crate::clock::UnixSeconds;
use crate::domain::key::{KeyType, Mode};

/// Record schema version written by this build.
pub const RECORD_VERSION: u32 = 1;

/// Lifecycle state of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// Works.
    Active,
    /// Rolled to a successor; works until `expires_at`.
    Rolling,
    /// Ended; never works again.
    Expired,
    /// Revoked; never works again.
    Revoked,
}

impl KeyStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Rolling => "rolling",
            KeyStatus::Expired => "expired",
            KeyStatus::Revoked => "revoked",
        }
    }
}

/// One key's state, as the edge needs it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyRecord {
    /// Schema version.
    pub v: u32,
    /// `key_…`.
    pub id: String,
    /// `acct_…`.
    pub account: String,
    /// Test or live.
    pub mode: Mode,
    /// Secret, publishable or restricted.
    #[serde(rename = "type")]
    pub key_type: KeyType,
    /// Lifecycle state.
    pub status: KeyStatus,
    /// Operator-chosen label.
    pub name: String,
    /// `sk_test_` etc.
    pub prefix: String,
    /// Last four characters of the key.
    pub last4: String,
    /// Creation time.
    pub created_at: UnixSeconds,
    /// When the key stops working, if ever.
    pub expires_at: Option<UnixSeconds>,
    /// The key this one was rolled from.
    #[serde(default)]
    pub rolled_from: Option<String>,
    /// When this key was rolled to a successor.
    #[serde(default)]
    pub rolled_at: Option<UnixSeconds>,
    /// Confirm with the Durable Object on every request (immediate revocation, more latency).
    #[serde(default)]
    pub strict: bool,
    /// A restricted key's permissions per resource.
    #[serde(default)]
    pub permissions: Option<crate::domain::settings::Permissions>,
    /// Per-key restrictions (any type).
    #[serde(default)]
    pub restrictions: crate::domain::settings::Restrictions,
    /// The key's rate limit, if any (`crate::domain::quota`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<crate::domain::quota::RateLimit>,
    /// Whether the key spends credits; how many it has left is the authority's alone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub credits: bool,
    /// A canary key (honeytoken): planted where attackers look, refused at the edge exactly as
    /// an unknown key, and its use recorded (`key.canary_used`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub canary: bool,
}

impl KeyRecord {
    /// Read a stored record. Any defect is [`Error::RecordCorrupt`]: the caller fails closed.
    pub fn from_json(s: &str) -> Result<KeyRecord, Error> {
        let r: KeyRecord = serde_json::from_str(s).map_err(|_| Error::RecordCorrupt)?;
        if r.v != RECORD_VERSION
            || !r.id.starts_with("key_")
            || !crate::domain::ids::valid_account(&r.account)
        {
            return Err(Error::RecordCorrupt);
        }
        Ok(r)
    }

    /// Serialise for storage.
    pub fn to_json(&self) -> String {
        // A struct of strings, numbers and enums always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// `sk_test_…abcd`.
    pub fn redacted(&self) -> String {
        format!("{}…{}", self.prefix, self.last4)
    }
}

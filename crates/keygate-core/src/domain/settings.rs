//! What a key may do besides its type: a restricted key's permissions, the per-key restrictions,
//! and the validated inputs of the key-state machine (a new key's parameters, a change of
//! settings). Parsing them from JSON is the API layer's (`crate::api::request`).

use std::collections::BTreeMap;

use crate::Error;
use crate::clock::UnixSeconds;
use crate::domain::key::{KeyType, Mode};

/// The most entries accepted in any one list or map of a key's settings.
pub const MAX_ENTRIES: usize = 100;

// ---------------------------------------------------------------------------------------------
// Permissions
// ---------------------------------------------------------------------------------------------

/// A restricted key's access to one resource. `write` implies `read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// No access.
    None,
    /// GET and HEAD.
    Read,
    /// Every method.
    Write,
}

impl Level {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "none",
            Level::Read => "read",
            Level::Write => "write",
        }
    }

    /// The level a request method needs: GET and HEAD read, everything else writes.
    pub fn required_for(method: &str) -> Level {
        match method {
            "GET" | "HEAD" => Level::Read,
            _ => Level::Write,
        }
    }
}

/// Resource → level.
pub type Permissions = BTreeMap<String, Level>;

/// `charges=read,refunds=write`: permissions for the identity header, sorted, without `none`.
pub fn permissions_header(p: &Permissions) -> String {
    p.iter()
        .filter(|(_, l)| **l != Level::None)
        .map(|(r, l)| format!("{r}={}", l.as_str()))
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether `s` may name a resource: 1–64 of `[a-z0-9_.]`.
pub fn valid_resource(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
}

// ---------------------------------------------------------------------------------------------
// Per-key restrictions
// ---------------------------------------------------------------------------------------------

/// Per-key restrictions, any key type. `None` means unrestricted.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Restrictions {
    /// IPv4/IPv6 addresses and CIDR ranges (normalised CIDR strings).
    #[serde(default)]
    pub allowed_ips: Option<Vec<String>>,
    /// Web origins (publishable keys): `https://shop.example.com`, `https://*.example.com`.
    #[serde(default)]
    pub allowed_origins: Option<Vec<String>>,
    /// `METHOD /path` patterns the key may call.
    #[serde(default)]
    pub allowed_endpoints: Option<Vec<String>>,
}

// ---------------------------------------------------------------------------------------------
// Metadata
// ---------------------------------------------------------------------------------------------

/// Most metadata keys on one key (Stripe's rule).
pub const MAX_METADATA_KEYS: usize = 50;
/// Longest metadata key, in characters.
pub const MAX_METADATA_KEY_CHARS: usize = 40;
/// Longest metadata value, in characters.
pub const MAX_METADATA_VALUE_CHARS: usize = 500;

/// The operator's own key-value pairs on a key (a customer id, a plan), strings only. Kept by
/// the authority, shown on the key object; never sent to the edge or the origin.
pub type Metadata = BTreeMap<String, String>;

/// A change of metadata, Stripe's way: each named key is set, or unset by `""` or `null`; with
/// `clear` (the whole `metadata` given as `""` or `null`), every key is unset first.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MetadataChange {
    /// Unset every key first.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub clear: bool,
    /// Key → new value (`None`: unset).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, Option<String>>,
}

impl MetadataChange {
    /// `old` changed: at most [`MAX_METADATA_KEYS`] keys afterwards, or a 400 on `metadata`.
    pub fn apply(&self, old: &Metadata) -> Result<Metadata, Error> {
        let mut m = if self.clear { Metadata::new() } else { old.clone() };
        for (k, v) in &self.set {
            match v {
                Some(v) => m.insert(k.clone(), v.clone()),
                None => m.remove(k),
            };
        }
        if m.len() > MAX_METADATA_KEYS {
            return Err(Error::invalid_param(
                "parameter_invalid",
                "metadata",
                format!(
                    "A key can have at most {MAX_METADATA_KEYS} metadata keys; this change would leave {}.",
                    m.len()
                ),
            ));
        }
        Ok(m)
    }
}

/// A validated `POST /accounts/{account}/keys` body.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CreateKey {
    /// Key type.
    #[serde(rename = "type")]
    pub key_type: KeyType,
    /// Mode.
    pub mode: Mode,
    /// Label.
    pub name: String,
    /// Optional expiry, unix seconds, in the future.
    pub expires_at: Option<UnixSeconds>,
    /// Confirm with the Durable Object on every request.
    #[serde(default)]
    pub strict: bool,
    /// A restricted key's permissions.
    #[serde(default)]
    pub permissions: Option<Permissions>,
    /// Per-key restrictions.
    #[serde(default)]
    pub restrictions: Restrictions,
    /// A rate limit.
    #[serde(default)]
    pub rate_limit: Option<crate::domain::quota::RateLimit>,
    /// Credits.
    #[serde(default)]
    pub credits: Option<crate::domain::quota::Credits>,
    /// The operator's key-value pairs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: Metadata,
    /// A canary key (honeytoken), refused as unknown and reported when used.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub canary: bool,
}

/// Settings that a create or an update may carry. The outer `Option` is "given or not"; an
/// inner `None` (JSON `null`) removes the setting. Serialised so that the difference survives
/// the trip to the Durable Object: absent fields are skipped, `null` stays `null`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeySettings {
    /// Restricted keys' permissions.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub permissions: Option<Option<Permissions>>,
    /// `allowed_ips`.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub allowed_ips: Option<Option<Vec<String>>>,
    /// `allowed_origins` (publishable keys).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub allowed_origins: Option<Option<Vec<String>>>,
    /// `allowed_endpoints`.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub allowed_endpoints: Option<Option<Vec<String>>>,
    /// `rate_limit`.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub rate_limit: Option<Option<crate::domain::quota::RateLimit>>,
    /// `credits`: new credits replace the old ones (their `remaining` and refill).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub credits: Option<Option<crate::domain::quota::Credits>>,
    /// `name` (a PATCH only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `metadata` (merged into the key's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<MetadataChange>,
}

/// A field that is present, even as `null`, is `Some(_)`.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// Permissions belong to restricted keys, `allowed_origins` to publishable keys.
pub fn check_type_settings(key_type: KeyType, permissions: bool, origins: bool) -> Result<(), Error> {
    if permissions && key_type != KeyType::Restricted {
        return Err(Error::invalid_param(
            "parameter_invalid",
            "permissions",
            "Only restricted keys have permissions; secret keys can do everything and publishable keys only what the publishable allowlist says.",
        ));
    }
    if origins && key_type != KeyType::Publishable {
        return Err(Error::invalid_param(
            "parameter_invalid",
            "allowed_origins",
            "Only publishable keys take allowed_origins; secret keys are refused from browsers altogether.",
        ));
    }
    Ok(())
}

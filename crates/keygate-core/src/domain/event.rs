//! The audit log's entries, who they name as the actor, and how they are paged.

use crate::clock::UnixSeconds;
use crate::domain::key::Mode;

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

/// Stripe-style pagination of a list: `limit` (1–100, default 10) and `starting_after` (an id).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Page {
    /// How many items at most.
    pub limit: usize,
    /// Return items after (older than) this id.
    pub starting_after: Option<String>,
}

/// One page of the audit log, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPage {
    /// The events.
    pub data: Vec<Event>,
    /// Whether older events follow.
    pub has_more: bool,
}

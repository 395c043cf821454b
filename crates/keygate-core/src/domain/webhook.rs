//! Webhook deliveries: an event for the provider's endpoint (`WEBHOOK_URL`), stored in the
//! authority's outbox before it is sent, and its attempts.
//!
//! Delivery is at least once: an attempt whose answer was lost (a timeout after the receiver got
//! it) is sent again, with the same event `id`. Attempts back off exponentially
//! ([`backoff`]) for up to [`RETRY_WINDOW`] after the event (or after an operator's retry); then
//! the delivery is `failed`, and stays listed until the outbox's retention removes it.

use sha2::{Digest, Sha256};

use crate::clock::UnixSeconds;
use crate::domain::key::Mode;
use crate::domain::keystate::StoredKey;

/// The event types sent as webhooks.
pub const EVENT_TYPES: [&str; 10] = [
    "key.created",
    "key.rolled",
    "key.expired",
    "key.revoked",
    "key.updated",
    "key.exposed",
    "key.expiring",
    "key.canary_used",
    "key.credits_low",
    "key.credits_exhausted",
];

/// Whether an audit-log event of this type is also sent as a webhook.
pub fn is_webhook_event(kind: &str) -> bool {
    EVENT_TYPES.contains(&kind)
}

/// How long a delivery is retried after its event (or an operator's retry), seconds: 3 days.
pub const RETRY_WINDOW: UnixSeconds = 3 * 86_400;
/// The first retry's delay, seconds; each later one doubles, up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: UnixSeconds = 60;
/// The longest delay between two attempts, seconds.
pub const MAX_BACKOFF: UnixSeconds = 6 * 3600;
/// The longest error text kept for an attempt.
const MAX_ERROR_LEN: usize = 200;

/// The delay before the attempt after `failed` failed attempts: 1 min, 2, 4, … up to 6 h.
pub fn backoff(failed: u32) -> UnixSeconds {
    let doublings = failed.saturating_sub(1).min(20);
    (FIRST_BACKOFF << doublings).min(MAX_BACKOFF)
}

/// A delivery's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not yet answered with a 2xx; another attempt is due at `next_attempt_at`.
    Pending,
    /// Answered with a 2xx.
    Delivered,
    /// Not delivered within [`RETRY_WINDOW`]: no more attempts unless the operator retries.
    Failed,
}

/// One event in the outbox, with its attempts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Delivery {
    /// The event's id, `evt_` and 24 hex digits: stable across attempts, unique in the deployment.
    pub id: String,
    /// Its position in this (mode, account)'s outbox.
    pub seq: u64,
    /// `key.created`, … ([`EVENT_TYPES`]).
    #[serde(rename = "type")]
    pub kind: String,
    /// `acct_…`.
    pub account: String,
    /// Mode.
    pub mode: Mode,
    /// When the event happened.
    pub created: UnixSeconds,
    /// The key as it was then (rendered as the event's `data.object`, never with a secret).
    pub key: StoredKey,
    /// What the event adds (the audit event's `data`).
    #[serde(default)]
    pub detail: serde_json::Value,
    /// Pending, delivered or failed.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<UnixSeconds>,
    /// When retries stop: [`RETRY_WINDOW`] after the event or the operator's last retry.
    pub retry_until: UnixSeconds,
    /// The last attempt's time.
    pub last_attempt_at: Option<UnixSeconds>,
    /// The last attempt's HTTP status, if it got one.
    pub last_status: Option<u16>,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    /// When it was delivered.
    pub delivered_at: Option<UnixSeconds>,
}

/// How one attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The endpoint answered with this status (2xx: delivered).
    Answered(u16),
    /// No answer: a timeout or a connection failure.
    Failed(String),
    /// Not sent: the deployment's own webhook settings are wrong. It does not count as an
    /// attempt, and the retry window starts again once they are fixed: a misconfiguration, however
    /// long, loses nothing.
    NotSent(String),
}

/// How soon a delivery held back by a misconfiguration is looked at again, seconds.
pub const MISCONFIGURED_RECHECK: UnixSeconds = 300;

impl Delivery {
    /// A new pending delivery of event `kind` about `key`, at `seq` in its outbox (whose random
    /// `nonce` makes its ids unique across outboxes and deployments), due at once.
    pub fn new(
        nonce: &str,
        seq: u64,
        kind: &str,
        key: &StoredKey,
        detail: serde_json::Value,
        now: UnixSeconds,
    ) -> Delivery {
        Delivery {
            id: event_id(nonce, key.record.mode, &key.record.account, seq),
            seq,
            kind: kind.to_owned(),
            account: key.record.account.clone(),
            mode: key.record.mode,
            created: now,
            key: key.clone(),
            detail,
            status: DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: Some(now),
            retry_until: now + RETRY_WINDOW,
            last_attempt_at: None,
            last_status: None,
            last_error: None,
            delivered_at: None,
        }
    }

    /// Record an attempt made at `now`: delivered on a 2xx; otherwise the next attempt after
    /// [`backoff`], or failed when that would fall after `retry_until`.
    pub fn attempted(&self, outcome: &AttemptOutcome, now: UnixSeconds) -> Delivery {
        let mut next = self.clone();
        if let AttemptOutcome::NotSent(why) = outcome {
            next.last_error = Some(why.chars().take(MAX_ERROR_LEN).collect());
            next.next_attempt_at = Some(now + MISCONFIGURED_RECHECK);
            next.retry_until = next.retry_until.max(now + RETRY_WINDOW);
            return next;
        }
        next.attempts += 1;
        next.last_attempt_at = Some(now);
        match outcome {
            AttemptOutcome::Answered(status) if (200..300).contains(status) => {
                next.status = DeliveryStatus::Delivered;
                next.last_status = Some(*status);
                next.last_error = None;
                next.delivered_at = Some(now);
                next.next_attempt_at = None;
                return next;
            }
            AttemptOutcome::Answered(status) => {
                next.last_status = Some(*status);
                next.last_error = Some(format!("the endpoint answered {status}"));
            }
            AttemptOutcome::Failed(why) | AttemptOutcome::NotSent(why) => {
                next.last_status = None;
                next.last_error = Some(why.chars().take(MAX_ERROR_LEN).collect());
            }
        }
        let at = now + backoff(next.attempts);
        if at > next.retry_until {
            next.status = DeliveryStatus::Failed;
            next.next_attempt_at = None;
        } else {
            next.next_attempt_at = Some(at);
        }
        next
    }

    /// The operator asks for another attempt now: a pending or failed delivery is due at once,
    /// with a new retry window; a delivered one is sent again (the receiver deduplicates on `id`).
    pub fn retried(&self, now: UnixSeconds) -> Delivery {
        let mut next = self.clone();
        next.status = DeliveryStatus::Pending;
        next.next_attempt_at = Some(now);
        next.retry_until = now + RETRY_WINDOW;
        next
    }
}

/// The event id of outbox entry `seq` of (mode, account), whose outbox drew `nonce` at random:
/// `evt_` and the first 24 hex digits of SHA-256 of `nonce:mode:account:seq`. A recreated
/// namespace or another deployment draws another nonce, so ids never repeat for a receiver that
/// deduplicates on them.
pub fn event_id(nonce: &str, mode: Mode, account: &str, seq: u64) -> String {
    let digest = Sha256::digest(format!("{nonce}:{}:{account}:{seq}", mode.as_str()).as_bytes());
    let mut id = String::from("evt_");
    id.push_str(&crate::domain::digest::hex(&digest)[..24]);
    id
}

/// Whether `s` is a webhook event id (`evt_` and 24 lower-case hex digits).
pub fn is_event_id(s: &str) -> bool {
    s.strip_prefix("evt_")
        .is_some_and(|h| h.len() == 24 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_a_minute_to_six_hours() {
        let delays: Vec<_> = (1..=12).map(backoff).collect();
        assert_eq!(&delays[..5], &[60, 120, 240, 480, 960]);
        assert_eq!(backoff(10), MAX_BACKOFF);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
        assert_eq!(backoff(0), 60);
    }

    #[test]
    fn event_ids_differ_by_mode_account_and_seq() {
        let a = event_id("n1", Mode::Test, "acct_1", 1);
        assert!(a.starts_with("evt_") && a.len() == 28 && is_event_id(&a), "{a}");
        assert!(!is_event_id("evt_000000000001") && !is_event_id(&a.to_uppercase()));
        assert_ne!(a, event_id("n1", Mode::Live, "acct_1", 1));
        assert_ne!(a, event_id("n1", Mode::Test, "acct_2", 1));
        assert_ne!(a, event_id("n1", Mode::Test, "acct_1", 2));
        assert_ne!(a, event_id("n2", Mode::Test, "acct_1", 1), "another outbox");
        assert_eq!(a, event_id("n1", Mode::Test, "acct_1", 1));
    }
}

//! Webhooks on the wire: the event body the provider's endpoint receives, its signature
//! (`keygate_verify::webhook`), and the delivery of what is due in the outbox. The delivery
//! object the management API lists is an object like the others (`crate::api::object`).

use keygate_verify::Secret;

use crate::Error;
use crate::api::object::KeyObject;
use crate::clock::UnixSeconds;
use crate::commands::authority::Authority;
use crate::commands::ports::{RecordWriter, StateStore, WebhookSender};
use crate::domain::key::Mode;
use crate::domain::webhook::{AttemptOutcome, Delivery};

/// The event as sent: `{"id", "object": "event", "type", "created", "livemode", "account",
/// "data": {"object": <the key object as it was>, "detail": <what the event adds>}}`. Never a
/// secret: the key object of a delivery never carries one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WebhookEvent {
    /// `evt_…`, the same on every attempt: a receiver deduplicates on it.
    pub id: String,
    /// Always `event`.
    pub object: String,
    /// `key.created`, ….
    #[serde(rename = "type")]
    pub kind: String,
    /// When the event happened.
    pub created: UnixSeconds,
    /// Whether the key is a live-mode key.
    pub livemode: bool,
    /// `acct_…`.
    pub account: String,
    /// The key object and the event's details.
    pub data: EventData,
}

/// `data` of a [`WebhookEvent`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EventData {
    /// The key object as it was when the event happened.
    pub object: KeyObject,
    /// What the event adds (the audit event's `data`: a reason, an expiry, …).
    pub detail: serde_json::Value,
}

/// The body of delivery `d`.
pub fn body(d: &Delivery) -> Result<Vec<u8>, Error> {
    // A stored key's object never carries a secret (only a create's answer sets one).
    let object = KeyObject::from_stored(&d.key, d.created);
    let event = WebhookEvent {
        id: d.id.clone(),
        object: "event".into(),
        kind: d.kind.clone(),
        created: d.created,
        livemode: d.mode == Mode::Live,
        account: d.account.clone(),
        data: EventData { object, detail: d.detail.clone() },
    };
    serde_json::to_vec(&event).map_err(|_| Error::Internal { what: "encoding a webhook" })
}

/// The webhook's endpoint as the deployment configures it, with its signing secrets (current
/// first), or why it cannot be sent to (a missing secret, an invalid URL). A misconfigured
/// webhook loses nothing: each attempt fails with that reason and is retried.
pub type Endpoint<'a, T> = Result<(&'a T, &'a [Secret]), &'a str>;

/// The longest one alarm spends sending, seconds: what is left waits for the next alarm, so that
/// the object's other upkeep (KV retries every few seconds) is never held up for long.
pub const SEND_BUDGET: UnixSeconds = 20;

/// Send up to `limit` deliveries due at `now()` (the authority's time, read again for each
/// attempt) to `endpoint`, one after another, each recorded as it completes and signed at
/// `signed_at()` (the wall clock, which the receiver checks the signature's time against).
/// Stops at the first attempt the endpoint did not answer at all (a timeout, a refused
/// connection): the outbox is paused until that delivery's next attempt, as the others would
/// wait out the same timeout. Returns how many were attempted.
pub async fn deliver_due<S: StateStore, W: RecordWriter, T: WebhookSender>(
    authority: &Authority<'_, S, W>,
    endpoint: Endpoint<'_, T>,
    now: impl Fn() -> UnixSeconds,
    signed_at: impl Fn() -> UnixSeconds,
    limit: usize,
) -> Result<usize, Error> {
    let started = now();
    let due = authority.due_deliveries(started, limit).await?;
    let mut attempted = 0;
    for d in &due {
        if now() - started >= SEND_BUDGET {
            break;
        }
        let outcome = match endpoint {
            Ok((sender, secrets)) => {
                let payload = body(d)?;
                let signature = keygate_verify::webhook::sign(secrets, signed_at(), &payload);
                sender.send(&payload, &signature).await
            }
            Err(why) => AttemptOutcome::NotSent(why.to_owned()),
        };
        attempted += 1;
        let recorded = authority.record_attempt(d.seq, &outcome, now()).await?;
        if let (AttemptOutcome::Failed(_), Some(at)) = (&outcome, recorded.and_then(|r| r.next_attempt_at)) {
            authority.pause_deliveries(at).await?;
            break;
        }
    }
    Ok(attempted)
}

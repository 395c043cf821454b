//! The management API's answers: the key object, the webhook delivery object and lists.

use crate::Error;
use crate::clock::UnixSeconds;
use crate::commands::command::Answer;
use crate::domain::event::Event;
use crate::domain::key::{KeyType, Mode};
use crate::domain::keystate::StoredKey;
use crate::domain::settings::Permissions;
use crate::domain::webhook::{Delivery, DeliveryStatus};

/// The API representation of a key (`"object": "api_key"`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyObject {
    /// `key_…`.
    pub id: String,
    /// Always `api_key`.
    pub object: String,
    /// The raw key: present only in the response that created it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub secret: Option<String>,
    /// `acct_…`.
    pub account: String,
    /// Key type.
    #[serde(rename = "type")]
    pub key_type: KeyType,
    /// Mode.
    pub mode: Mode,
    /// `mode == live`.
    pub livemode: bool,
    /// Label.
    pub name: String,
    /// `sk_test_` etc.
    pub prefix: String,
    /// Last four characters.
    pub last4: String,
    /// Lifecycle state.
    pub status: String,
    /// Creation time.
    pub created_at: UnixSeconds,
    /// Expiry, if any.
    pub expires_at: Option<UnixSeconds>,
    /// Last use, minute precision, if known.
    pub last_used: Option<UnixSeconds>,
    /// Requests per UTC day, the last 30 days that saw use.
    pub usage: std::collections::BTreeMap<String, u64>,
    /// The key this one was rolled from, if any.
    pub rolled_from: Option<String>,
    /// Whether the edge confirms this key with the Durable Object on every request.
    pub strict: bool,
    /// A restricted key's permissions (null for other types).
    pub permissions: Option<Permissions>,
    /// Allowed client addresses, or null.
    pub allowed_ips: Option<Vec<String>>,
    /// Allowed web origins (publishable keys), or null.
    pub allowed_origins: Option<Vec<String>>,
    /// Allowed endpoints, or null.
    pub allowed_endpoints: Option<Vec<String>>,
    /// When and why the key was found exposed, if it was.
    pub exposed: Option<crate::domain::keystate::Exposure>,
    /// The key's rate limit, or null.
    #[serde(default)]
    pub rate_limit: Option<crate::domain::quota::RateLimit>,
    /// The key's credits, or null (unlimited). A rolling key shares its successor's.
    #[serde(default)]
    pub credits: Option<CreditsObject>,
    /// While the key is rolling: the successor whose rate limit and credits it shares.
    #[serde(default)]
    pub shares_usage_controls_with: Option<String>,
    /// Requests refused by the rate limit or for want of credits, per UTC day.
    #[serde(default)]
    pub refused: std::collections::BTreeMap<String, u64>,
    /// The operator's key-value pairs (`{}` when none).
    #[serde(default)]
    pub metadata: crate::domain::settings::Metadata,
    /// Whether this is a canary key (honeytoken): refused as unknown, its uses recorded.
    #[serde(default)]
    pub canary: bool,
    /// How the key was imported from before keygate, or null for a key keygate made.
    #[serde(default)]
    pub imported: Option<ImportedObject>,
}

/// How a key was imported, in the API.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImportedObject {
    /// `secret` (its raw key was given) or `sha256` (its SHA-256 hash).
    pub from: crate::domain::keystate::ImportedFrom,
    /// When it was imported.
    pub at: UnixSeconds,
    /// Imported as a hash and not used since: only its hash is stored until its first use.
    pub awaiting_first_use: bool,
}

/// A key's credits in the API.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CreditsObject {
    /// Requests left, not counting those the edge holds in leases (at most a few per edge
    /// isolate; see `crate::domain::quota`).
    pub remaining: u64,
    /// The refill, or null.
    pub refill: Option<crate::domain::quota::Refill>,
    /// When credits were last refilled, or null.
    pub refilled_at: Option<UnixSeconds>,
}

impl KeyObject {
    /// The object for a stored key as of `now` (without its secret).
    pub fn from_stored(k: &StoredKey, now: UnixSeconds) -> KeyObject {
        let r = &k.record;
        KeyObject {
            id: r.id.clone(),
            object: "api_key".into(),
            secret: None,
            account: r.account.clone(),
            key_type: r.key_type,
            mode: r.mode,
            livemode: r.mode.is_live(),
            name: r.name.clone(),
            prefix: r.prefix.clone(),
            last4: r.last4.clone(),
            status: k.status_at(now).as_str().into(),
            created_at: r.created_at,
            expires_at: r.expires_at,
            last_used: k.last_used,
            usage: k.usage.clone(),
            rolled_from: r.rolled_from.clone(),
            strict: r.strict,
            permissions: r.permissions.clone(),
            allowed_ips: r.restrictions.allowed_ips.clone(),
            allowed_origins: r.restrictions.allowed_origins.clone(),
            allowed_endpoints: r.restrictions.allowed_endpoints.clone(),
            exposed: k.exposed.clone(),
            rate_limit: r.rate_limit,
            credits: k.credits.map(|c| CreditsObject {
                remaining: c.remaining,
                refill: c.refill,
                refilled_at: c.refilled_at,
            }),
            shares_usage_controls_with: k.shares_with.clone(),
            refused: k.refused.clone(),
            metadata: k.metadata.clone(),
            canary: k.record.canary,
            imported: k.imported.as_ref().map(|i| ImportedObject {
                from: i.from,
                at: i.at,
                awaiting_first_use: k.digest.is_imported_hash(),
            }),
        }
    }
}

/// An import's answer: one entry per item, in order, each a key object or an error body.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ImportResults {
    /// Always `import_result`.
    pub object: &'static str,
    /// One entry per item.
    pub data: Vec<serde_json::Value>,
}

/// A (mode, account)'s migration state.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MigrationObject {
    /// Always `migration_status`.
    pub object: &'static str,
    /// The counts.
    #[serde(flatten)]
    pub status: crate::commands::migration::MigrationStatus,
}

/// A list response, `{"object":"list","data":[…],"has_more":false}`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct List<T> {
    /// Always `list`.
    pub object: String,
    /// The items.
    pub data: Vec<T>,
    /// Whether more items follow the last one.
    pub has_more: bool,
}

impl<T> List<T> {
    /// Wrap a complete list.
    pub fn new(data: Vec<T>) -> Self {
        List { object: "list".into(), data, has_more: false }
    }
}

/// The JSON text of a command's answer as of `now`: a key object (with its secret only when
/// the key was just made), a list of key objects or of events, a record, an import's results
/// (each a key object or an error body whose `doc_url` starts with `doc_base`), or `{}`.
pub fn render(answer: Answer, now: UnixSeconds, doc_base: &str) -> Result<String, Error> {
    let text = match answer {
        Answer::Key(k) => serde_json::to_string(&KeyObject::from_stored(&k, now)),
        Answer::Created(c) => {
            let mut object = KeyObject::from_stored(&c.key, now);
            object.secret = Some(c.secret.expose_secret().to_owned());
            serde_json::to_string(&object)
        }
        Answer::Keys(keys, has_more) => serde_json::to_string(&List {
            object: "list".into(),
            data: keys.iter().map(|k| KeyObject::from_stored(k, now)).collect::<Vec<_>>(),
            has_more,
        }),
        Answer::Events(page) => serde_json::to_string(&List::<Event> {
            object: "list".into(),
            data: page.data,
            has_more: page.has_more,
        }),
        Answer::Record(r) => serde_json::to_string(&r),
        Answer::Lease(g) => serde_json::to_string(&g),
        Answer::Deliveries(data, has_more) => serde_json::to_string(&List {
            object: "list".into(),
            data: data.iter().map(DeliveryObject::from).collect::<Vec<_>>(),
            has_more,
        }),
        Answer::Delivery(d) => serde_json::to_string(&DeliveryObject::from(&d)),
        Answer::Imported(results) => {
            let data: Vec<serde_json::Value> = results
                .iter()
                .map(|r| match r {
                    Ok(k) => serde_json::to_value(KeyObject::from_stored(k, now)),
                    Err(e) => serde_json::to_value(crate::api::error_body::ErrorBody::new(e, doc_base)),
                })
                .collect::<Result<_, _>>()
                .map_err(|_| Error::Internal { what: "encoding a response" })?;
            serde_json::to_string(&ImportResults { object: "import_result", data })
        }
        Answer::Migration(m) => {
            serde_json::to_string(&MigrationObject { object: "migration_status", status: m })
        }
        Answer::PortalMinted(m) => serde_json::to_string(&serde_json::json!({
            "object": "portal_session",
            "id": m.session.id,
            "token": m.token,
            "mode": m.session.mode,
            "return_url": m.session.return_url,
            "expires_at": m.session.expires_at,
        })),
        Answer::PortalRedeemed(r) => serde_json::to_string(&serde_json::json!({
            "object": "portal_session",
            "id": r.session.id,
            "secret": r.secret,
            "csrf": r.csrf,
            "mode": r.session.mode,
            "return_url": r.session.return_url,
            "expires_at": r.session.expires_at,
        })),
        Answer::Portal(s) => serde_json::to_string(&serde_json::json!({
            "object": "portal_session",
            "id": s.id,
            "account": s.account,
            "mode": s.mode,
            "return_url": s.return_url,
            "expires_at": s.expires_at,
            "csrf": s.csrf(),
            "key_defaults": s.key_defaults,
            "grant": s.grant,
        })),
        Answer::Done => Ok("{}".into()),
    };
    text.map_err(|_| Error::Internal { what: "encoding a response" })
}

/// A delivery as the management API lists it (`"object": "webhook_delivery"`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeliveryObject {
    /// The event's id.
    pub id: String,
    /// Always `webhook_delivery`.
    pub object: String,
    /// The event's type.
    #[serde(rename = "type")]
    pub kind: String,
    /// `acct_…`.
    pub account: String,
    /// Mode.
    pub mode: Mode,
    /// The key concerned.
    pub key_id: String,
    /// When the event happened.
    pub created: UnixSeconds,
    /// `pending`, `delivered` or `failed`.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<UnixSeconds>,
    /// When retries stop.
    pub retry_until: UnixSeconds,
    /// The last attempt's time.
    pub last_attempt_at: Option<UnixSeconds>,
    /// The last attempt's HTTP status, if it got one.
    pub last_status: Option<u16>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it was delivered.
    pub delivered_at: Option<UnixSeconds>,
}

impl From<&Delivery> for DeliveryObject {
    fn from(d: &Delivery) -> Self {
        DeliveryObject {
            id: d.id.clone(),
            object: "webhook_delivery".into(),
            kind: d.kind.clone(),
            account: d.account.clone(),
            mode: d.mode,
            key_id: d.key.record.id.clone(),
            created: d.created,
            status: d.status,
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            retry_until: d.retry_until,
            last_attempt_at: d.last_attempt_at,
            last_status: d.last_status,
            last_error: d.last_error.clone(),
            delivered_at: d.delivered_at,
        }
    }
}

//! The admin (operator) API's validation and wire objects, independent of the platform.

use serde_json::{Map, Value};

use crate::Error;
use crate::access::{self, Permissions, Restrictions};
use crate::clock::UnixSeconds;
use crate::key::{KeyType, Mode};
use crate::keystate::StoredKey;

/// Reserved path prefix of the management API.
pub const PREFIX: &str = "/_keygate/v1";
/// Largest admin request body accepted, in bytes.
pub const MAX_BODY: usize = 16 * 1024;
/// Longest key name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// Whether `s` is a valid account id: `acct_` followed by 1–64 ASCII letters or digits.
pub fn valid_account(s: &str) -> bool {
    s.strip_prefix("acct_")
        .is_some_and(|rest| (1..=64).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Check an account id from a path.
pub fn parse_account(s: &str) -> Result<String, Error> {
    if valid_account(s) {
        Ok(s.to_owned())
    } else {
        Err(Error::invalid_param(
            "account_invalid",
            "account",
            "Account ids are `acct_` followed by 1 to 64 letters or digits.",
        ))
    }
}

/// Check a key id from a path: `key_` followed by 1–64 ASCII letters or digits.
pub fn parse_key_id(s: &str) -> Result<String, Error> {
    let ok = s.strip_prefix("key_").is_some_and(|rest| {
        (1..=64).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    });
    if ok { Ok(s.to_owned()) } else { Err(Error::NotFound { what: "key".into() }) }
}

/// Parse `mode` from a query or body value.
pub fn parse_mode(s: &str, param: &str) -> Result<Mode, Error> {
    Mode::from_name(s)
        .ok_or_else(|| Error::invalid_param("parameter_invalid", param, "`mode` must be `test` or `live`."))
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
}

impl CreateKey {
    /// Validate a create body. Every defect is a 400 naming the parameter at fault.
    pub fn from_json(body: &[u8], now: UnixSeconds) -> Result<CreateKey, Error> {
        let obj = json_object(body)?;
        for field in obj.keys() {
            if !CREATE_FIELDS.contains(&field.as_str()) {
                return Err(Error::invalid_param(
                    "parameter_unknown",
                    clip(field),
                    format!("Received unknown parameter: {}", clip(field)),
                ));
            }
        }
        let key_type = match obj.get("type") {
            None => return Err(missing("type")),
            Some(Value::String(s)) => KeyType::from_name(s).ok_or_else(|| {
                Error::invalid_param(
                    "parameter_invalid",
                    "type",
                    "`type` must be `secret`, `publishable` or `restricted`.",
                )
            })?,
            Some(_) => return Err(wrong_type("type", "a string")),
        };
        let mode = match obj.get("mode") {
            None => return Err(missing("mode")),
            Some(Value::String(s)) => parse_mode(s, "mode")?,
            Some(_) => return Err(wrong_type("mode", "a string")),
        };
        let name = match obj.get("name") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => {
                if s.chars().count() > MAX_NAME_CHARS || s.chars().any(char::is_control) {
                    return Err(Error::invalid_param(
                        "parameter_invalid",
                        "name",
                        format!(
                            "`name` must be at most {MAX_NAME_CHARS} characters, without control characters."
                        ),
                    ));
                }
                s.clone()
            }
            Some(_) => return Err(wrong_type("name", "a string")),
        };
        let expires_at = match obj.get("expires_at") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => match n.as_i64() {
                Some(t) if t > now => Some(t),
                _ => {
                    return Err(Error::invalid_param(
                        "parameter_invalid",
                        "expires_at",
                        "`expires_at` must be a whole unix time in seconds, in the future.",
                    ));
                }
            },
            Some(_) => return Err(wrong_type("expires_at", "an integer (unix seconds)")),
        };
        let strict = match obj.get("strict") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(wrong_type("strict", "a boolean")),
        };
        let settings = KeySettings::from_object(&obj)?;
        let permissions = settings.permissions.flatten();
        let restrictions = Restrictions {
            allowed_ips: settings.allowed_ips.flatten(),
            allowed_origins: settings.allowed_origins.flatten(),
            allowed_endpoints: settings.allowed_endpoints.flatten(),
        };
        check_type_settings(key_type, permissions.is_some(), restrictions.allowed_origins.is_some())?;
        Ok(CreateKey { key_type, mode, name, expires_at, strict, permissions, restrictions })
    }
}

const CREATE_FIELDS: [&str; 9] = [
    "type",
    "mode",
    "name",
    "expires_at",
    "strict",
    "permissions",
    "allowed_ips",
    "allowed_origins",
    "allowed_endpoints",
];

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
}

/// A field that is present, even as `null`, is `Some(_)`.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

impl KeySettings {
    fn from_object(obj: &Map<String, Value>) -> Result<KeySettings, Error> {
        fn field<T>(
            obj: &Map<String, Value>,
            name: &str,
            parse: impl Fn(&Value) -> Result<T, Error>,
        ) -> Result<Option<Option<T>>, Error> {
            match obj.get(name) {
                None => Ok(None),
                Some(Value::Null) => Ok(Some(None)),
                Some(v) => parse(v).map(|t| Some(Some(t))),
            }
        }
        Ok(KeySettings {
            permissions: field(obj, "permissions", access::parse_permissions)?,
            allowed_ips: field(obj, "allowed_ips", access::parse_allowed_ips)?,
            allowed_origins: field(obj, "allowed_origins", access::parse_allowed_origins)?,
            allowed_endpoints: field(obj, "allowed_endpoints", access::parse_allowed_endpoints)?,
        })
    }

    /// Validate a `PATCH …/keys/{id}` body: at least one setting, nothing else.
    pub fn from_json(body: &[u8]) -> Result<KeySettings, Error> {
        let obj = json_object(body)?;
        if let Some(field) = obj.keys().find(|k| !CREATE_FIELDS[5..].contains(&k.as_str())) {
            return Err(Error::invalid_param(
                "parameter_unknown",
                clip(field),
                format!(
                    "Received unknown parameter: {} (updatable: permissions, allowed_ips, allowed_origins, allowed_endpoints)",
                    clip(field)
                ),
            ));
        }
        if obj.is_empty() {
            return Err(Error::invalid_param("parameter_missing", "body", "Nothing to update."));
        }
        KeySettings::from_object(&obj)
    }
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

/// The grace period of a roll, from its optional body `{"expires_in": <seconds>}`.
pub fn parse_roll(body: &[u8]) -> Result<i64, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(crate::keystate::DEFAULT_GRACE);
    }
    let obj = json_object(body)?;
    if let Some(field) = obj.keys().find(|k| k.as_str() != "expires_in") {
        return Err(Error::invalid_param(
            "parameter_unknown",
            clip(field),
            format!("Received unknown parameter: {}", clip(field)),
        ));
    }
    match obj.get("expires_in") {
        None | Some(Value::Null) => Ok(crate::keystate::DEFAULT_GRACE),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(s) if (0..=crate::keystate::MAX_GRACE).contains(&s) => Ok(s),
            _ => Err(Error::invalid_param(
                "parameter_invalid",
                "expires_in",
                format!(
                    "`expires_in` must be a whole number of seconds from 0 to {}.",
                    crate::keystate::MAX_GRACE
                ),
            )),
        },
        Some(_) => Err(wrong_type("expires_in", "an integer (seconds)")),
    }
}

/// Stripe-style pagination of a list: `limit` (1–100, default 10) and `starting_after` (an id).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Page {
    /// How many items at most.
    pub limit: usize,
    /// Return items after (older than) this id.
    pub starting_after: Option<String>,
}

impl Page {
    /// Parse from query values.
    pub fn parse(limit: Option<&str>, starting_after: Option<&str>) -> Result<Page, Error> {
        let limit = match limit {
            None => 10,
            Some(s) => match s.parse::<usize>() {
                Ok(n) if (1..=100).contains(&n) => n,
                _ => {
                    return Err(Error::invalid_param(
                        "parameter_invalid",
                        "limit",
                        "`limit` must be a whole number from 1 to 100.",
                    ));
                }
            },
        };
        let starting_after = match starting_after {
            None => None,
            Some(s) if crate::authority::parse_event_id(s).is_some() => Some(s.to_owned()),
            Some(_) => {
                return Err(Error::invalid_param(
                    "parameter_invalid",
                    "starting_after",
                    "`starting_after` must be an event id (`evt_…`).",
                ));
            }
        };
        Ok(Page { limit, starting_after })
    }
}

/// Parse a body that must be one JSON object, within [`MAX_BODY`].
pub fn json_object(body: &[u8]) -> Result<Map<String, Value>, Error> {
    if body.len() > MAX_BODY {
        return Err(Error::BodyTooLarge { limit: MAX_BODY });
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Error::invalid_param("body_invalid", "body", "The request body must be a JSON object.")),
        Err(e) => Err(Error::invalid_param(
            "body_invalid",
            "body",
            format!("The request body is not valid JSON (line {}, column {}).", e.line(), e.column()),
        )),
    }
}

fn missing(param: &str) -> Error {
    Error::invalid_param("parameter_missing", param, format!("Missing required parameter: {param}."))
}

fn wrong_type(param: &str, expected: &str) -> Error {
    Error::invalid_param("parameter_invalid", param, format!("`{param}` must be {expected}."))
}

fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

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
    pub exposed: Option<crate::keystate::Exposure>,
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
        }
    }
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

//! The management API's requests: its routes' constants, and the validation of every body and
//! parameter, each defect a 400 naming the parameter at fault.

use serde_json::{Map, Value};

use crate::Error;
use crate::api::settings::{
    parse_allowed_endpoints, parse_allowed_ips, parse_allowed_origins, parse_credits, parse_permissions,
    parse_rate_limit,
};
use crate::clock::UnixSeconds;
use crate::domain::event::Page;
use crate::domain::key::{KeyType, Mode};
use crate::domain::quota::{CreditChange, MAX_COUNT};
use crate::domain::settings::{
    CreateKey, KeySettings, MAX_METADATA_KEY_CHARS, MAX_METADATA_KEYS, MAX_METADATA_VALUE_CHARS,
    MetadataChange, Restrictions, check_type_settings,
};

/// Reserved path prefix of the management API.
pub const PREFIX: &str = "/_keygate/v1";

/// Largest admin request body accepted, in bytes.
pub const MAX_BODY: usize = 16 * 1024;

/// Longest key name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// Parse `mode` from a query or body value.
pub fn parse_mode(s: &str, param: &str) -> Result<Mode, Error> {
    Mode::from_name(s)
        .ok_or_else(|| Error::invalid_param("parameter_invalid", param, "`mode` must be `test` or `live`."))
}

impl CreateKey {
    /// Validate a create body. Every defect is a 400 naming the parameter at fault.
    pub fn from_json(body: &[u8], now: UnixSeconds) -> Result<CreateKey, Error> {
        CreateKey::from_object(&json_object(body)?, now, &[])
    }

    /// Validate a create's fields in `obj`, which may also carry the fields in `also` (checked
    /// by the caller).
    pub fn from_object(
        obj: &Map<String, Value>,
        now: UnixSeconds,
        also: &[&str],
    ) -> Result<CreateKey, Error> {
        for field in obj.keys() {
            if !CREATE_FIELDS.contains(&field.as_str()) && !also.contains(&field.as_str()) {
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
            Some(v) => parse_name(v)?,
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
        let flag = |name: &str| match obj.get(name) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(wrong_type(name, "a boolean")),
        };
        let strict = flag("strict")?;
        let canary = flag("canary")?;
        let settings = KeySettings::from_object(obj)?;
        let permissions = settings.permissions.flatten();
        let restrictions = Restrictions {
            allowed_ips: settings.allowed_ips.flatten(),
            allowed_origins: settings.allowed_origins.flatten(),
            allowed_endpoints: settings.allowed_endpoints.flatten(),
        };
        check_type_settings(key_type, permissions.is_some(), restrictions.allowed_origins.is_some())?;
        let (rate_limit, credits) = (settings.rate_limit.flatten(), settings.credits.flatten());
        let metadata = match &settings.metadata {
            Some(change) => change.apply(&Default::default())?,
            None => Default::default(),
        };
        Ok(CreateKey {
            key_type,
            mode,
            name,
            expires_at,
            strict,
            permissions,
            restrictions,
            rate_limit,
            credits,
            metadata,
            canary,
        })
    }
}

/// A key's `name`: a string of at most [`MAX_NAME_CHARS`] characters, no control characters.
fn parse_name(v: &Value) -> Result<String, Error> {
    match v {
        Value::String(s) if s.chars().count() <= MAX_NAME_CHARS && !s.chars().any(char::is_control) => {
            Ok(s.clone())
        }
        Value::String(_) => Err(Error::invalid_param(
            "parameter_invalid",
            "name",
            format!("`name` must be at most {MAX_NAME_CHARS} characters, without control characters."),
        )),
        _ => Err(wrong_type("name", "a string")),
    }
}

/// `metadata`, Stripe's rules: an object of at most [`MAX_METADATA_KEYS`] keys of 1 to
/// [`MAX_METADATA_KEY_CHARS`] characters (no square brackets), each a string of at most
/// [`MAX_METADATA_VALUE_CHARS`] characters; `""` or `null` unsets a key, and the whole of it
/// given as `""` or `null` unsets every key. Each defect names `metadata[key]` (or `metadata`).
pub fn parse_metadata(v: &Value) -> Result<MetadataChange, Error> {
    let obj = match v {
        Value::Null => return Ok(MetadataChange { clear: true, set: Default::default() }),
        Value::String(s) if s.is_empty() => {
            return Ok(MetadataChange { clear: true, set: Default::default() });
        }
        Value::Object(o) => o,
        _ => return Err(wrong_type("metadata", "an object of strings")),
    };
    if obj.len() > MAX_METADATA_KEYS {
        return Err(Error::invalid_param(
            "parameter_invalid",
            "metadata",
            format!("`metadata` can have at most {MAX_METADATA_KEYS} keys."),
        ));
    }
    let mut set = std::collections::BTreeMap::new();
    for (k, v) in obj {
        let param = format!("metadata[{}]", clip(k));
        let chars = k.chars().count();
        if chars == 0
            || chars > MAX_METADATA_KEY_CHARS
            || k.chars().any(|c| c == '[' || c == ']' || c.is_control())
        {
            return Err(Error::invalid_param(
                "parameter_invalid",
                param,
                format!(
                    "Metadata keys must be 1 to {MAX_METADATA_KEY_CHARS} characters, without square brackets or control characters."
                ),
            ));
        }
        let value = match v {
            Value::Null => None,
            Value::String(s) if s.is_empty() => None,
            Value::String(s) if s.chars().count() <= MAX_METADATA_VALUE_CHARS => Some(s.clone()),
            Value::String(_) => {
                return Err(Error::invalid_param(
                    "parameter_invalid",
                    param,
                    format!("Metadata values must be at most {MAX_METADATA_VALUE_CHARS} characters."),
                ));
            }
            _ => {
                return Err(Error::invalid_param(
                    "parameter_invalid",
                    param,
                    "Metadata values must be strings (`\"\"` or null unsets a key).",
                ));
            }
        };
        set.insert(k.clone(), value);
    }
    Ok(MetadataChange { clear: false, set })
}

pub(crate) const CREATE_FIELDS: [&str; 13] = [
    "type",
    "mode",
    "expires_at",
    "strict",
    "canary",
    // What a `PATCH` may change too, from here on (`UPDATE_FIELDS`).
    "name",
    "permissions",
    "allowed_ips",
    "allowed_origins",
    "allowed_endpoints",
    "rate_limit",
    "credits",
    "metadata",
];

/// What a `PATCH` may change.
const UPDATE_FIELDS: &[&str] = CREATE_FIELDS.split_at(5).1;

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
            permissions: field(obj, "permissions", parse_permissions)?,
            allowed_ips: field(obj, "allowed_ips", parse_allowed_ips)?,
            allowed_origins: field(obj, "allowed_origins", parse_allowed_origins)?,
            allowed_endpoints: field(obj, "allowed_endpoints", parse_allowed_endpoints)?,
            rate_limit: field(obj, "rate_limit", parse_rate_limit)?,
            credits: field(obj, "credits", parse_credits)?,
            name: None,
            metadata: obj.get("metadata").map(parse_metadata).transpose()?,
        })
    }

    /// Validate a `PATCH …/keys/{id}` body: at least one setting, nothing else.
    pub fn from_json(body: &[u8]) -> Result<KeySettings, Error> {
        let obj = json_object(body)?;
        if let Some(field) = obj.keys().find(|k| !UPDATE_FIELDS.contains(&k.as_str())) {
            return Err(Error::invalid_param(
                "parameter_unknown",
                clip(field),
                format!(
                    "Received unknown parameter: {} (updatable: {})",
                    clip(field),
                    UPDATE_FIELDS.join(", ")
                ),
            ));
        }
        if obj.is_empty() {
            return Err(Error::invalid_param("parameter_missing", "body", "Nothing to update."));
        }
        let mut settings = KeySettings::from_object(&obj)?;
        settings.name = obj.get("name").map(parse_name).transpose()?;
        Ok(settings)
    }
}

/// A change of a key's credits: `{"op": "set" | "increment" | "decrement", "amount": N}`.
pub fn parse_credit_change(body: &[u8]) -> Result<CreditChange, Error> {
    let obj = json_object(body)?;
    only(&obj, &["op", "amount"])?;
    let amount = match obj.get("amount") {
        None => return Err(missing("amount")),
        Some(v) => v.as_u64().filter(|n| *n <= MAX_COUNT).ok_or_else(|| {
            Error::invalid_param(
                "parameter_invalid",
                "amount",
                format!("`amount` must be a whole number from 0 to {MAX_COUNT}."),
            )
        })?,
    };
    match obj.get("op") {
        None => Err(missing("op")),
        Some(Value::String(op)) if op == "set" => Ok(CreditChange::Set(amount)),
        Some(Value::String(op)) if op == "increment" => Ok(CreditChange::Increment(amount)),
        Some(Value::String(op)) if op == "decrement" => Ok(CreditChange::Decrement(amount)),
        Some(_) => Err(Error::invalid_param(
            "parameter_invalid",
            "op",
            "`op` must be `set`, `increment` or `decrement`.",
        )),
    }
}

/// A `POST /keys/lookup` body, `{"secret": "sk_…"}`: the key, well-formed in the deployment's
/// key format (anything else is a 400 on `secret` that never repeats it).
pub fn parse_lookup(
    body: &[u8],
    format: &crate::domain::key_format::KeyFormat,
) -> Result<crate::domain::key::ApiKey, Error> {
    let obj = json_object(body)?;
    // An unknown field is not named back: a pasted key could be one.
    if obj.keys().any(|k| k.as_str() != "secret") {
        return Err(Error::invalid_param(
            "parameter_unknown",
            "body",
            "The body takes `secret` only (the raw key).",
        ));
    }
    match obj.get("secret") {
        None => Err(missing("secret")),
        // Surrounding whitespace (a pasted line) is not part of a key.
        Some(Value::String(s)) => format.parse(s.trim()).map_err(|_| {
            Error::invalid_param(
                "parameter_invalid",
                "secret",
                "`secret` is not a well-formed API key of this deployment (its key format: prefix, alphabet, length, checksum).",
            )
        }),
        Some(_) => Err(wrong_type("secret", "a string")),
    }
}

/// The grace period of a roll, from its optional body `{"expires_in": <seconds>}`.
pub fn parse_roll(body: &[u8]) -> Result<i64, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(crate::domain::keystate::DEFAULT_GRACE);
    }
    let obj = json_object(body)?;
    only(&obj, &["expires_in"])?;
    match obj.get("expires_in") {
        None | Some(Value::Null) => Ok(crate::domain::keystate::DEFAULT_GRACE),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(s) if (0..=crate::domain::keystate::MAX_GRACE).contains(&s) => Ok(s),
            _ => Err(Error::invalid_param(
                "parameter_invalid",
                "expires_in",
                format!(
                    "`expires_in` must be a whole number of seconds from 0 to {}.",
                    crate::domain::keystate::MAX_GRACE
                ),
            )),
        },
        Some(_) => Err(wrong_type("expires_in", "an integer (seconds)")),
    }
}

impl Page {
    /// Parse from query values.
    pub fn parse(limit: Option<&str>, starting_after: Option<&str>) -> Result<Page, Error> {
        Page::parse_with(limit, starting_after, |s| crate::domain::ids::parse_event_id(s).is_some())
    }

    /// Parse from query values, where `starting_after` must be an id that `is_id` accepts (an
    /// audit event's, or a webhook delivery's: both `evt_…`).
    pub fn parse_with(
        limit: Option<&str>,
        starting_after: Option<&str>,
        is_id: impl Fn(&str) -> bool,
    ) -> Result<Page, Error> {
        let limit = parse_limit(limit)?;
        let starting_after = match starting_after {
            None => None,
            Some(s) if is_id(s) => Some(s.to_owned()),
            Some(_) => {
                return Err(Error::invalid_param(
                    "parameter_invalid",
                    "starting_after",
                    "`starting_after` must be an event id (`evt_…`) from this list.",
                ));
            }
        };
        Ok(Page { limit, starting_after })
    }
}

/// A list's `limit`: 1 to 100, 10 when absent (Stripe's, for keys and events alike).
fn parse_limit(limit: Option<&str>) -> Result<usize, Error> {
    use crate::domain::listing::{DEFAULT_LIMIT, MAX_LIMIT};
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(s) => s.parse::<usize>().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| {
            Error::invalid_param(
                "parameter_invalid",
                "limit",
                "`limit` must be a whole number from 1 to 100.",
            )
        }),
    }
}

/// A key list's query: `limit` (1 to 100, default 10), and the filters `status`, `type` and
/// `last4`. `starting_after` is resolved to a position by the caller (it names a key).
pub fn parse_key_query(
    limit: Option<&str>,
    status: Option<&str>,
    key_type: Option<&str>,
    last4: Option<&str>,
) -> Result<crate::domain::listing::KeyQuery, Error> {
    use crate::domain::listing::KeyQuery;
    use crate::domain::record::KeyStatus;
    let limit = parse_limit(limit)?;
    let status = match status {
        None => None,
        Some("active") => Some(KeyStatus::Active),
        Some("rolling") => Some(KeyStatus::Rolling),
        Some("expired") => Some(KeyStatus::Expired),
        Some("revoked") => Some(KeyStatus::Revoked),
        Some(_) => {
            return Err(Error::invalid_param(
                "parameter_invalid",
                "status",
                "`status` must be `active`, `rolling`, `expired` or `revoked`.",
            ));
        }
    };
    let key_type = match key_type {
        None => None,
        Some(s) => Some(KeyType::from_name(s).ok_or_else(|| {
            Error::invalid_param(
                "parameter_invalid",
                "type",
                "`type` must be `secret`, `publishable` or `restricted`.",
            )
        })?),
    };
    let last4 = match last4 {
        None => None,
        Some(s) if s.len() == 4 && s.bytes().all(|b| b.is_ascii_alphanumeric()) => Some(s.to_owned()),
        Some(_) => {
            return Err(Error::invalid_param(
                "parameter_invalid",
                "last4",
                "`last4` must be the last four characters of a key (letters and digits).",
            ));
        }
    };
    Ok(KeyQuery { limit, after: None, status, key_type, last4 })
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

pub(crate) fn missing(param: &str) -> Error {
    Error::invalid_param("parameter_missing", param, format!("Missing required parameter: {param}."))
}

/// A body that takes `fields` and nothing else: the first other field is a 400 naming it.
pub(crate) fn only(obj: &Map<String, Value>, fields: &[&str]) -> Result<(), Error> {
    match obj.keys().find(|k| !fields.contains(&k.as_str())) {
        Some(field) => Err(unknown(&clip(field))),
        None => Ok(()),
    }
}

/// `parameter_unknown` for `field` (already clipped, or a path such as `key_defaults.x`).
pub(crate) fn unknown(field: &str) -> Error {
    Error::invalid_param("parameter_unknown", field, format!("Received unknown parameter: {field}"))
}

pub(crate) fn wrong_type(param: &str, expected: &str) -> Error {
    Error::invalid_param("parameter_invalid", param, format!("`{param}` must be {expected}."))
}

/// A name from the request, cut to 64 characters for an error message.
pub fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

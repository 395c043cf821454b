//! Leak reports on the wire: GitHub's secret-scanning report and the operator's own, in; the
//! feedback GitHub's partner program defines, out. A reported token is never answered back:
//! the feedback names it by its SHA-256, and no error message repeats it.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::Error;
use crate::domain::leak::{Label, Sighting, token_hash};

/// The most tokens one report may carry. GitHub sends at least this many in one call; each
/// (mode, account) with a leaked key then costs one call to its authority, and the KV reads
/// are bulk reads (see [`crate::commands::leaks`]), which keeps a full report within the
/// platform's 1000 operations per invocation.
pub const MAX_REPORT_TOKENS: usize = 1000;
/// The largest report body, bytes (1000 tokens with long URLs fit several times over).
pub const MAX_REPORT_BODY: usize = 1024 * 1024;

/// One line of the feedback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Feedback {
    /// Lower-case hex SHA-256 of the token.
    pub token_hash: String,
    /// The type the report gave the token.
    pub token_type: String,
    /// Whether it is a leaked key of this deployment.
    pub label: Label,
}

/// The feedback for `sightings` labelled `labels` (same order).
pub fn feedback(sightings: &[Sighting], labels: &[Label]) -> Vec<Feedback> {
    sightings
        .iter()
        .zip(labels)
        .map(|(s, &label)| Feedback {
            token_hash: token_hash(&s.token),
            token_type: s.token_type.clone(),
            label,
        })
        .collect()
}

/// GitHub's report: a JSON array of `{"token", "type", "url", "source"}`. `url` may be empty,
/// `source` is case-insensitive and optional; fields GitHub may add later are ignored.
pub fn parse_github_report(body: &[u8]) -> Result<Vec<Sighting>, Error> {
    let items = match parse_json(body)? {
        Value::Array(items) => items,
        _ => return Err(body_invalid("A secret-scanning report must be a JSON array of reported tokens.")),
    };
    check_count(items.len(), "body")?;
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::Object(fields) => sighting(&fields, &format!("[{i}]"), "type"),
            _ => Err(Error::invalid_param(
                "parameter_invalid",
                format!("[{i}]"),
                format!("`[{i}]` must be an object."),
            )),
        })
        .collect()
}

/// The operator's report, `{"tokens": [ITEM, …]}`, each item either the raw token as a string
/// or `{"token", "url", "source", "token_type"}` (all but `token` optional). Unlike GitHub's,
/// an unknown field is refused, without naming it (it could be a key pasted in the wrong place).
pub fn parse_operator_report(body: &[u8]) -> Result<Vec<Sighting>, Error> {
    let Value::Object(obj) = parse_json(body)? else {
        return Err(body_invalid("The request body must be a JSON object, `{\"tokens\": [...]}`."));
    };
    if obj.keys().any(|k| k != "tokens") {
        return Err(Error::invalid_param("parameter_unknown", "body", "The body takes `tokens` only."));
    }
    let items = match obj.get("tokens") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(Value::Array(_)) => {
            return Err(Error::invalid_param("parameter_invalid", "tokens", "`tokens` must not be empty."));
        }
        Some(_) => {
            return Err(Error::invalid_param("parameter_invalid", "tokens", "`tokens` must be an array."));
        }
        None => {
            return Err(Error::invalid_param(
                "parameter_missing",
                "tokens",
                "Missing required parameter: tokens.",
            ));
        }
    };
    check_count(items.len(), "tokens")?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let at = format!("tokens[{i}]");
            match item {
                Value::String(token) => Ok(Sighting {
                    token: token.clone(),
                    token_type: String::new(),
                    url: String::new(),
                    source: None,
                }),
                Value::Object(fields) => {
                    if fields.keys().any(|k| !["token", "url", "source", "token_type"].contains(&k.as_str()))
                    {
                        return Err(Error::invalid_param(
                            "parameter_unknown",
                            at.clone(),
                            format!("`{at}` takes `token`, `url`, `source` and `token_type` only."),
                        ));
                    }
                    sighting(fields, &at, "token_type")
                }
                _ => Err(Error::invalid_param(
                    "parameter_invalid",
                    at.clone(),
                    format!("`{at}` must be a token (a string) or an object with `token`."),
                )),
            }
        })
        .collect()
}

/// One reported token from its fields, at `at` in the body; its type is in `type_field`.
fn sighting(fields: &Map<String, Value>, at: &str, type_field: &str) -> Result<Sighting, Error> {
    let text = |name: &str, required: bool| -> Result<Option<String>, Error> {
        let param = format!("{at}.{name}");
        match fields.get(name) {
            Some(Value::String(s)) => Ok(Some(s.clone())),
            None | Some(Value::Null) if !required => Ok(None),
            None => Err(Error::invalid_param(
                "parameter_missing",
                param.clone(),
                format!("Missing required parameter: {param}."),
            )),
            Some(_) => Err(Error::invalid_param(
                "parameter_invalid",
                param.clone(),
                format!("`{param}` must be a string."),
            )),
        }
    };
    Ok(Sighting {
        token: text("token", true)?.unwrap_or_default(),
        token_type: text(type_field, false)?.unwrap_or_default(),
        url: text("url", false)?.unwrap_or_default(),
        source: text("source", false)?.map(|s| s.to_ascii_lowercase()),
    })
}

fn check_count(n: usize, param: &str) -> Result<(), Error> {
    if n > MAX_REPORT_TOKENS {
        return Err(Error::invalid_param(
            "too_many_tokens",
            param,
            format!(
                "A report may carry at most {MAX_REPORT_TOKENS} tokens; this one has {n}. Send it in several calls."
            ),
        ));
    }
    Ok(())
}

fn parse_json(body: &[u8]) -> Result<Value, Error> {
    if body.len() > MAX_REPORT_BODY {
        return Err(Error::BodyTooLarge { limit: MAX_REPORT_BODY });
    }
    serde_json::from_slice(body).map_err(|_| body_invalid("The request body is not valid JSON."))
}

fn body_invalid(message: &str) -> Error {
    Error::invalid_param("body_invalid", "body", message)
}

/// What a provider registers with GitHub's secret scanning for this deployment's keys: the
/// regular expression of its secret and restricted keys (publishable keys are public by
/// design), from the key format itself (`GET /_keygate/v1/secret-scanning/pattern`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanningPattern {
    /// `secret_scanning_pattern`.
    pub object: &'static str,
    /// The regular expression, without anchors or boundaries (GitHub adds its own).
    pub pattern: String,
    /// Each prefix it covers.
    pub prefixes: Vec<String>,
    /// The length of a whole key.
    pub length: usize,
}

impl ScanningPattern {
    /// The pattern of this deployment's key format.
    pub fn of_deployment() -> ScanningPattern {
        use crate::domain::key::{CHECKSUM_LEN, KEY_LEN, KeyType, Mode, RANDOM_LEN};
        let types = [KeyType::Secret, KeyType::Restricted];
        let prefixes = types
            .iter()
            .flat_map(|t| Mode::ALL.iter().map(move |m| format!("{}_{}_", t.prefix(), m.as_str())))
            .collect();
        let alternatives = |names: Vec<&str>| names.join("|");
        let pattern = format!(
            "(?:{})_(?:{})_[0-9A-Za-z]{{{}}}",
            alternatives(types.iter().map(|t| t.prefix()).collect()),
            alternatives(Mode::ALL.iter().map(|m| m.as_str()).collect()),
            RANDOM_LEN + CHECKSUM_LEN
        );
        ScanningPattern { object: "secret_scanning_pattern", pattern, prefixes, length: KEY_LEN }
    }
}

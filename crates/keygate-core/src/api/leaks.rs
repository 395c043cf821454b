//! Leak reports on the wire: GitHub's secret-scanning report and the operator's own, in; the
//! feedback GitHub's partner program defines, out. A reported token is never answered back:
//! the feedback names it by its SHA-256, and no error message repeats it.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::Error;
use crate::domain::leak::{Label, Sighting, token_hash};

/// The most tokens an operator's report may carry (more is a 400: send several reports).
pub const MAX_REPORT_TOKENS: usize = 1000;
/// The most tokens a GitHub report may carry. GitHub does not retry a 4xx, so its reports are
/// taken as large as the body limit allows; KV is read in bulk (⌈n / 100⌉ + 1 operations, see
/// [`crate::commands::leaks`]), and each (mode, account) with leaked keys costs one call to its
/// authority per 50 of them.
pub const MAX_GITHUB_TOKENS: usize = 5000;
/// The longest `url` kept (a GitHub report's is cut to it; an operator's longer one is a 400).
pub const MAX_URL_LEN: usize = 2048;
/// The longest `source` kept.
pub const MAX_SOURCE_LEN: usize = 64;
/// The longest token type kept (it is answered back).
pub const MAX_TYPE_LEN: usize = 128;
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
    check_count(items.len(), MAX_GITHUB_TOKENS, "body")?;
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::Object(fields) => sighting(&fields, &format!("[{i}]"), "type", Lengths::Cut),
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
    check_count(items.len(), MAX_REPORT_TOKENS, "tokens")?;
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
                    sighting(fields, &at, "token_type", Lengths::Refuse)
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

/// What to do with a `url`, `source` or type longer than keygate keeps.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lengths {
    /// Cut it (GitHub's report: a 4xx would lose the whole report).
    Cut,
    /// Refuse it with a 400 naming the field (the operator's).
    Refuse,
}

/// One reported token from its fields, at `at` in the body; its type is in `type_field`.
fn sighting(
    fields: &Map<String, Value>,
    at: &str,
    type_field: &str,
    lengths: Lengths,
) -> Result<Sighting, Error> {
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
    let bounded = |name: &str, value: Option<String>, max: usize| -> Result<Option<String>, Error> {
        match value {
            Some(v) if v.chars().count() > max => match lengths {
                Lengths::Cut => Ok(Some(v.chars().take(max).collect())),
                Lengths::Refuse => {
                    let param = format!("{at}.{name}");
                    Err(Error::invalid_param(
                        "parameter_invalid",
                        param.clone(),
                        format!("`{param}` may be at most {max} characters."),
                    ))
                }
            },
            other => Ok(other),
        }
    };
    Ok(Sighting {
        token: text("token", true)?.unwrap_or_default(),
        token_type: bounded(type_field, text(type_field, false)?, MAX_TYPE_LEN)?.unwrap_or_default(),
        url: bounded("url", text("url", false)?, MAX_URL_LEN)?.unwrap_or_default(),
        source: bounded("source", text("source", false)?, MAX_SOURCE_LEN)?.map(|s| s.to_ascii_lowercase()),
    })
}

fn check_count(n: usize, max: usize, param: &str) -> Result<(), Error> {
    if n > max {
        return Err(Error::invalid_param(
            "too_many_tokens",
            param,
            format!("A report may carry at most {max} tokens; this one has {n}. Send it in several calls."),
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
    /// The shortest whole key it matches.
    pub min_length: usize,
    /// The longest whole key it matches.
    pub max_length: usize,
}

impl ScanningPattern {
    /// The pattern of this deployment's key format (secret and restricted keys: publishable
    /// ones are public by design).
    pub fn of_deployment(format: &crate::domain::key_format::KeyFormat) -> ScanningPattern {
        let (pattern, prefixes) = format.scanning_pattern();
        let (body_min, body_max) = format.body_lengths();
        let min_length = prefixes.iter().map(String::len).min().unwrap_or(0) + body_min;
        let max_length = prefixes.iter().map(String::len).max().unwrap_or(0) + body_max;
        ScanningPattern { object: "secret_scanning_pattern", pattern, prefixes, min_length, max_length }
    }
}

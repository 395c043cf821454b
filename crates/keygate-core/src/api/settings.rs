//! Validation of a key's settings from the management API's JSON: permissions and the per-key
//! restrictions, each defect a 400 naming the setting.

use serde_json::Value;

use crate::Error;
use crate::domain::quota::{Credits, Interval, RateLimit, Refill};
use crate::domain::settings::{Level, MAX_ENTRIES, Permissions, valid_resource};
use crate::policy::pattern::{EndpointList, OriginRule, parse_net};

/// Validate a `permissions` object from the admin API.
pub fn parse_permissions(v: &Value) -> Result<Permissions, Error> {
    let bad = |m: String| Error::invalid_param("parameter_invalid", "permissions", m);
    let obj =
        v.as_object().ok_or_else(|| bad("`permissions` must be an object of resource → level".into()))?;
    if obj.len() > MAX_ENTRIES {
        return Err(bad(format!("`permissions` has more than {MAX_ENTRIES} entries")));
    }
    let mut out = Permissions::new();
    for (resource, level) in obj {
        if !valid_resource(resource) {
            return Err(bad(format!("{resource:?} is not a resource name (1–64 of a-z, 0-9, _ and .)")));
        }
        let level = match level.as_str() {
            Some("none") => Level::None,
            Some("read") => Level::Read,
            Some("write") => Level::Write,
            _ => {
                return Err(bad(format!(
                    "the level of {resource:?} must be \"none\", \"read\" or \"write\""
                )));
            }
        };
        out.insert(resource.clone(), level);
    }
    Ok(out)
}

/// Validate and normalise `allowed_ips`.
pub fn parse_allowed_ips(v: &Value) -> Result<Vec<String>, Error> {
    parse_list(
        v,
        "allowed_ips",
        "addresses or CIDR ranges",
        |s| parse_net(s).map(|n| n.to_string()),
        |s| format!("{s:?} is not an IP address or CIDR range"),
    )
}

/// A JSON array of 1 to [`MAX_ENTRIES`] strings, each normalised by `item`; every defect is a 400
/// naming `param`.
fn parse_list(
    v: &Value,
    param: &str,
    items_are: &str,
    item: impl Fn(&str) -> Option<String>,
    item_error: impl Fn(&str) -> String,
) -> Result<Vec<String>, Error> {
    let bad = |m: String| Error::invalid_param("parameter_invalid", param, m);
    let items = v.as_array().ok_or_else(|| bad(format!("`{param}` must be an array of {items_are}")))?;
    if items.is_empty() || items.len() > MAX_ENTRIES {
        return Err(bad(format!(
            "`{param}` must have 1 to {MAX_ENTRIES} entries (null removes the restriction)"
        )));
    }
    items
        .iter()
        .map(|i| {
            let s = i.as_str().unwrap_or_default();
            item(s).ok_or_else(|| bad(item_error(s)))
        })
        .collect()
}

/// Validate `allowed_origins`.
pub fn parse_allowed_origins(v: &Value) -> Result<Vec<String>, Error> {
    parse_list(
        v,
        "allowed_origins",
        "origins",
        |s| OriginRule::parse(s).map(|_| s.to_ascii_lowercase()),
        |s| {
            format!(
                "{s:?} is not an origin such as https://shop.example.com or https://*.example.com \
                 (an internationalised host is given in its ASCII form, https://xn--bcher-kva.example)"
            )
        },
    )
}

/// Validate `allowed_endpoints`.
pub fn parse_allowed_endpoints(v: &Value) -> Result<Vec<String>, Error> {
    let list = EndpointList::from_json(v, "allowed_endpoints")
        .map_err(|m| Error::invalid_param("parameter_invalid", "allowed_endpoints", m))?;
    if list.0.is_empty() {
        return Err(Error::invalid_param(
            "parameter_invalid",
            "allowed_endpoints",
            "`allowed_endpoints` must not be empty (null removes the restriction)",
        ));
    }
    Ok(list.0.iter().map(|p| p.as_str().to_owned()).collect())
}

/// An object with exactly the fields `allowed` (those in `required` must be there), or a 400
/// naming `param.field`.
fn fields<'a>(
    v: &'a Value,
    param: &str,
    allowed: &[&str],
    required: &[&str],
) -> Result<&'a serde_json::Map<String, Value>, Error> {
    let obj = v.as_object().ok_or_else(|| {
        Error::invalid_param("parameter_invalid", param, format!("`{param}` must be an object or null"))
    })?;
    if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        let k: String = k.chars().take(64).collect();
        return Err(Error::invalid_param(
            "parameter_unknown",
            format!("{param}.{k}"),
            format!("Received unknown parameter: {param}.{k}"),
        ));
    }
    if let Some(k) = required.iter().find(|k| !obj.contains_key(**k)) {
        return Err(Error::invalid_param(
            "parameter_missing",
            format!("{param}.{k}"),
            format!("Missing required param: {param}.{k}."),
        ));
    }
    Ok(obj)
}

/// A whole number from JSON, or a 400 naming `param`.
fn whole(v: &Value, param: &str) -> Result<u64, Error> {
    v.as_u64().ok_or_else(|| {
        Error::invalid_param("parameter_invalid", param, format!("`{param}` must be a whole number"))
    })
}

/// Validate `rate_limit`: `{"limit": N, "window": seconds}`.
pub fn parse_rate_limit(v: &Value) -> Result<RateLimit, Error> {
    let obj = fields(v, "rate_limit", &["limit", "window"], &["limit", "window"])?;
    let limit = whole(&obj["limit"], "rate_limit.limit")?;
    let window = whole(&obj["window"], "rate_limit.window")?;
    RateLimit::new(limit, i64::try_from(window).unwrap_or(i64::MAX), "rate_limit")
}

/// Validate `credits`: `{"remaining": N, "refill": null | {"amount": M, "interval": "day" |
/// "month"}}`.
pub fn parse_credits(v: &Value) -> Result<Credits, Error> {
    let obj = fields(v, "credits", &["remaining", "refill"], &["remaining"])?;
    let remaining = whole(&obj["remaining"], "credits.remaining")?;
    let refill = match obj.get("refill") {
        None | Some(Value::Null) => None,
        Some(r) => {
            let r = fields(r, "credits.refill", &["amount", "interval"], &["amount", "interval"])?;
            let amount = whole(&r["amount"], "credits.refill.amount")?;
            let interval = match r["interval"].as_str() {
                Some("day") => Interval::Day,
                Some("month") => Interval::Month,
                _ => {
                    return Err(Error::invalid_param(
                        "parameter_invalid",
                        "credits.refill.interval",
                        "`credits.refill.interval` must be \"day\" or \"month\"",
                    ));
                }
            };
            Some(Refill { amount, interval })
        }
    };
    Credits::new(remaining, refill, "credits")
}

//! Phase 4b of the edge path: what an authenticated key may do with *this* request.
//!
//! Rules, checked in this order (the first that fails decides):
//! 1. `secret_key_in_browser`: a secret key on a request that a browser made (`Origin`, or any
//!    `Sec-Fetch-Mode`, navigations included) is refused, and the key is reported as exposed;
//! 2. `ip_not_allowed`: the key's `allowed_ips` against `CF-Connecting-IP`;
//! 3. `origin_not_allowed`: a publishable key's `allowed_origins` against `Origin`, falling back
//!    to `Referer`;
//! 4. `endpoint_not_allowed`: the key's `allowed_endpoints`;
//! 5. by type: a publishable key only on the operator's allowlist (`publishable_key_not_allowed`),
//!    a restricted key only with the permission the route needs (`insufficient_permissions`).
//!
//! Mode pinning (`test_key_on_live_host`) is earlier still, in [`crate::policy::gate`], from the prefix
//! alone and before any store read.

use crate::domain::web_url::WebOrigin;
use std::net::IpAddr;

use crate::Error;
use crate::domain::key::KeyType;
use crate::domain::record::KeyRecord;
use crate::domain::settings::Level;
use crate::policy::pattern::{EndpointList, EndpointPattern, OriginRule, ResourceMap, parse_net};

// ---------------------------------------------------------------------------------------------
// The decision
// ---------------------------------------------------------------------------------------------

/// The operator's edge policy (from vars).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EdgePolicy {
    /// What publishable keys may call.
    pub publishable_allowlist: EndpointList,
    /// How paths map to restricted keys' resources.
    pub resources: ResourceMap,
}

/// The facts of a request that access rules look at.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestFacts<'a> {
    /// Upper-case method.
    pub method: &'a str,
    /// Path, without query.
    pub path: &'a str,
    /// `Origin`.
    pub origin: Option<&'a str>,
    /// `Referer`.
    pub referer: Option<&'a str>,
    /// `Sec-Fetch-Mode`.
    pub sec_fetch_mode: Option<&'a str>,
    /// `CF-Connecting-IP`.
    pub client_ip: Option<&'a str>,
}

/// What the edge adds when access is granted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Grant {
    /// Echo this origin in `Access-Control-Allow-Origin` (publishable keys from an allowed origin).
    pub cors_origin: Option<String>,
}

/// Whether a browser made the request: it carries `Origin`, or any `Sec-Fetch-Mode` (browsers
/// send it on every request, navigations included, and other clients do not).
pub fn from_browser(f: &RequestFacts) -> bool {
    f.origin.is_some() || f.sec_fetch_mode.is_some()
}

/// Decide whether `record`'s key may make this request. See the module docs for the order.
pub fn authorize(record: &KeyRecord, f: &RequestFacts, policy: &EdgePolicy) -> Result<Grant, Error> {
    let grant = key_restrictions(record, f)?;
    match record.key_type {
        KeyType::Secret => {}
        KeyType::Publishable => {
            if !policy.publishable_allowlist.allows(f.method, f.path) {
                return Err(Error::PublishableKeyNotAllowed);
            }
        }
        KeyType::Restricted => {
            let needed = Level::required_for(f.method);
            let Some(resource) = policy.resources.resource_for(f.path) else {
                return Err(Error::InsufficientPermissions { required: None });
            };
            let have =
                record.permissions.as_ref().and_then(|p| p.get(&resource)).copied().unwrap_or(Level::None);
            if have < needed {
                return Err(Error::InsufficientPermissions {
                    required: Some(format!("{resource}:{}", needed.as_str())),
                });
            }
        }
    }
    Ok(grant)
}

/// Decide whether `record`'s key may make this self-service management request: the key's own
/// rules 1–4 exactly as on any other route, against the management method and path, then the
/// type rule of management: only a secret key manages keys.
pub fn authorize_management(record: &KeyRecord, f: &RequestFacts) -> Result<(), Error> {
    key_restrictions(record, f)?;
    if record.key_type != KeyType::Secret {
        return Err(Error::SecretKeyRequired);
    }
    Ok(())
}

/// Rules 1–4: the key's own restrictions, whatever the route.
fn key_restrictions(record: &KeyRecord, f: &RequestFacts) -> Result<Grant, Error> {
    let r = &record.restrictions;
    if record.key_type == KeyType::Secret && from_browser(f) {
        return Err(Error::SecretKeyInBrowser);
    }
    if let Some(ips) = &r.allowed_ips {
        let seen = f.client_ip.and_then(|s| s.trim().parse::<IpAddr>().ok());
        let ok = seen.is_some_and(|ip| ips.iter().filter_map(|n| parse_net(n)).any(|n| n.contains(&ip)));
        if !ok {
            return Err(Error::IpNotAllowed {
                ip: seen.map_or_else(|| "unknown".into(), |ip| ip.to_string()),
            });
        }
    }
    let request_origin = f
        .origin
        .filter(|o| *o != "null")
        .and_then(WebOrigin::parse)
        .or_else(|| f.referer.and_then(WebOrigin::parse));
    let mut grant = Grant::default();
    if record.key_type == KeyType::Publishable {
        if let Some(allowed) = &r.allowed_origins {
            let ok = request_origin.as_ref().is_some_and(|o| {
                allowed.iter().filter_map(|a| OriginRule::parse(a)).any(|rule| rule.allows(o))
            });
            if !ok {
                let seen = request_origin.as_ref().map_or_else(|| "none".into(), WebOrigin::serialize);
                return Err(Error::OriginNotAllowed { origin: seen });
            }
        }
        grant.cors_origin = f.origin.filter(|o| *o != "null").map(str::to_owned);
    }
    if let Some(endpoints) = &r.allowed_endpoints {
        let list = EndpointList(endpoints.iter().filter_map(|e| EndpointPattern::parse(e)).collect());
        if !list.allows(f.method, f.path) {
            return Err(Error::EndpointNotAllowed { method: f.method.to_owned(), path: clip(f.path) });
        }
    }
    Ok(grant)
}

fn clip(s: &str) -> String {
    s.chars().take(200).collect()
}

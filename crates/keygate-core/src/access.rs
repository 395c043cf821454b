//! Phase 4b of the edge path: what an authenticated key may do with *this* request.
//!
//! Rules, checked in this order (the first that fails decides):
//! 1. `secret_key_in_browser`: a secret key on a request that a browser made (`Origin` or
//!    `Sec-Fetch-Mode: cors`) is refused, and the key is reported as exposed;
//! 2. `ip_not_allowed`: the key's `allowed_ips` against `CF-Connecting-IP`;
//! 3. `origin_not_allowed`: a publishable key's `allowed_origins` against `Origin`, falling back
//!    to `Referer`;
//! 4. `endpoint_not_allowed`: the key's `allowed_endpoints`;
//! 5. by type: a publishable key only on the operator's allowlist (`publishable_key_not_allowed`),
//!    a restricted key only with the permission the route needs (`insufficient_permissions`).
//!
//! Mode pinning (`test_key_on_live_host`) is earlier still, in [`crate::gate`], from the prefix
//! alone and before any store read.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::Value;

use crate::Error;
use crate::key::{KeyType, Mode};
use crate::record::KeyRecord;

/// The most entries accepted in any one list or map of a key's settings.
pub const MAX_ENTRIES: usize = 100;

// ---------------------------------------------------------------------------------------------
// Endpoint patterns
// ---------------------------------------------------------------------------------------------

/// `METHOD /path/pattern`: the method exactly (or `*` for any), then path segments where `{name}`
/// or `*` matches exactly one non-empty segment and a final `**` matches any remainder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointPattern {
    method: Option<String>,
    segments: Vec<Segment>,
    source: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    One,
    Rest,
}

impl EndpointPattern {
    /// Parse `POST /v1/payment_intents/{id}/confirm`.
    pub fn parse(s: &str) -> Option<EndpointPattern> {
        let (method, path) = s.trim().split_once(' ')?;
        let method = match method {
            "*" => None,
            m if !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase()) => Some(m.to_owned()),
            _ => return None,
        };
        let path = path.trim();
        let rest = path.strip_prefix('/')?;
        let parts: Vec<&str> = if rest.is_empty() { vec![] } else { rest.split('/').collect() };
        let mut segments = Vec::with_capacity(parts.len());
        for (i, p) in parts.iter().enumerate() {
            segments.push(match *p {
                "" => return None,
                "**" if i + 1 == parts.len() => Segment::Rest,
                "**" => return None,
                "*" => Segment::One,
                p if p.starts_with('{') && p.ends_with('}') && p.len() > 2 => Segment::One,
                p if p.bytes().all(|b| b.is_ascii_graphic() && !b"{}*?#".contains(&b)) => {
                    Segment::Literal(p.to_owned())
                }
                _ => return None,
            });
        }
        let source = format!("{} {path}", method.as_deref().unwrap_or("*"));
        Some(EndpointPattern { method, segments, source })
    }

    /// Whether a request with `method` to `path` (no query) matches.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        if self.method.as_deref().is_some_and(|m| m != method) {
            return false;
        }
        self.matches_path(path)
    }

    /// Whether `path` matches, whatever the method.
    pub fn matches_path(&self, path: &str) -> bool {
        let Some(rest) = path.strip_prefix('/') else { return false };
        let parts: Vec<&str> = if rest.is_empty() { vec![] } else { rest.split('/').collect() };
        let mut i = 0;
        for seg in &self.segments {
            match seg {
                Segment::Rest => return true,
                Segment::One => {
                    if parts.get(i).is_none_or(|p| p.is_empty()) {
                        return false;
                    }
                }
                Segment::Literal(l) => {
                    if parts.get(i) != Some(&l.as_str()) {
                        return false;
                    }
                }
            }
            i += 1;
        }
        i == parts.len()
    }

    /// Whether every request this pattern matches is also matched by `other`.
    pub fn within(&self, other: &EndpointPattern) -> bool {
        if other.method.is_some() && self.method != other.method {
            return false;
        }
        for (i, seg) in other.segments.iter().enumerate() {
            match (seg, self.segments.get(i)) {
                (Segment::Rest, _) => return true,
                (Segment::One, Some(Segment::One | Segment::Literal(_))) => {}
                (Segment::Literal(l), Some(Segment::Literal(m))) if l == m => {}
                _ => return false,
            }
        }
        self.segments.len() == other.segments.len()
    }

    /// The method this pattern names (`None` for `*`).
    pub fn method(&self) -> Option<&str> {
        self.method.as_deref()
    }

    /// The pattern as written (normalised).
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

/// A list of endpoint patterns (the publishable allowlist, a key's `allowed_endpoints`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointList(pub Vec<EndpointPattern>);

impl EndpointList {
    /// Whether any pattern matches.
    pub fn allows(&self, method: &str, path: &str) -> bool {
        self.0.iter().any(|p| p.matches(method, path))
    }

    /// The methods allowed on `path`, for a CORS preflight (`None`: none match).
    pub fn methods_for(&self, path: &str) -> Option<Vec<String>> {
        let mut methods: Vec<String> = Vec::new();
        for p in self.0.iter().filter(|p| p.matches_path(path)) {
            let m = p.method().unwrap_or("GET, HEAD, POST, PUT, PATCH, DELETE").to_owned();
            if !methods.contains(&m) {
                methods.push(m);
            }
        }
        (!methods.is_empty()).then_some(methods)
    }

    /// Parse a JSON array of patterns. `what` names the setting in errors.
    pub fn from_json(v: &Value, what: &str) -> Result<EndpointList, String> {
        let items =
            v.as_array().ok_or_else(|| format!("`{what}` must be an array of \"METHOD /path\" strings"))?;
        if items.len() > MAX_ENTRIES {
            return Err(format!("`{what}` has more than {MAX_ENTRIES} entries"));
        }
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let s = item.as_str().ok_or_else(|| format!("`{what}` must contain strings"))?;
            out.push(EndpointPattern::parse(s).ok_or_else(|| {
                format!("`{what}`: {s:?} is not \"METHOD /path\" (segments: literal, {{param}}, *, final **)")
            })?);
        }
        Ok(EndpointList(out))
    }
}

/// The publishable allowlist used when the operator configures none.
pub const DEFAULT_PUBLISHABLE_ALLOWLIST: &str =
    r#"["POST /v1/tokens", "POST /v1/payment_methods", "POST /v1/payment_intents/{id}/confirm"]"#;

// ---------------------------------------------------------------------------------------------
// Permissions
// ---------------------------------------------------------------------------------------------

/// A restricted key's access to one resource. `write` implies `read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// No access.
    None,
    /// GET and HEAD.
    Read,
    /// Every method.
    Write,
}

impl Level {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "none",
            Level::Read => "read",
            Level::Write => "write",
        }
    }

    /// The level a request method needs: GET and HEAD read, everything else writes.
    pub fn required_for(method: &str) -> Level {
        match method {
            "GET" | "HEAD" => Level::Read,
            _ => Level::Write,
        }
    }
}

/// Resource → level.
pub type Permissions = BTreeMap<String, Level>;

/// `charges=read,refunds=write`: permissions for the identity header, sorted, without `none`.
pub fn permissions_header(p: &Permissions) -> String {
    p.iter()
        .filter(|(_, l)| **l != Level::None)
        .map(|(r, l)| format!("{r}={}", l.as_str()))
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether `s` may name a resource: 1–64 of `[a-z0-9_.]`.
pub fn valid_resource(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
}

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

/// How a request path maps to a restricted key's resource: explicit routes first, else the
/// segment right after `prefix` (by default `/v1/charges/ch_1` → `charges`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceMap {
    /// Path prefix whose next segment is the resource.
    pub prefix: String,
    /// Explicit (path pattern, resource) routes, checked first, in order.
    pub routes: Vec<(EndpointPattern, String)>,
}

impl Default for ResourceMap {
    fn default() -> Self {
        ResourceMap { prefix: "/v1/".into(), routes: Vec::new() }
    }
}

impl ResourceMap {
    /// The resource `path` belongs to, if any: the first route that matches, else by default
    /// `{prefix}{resource}` and `{prefix}{resource}/{id}` (a trailing `/` allowed). A deeper path
    /// (`/v1/charges/ch_1/refunds`) acts on another resource than its first segment names, so it
    /// belongs to none unless a route maps it: a restricted key is then refused.
    pub fn resource_for(&self, path: &str) -> Option<String> {
        if let Some((_, r)) = self.routes.iter().find(|(p, _)| p.matches_path(path)) {
            return Some(r.clone());
        }
        let rest = path.strip_prefix(&self.prefix)?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let mut parts = rest.split('/');
        let seg = parts.next()?;
        if parts.next().is_some_and(str::is_empty) || parts.next().is_some() {
            return None;
        }
        valid_resource(seg).then(|| seg.to_owned())
    }

    /// Parse `{"prefix": "/v1/", "routes": {"/v1/checkout/sessions/**": "checkout_sessions"}}`.
    pub fn from_json(v: &Value) -> Result<ResourceMap, String> {
        let obj = v.as_object().ok_or("RESOURCE_MAP must be a JSON object")?;
        let mut map = ResourceMap::default();
        if let Some(p) = obj.get("prefix") {
            let p = p
                .as_str()
                .filter(|p| p.starts_with('/') && p.ends_with('/'))
                .ok_or("`prefix` must start and end with /")?;
            map.prefix = p.to_owned();
        }
        if let Some(routes) = obj.get("routes") {
            let routes = routes.as_object().ok_or("`routes` must map path patterns to resources")?;
            for (pattern, resource) in routes {
                let p = EndpointPattern::parse(&format!("* {pattern}"))
                    .ok_or(format!("bad route pattern {pattern:?}"))?;
                let r = resource
                    .as_str()
                    .filter(|r| valid_resource(r))
                    .ok_or(format!("bad resource for {pattern:?}"))?;
                map.routes.push((p, r.to_owned()));
            }
        }
        Ok(map)
    }
}

// ---------------------------------------------------------------------------------------------
// Per-key restrictions
// ---------------------------------------------------------------------------------------------

/// Per-key restrictions, any key type. `None` means unrestricted.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Restrictions {
    /// IPv4/IPv6 addresses and CIDR ranges (normalised CIDR strings).
    #[serde(default)]
    pub allowed_ips: Option<Vec<String>>,
    /// Web origins (publishable keys): `https://shop.example.com`, `https://*.example.com`.
    #[serde(default)]
    pub allowed_origins: Option<Vec<String>>,
    /// `METHOD /path` patterns the key may call.
    #[serde(default)]
    pub allowed_endpoints: Option<Vec<String>>,
}

/// Parse an address or CIDR range into a network (a bare address is a /32 or /128).
pub fn parse_net(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>().ok().map(|n| n.trunc()).or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
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

/// A web origin rule: scheme, host (optionally `*.` + suffix) and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginRule {
    scheme: String,
    host: HostRule,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostRule {
    Exact(String),
    /// Any host ending in `.suffix` (one or more labels), never the bare suffix.
    Subdomains(String),
}

impl OriginRule {
    /// Parse `https://shop.example.com`, `https://*.example.com`, `http://localhost:3000`.
    pub fn parse(s: &str) -> Option<OriginRule> {
        let (scheme, rest) = s.split_once("://")?;
        if !matches!(scheme, "http" | "https") || rest.contains(['/', '?', '#', '@']) {
            return None;
        }
        let (host, wildcard) = match rest.strip_prefix("*.") {
            Some(h) => (h, true),
            None => (rest, false),
        };
        let u = url::Url::parse(&format!("{scheme}://{host}")).ok()?;
        let h = u.host_str()?.to_owned();
        if wildcard && !h.contains('.') {
            return None;
        }
        let host = if wildcard { HostRule::Subdomains(h) } else { HostRule::Exact(h) };
        Some(OriginRule { scheme: scheme.to_owned(), host, port: u.port() })
    }

    /// Whether every origin this rule allows is also allowed by `other`.
    pub fn within(&self, other: &OriginRule) -> bool {
        let under = |h: &str, s: &str| {
            h.len() > s.len() + 1 && h.ends_with(s) && h.as_bytes()[h.len() - s.len() - 1] == b'.'
        };
        self.scheme == other.scheme
            && self.port == other.port
            && match (&self.host, &other.host) {
                (HostRule::Exact(a), HostRule::Exact(b)) => a == b,
                (HostRule::Exact(a), HostRule::Subdomains(s)) => under(a, s),
                (HostRule::Subdomains(a), HostRule::Subdomains(s)) => a == s || under(a, s),
                (HostRule::Subdomains(_), HostRule::Exact(_)) => false,
            }
    }

    /// Whether the origin `o` (as a parsed URL) is allowed.
    pub fn allows(&self, o: &url::Url) -> bool {
        let Some(h) = o.host_str() else { return false };
        o.scheme() == self.scheme
            && o.port() == self.port
            && match &self.host {
                HostRule::Exact(e) => h == e,
                HostRule::Subdomains(s) => {
                    h.len() > s.len() + 1
                        && h.ends_with(s.as_str())
                        && h.as_bytes()[h.len() - s.len() - 1] == b'.'
                }
            }
    }
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

/// Whether the request was made by a browser's fetch machinery.
pub fn from_browser(f: &RequestFacts) -> bool {
    f.origin.is_some() || f.sec_fetch_mode.is_some_and(|m| m.eq_ignore_ascii_case("cors"))
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
        .and_then(|o| url::Url::parse(o).ok())
        .or_else(|| f.referer.and_then(|r| url::Url::parse(r).ok()));
    let mut grant = Grant::default();
    if record.key_type == KeyType::Publishable {
        if let Some(allowed) = &r.allowed_origins {
            let ok = request_origin.as_ref().is_some_and(|o| {
                allowed.iter().filter_map(|a| OriginRule::parse(a)).any(|rule| rule.allows(o))
            });
            if !ok {
                let seen = request_origin
                    .as_ref()
                    .map_or_else(|| "none".into(), |o| o.origin().ascii_serialization());
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

/// Hostnames pinned to a mode (`LIVE_HOSTS`, `TEST_HOSTS`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostPins {
    /// Hosts that serve live keys only.
    pub live: Vec<String>,
    /// Hosts that serve test keys only.
    pub test: Vec<String>,
}

impl HostPins {
    /// Parse comma-separated host lists.
    pub fn parse(live: &str, test: &str) -> HostPins {
        let split =
            |s: &str| s.split(',').map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty()).collect();
        HostPins { live: split(live), test: split(test) }
    }

    /// Refuse a key whose mode the host does not serve.
    pub fn check(&self, host: Option<&str>, mode: Mode) -> Result<(), Error> {
        let Some(host) = host.map(str::to_ascii_lowercase) else { return Ok(()) };
        match mode {
            Mode::Test if self.live.contains(&host) => Err(Error::ModeMismatch { key_mode: Mode::Test }),
            Mode::Live if self.test.contains(&host) => Err(Error::ModeMismatch { key_mode: Mode::Live }),
            _ => Ok(()),
        }
    }
}

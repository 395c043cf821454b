//! The pattern languages of the edge's rules: `METHOD /path` endpoint patterns, web-origin rules,
//! IP networks, and the map from paths to restricted keys' resources.

use crate::domain::web_url::WebOrigin;
use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::Value;

use crate::domain::settings::{MAX_ENTRIES, valid_resource};

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
        let strings: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
        Self::from_strs(&strings.ok_or_else(|| format!("`{what}` must contain strings"))?, what)
    }

    /// Parse a JSON array of patterns from its text (configuration: without the JSON value
    /// type, which the lean edge need not link).
    pub fn parse_json(text: &str, what: &str) -> Result<EndpointList, String> {
        let items: Vec<String> =
            serde_json::from_str(text).map_err(|_| format!("`{what}` is not a JSON array of strings"))?;
        Self::from_strs(&items, what)
    }

    /// Parse patterns.
    pub fn from_strs<S: AsRef<str>>(items: &[S], what: &str) -> Result<EndpointList, String> {
        if items.len() > MAX_ENTRIES {
            return Err(format!("`{what}` has more than {MAX_ENTRIES} entries"));
        }
        let mut out = Vec::with_capacity(items.len());
        for s in items {
            let s = s.as_ref();
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

    /// Parse `RESOURCE_MAP` from its text (without the JSON value type, which the lean edge need
    /// not link). Routes are taken in the order of their patterns, as [`ResourceMap::from_json`]
    /// takes them.
    pub fn parse_json(text: &str) -> Result<ResourceMap, String> {
        #[derive(serde::Deserialize)]
        struct Raw {
            prefix: Option<String>,
            routes: Option<std::collections::BTreeMap<String, String>>,
        }
        let raw: Raw =
            serde_json::from_str(text).map_err(|_| "RESOURCE_MAP must be a JSON object".to_owned())?;
        let mut map = ResourceMap::default();
        if let Some(p) = raw.prefix {
            if !(p.starts_with('/') && p.ends_with('/')) {
                return Err("`prefix` must start and end with /".into());
            }
            map.prefix = p;
        }
        for (pattern, resource) in raw.routes.unwrap_or_default() {
            map.routes.push(Self::route(&pattern, Some(&resource))?);
        }
        Ok(map)
    }

    fn route(pattern: &str, resource: Option<&str>) -> Result<(EndpointPattern, String), String> {
        let p = EndpointPattern::parse(&format!("* {pattern}"))
            .ok_or(format!("bad route pattern {pattern:?}"))?;
        let r = resource.filter(|r| valid_resource(r)).ok_or(format!("bad resource for {pattern:?}"))?;
        Ok((p, r.to_owned()))
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
                map.routes.push(Self::route(pattern, resource.as_str())?);
            }
        }
        Ok(map)
    }
}

/// Parse an address or CIDR range into a network (a bare address is a /32 or /128).
pub fn parse_net(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>().ok().map(|n| n.trunc()).or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
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
        let u = WebOrigin::parse(&format!("{scheme}://{host}"))?;
        if wildcard && !u.host.contains('.') {
            return None;
        }
        let host = if wildcard { HostRule::Subdomains(u.host) } else { HostRule::Exact(u.host) };
        Some(OriginRule { scheme: u.scheme.to_owned(), host, port: u.port })
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

    /// Whether the origin `o` is allowed.
    pub fn allows(&self, o: &WebOrigin) -> bool {
        let h = o.host.as_str();
        o.scheme == self.scheme
            && o.port == self.port
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

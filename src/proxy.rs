//! The upstream request: same method, path, query and body (streamed), with the header plan the
//! core decides (`keygate_core::policy::upstream`): the credential and any identity-like client
//! header removed, keygate's signed identity added.

use keygate_core::Error;
use keygate_core::policy::decision::Deprecation;
use keygate_core::policy::identity::{Identity, Target};
use keygate_core::policy::upstream as upstream_plan;
use worker::Url;

use crate::context::RequestContext;
use crate::upstream::{self, Edits};

/// The URL at the origin for a request to `url`: the origin's scheme, host and base path, then
/// the request's path and query. Parsed, so that what is signed is exactly what is sent.
pub fn target(origin: &Url, url: &Url) -> Result<Url, Error> {
    let base = origin.as_str().trim_end_matches('/');
    let joined = match url.query() {
        Some(q) => format!("{base}{}?{q}", url.path()),
        None => format!("{base}{}", url.path()),
    };
    Url::parse(&joined).map_err(|_| Error::Internal { what: "building the origin URL" })
}

/// What the upstream request is made of, besides the request itself.
pub struct Upstream<'a> {
    /// The key's mode's origin.
    pub origin: &'a Url,
    /// The identity to send.
    pub identity: &'a Identity<'a>,
    /// The signing secrets (current first).
    pub signing: &'a [keygate_verify::Secret],
    /// Set while the key is rolling.
    pub deprecation: Option<Deprecation>,
    /// The origin to allow (publishable keys from an allowed origin).
    pub cors_origin: Option<&'a str>,
    /// What the client is told of its key's usage controls.
    pub usage_headers: &'a [(&'static str, String)],
}

/// Forward `req` to its origin with a signed identity, and return the origin's answer with
/// keygate's headers: the core's header plan, applied in one call into JavaScript.
pub async fn forward(
    req: web_sys::Request,
    url: &Url,
    rc: &RequestContext,
    up: Upstream<'_>,
) -> Result<web_sys::Response, Error> {
    let method = rc.method.as_str();
    let to = target(up.origin, url)?;
    let host = match (to.host_str(), to.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        (None, _) => return Err(Error::Misconfigured { what: "ORIGIN_TEST/ORIGIN_LIVE host" }),
    };
    let path = match to.query() {
        Some(q) => format!("{}?{q}", to.path()),
        None => to.path().to_owned(),
    };
    let signature = up.identity.signature(up.signing, rc.now, Target { method, host: &host, path: &path });
    let plan = upstream_plan::plan(rc.names(), up.identity, signature, up.cors_origin, up.deprecation);
    let mut request = Edits::default();
    for name in &plan.drop {
        request.drop(name)?;
    }
    for (name, value) in &plan.set {
        request.set(name, value)?;
    }
    let mut answer = Edits::default();
    answer.drop_prefix(plan.answer_drop_prefix);
    for (name, value) in plan.answer_set.iter().chain(up.usage_headers) {
        answer.set(name, value)?;
    }
    for (name, value) in &plan.answer_append {
        answer.append(name, value)?;
    }
    // Redirects are not followed: the client gets the origin's 3xx as it is.
    upstream::send(&req, method, to.as_str(), &request, &answer).await
}

//! The upstream request: same method, path, query and body (streamed), with the header plan the
//! core decides (`keygate_core::policy::upstream`): the credential and any identity-like client
//! header removed, keygate's signed identity added.

use keygate_core::Error;
use keygate_core::domain::web_url::{BaseUrl, RequestUrl};
use keygate_core::policy::decision::Deprecation;
use keygate_core::policy::identity::{Identity, Target};
use keygate_core::policy::upstream as upstream_plan;

use crate::context::RequestContext;
use crate::upstream::{self, Edits};

/// What the upstream request is made of, besides the request itself.
pub struct Upstream<'a> {
    /// The key's mode's origin.
    pub origin: &'a BaseUrl,
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
    url: &RequestUrl,
    rc: &RequestContext,
    up: Upstream<'_>,
) -> Result<web_sys::Response, Error> {
    let method = rc.method.as_str();
    // The request's path is already canonical (the request filter refused any other), so
    // what is signed is exactly what is sent.
    let (to, path) = up.origin.target(url.path(), url.query());
    let host = up.origin.host_and_port();
    let signature = up.identity.signature(up.signing, rc.now, Target { method, host: &host, path: &path });
    let plan = upstream_plan::plan(rc.names(), up.identity, signature, up.cors_origin, up.deprecation);
    let mut request = Edits::default();
    for name in &plan.drop {
        request.drop(name)?;
    }
    // keygate's own session cookies (the portal's, the console's) stay with keygate.
    if rc.names().any(|n| n == "cookie") {
        let cookie = req.headers().get("cookie").ok().flatten().unwrap_or_default();
        match upstream_plan::forwarded_cookie(&cookie) {
            None => {}
            Some(None) => request.drop("cookie")?,
            Some(Some(rest)) => request.set("Cookie", &rest)?,
        }
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
    upstream::send(&req, method, &to, &request, &answer).await
}

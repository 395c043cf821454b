//! The upstream request: same method, path, query and body (streamed), the credential and any
//! identity-like client header removed, keygate's identity added.

use keygate_core::Error;
use keygate_core::clock::Clock;
use keygate_core::policy::decision::Deprecation;
use keygate_core::policy::identity::{Identity, Target, must_strip, names};
use keygate_core::time::http_date;
use worker::{Request, Url};

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

/// Forward `req` to `origin` with `identity`, and return the origin's answer with the request id.
pub async fn forward(
    req: Request,
    url: &Url,
    origin: &Url,
    identity: &Identity<'_>,
    signing: &[keygate_verify::Secret],
    deprecation: Option<Deprecation>,
    cors_origin: Option<String>,
) -> Result<web_sys::Response, Error> {
    let method = req.method();
    let to = target(origin, url)?;
    let host = match (to.host_str(), to.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        (None, _) => return Err(Error::Misconfigured { what: "ORIGIN_TEST/ORIGIN_LIVE host" }),
    };
    let path = match to.query() {
        Some(q) => format!("{}?{q}", to.path()),
        None => to.path().to_owned(),
    };
    let signature = identity.signature(
        signing,
        crate::platform::WorkerClock.now(),
        Target { method: method.as_ref(), host: &host, path: &path },
    );
    // The request's headers are copied on the JS side; only their names cross into wasm, to
    // find what to drop.
    let mut request = Edits::default();
    for name in upstream::names(req.headers()).split('\n').filter(|n| !n.is_empty()) {
        // `host` is set by the platform from the target URL.
        if must_strip(name) || name == "host" {
            request.drop(name)?;
        }
    }
    for (name, value) in identity.headers() {
        request.set(name, value)?;
    }
    // Without the credential, a shared cache between keygate and the origin could store one
    // account's answer and serve it to another: tell every cache on the way not to.
    request.set("Cache-Control", "no-store")?;
    request.set(keygate_verify::HEADER, &signature)?;

    // The origin's answer: its headers, with the request id added.
    let mut answer = Edits::default();
    answer.set(names::REQUEST_ID, identity.request_id)?;
    // CORS is keygate's decision: whatever the origin said is replaced.
    answer.drop_prefix("access-control-");
    if let Some(o) = cors_origin {
        answer.set("Access-Control-Allow-Origin", &o)?;
        answer.set("Access-Control-Expose-Headers", "Keygate-Request-Id, Deprecation, Sunset")?;
        answer.append("Vary", "Origin")?;
    }
    if let Some(d) = deprecation {
        // RFC 9745 and RFC 8594: this key has a successor and stops working at `sunset`.
        answer.set("Deprecation", &format!("@{}", d.rolled_at))?;
        answer.set("Sunset", &http_date(d.sunset))?;
    }
    // Redirects are not followed: the client gets the origin's 3xx as it is.
    upstream::send(&req, &method, to.as_str(), &request, &answer).await
}

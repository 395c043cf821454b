//! The upstream request: same method, path, query and body (streamed), the credential and any
//! identity-like client header removed, keygate's identity added.

use keygate_core::Error;
use keygate_core::clock::Clock;
use keygate_core::identity::{Identity, Target, must_strip, names};
use keygate_core::policy::Deprecation;
use keygate_core::time::http_date;
use worker::{Fetch, Method, Request, RequestInit, RequestRedirect, Response, Url};

use crate::headers::{self, Edits};

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
    identity: &Identity,
    signing: &[keygate_verify::Secret],
    deprecation: Option<Deprecation>,
    cors_origin: Option<String>,
) -> Result<Response, Error> {
    let internal = |_| Error::Internal { what: "building the upstream request" };
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
    // The request's headers, copied on the JS side; only their names cross into wasm, to find
    // what to drop.
    let mut edits = Edits::new("building the upstream request's headers");
    for name in headers::names(req.headers()) {
        // `host` is set by the platform from the target URL.
        if must_strip(&name) || name == "host" {
            edits.drop(&name)?;
        }
    }
    for (name, value) in identity.headers() {
        edits.set(name, value)?;
    }
    edits.set(keygate_verify::HEADER, &signature)?;
    let headers = edits.apply(req.headers())?;
    let mut init = RequestInit::new();
    init.with_method(method.clone()).with_headers(headers).with_redirect(RequestRedirect::Manual);
    if !matches!(method, Method::Get | Method::Head) {
        // The body stream is handed on as it is: never buffered.
        init.with_body(req.inner().body().map(Into::into));
    }
    let upstream = Request::new_with_init(to.as_str(), &init).map_err(internal)?;
    let resp = Fetch::Request(upstream).send().await.map_err(|_| Error::OriginUnavailable)?;

    // The origin's headers are immutable: copy them, with the request id added.
    let mut edits = Edits::new("copying the origin's headers");
    edits.set(names::REQUEST_ID, &identity.request_id)?;
    // CORS is keygate's decision: whatever the origin said is replaced.
    edits.drop_prefix("access-control-");
    if let Some(o) = cors_origin {
        edits.set("Access-Control-Allow-Origin", &o)?;
        edits.set("Access-Control-Expose-Headers", "Keygate-Request-Id, Deprecation, Sunset")?;
        edits.append("Vary", "Origin")?;
    }
    if let Some(d) = deprecation {
        // RFC 9745 and RFC 8594: this key has a successor and stops working at `sunset`.
        edits.set("Deprecation", &format!("@{}", d.rolled_at))?;
        edits.set("Sunset", &http_date(d.sunset))?;
    }
    let out = edits.apply(resp.headers())?;
    let status = resp.status_code();
    let (_, body) = resp.into_parts();
    Ok(Response::builder().with_status(status).with_headers(out).body(body))
}

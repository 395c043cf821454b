//! The upstream request: same method, path, query and body (streamed), the credential and any
//! identity-like client header removed, keygate's identity added.

use keygate_core::Error;
use keygate_core::clock::Clock;
use keygate_core::identity::{Identity, Target, must_strip, names};
use keygate_core::policy::Deprecation;
use keygate_core::time::http_date;
use worker::{Fetch, Headers, Method, Request, RequestInit, RequestRedirect, Response, Url};

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
    // Copied on the JS side in one call; only the names cross into wasm, to find what to drop.
    let headers = web_sys::Headers::new_with_headers(&req.headers().0)
        .map(Headers)
        .map_err(|_| Error::Internal { what: "copying the request's headers" })?;
    for name in req.headers().keys() {
        // `host` is set by the platform from the target URL.
        if must_strip(&name) || name.eq_ignore_ascii_case("host") {
            headers.delete(&name).map_err(internal)?;
        }
    }
    for (name, value) in identity.headers() {
        headers.set(name, value).map_err(internal)?;
    }
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
    headers.set(keygate_verify::HEADER, &signature).map_err(internal)?;
    let mut init = RequestInit::new();
    init.with_method(method.clone()).with_headers(headers).with_redirect(RequestRedirect::Manual);
    if !matches!(method, Method::Get | Method::Head) {
        // The body stream is handed on as it is: never buffered.
        init.with_body(req.inner().body().map(Into::into));
    }
    let upstream = Request::new_with_init(to.as_str(), &init).map_err(internal)?;
    let resp = Fetch::Request(upstream).send().await.map_err(|_| Error::OriginUnavailable)?;

    // The origin's headers are immutable: copy them, then add the request id.
    let out = web_sys::Headers::new_with_headers(&resp.headers().0)
        .map(Headers)
        .map_err(|_| Error::Internal { what: "copying the origin's headers" })?;
    let _ = out.set(names::REQUEST_ID, &identity.request_id);
    // CORS is keygate's decision: whatever the origin said is replaced.
    let cors_names: Vec<String> =
        out.keys().filter(|k| k.to_ascii_lowercase().starts_with("access-control-")).collect();
    for name in cors_names {
        let _ = out.delete(&name);
    }
    if let Some(o) = cors_origin {
        let _ = out.set("Access-Control-Allow-Origin", &o);
        let _ = out.set("Access-Control-Expose-Headers", "Keygate-Request-Id, Deprecation, Sunset");
        let _ = out.append("Vary", "Origin");
    }
    if let Some(d) = deprecation {
        // RFC 9745 and RFC 8594: this key has a successor and stops working at `sunset`.
        let _ = out.set("Deprecation", &format!("@{}", d.rolled_at));
        let _ = out.set("Sunset", &http_date(d.sunset));
    }
    let status = resp.status_code();
    let (_, body) = resp.into_parts();
    Ok(Response::builder().with_status(status).with_headers(out).body(body))
}

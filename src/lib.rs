//! keygate: an API-key authenticator at the edge. This crate is the thin worker glue: the fetch
//! handler, the KV and Durable Object adapters and the proxy. All logic is in `keygate-core`.
//!
//! Two builds come from it:
//! * with the `authority` feature (the default): the whole of keygate in one worker, the
//!   `KeyStore` Durable Object and the management API included;
//! * without it: the lean edge, only the request path. It reaches the `KeyStore` objects through
//!   a binding to the full worker's class, and hands `/_keygate/…` to that worker unchanged.

mod config;
mod context;
mod edge;
#[cfg(feature = "authority")]
mod http;
mod keystore;
mod kv;
mod log;
#[cfg(feature = "authority")]
mod management;
mod platform;
#[cfg(feature = "authority")]
mod portal;
mod proxy;
mod quota;
mod respond;
#[cfg(feature = "authority")]
mod scanning;
mod throttle;
mod upstream;
mod usage;
#[cfg(feature = "authority")]
mod webhooks;

#[cfg(feature = "authority")]
pub use keystore::KeyStore;

use keygate_core::Error;
use keygate_core::domain::web_url::RequestUrl;
use keygate_core::policy::request_shape;
use worker::{Context, Env, Request, Response, event};

/// Every request, as phases over one [`context::RequestContext`]: the request filter (HTTPS, its
/// shape, throttling), then the management API or the edge path (credential → key → record →
/// decision → access → upstream request → response). Errors become JSON here and only here.
#[event(fetch)]
async fn fetch(
    req: web_sys::Request,
    env: Env,
    ctx: Context,
) -> Result<web_sys::Response, std::convert::Infallible> {
    // Parsed once: the context, the request filter and the edge path all use this one.
    let url = RequestUrl::parse(req.url());
    let mut rc = context::RequestContext::new(&req, url.as_ref().map_or("", |u| u.path()));
    let outcome = match url {
        Some(url) => route(req, &url, &env, &ctx, &mut rc).await,
        None => Err(Error::Internal { what: "reading the request URL" }),
    };
    let response = match outcome {
        Ok(r) => {
            rc.log.decision = "allow";
            r
        }
        Err(e) => {
            rc.log.code = Some(e.code().to_owned());
            respond::error(&e, &rc.request_id, &config::doc_url(&env), &rc.refusal_headers, rc.challenge)
                .into()
        }
    };
    rc.log.status = response.status();
    rc.log.latency_ms = worker::Date::now().as_millis().saturating_sub(rc.started_ms);
    rc.log.emit(rc.now, config::key_format(&env).ok(), || rc.address());
    Ok(response)
}

async fn route(
    req: web_sys::Request,
    url: &RequestUrl,
    env: &Env,
    ctx: &Context,
    rc: &mut context::RequestContext,
) -> Result<web_sys::Response, Error> {
    rc.log.level = Some(config::log_requests(env)?);
    // HTTPS only, decided from the URL the platform saw. A client's X-Forwarded-Proto never counts.
    if url.scheme() != "https" {
        // A real key that crossed the network in clear text is exposed: find out in the
        // background, so the refusal is never slowed.
        edge::report_plain_http(&req.headers(), url, env, ctx, rc);
        return Err(Error::HttpsRequired);
    }
    if url.path().len() + url.query().map_or(0, str::len) > keygate_core::error::MAX_URI_LEN {
        return Err(Error::UriTooLong);
    }
    // The request's shape, before any key: a method every origin reads alike, no method
    // override, and a path no origin can read as another resource than the one decided on.
    request_shape::check_method(&rc.method)?;
    request_shape::check_path(url.path())?;
    request_shape::check_override(rc.names(), url.query())?;
    // A throttled address keeps only what it proves without a store read.
    let throttle = throttle::for_request(|| rc.address(), rc.now);
    let path = url.path();
    let outcome = if path == "/_keygate" || path.starts_with("/_keygate/") {
        // Only the management API reads the request as worker's `Request` (its body, its
        // method as an enum).
        management(Request::from(req), url, env, ctx, rc, throttle).await.map(Into::into)
    } else if config::is_portal_host(env, url.host_str()) {
        // The key portal's own host serves nothing of the origin's: no page of the API's origin
        // may share the portal's origin (it could script the portal's API with its cookie).
        Err(Error::NotFound { what: "route".into() })
    } else if let Some(refusal) = edge::throttled_shortcut(&req, url, &rc.method, &throttle) {
        Err(refusal)
    } else {
        edge::handle(req, url, env, ctx, rc, throttle).await
    };
    match outcome {
        Err(e) if e.counts_as_failed_auth() => Err(throttle::on_failure(env, rc.address(), rc.now, e).await),
        other => other,
    }
}

/// The management API, served here.
#[cfg(feature = "authority")]
async fn management(
    req: Request,
    url: &RequestUrl,
    env: &Env,
    ctx: &Context,
    rc: &mut context::RequestContext,
    throttle: keygate_core::policy::throttle::Throttle<'_>,
) -> Result<Response, Error> {
    if portal::serves(url.path()) {
        // The key portal's and the console's pages and their APIs; a browser must never be
        // challenged there (it would open its own login dialog).
        rc.challenge = false;
        return portal::handle(req, url, env, rc, throttle).await;
    }
    management::handle(req, url, env, ctx, rc, throttle).await
}

/// The management API, served by the full worker: the request is handed over unchanged through
/// the `AUTHORITY` service binding, which authenticates and throttles it itself.
#[cfg(not(feature = "authority"))]
async fn management(
    req: Request,
    _: &RequestUrl,
    env: &Env,
    _: &Context,
    _: &mut context::RequestContext,
    _: keygate_core::policy::throttle::Throttle<'_>,
) -> Result<Response, Error> {
    let authority = env
        .service(config::AUTHORITY_BINDING)
        .map_err(|_| Error::Misconfigured { what: config::AUTHORITY_BINDING })?;
    let response = authority.fetch_request(req).await.map_err(|_| Error::StoreUnavailable)?;
    // The full worker answers every management request in keygate's JSON shape, and every answer
    // of the portal and the console (a page, a redirect) with its request id. Anything else is
    // the platform speaking for a worker that is down, missing or crashed: an outage of the
    // authority, reported as one.
    let header = |name: &str| response.headers().get(name).ok().flatten();
    let json = header("content-type").is_some_and(|t| t.starts_with("application/json"));
    let keygate = header(keygate_core::policy::identity::names::REQUEST_ID).is_some();
    if json || keygate { Ok(response) } else { Err(Error::StoreUnavailable) }
}

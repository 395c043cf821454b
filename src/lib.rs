//! keygate: an API-key authenticator at the edge. This crate is the thin worker glue: the fetch
//! handler, the KV and Durable Object adapters and the proxy. All logic is in `keygate-core`.
//!
//! Two builds come from it:
//! * with the `authority` feature (the default): the whole of keygate in one worker, the
//!   `KeyStore` Durable Object and the management API included;
//! * without it: the lean edge, only the request path. It reaches the `KeyStore` objects through
//!   a binding to the full worker's class, and hands `/_keygate/…` to that worker unchanged.

mod config;
mod edge;
mod keystore;
mod kv;
mod log;
#[cfg(feature = "authority")]
mod management;
mod platform;
mod proxy;
mod respond;
mod throttle;
mod upstream;
mod usage;

#[cfg(feature = "authority")]
pub use keystore::KeyStore;

use keygate_core::Error;
use keygate_core::policy::request_shape;
use worker::{Context, Env, Request, Response, event};

/// Every request: HTTPS check, then the admin API or the edge path. Errors become JSON here and
/// only here.
#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<web_sys::Response> {
    let started = worker::Date::now().as_millis();
    let request_id = platform::request_id();
    let mut log = log::RequestLog::new(&request_id, req.method().as_ref(), &req.path());
    let outcome = route(req, &env, &ctx, &request_id, &mut log).await;
    let response = match outcome {
        Ok(r) => {
            log.decision = "allow";
            r
        }
        Err(e) => {
            log.code = Some(e.code().to_owned());
            respond::error(&e, &request_id, &config::doc_url(&env)).into()
        }
    };
    log.status = response.status();
    log.latency_ms = worker::Date::now().as_millis().saturating_sub(started);
    log.emit();
    Ok(response)
}

async fn route(
    req: Request,
    env: &Env,
    ctx: &Context,
    request_id: &str,
    log: &mut log::RequestLog,
) -> Result<web_sys::Response, Error> {
    log.level = Some(config::log_requests(env)?);
    let url = req.url().map_err(|_| Error::Internal { what: "reading the request URL" })?;
    // HTTPS only, decided from the URL the platform saw. A client's X-Forwarded-Proto never counts.
    let ip = req.headers().get("cf-connecting-ip").ok().flatten().unwrap_or_else(|| "unknown".into());
    if url.scheme() != "https" {
        // A real key that crossed the network in clear text is exposed: find out in the
        // background, so the refusal is never slowed.
        edge::report_plain_http(&req, &url, env, ctx, &ip);
        return Err(Error::HttpsRequired);
    }
    if url.path().len() + url.query().map_or(0, str::len) > keygate_core::error::MAX_URI_LEN {
        return Err(Error::UriTooLong);
    }
    // The request's shape, before any key: a method every origin reads alike, no method
    // override, and a path no origin can read as another resource than the one decided on.
    request_shape::check_method(&req.inner().method())?;
    request_shape::check_path(url.path())?;
    let names: Vec<String> = req.headers().keys().collect();
    request_shape::check_override(names.iter().map(String::as_str), url.query())?;
    // A throttled address keeps only what it proves without a store read.
    let throttle = throttle::for_request(&ip);
    let path = url.path();
    let outcome = if path == "/_keygate" || path.starts_with("/_keygate/") {
        management(req, &url, env, ctx, request_id, throttle).await.map(Into::into)
    } else {
        edge::handle(req, &url, env, ctx, request_id, throttle, log).await
    };
    match outcome {
        Err(e) if e.counts_as_failed_auth() => Err(throttle::on_failure(env, &ip, e).await),
        other => other,
    }
}

/// The management API, served here.
#[cfg(feature = "authority")]
async fn management(
    req: Request,
    url: &worker::Url,
    env: &Env,
    ctx: &Context,
    request_id: &str,
    throttle: keygate_core::policy::throttle::Throttle<'_>,
) -> Result<Response, Error> {
    management::handle(req, url, env, ctx, request_id, throttle).await
}

/// The management API, served by the full worker: the request is handed over unchanged through
/// the `AUTHORITY` service binding, which authenticates and throttles it itself.
#[cfg(not(feature = "authority"))]
async fn management(
    req: Request,
    _: &worker::Url,
    env: &Env,
    _: &Context,
    _: &str,
    _: keygate_core::policy::throttle::Throttle<'_>,
) -> Result<Response, Error> {
    let authority = env
        .service(config::AUTHORITY_BINDING)
        .map_err(|_| Error::Misconfigured { what: config::AUTHORITY_BINDING })?;
    let response = authority.fetch_request(req).await.map_err(|_| Error::StoreUnavailable)?;
    // The full worker answers every management request in keygate's JSON shape. Anything else is
    // the platform speaking for a worker that is down, missing or crashed: an outage of the
    // authority, reported as one.
    let json = response
        .headers()
        .get("content-type")
        .ok()
        .flatten()
        .is_some_and(|t| t.starts_with("application/json"));
    if json { Ok(response) } else { Err(Error::StoreUnavailable) }
}

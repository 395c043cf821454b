//! keygate: an API-key authenticator at the edge. This crate is the thin worker glue: the fetch
//! handler, the KV and Durable Object adapters and the proxy. All logic is in `keygate-core`.

mod admin;
mod config;
mod edge;
mod keystore;
mod kv;
mod log;
mod platform;
mod proxy;
mod respond;
mod throttle;
mod usage;

pub use keystore::KeyStore;

use keygate_core::Error;
use worker::{Context, Env, Request, Response, event};

/// Every request: HTTPS check, then the admin API or the edge path. Errors become JSON here and
/// only here.
#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
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
            respond::error(&e, &request_id, &config::doc_url(&env))
        }
    };
    log.status = response.status_code();
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
) -> Result<Response, Error> {
    log.level = Some(config::log_requests(env)?);
    let url = req.url().map_err(|_| Error::Internal { what: "reading the request URL" })?;
    // HTTPS only, decided from the URL the platform saw. A client's X-Forwarded-Proto never counts.
    if url.scheme() != "https" {
        // A real key that crossed the network in clear text is exposed: find out in the
        // background, so the refusal is never slowed.
        edge::report_plain_http(&req, &url, env, ctx);
        return Err(Error::HttpsRequired);
    }
    if url.path().len() + url.query().map_or(0, str::len) > keygate_core::error::MAX_URI_LEN {
        return Err(Error::UriTooLong);
    }
    // Throttled addresses are refused before any key handling or store read.
    let ip = req.headers().get("cf-connecting-ip").ok().flatten().unwrap_or_else(|| "unknown".into());
    throttle::check(&ip)?;
    let path = url.path();
    let outcome = if path == "/_keygate" || path.starts_with("/_keygate/") {
        admin::handle(req, &url, env, request_id).await
    } else {
        edge::handle(req, &url, env, ctx, request_id, log).await
    };
    match outcome {
        Err(e) if e.counts_as_failed_auth() => Err(throttle::on_failure(env, &ip, e).await),
        other => other,
    }
}

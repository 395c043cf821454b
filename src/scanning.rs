//! Leak reports, in the full worker: GitHub's secret-scanning partner endpoint
//! (`POST /_keygate/v1/secret-scanning/github`, authenticated by GitHub's signature alone) and
//! the operator's own (`POST /_keygate/v1/leaks`). Both triage the reported tokens
//! (`keygate_core::commands::leaks`), have each key's authority flag or end it (`ON_LEAK`), and
//! answer GitHub's feedback format. The logic is in the core; here are the fetch of GitHub's
//! signing keys, KV and the calls to the authorities.

use std::cell::RefCell;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::{Either, select};
use keygate_core::Error;
use keygate_core::api::leaks::{self, Feedback};
use keygate_core::commands::leaks::triage;
use keygate_core::domain::leak::{REASON_GITHUB, REASON_OPERATOR, Sighting};
use keygate_core::policy::leaks::{
    KEY_ID_HEADER, KeysCache, SIGNATURE_HEADER, SigningKeys, signature_headers,
};
use worker::{Delay, Env, Fetch, Request};

use crate::config;
use crate::context::RequestContext;
use crate::keystore::{self, Command};

thread_local! {
    /// This isolate's copy of GitHub's signing keys.
    static KEYS: RefCell<KeysCache> = RefCell::new(KeysCache::default());
}

/// The longest a fetch of the signing keys may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The most authorities called at once for one report.
const CONCURRENT_CALLS: usize = 8;

/// `POST /secret-scanning/github`: a report from GitHub, checked against GitHub's signature over
/// the raw body before anything else is read from it. A throttled address gets nothing checked.
pub async fn github(
    req: &mut Request,
    env: &Env,
    rc: &RequestContext,
    blocked_for: Option<u32>,
) -> Result<Vec<Feedback>, Error> {
    if let Some(retry_after) = blocked_for {
        return Err(Error::TooManyFailedAttempts { retry_after });
    }
    let headers = req.headers();
    let identifier = headers.get(KEY_ID_HEADER).ok().flatten();
    let signature = headers.get(SIGNATURE_HEADER).ok().flatten();
    let (identifier, signature) = signature_headers(identifier.as_deref(), signature.as_deref())?;
    let body = crate::management::read_body(req, leaks::MAX_REPORT_BODY).await?;
    let keys = signing_keys(env, identifier, rc.now).await?;
    keys.verify(identifier, signature, &body)?;
    let sightings = leaks::parse_github_report(&body)?;
    handle(env, &sightings, REASON_GITHUB).await
}

/// `POST /leaks` (operator): tokens another scanner found, handled as GitHub's are.
pub async fn operator_report(req: &mut Request, env: &Env) -> Result<Vec<Feedback>, Error> {
    let body = crate::management::read_body(req, leaks::MAX_REPORT_BODY).await?;
    let sightings = leaks::parse_operator_report(&body)?;
    handle(env, &sightings, REASON_OPERATOR).await
}

/// Triage the report, have each authority act on its keys, and answer the feedback. Any
/// authority's failure fails the whole answer (503), so that the sender retries: acting on a
/// report twice changes nothing.
async fn handle(env: &Env, sightings: &[Sighting], reason: &str) -> Result<Vec<Feedback>, Error> {
    let expire = config::on_leak(env)?.expires();
    let pepper = config::pepper(env)?;
    let store = crate::kv::KvRecords { env, cache_ttl: config::kv_cache_ttl(env)? };
    let triaged = triage(&store, &pepper, sightings, reason).await?;
    let calls = triaged.leaks.into_iter().map(|((mode, account), leaks)| async move {
        let command = Command::Leaked { account: account.clone(), leaks, expire };
        keystore::call::<serde_json::Value>(env, mode, &account, &command).await
    });
    let results: Vec<_> =
        futures_util::stream::iter(calls).buffer_unordered(CONCURRENT_CALLS).collect().await;
    results.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(leaks::feedback(sightings, &triaged.labels))
}

/// GitHub's signing keys, fetched first when [`KeysCache::wants_fetch`] says so. No keys at
/// all (never fetched, or the fetch failed) is [`Error::SigningKeysUnavailable`].
async fn signing_keys(env: &Env, identifier: &str, now: i64) -> Result<SigningKeys, Error> {
    if KEYS.with(|k| k.borrow().wants_fetch(identifier, now)) {
        KEYS.with(|k| k.borrow_mut().attempting(now));
        let url = config::scanning_keys_url(env)?;
        if let Some(keys) = fetch_keys(url).await {
            KEYS.with(|k| k.borrow_mut().fetched(keys, now));
        }
    }
    KEYS.with(|k| k.borrow().keys().cloned()).ok_or(Error::SigningKeysUnavailable)
}

/// Fetch and parse the keys document, `None` on any failure (logged without the body).
async fn fetch_keys(url: worker::Url) -> Option<SigningKeys> {
    let fetch = async {
        let mut resp = Fetch::Url(url).send().await.ok()?;
        if resp.status_code() != 200 {
            return None;
        }
        let body = resp.bytes().await.ok()?;
        SigningKeys::from_json(&body).ok()
    };
    match select(std::pin::pin!(fetch), Delay::from(FETCH_TIMEOUT)).await {
        Either::Left((keys, _)) => {
            if keys.is_none() {
                worker::console_warn!(
                    "keygate: the secret-scanning signing keys could not be fetched or read"
                );
            }
            keys
        }
        Either::Right(_) => {
            worker::console_warn!("keygate: fetching the secret-scanning signing keys timed out");
            None
        }
    }
}

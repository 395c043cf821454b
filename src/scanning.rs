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
    KEY_ID_HEADER, KeysCache, MAX_KEYS_DOCUMENT, SIGNATURE_HEADER, SigningKeys, parse_signature,
    unknown_identifier,
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
/// The most leaked keys one command to an authority carries.
const LEAKS_PER_COMMAND: usize = 50;

/// `POST /secret-scanning/github`: a report from GitHub. Its signature is decoded first, then
/// checked over the raw body before anything else is read from it. A throttled address keeps
/// only what it proves without a fetch: a report signed with a key this isolate holds.
pub async fn github(
    req: &mut Request,
    env: &Env,
    rc: &RequestContext,
    blocked_for: Option<u32>,
) -> Result<Vec<Feedback>, Error> {
    let checked = async {
        let headers = req.headers();
        let identifier = headers.get(KEY_ID_HEADER).ok().flatten();
        let signature = headers.get(SIGNATURE_HEADER).ok().flatten();
        let signature = parse_signature(identifier.as_deref(), signature.as_deref())?;
        let body = crate::http::read_body(req, leaks::MAX_REPORT_BODY).await?;
        let (keys, fetched_now) = match blocked_for {
            Some(_) => (cached_keys(rc.now).ok_or(Error::SigningKeysUnavailable)?, false),
            None => signing_keys(env, &signature.identifier, rc.now).await?,
        };
        if !keys.knows(&signature.identifier) {
            return Err(unknown_identifier(fetched_now));
        }
        keys.verify(&signature, &body)?;
        Ok(body)
    };
    let body = match (checked.await, blocked_for) {
        (Ok(body), _) => body,
        (Err(_), Some(retry_after)) => return Err(Error::TooManyFailedAttempts { retry_after }),
        (Err(e), None) => return Err(e),
    };
    let sightings = leaks::parse_github_report(&body)?;
    handle(env, &sightings, REASON_GITHUB).await
}

/// `POST /leaks` (operator): tokens another scanner found, handled as GitHub's are.
pub async fn operator_report(req: &mut Request, env: &Env) -> Result<Vec<Feedback>, Error> {
    let body = crate::http::read_body(req, leaks::MAX_REPORT_BODY).await?;
    let sightings = leaks::parse_operator_report(&body)?;
    handle(env, &sightings, REASON_OPERATOR).await
}

/// Triage the report, have each authority act on its keys, and answer the feedback. Any
/// authority's failure fails the whole answer (503), so that the sender retries: acting on a
/// report twice changes nothing.
async fn handle(env: &Env, sightings: &[Sighting], reason: &str) -> Result<Vec<Feedback>, Error> {
    let expire = config::on_leak(env)?.expires();
    let keys = config::keyring(env)?;
    let store = crate::kv::KvRecords { env, cache_ttl: config::kv_cache_ttl(env)? };
    let triaged = triage(&store, keys.lookup(), sightings, reason).await?;
    // One command per (mode, account) and 50 keys: a large report never holds one authority
    // long.
    let batches: Vec<_> = triaged
        .leaks
        .iter()
        .flat_map(|((mode, account), leaks)| {
            leaks.chunks(LEAKS_PER_COMMAND).map(move |c| (*mode, account, c))
        })
        .collect();
    let calls = batches.into_iter().map(|(mode, account, leaks)| async move {
        let command = Command::Leaked { account: account.clone(), leaks: leaks.to_vec(), expire };
        keystore::call::<serde_json::Value>(env, mode, account, &command).await
    });
    let results: Vec<_> =
        futures_util::stream::iter(calls).buffer_unordered(CONCURRENT_CALLS).collect().await;
    results.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(leaks::feedback(sightings, &triaged.labels))
}

/// GitHub's signing keys, fetched first when [`KeysCache::wants_fetch`] says so, and whether
/// they were fetched for this report. No usable keys (never fetched, a day without a successful
/// refresh) is [`Error::SigningKeysUnavailable`].
async fn signing_keys(env: &Env, identifier: &str, now: i64) -> Result<(SigningKeys, bool), Error> {
    let mut fetched_now = false;
    if KEYS.with(|k| k.borrow().wants_fetch(identifier, now)) {
        KEYS.with(|k| k.borrow_mut().attempting(now));
        let url = config::scanning_keys_url(env)?;
        if let Some(keys) = fetch_keys(url, config::github_token(env)).await {
            KEYS.with(|k| k.borrow_mut().fetched(keys, now));
            fetched_now = true;
        }
    }
    Ok((cached_keys(now).ok_or(Error::SigningKeysUnavailable)?, fetched_now))
}

/// The keys this isolate holds, without fetching.
fn cached_keys(now: i64) -> Option<SigningKeys> {
    KEYS.with(|k| k.borrow().keys(now).cloned())
}

/// Fetch and parse the keys document, `None` on any failure (logged without the body). GitHub's
/// API wants a `User-Agent`, and limits calls without a token to 60 an hour per address (shared
/// on the platform): `GITHUB_TOKEN`, if set, is sent. A redirect is not followed, and a document
/// over [`MAX_KEYS_DOCUMENT`] is refused.
async fn fetch_keys(url: worker::Url, token: Option<String>) -> Option<SigningKeys> {
    let fetch = async {
        let headers = worker::Headers::new();
        headers.set("User-Agent", "keygate-secret-scanning/1").ok()?;
        headers.set("Accept", "application/json").ok()?;
        if let Some(token) = token {
            headers.set("Authorization", &format!("Bearer {token}")).ok()?;
        }
        let mut init = worker::RequestInit::new();
        init.with_headers(headers).with_redirect(worker::RequestRedirect::Manual);
        let request = Request::new_with_init(url.as_str(), &init).ok()?;
        let mut resp = Fetch::Request(request).send().await.ok()?;
        let declared =
            resp.headers().get("content-length").ok().flatten().and_then(|l| l.parse::<usize>().ok());
        if resp.status_code() != 200 || declared.is_some_and(|n| n > MAX_KEYS_DOCUMENT) {
            return None;
        }
        let body = resp.bytes().await.ok()?;
        (body.len() <= MAX_KEYS_DOCUMENT).then_some(())?;
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

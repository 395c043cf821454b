//! The edge path, as phases: credential → key → record → decision (the core's
//! [`gate::authenticate`]) → upstream request. The HTTPS check runs before, in `lib.rs`.

use keygate_core::Error;
use keygate_core::clock::Clock;
use keygate_core::gate::{self, Authenticated, Presented};
use keygate_core::identity::Identity;
use keygate_core::record::KeyRecord;
use worker::{Context, Env, Request, Response, Url};

use crate::keystore::{self, Command};
use crate::kv::KvRecords;
use crate::platform::WorkerClock;
use crate::{config, proxy, usage};

/// Phases 1–4 against the KV replica: credential, key, record, decision.
pub async fn authenticate(req: &Request, url: &Url, env: &Env) -> Result<Authenticated, Error> {
    // Secrets first: without a pepper nothing can be decided, so refuse.
    let pepper = config::pepper(env)?;
    let cache_ttl = config::kv_cache_ttl(env)?;
    let authorization = req.headers().get("authorization").ok().flatten();
    let presented = Presented { authorization: authorization.as_deref(), query: url.query() };
    gate::authenticate(presented, &KvRecords { env, cache_ttl }, &pepper, WorkerClock.now()).await
}

/// Decide again on the Durable Object's own record, which wins over KV: immediate revocation,
/// at the cost of a round trip to the object.
pub async fn confirm_with_authority(env: &Env, authn: Authenticated) -> Result<Authenticated, Error> {
    let r = &authn.record;
    let command =
        Command::Verify { account: r.account.clone(), key_id: r.id.clone(), digest: authn.digest.clone() };
    match keystore::call::<KeyRecord>(env, r.mode, &r.account, &command).await {
        Ok(record) => authn.confirm(record, WorkerClock.now()),
        Err(e) if e.code() == "resource_missing" => {
            Err(Error::ApiKeyInvalid { redacted: authn.key.redacted() })
        }
        Err(e) => Err(e),
    }
}

/// Authenticate `req` and, if it may pass, forward it to its mode's origin.
pub async fn handle(
    req: Request,
    url: &Url,
    env: &Env,
    ctx: &Context,
    request_id: &str,
) -> Result<Response, Error> {
    let authn = authenticate(&req, url, env).await?;
    // Strict keys are confirmed with the authority on every request; others trust KV, whose
    // staleness is bounded by the cache TTL, and the origin is told which bound applied.
    let (authn, verified) = if authn.record.strict {
        (confirm_with_authority(env, authn).await?, "do".to_owned())
    } else {
        let ttl = config::kv_cache_ttl(env)?;
        (authn, format!("kv;max-staleness={ttl}"))
    };

    // Phase 5: the upstream request, to the key's own mode's origin.
    let origin = config::origin(env, authn.record.mode)?;
    let identity = Identity::new(&authn.record, request_id.to_owned(), verified);
    let response = proxy::forward(req, url, &origin, &identity, authn.decision.deprecation).await?;
    usage::note(ctx, env, &authn.record);
    Ok(response)
}

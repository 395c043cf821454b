//! The edge path, as phases over the request's context: credential → key → record → decision
//! (the core's [`gate::authenticate`]) → access ([`access::authorize`]) → upstream request (the
//! core's header plan, applied in `proxy.rs`) → response. The request filter (HTTPS, the
//! request's shape, throttling) runs before, in `lib.rs`.

use keygate_core::Error;
use keygate_core::clock::UnixSeconds;
use keygate_core::domain::key::Mode;
use keygate_core::domain::record::KeyRecord;
use keygate_core::domain::web_url::RequestUrl;
use keygate_core::policy::access::{self, RequestFacts};
use keygate_core::policy::gate::{self, Authenticated, KeyLookup, Presented, StalenessBudget};
use keygate_core::policy::identity::Identity;
use keygate_core::policy::throttle::Throttle;
use worker::{Context, Env, Headers, Response};

use crate::context::RequestContext;
use crate::keystore::{self, EdgeCommand};
use crate::kv::KvRecords;
use crate::platform::parsed_records;
use crate::{config, proxy, respond, usage};
use keygate_core::domain::leak::SeenBy;

/// Phases 1–4 against the KV replica: credential, key (with mode pinning), record, decision.
pub async fn authenticate(
    req: &web_sys::Headers,
    url: &RequestUrl,
    env: &Env,
    budget: StalenessBudget,
    throttle: Throttle<'_>,
    now: UnixSeconds,
) -> Result<Authenticated, Error> {
    // Secrets first: without a pepper nothing can be decided, so refuse.
    let pepper = config::pepper(env)?;
    let previous = config::previous_pepper(env)?;
    let format = config::key_format(env)?;
    let keys = KeyLookup { format: &format, pepper: &pepper, previous: previous.as_ref() };
    let authorization = header(req, "authorization");
    let presented =
        Presented { authorization: authorization.as_deref(), query: url.query(), host: url.host_str() };
    let pins = config::host_pins(env);
    let store = KvRecords { env, cache_ttl: budget.kv_cache_ttl };
    let records = parsed_records();
    records.set_fresh_for(budget.fresh_for as i64);
    gate::authenticate(presented, &pins, &store, keys, &records, throttle, now).await
}

/// Decide again on the Durable Object's own record, which wins over KV: immediate revocation,
/// at the cost of a round trip to the object.
pub async fn confirm_with_authority(
    env: &Env,
    authn: Authenticated,
    now: UnixSeconds,
) -> Result<Authenticated, Error> {
    let r = &authn.record;
    let command = EdgeCommand::Verify { account: &r.account, key_id: &r.id, digest: authn.stored_digest() };
    match keystore::call::<KeyRecord>(env, r.mode, &r.account, &command).await {
        Ok(record) => authn.confirm(record, now),
        Err(Error::Relayed { status: 404, .. }) => {
            Err(Error::ApiKeyInvalid { redacted: authn.key.redacted() })
        }
        Err(e) => Err(e),
    }
}

/// Authenticate `req` and, if it may pass, forward it to its mode's origin.
pub async fn handle(
    req: web_sys::Request,
    url: &RequestUrl,
    env: &Env,
    ctx: &Context,
    rc: &mut RequestContext,
    throttle: Throttle<'_>,
) -> Result<web_sys::Response, Error> {
    let method = rc.method.as_str();
    let headers = req.headers();
    let policy = config::edge_policy(env)?;
    if let Some(preflight) = preflight(&headers, url, method, &policy, &rc.request_id) {
        return Ok(preflight.into());
    }
    // Phases 1–4: credential, key, record, decision.
    let budget = config::staleness(env)?;
    let authn = authenticate(&headers, url, env, budget, throttle, rc.now).await;
    // Past the pepper (`authenticate` reads it first), every edge setting has been read fine,
    // the policy and cache times above included: from now on the throttled shortcut may answer
    // without reading them. (Self-service authenticates too, but reads no policy: not here.)
    if !matches!(authn, Err(Error::Misconfigured { .. })) {
        config::EDGE_SETTINGS_READ.set(true);
    }
    let authn = authn.map_err(|e| canary_refusal(e, &headers, url, env, ctx, rc))?;
    report_outdated(&authn, env, ctx, rc.now);
    rc.log.key(&authn.record);
    // Strict keys are confirmed with the authority on every request; others trust KV (and this
    // isolate's recent read of it), whose staleness is bounded by `KV_CACHE_TTL`, and the origin
    // is told which bound applied.
    let (authn, verified) = if authn.record.strict {
        (confirm_with_authority(env, authn, rc.now).await?, "do".to_owned())
    } else {
        (authn, format!("kv;max-staleness={}", budget.max_staleness))
    };

    // Phase 4b: what this key may do with this request.
    let seen = FactHeaders::of(&headers);
    let facts = seen.facts(method, url.path(), &rc.client_ip);
    let grant = match access::authorize(&authn.record, &facts, &policy) {
        Ok(g) => g,
        Err(e @ Error::SecretKeyInBrowser) => {
            report_exposure(ctx, env, &authn.record, "secret_key_in_browser")?;
            return Err(e);
        }
        Err(e) => return Err(e),
    };

    // Phase 4c: the key's usage controls, last, so that a refused request spends nothing.
    let usage_headers = match crate::quota::spend(ctx, env, &authn.record, rc.now).await {
        Ok(h) => h,
        Err((e, mut h)) => {
            // A page using a publishable key reads the refusal, and when to retry, like an answer.
            if let (Some(o), Error::RateLimitExceeded { .. } | Error::CreditsExhausted { .. }) =
                (grant.cors_origin.as_deref(), &e)
            {
                h.extend(keygate_core::policy::upstream::cors_allow(o));
                h.push(("Vary", "Origin".to_owned()));
            }
            rc.refusal_headers = h;
            return Err(e);
        }
    };

    // Phase 5: the upstream request, to the key's own mode's origin, with a signed identity,
    // and phase 6, the response: the origin's answer with keygate's headers.
    let origin = config::origin(env, authn.record.mode)?;
    let signing = config::signing_secrets(env)?;
    let identity = Identity::new(&authn.record, &rc.request_id, &verified);
    let upstream = proxy::Upstream {
        origin: &origin,
        identity: &identity,
        signing: &signing,
        deprecation: authn.decision.deprecation,
        cors_origin: grant.cors_origin.as_deref(),
        usage_headers: &usage_headers,
    };
    let response = proxy::forward(req, url, rc, upstream).await?;
    usage::note(ctx, env, &authn.record, rc.now);
    Ok(response)
}

/// A throttled address without a usable credential: the answer needs no secret, store or
/// setting. Once this isolate has read its settings fine (they cannot change within one),
/// reading them again would change nothing, so a flood from a throttled address is answered
/// first. A preflight keeps its own path. Not inlined: one small call on the request path.
#[inline(never)]
pub fn throttled_shortcut(
    req: &web_sys::Request,
    url: &RequestUrl,
    method: &str,
    throttle: &Throttle<'_>,
) -> Option<Error> {
    // Nearly always nothing is blocked: then not even the headers are asked for.
    let blocked_for = throttle.blocked_for?;
    if method == "OPTIONS" || !config::EDGE_SETTINGS_READ.get() {
        return None;
    }
    // Read fine before (`EDGE_SETTINGS_READ`), so cached: not even the var is read.
    let format = config::key_format_read()?;
    let authorization = header(&req.headers(), "authorization");
    let presented = Presented { authorization: authorization.as_deref(), query: url.query(), host: None };
    gate::throttled_without_credential(presented, &format, blocked_for)
}

thread_local! {
    /// Keys found under an outdated digest in this isolate, reported at most once a key and
    /// minute.
    static OUTDATED: keygate_core::policy::usage::Tally = keygate_core::policy::usage::Tally::new(1_000);
}

/// A key found under an outdated digest (an imported hash on its first use, or the previous
/// pepper's digest during a rotation): ask its authority, without delaying the request, to
/// store it under its current digest. At most once a key and minute per isolate: until the
/// authority's write reaches this location, the key is still found the old way.
fn report_outdated(authn: &Authenticated, env: &Env, ctx: &Context, now: keygate_core::clock::UnixSeconds) {
    if authn.found.outdated().is_none() || OUTDATED.with(|t| t.note(&authn.record.id, now)).is_none() {
        return;
    }
    let r = &authn.record;
    let secret = keygate_core::commands::command::RawKeyRef(authn.key.expose_secret());
    let command = EdgeCommand::Redigest { account: &r.account, key_id: &r.id, secret };
    keystore::send_later(ctx, env, r.mode, &r.account, &command);
}

/// The request headers that access rules look at.
pub struct FactHeaders {
    origin: Option<String>,
    referer: Option<String>,
    fetch_mode: Option<String>,
}

impl FactHeaders {
    /// Read them from `req`.
    pub fn of(req: &web_sys::Headers) -> Self {
        FactHeaders {
            origin: header(req, "origin"),
            referer: header(req, "referer"),
            fetch_mode: header(req, "sec-fetch-mode"),
        }
    }

    /// The facts of a request with `method` to `path` from `client_ip` (the request context's,
    /// read once).
    pub fn facts<'a>(&'a self, method: &'a str, path: &'a str, client_ip: &'a str) -> RequestFacts<'a> {
        RequestFacts {
            method,
            path,
            origin: self.origin.as_deref(),
            referer: self.referer.as_deref(),
            sec_fetch_mode: self.fetch_mode.as_deref(),
            client_ip: Some(client_ip),
        }
    }
}

/// Record, without delaying the refusal, that a real key was seen exposed; with
/// `ON_EXPOSURE = "expire"` the key is also ended at once.
pub fn report_exposure(ctx: &Context, env: &Env, record: &KeyRecord, reason: &str) -> Result<(), Error> {
    let expire = config::expire_on_exposure(env)?;
    let command = EdgeCommand::Exposed { account: &record.account, key_id: &record.id, reason, expire };
    keystore::send_later(ctx, env, record.mode, &record.account, &command);
    Ok(())
}

thread_local! {
    /// Canaries presented in this isolate, reported at most once a key and minute.
    static CANARIES: keygate_core::policy::usage::Tally = keygate_core::policy::usage::Tally::new(1_000);
}

/// A canary key's refusal is an unknown key's, on the wire and in the log; its use is recorded
/// without delaying the refusal (`key.canary_used`, with what the request showed of its sender),
/// at most once a key and minute per isolate, with the count of presentations since: a flood of
/// a canary costs its authority one write a minute per isolate, not one per request. Any other
/// refusal is returned as it is.
pub fn canary_refusal(
    e: Error,
    req: &web_sys::Headers,
    url: &RequestUrl,
    env: &Env,
    ctx: &Context,
    rc: &RequestContext,
) -> Error {
    let Error::CanaryKeyUsed { redacted, account, key_id, livemode } = e else { return e };
    let mode = if livemode { Mode::Live } else { Mode::Test };
    if let Some(count) = CANARIES.with(|t| t.note(&key_id, rc.now)) {
        let user_agent = header(req, "user-agent").unwrap_or_default();
        let seen = SeenBy {
            ip: &rc.client_ip,
            user_agent: &user_agent,
            method: &rc.method,
            path: url.path(),
            count,
        };
        let command = EdgeCommand::CanaryUsed { account: &account, key_id: &key_id, seen };
        keystore::send_later(ctx, env, mode, &account, &command);
    }
    Error::ApiKeyInvalid { redacted }
}

/// After a plain-HTTP refusal: if the request carried a real key, record it as exposed
/// (`plain_http`). Everything, the KV read included, happens in `waitUntil`, under the same
/// throttling as every other lookup: a throttled address gets no lookup unless its key was
/// seen valid here, and a key that is not found counts as a failure of its address.
pub fn report_plain_http(
    req: &web_sys::Headers,
    url: &RequestUrl,
    env: &Env,
    ctx: &Context,
    rc: &RequestContext,
) {
    let Some(authorization) = header(req, "authorization") else { return };
    let (env, url, ip, now) = (env.clone(), url.clone(), rc.client_ip.clone(), rc.now);
    ctx.wait_until(async move {
        let Ok(pepper) = config::pepper(&env) else { return };
        let Ok(previous) = config::previous_pepper(&env) else { return };
        let Ok(format) = config::key_format(&env) else { return };
        let keys = KeyLookup { format: &format, pepper: &pepper, previous: previous.as_ref() };
        let Ok(budget) = config::staleness(&env) else { return };
        let Ok(expire) = config::expire_on_exposure(&env) else { return };
        // No query check and no pinning here: only "is this a real key?" matters.
        let presented = Presented { authorization: Some(&authorization), query: None, host: url.host_str() };
        let store = KvRecords { env: &env, cache_ttl: budget.kv_cache_ttl };
        let pins = keygate_core::policy::pins::HostPins::default();
        // Only a key that still works matters: a revoked or expired one exposes nothing.
        let records = parsed_records();
        records.set_fresh_for(budget.fresh_for as i64);
        let address = keygate_core::policy::throttle::counted_as(&ip);
        let throttle = crate::throttle::for_request(|| &address, now);
        let found = gate::authenticate(presented, &pins, &store, keys, &records, throttle, now).await;
        match found {
            Ok(Authenticated { record: r, .. }) => {
                let command =
                    EdgeCommand::Exposed { account: &r.account, key_id: &r.id, reason: "plain_http", expire };
                let _ = keystore::call::<serde::de::IgnoredAny>(&env, r.mode, &r.account, &command).await;
            }
            Err(e) if e.counts_as_failed_auth() => {
                let _ = crate::throttle::on_failure(&env, &address, now, e).await;
            }
            Err(_) => {}
        }
    });
}

/// A CORS preflight for a route on the publishable allowlist is answered here, without a key
/// (browsers send none). Any other preflight goes the normal way, and is refused.
fn preflight(
    req: &web_sys::Headers,
    url: &RequestUrl,
    method: &str,
    policy: &access::EdgePolicy,
    request_id: &str,
) -> Option<Response> {
    if method != "OPTIONS" {
        return None;
    }
    let origin = header(req, "origin")?;
    let wanted = header(req, "access-control-request-method")?;
    let methods = policy.publishable_allowlist.methods_for(url.path())?;
    if !methods.iter().any(|m| m.split(", ").any(|m| m == wanted)) {
        return None;
    }
    let h = Headers::new();
    let _ = h.set("Access-Control-Allow-Origin", &origin);
    let _ = h.set("Access-Control-Allow-Methods", &methods.join(", "));
    let requested = header(req, "access-control-request-headers").unwrap_or_default();
    let allowed = if requested.is_empty() { "Authorization, Content-Type".to_owned() } else { requested };
    let _ = h.set("Access-Control-Allow-Headers", &allowed);
    let _ = h.set("Access-Control-Max-Age", "600");
    let _ = h.set("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
    let _ = h.set(keygate_core::policy::identity::names::REQUEST_ID, request_id);
    Some(respond::empty(204, h))
}

fn header(headers: &web_sys::Headers, name: &str) -> Option<String> {
    headers.get(name).ok().flatten()
}

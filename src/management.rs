//! The management API under `/_keygate/v1`.
//!
//! * Operator routes, `Authorization: Bearer <ADMIN_TOKEN>`: `/accounts/{account}/keys…` and
//!   `/accounts/{account}/events`.
//! * Self-service routes, authorised with one of the account's own secret keys: `/keys…`. They
//!   act only on that key's account and mode.
//!
//! Both validate here, then ask the (mode, account) Durable Object, which is the authority.

use keygate_core::Error;
use keygate_core::api::object::{KeyObject, List};
use keygate_core::api::request;
use keygate_core::commands::authority::Principal;
use keygate_core::domain::digest::WhichToken;
use keygate_core::domain::event::{Actor, Event, Page};
use keygate_core::domain::ids;
use keygate_core::domain::key::Mode;
use keygate_core::domain::settings::{CreateKey, KeySettings};
use keygate_core::domain::web_url::RequestUrl;
use keygate_core::policy::access;
use keygate_core::policy::throttle::Throttle;
use worker::{Context, Env, Method, Request, Response};

use crate::context::RequestContext;
use crate::http::{origin, query_pairs, query_param, read_body, value};
use crate::keystore::{self, Command};
use crate::{config, edge, respond};

/// Serve one management request.
pub async fn handle(
    mut req: Request,
    url: &RequestUrl,
    env: &Env,
    ctx: &Context,
    rc: &mut RequestContext,
    throttle: Throttle<'_>,
) -> Result<Response, Error> {
    let rest = url.path().strip_prefix(request::PREFIX).map(str::to_owned);
    let Some(rest) = rest.filter(|r| r.is_empty() || r.starts_with('/')) else {
        return Err(Error::NotFound { what: "route".into() });
    };
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let method = req.method();
    // `/keys/lookup` is the operator's; every other `/keys…` route is self-service.
    if segments.first() == Some(&"keys") && segments.get(1) != Some(&"lookup") {
        return self_service(&mut req, url, env, ctx, rc, throttle, &segments[1..], method).await;
    }
    // GitHub's secret-scanning reports carry GitHub's signature instead of a token.
    if segments.as_slice() == ["secret-scanning", "github"] {
        if method != Method::Post {
            return Err(Error::MethodNotAllowed { allowed: "POST" });
        }
        let feedback = crate::scanning::github(&mut req, env, rc, throttle.blocked_for).await?;
        return respond::json(200, &feedback, &rc.request_id);
    }
    let token = authorize_operator(&req, env, throttle.blocked_for)?;
    // During a rotation, a caller still on the previous token is told so on every answer,
    // errors included.
    if token == WhichToken::Previous {
        rc.refusal_headers.push((ADMIN_TOKEN_HEADER, "previous".to_owned()));
    }
    let (status, json) = operator_api(&mut req, url, env, rc, &segments, method).await?;
    let response = respond::json(status, &json, &rc.request_id)?;
    for (name, value) in &rc.refusal_headers {
        let _ = response.headers().set(name, value);
    }
    Ok(response)
}

/// The operator's routes (`segments` of the path after `/_keygate/v1`), once the caller is
/// known to be the operator: by the admin token, or by an operator console session.
pub(crate) async fn operator_api(
    req: &mut Request,
    url: &RequestUrl,
    env: &Env,
    rc: &RequestContext,
    segments: &[&str],
    method: Method,
) -> Result<(u16, serde_json::Value), Error> {
    Ok(match segments {
        ["accounts", account, rest @ ..] => {
            let account = ids::parse_account(account)?;
            operator(req, url, env, rc, &account, rest, method).await?
        }
        ["keys", "lookup"] if method == Method::Post => (200, value(&lookup(req, env).await?)?),
        ["keys", "lookup"] => return Err(Error::MethodNotAllowed { allowed: "POST" }),
        ["leaks"] if method == Method::Post => {
            (200, value(&crate::scanning::operator_report(req, env).await?)?)
        }
        ["leaks"] => return Err(Error::MethodNotAllowed { allowed: "POST" }),
        ["secret-scanning", "pattern"] if method == Method::Get => (
            200,
            value(&keygate_core::api::leaks::ScanningPattern::of_deployment(&*config::key_format(env)?))?,
        ),
        ["secret-scanning", "pattern"] => return Err(Error::MethodNotAllowed { allowed: "GET" }),
        _ => return Err(Error::NotFound { what: "route".into() }),
    })
}

/// Set on an operator's answer when the request used `ADMIN_TOKEN_PREVIOUS` (value `previous`).
const ADMIN_TOKEN_HEADER: &str = "Keygate-Admin-Token";

/// `POST /keys/lookup`, `{"secret": "sk_…"}`: the key object for a raw key (one a customer
/// pasted into a support ticket), found by its digest in its mode's KV namespace. The key is
/// neither stored nor logged (the request's log line has no body), and never answered back.
async fn lookup(req: &mut Request, env: &Env) -> Result<KeyObject, Error> {
    let keys = config::keyring(env)?;
    let key = request::parse_lookup(&read_body(req, request::MAX_BODY).await?, &keys.format)?;
    let store = crate::kv::KvRecords { env, cache_ttl: config::kv_cache_ttl(env)? };
    let not_found = || Error::NotFound { what: "key".into() };
    // Found as the edge finds it: its digest, its previous pepper's, an imported hash.
    let (raw, _) = keygate_core::policy::gate::find(&store, &key, &keys.digest(&key), keys.lookup())
        .await?
        .ok_or_else(not_found)?;
    let record = keygate_core::domain::record::KeyRecord::from_json(&raw)?;
    let command =
        Command::Get { account: record.account.clone(), key_id: record.id.clone(), by: Principal::Operator };
    // The authority's object: the key as it is now (a key removed since is not found).
    match keystore::call::<KeyObject>(env, record.mode, &record.account, &command).await {
        Err(Error::NotFound { .. }) | Err(Error::Relayed { status: 404, .. }) => Err(not_found()),
        other => other,
    }
}

async fn operator(
    req: &mut Request,
    url: &RequestUrl,
    env: &Env,
    rc: &RequestContext,
    account: &str,
    rest: &[&str],
    method: Method,
) -> Result<(u16, serde_json::Value), Error> {
    let acct = account.to_owned();
    match (rest, method) {
        (["keys", "import"], Method::Post) => {
            config::max_keys(env)?;
            let keys = config::keyring(env)?;
            let body = read_body(req, keygate_core::api::import::MAX_IMPORT_BODY).await?;
            let items = keygate_core::api::import::parse_import(&body, &keys, rc.now)?;
            Ok((200, import(env, account, items, &config::doc_url(env)).await?))
        }
        (["keys", "import"], _) => Err(Error::MethodNotAllowed { allowed: "POST" }),
        (["migration"], Method::Get) => {
            let mode = required_mode(url)?;
            let status: serde_json::Value =
                keystore::call(env, mode, account, &Command::Migration { account: acct }).await?;
            Ok((200, status))
        }
        (["migration"], _) => Err(Error::MethodNotAllowed { allowed: "GET" }),
        (["portal_sessions"], Method::Post) => {
            let body = read_body(req, request::MAX_BODY).await?;
            Ok((201, portal_session(env, url, account, &body).await?))
        }
        (["portal_sessions"], _) => Err(Error::MethodNotAllowed { allowed: "POST" }),
        (["keys"], Method::Post) => {
            config::max_keys(env)?;
            let body = read_body(req, request::MAX_BODY).await?;
            let params = CreateKey::from_json(&body, rc.now)?;
            let command = Command::Create { account: acct, params: params.clone(), actor: Actor::admin() };
            let created: KeyObject = keystore::call(env, params.mode, account, &command).await?;
            Ok((201, value(&created)?))
        }
        (["keys"], Method::Get) => {
            let modes = match query_param(url, "mode") {
                Some(m) => vec![request::parse_mode(&m, "mode")?],
                None => Mode::ALL.to_vec(),
            };
            let mut query = key_query(url, true)?;
            query.after = cursor(url, |key_id| async move {
                let get = Command::Get { account: account.to_owned(), key_id, by: Principal::Operator };
                call_either_mode(env, account, &get).await
            })
            .await?;
            // Each mode's object answers one page; the newest of both make the page.
            let (mut data, mut has_more) = (Vec::new(), false);
            for mode in modes {
                let command =
                    Command::List { account: acct.clone(), by: Principal::Operator, query: query.clone() };
                let list: List<KeyObject> = keystore::call(env, mode, account, &command).await?;
                data.extend(list.data);
                has_more |= list.has_more;
            }
            data.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.id.cmp(&b.id)));
            has_more |= data.len() > query.limit;
            data.truncate(query.limit);
            Ok((200, value(&List { object: "list".into(), data, has_more })?))
        }
        (["keys"], _) => Err(Error::MethodNotAllowed { allowed: "GET, POST" }),
        (["keys", id, action @ ..], method) => {
            let key_id = ids::parse_key_id(id)?;
            let command = key_command(req, env, acct, key_id, action, method, Principal::Operator).await?;
            let status = status_for(&command);
            let key: KeyObject = call_either_mode(env, account, &command).await?;
            Ok((status, value(&key)?))
        }
        (["events"], Method::Get) => {
            let mode = required_mode(url)?;
            let page = Page::parse(
                query_param(url, "limit").as_deref(),
                query_param(url, "starting_after").as_deref(),
            )?;
            let events: List<Event> =
                keystore::call(env, mode, account, &Command::Events { account: acct, page }).await?;
            Ok((200, value(&events)?))
        }
        (["events"], _) => Err(Error::MethodNotAllowed { allowed: "GET" }),
        (["webhook_deliveries"], Method::Get) => {
            let mode = required_mode(url)?;
            let page = Page::parse_with(
                query_param(url, "limit").as_deref(),
                query_param(url, "starting_after").as_deref(),
                keygate_core::domain::webhook::is_event_id,
            )?;
            let list: serde_json::Value =
                keystore::call(env, mode, account, &Command::Deliveries { account: acct, page }).await?;
            Ok((200, list))
        }
        (["webhook_deliveries"], _) => Err(Error::MethodNotAllowed { allowed: "GET" }),
        (["webhook_deliveries", id, "retry"], Method::Post) => {
            if !keygate_core::domain::webhook::is_event_id(id) {
                return Err(Error::NotFound { what: "webhook delivery".into() });
            }
            let command = Command::RetryDelivery { account: acct, id: (*id).to_owned() };
            Ok((200, call_either_mode::<serde_json::Value>(env, account, &command).await?))
        }
        (["webhook_deliveries", _, "retry"], _) => Err(Error::MethodNotAllowed { allowed: "POST" }),
        // keygate's own tests only (the `test-clock` build): the test-mode authority's clock,
        // `{"offset": seconds ahead}`, 0 to 400 days.
        #[cfg(feature = "test-clock")]
        (["test_clock"], method) if method != Method::Post => {
            Err(Error::MethodNotAllowed { allowed: "POST" })
        }
        #[cfg(feature = "test-clock")]
        (["test_clock"], _) => {
            let body: serde_json::Value = serde_json::from_slice(&read_body(req, request::MAX_BODY).await?)
                .map_err(|_| {
                Error::invalid_param("parameter_invalid", "offset", "A JSON body is required.")
            })?;
            let offset =
                body["offset"].as_i64().filter(|o| (0..=400 * 86_400).contains(o)).ok_or_else(|| {
                    Error::invalid_param("parameter_invalid", "offset", "offset: seconds, 0 to 34560000.")
                })?;
            keystore::set_test_clock(env, account, offset).await?;
            Ok((200, serde_json::json!({ "offset": offset })))
        }
        _ => Err(Error::NotFound { what: "route".into() }),
    }
}

/// An import's checked items, stored: a key that KV already knows (under any of its lookup
/// ids, in any account) is refused as `key_already_exists`; the rest go to their mode's
/// authority, which checks its own account again in the same step as the write. The answer
/// has one entry per item, in order.
async fn import(
    env: &Env,
    account: &str,
    items: Vec<Result<keygate_core::domain::keystate::ImportKey, Error>>,
    doc_base: &str,
) -> Result<serde_json::Value, Error> {
    use keygate_core::api::error_body::ErrorBody;
    use keygate_core::store::{MAX_BULK, RecordStore};
    let error = |e: &Error| serde_json::to_value(ErrorBody::new(e, doc_base)).unwrap_or_default();
    let mut answers: Vec<serde_json::Value> = vec![serde_json::Value::Null; items.len()];
    let store = crate::kv::KvRecords { env, cache_ttl: config::kv_cache_ttl(env)? };
    for mode in Mode::ALL {
        let mut batch = Vec::new();
        for item in &items {
            if let Ok(k) = item
                && k.params.mode == mode
            {
                batch.push(k.clone());
            }
        }
        if batch.is_empty() {
            continue;
        }
        // Known to KV already: read in bulk, 100 ids at a time.
        let ids: Vec<_> = batch.iter().flat_map(|k| k.lookup_ids().cloned()).collect();
        let mut known = std::collections::HashMap::new();
        for chunk in ids.chunks(MAX_BULK) {
            for (id, raw) in chunk.iter().zip(store.get_many(mode, chunk).await?) {
                if let Some(record) =
                    raw.and_then(|r| keygate_core::domain::record::KeyRecord::from_json(&r).ok())
                {
                    known.insert(id.clone(), record.id);
                }
            }
        }
        let mut fresh = Vec::new();
        for k in batch {
            let existing = k.lookup_ids().find_map(|id| known.get(id)).cloned();
            match existing {
                Some(key_id) => {
                    answers[k.index] = error(&Error::KeyAlreadyExists { key_id, param: k.param() })
                }
                None => fresh.push(k),
            }
        }
        if fresh.is_empty() {
            continue;
        }
        let indexes: Vec<usize> = fresh.iter().map(|k| k.index).collect();
        let command = Command::Import { account: account.to_owned(), items: fresh, actor: Actor::admin() };
        let done: serde_json::Value = keystore::call(env, mode, account, &command).await?;
        let data = done["data"].as_array().cloned().unwrap_or_default();
        if data.len() != indexes.len() {
            return Err(Error::StoreUnavailable);
        }
        for (i, answer) in indexes.into_iter().zip(data) {
            answers[i] = answer;
        }
    }
    for (i, item) in items.iter().enumerate() {
        if let Err(e) = item {
            answers[i] = error(e);
        }
    }
    let imported = answers.iter().filter(|a| a.get("error").is_none()).count();
    Ok(serde_json::json!({
        "object": "import_result",
        "imported": imported,
        "failed": answers.len() - imported,
        "data": answers,
    }))
}

/// The command for `/keys/{id}[/roll|/expire]` with `method`, asked by `by`.
async fn key_command(
    req: &mut Request,
    env: &Env,
    account: String,
    key_id: String,
    action: &[&str],
    method: Method,
    by: Principal,
) -> Result<Command, Error> {
    Ok(match (action, method) {
        ([], Method::Get) => Command::Get { account, key_id, by },
        ([], Method::Delete) => Command::Revoke { account, key_id, by },
        ([], Method::Patch) => {
            let settings = KeySettings::from_json(&read_body(req, request::MAX_BODY).await?)?;
            Command::Update { account, key_id, settings, by }
        }
        ([], _) => return Err(Error::MethodNotAllowed { allowed: "GET, PATCH, DELETE" }),
        (["roll"], Method::Post) => {
            config::max_keys(env)?;
            let grace = request::parse_roll(&read_body(req, request::MAX_BODY).await?)?;
            Command::Roll { account, key_id, grace, by }
        }
        (["expire"], Method::Post) => Command::Expire { account, key_id, by },
        (["credits"], Method::Post) => {
            let change = request::parse_credit_change(&read_body(req, request::MAX_BODY).await?)?;
            Command::Credits { account, key_id, change, by }
        }
        (["roll" | "expire" | "credits"], _) => return Err(Error::MethodNotAllowed { allowed: "POST" }),
        _ => return Err(Error::NotFound { what: "route".into() }),
    })
}

/// A roll creates a key (201); every other key command answers 200.
fn status_for(command: &Command) -> u16 {
    if command.creates() { 201 } else { 200 }
}

/// `/keys…` with one of the account's own secret keys. The calling key's own rules run first,
/// exactly as on any other route (`secret_key_in_browser`, `allowed_ips`, `allowed_endpoints`
/// against the management method and path, in that order), then only a secret key may manage.
/// What it may act on, and that a change only narrows, the authority decides in the same step
/// as the change (`keygate_core::policy::delegation`).
#[allow(clippy::too_many_arguments)]
async fn self_service(
    req: &mut Request,
    url: &RequestUrl,
    env: &Env,
    ctx: &Context,
    rc: &RequestContext,
    throttle: Throttle<'_>,
    rest: &[&str],
    method: Method,
) -> Result<Response, Error> {
    let authn = edge::authenticate(&req.headers().0, url, env, config::staleness(env)?, throttle, rc.now)
        .await
        .map_err(|e| edge::canary_refusal(e, &req.headers().0, url, env, ctx, rc))?;
    // Management acts on the authority's state, never on a possibly stale replica.
    let authn = edge::confirm_with_authority(env, authn, rc.now).await?;
    let seen = edge::FactHeaders::of(&req.headers().0);
    let facts = seen.facts(method.as_ref(), url.path(), &rc.client_ip);
    match access::authorize_management(&authn.record, &facts) {
        Ok(()) => {}
        Err(e @ Error::SecretKeyInBrowser) => {
            edge::report_exposure(ctx, env, &authn.record, "secret_key_in_browser")?;
            return Err(e);
        }
        Err(e) => return Err(e),
    }
    let (account, mode) = (authn.record.account.clone(), authn.record.mode);
    let by = Principal::Key { key_id: authn.record.id.clone(), digest: authn.stored_digest().clone() };
    let (status, json) = match (rest, method) {
        ([], Method::Get) => {
            let mut query = key_query(url, false)?;
            let acct = account.as_str();
            query.after = cursor(url, |key_id| {
                let get = Command::Get { account: acct.to_owned(), key_id, by: by.clone() };
                async move { keystore::call(env, mode, acct, &get).await }
            })
            .await?;
            let command = Command::List { account: account.clone(), by, query };
            let mut list: List<KeyObject> = keystore::call(env, mode, &account, &command).await?;
            list.data.iter_mut().for_each(|k| k.metadata.clear());
            (200, value(&list)?)
        }
        ([], _) => return Err(Error::MethodNotAllowed { allowed: "GET" }),
        ([id, action @ ..], method) => {
            let key_id = ids::parse_key_id(id)?;
            let command = key_command(req, env, account.clone(), key_id, action, method, by).await?;
            let status = status_for(&command);
            let mut key: KeyObject = keystore::call(env, mode, &account, &command).await?;
            // Metadata is the provider's record about a key: not shown to its holder.
            key.metadata.clear();
            (status, value(&key)?)
        }
    };
    respond::json(status, &json, &rc.request_id)
}

/// A list's `limit` and filters from the query string. A parameter the list does not take is a
/// 400 naming it, not ignored (a Stripe client's `ending_before` must not get the first page).
fn key_query(url: &RequestUrl, takes_mode: bool) -> Result<keygate_core::domain::listing::KeyQuery, Error> {
    for (name, _) in query_pairs(url) {
        let known = ["limit", "starting_after", "status", "type", "last4"].contains(&name.as_ref())
            || (takes_mode && name == "mode");
        if !known {
            return Err(Error::invalid_param(
                "parameter_unknown",
                request::clip(&name),
                format!("Received unknown parameter: {}", request::clip(&name)),
            ));
        }
    }
    request::parse_key_query(
        query_param(url, "limit").as_deref(),
        query_param(url, "status").as_deref(),
        query_param(url, "type").as_deref(),
        query_param(url, "last4").as_deref(),
    )
}

/// Where `starting_after` (a key id, if given) sits in the newest-first order, from the key as
/// `get` finds it for the caller. A cursor that names no key the caller may see is a 400 on it.
async fn cursor<F: std::future::Future<Output = Result<KeyObject, Error>>>(
    url: &RequestUrl,
    get: impl FnOnce(String) -> F,
) -> Result<Option<keygate_core::domain::listing::Position>, Error> {
    let Some(after) = query_param(url, "starting_after") else { return Ok(None) };
    let key_id = ids::parse_key_id(&after).map_err(|_| bad_cursor())?;
    let k = get(key_id).await.map_err(cursor_error)?;
    Ok(Some(keygate_core::domain::listing::Position { created_at: k.created_at, id: k.id }))
}

fn bad_cursor() -> Error {
    Error::invalid_param(
        "parameter_invalid",
        "starting_after",
        "`starting_after` must be the id of a key of this account.",
    )
}

/// A cursor that names no key of the account (or none the caller may see: it is not told which)
/// is the caller's fault, not a missing page.
fn cursor_error(e: Error) -> Error {
    match e {
        Error::Relayed { status: 404, .. } | Error::NotFound { .. } | Error::KeyOutOfScope => bad_cursor(),
        Error::Relayed { ref code, .. } if code == "key_out_of_scope" => bad_cursor(),
        e => e,
    }
}

/// A key id does not name its mode: ask the test object, then the live one.
/// The `mode` query parameter, which the route requires.
fn required_mode(url: &RequestUrl) -> Result<Mode, Error> {
    match query_param(url, "mode") {
        Some(m) => request::parse_mode(&m, "mode"),
        None => Err(Error::invalid_param(
            "parameter_missing",
            "mode",
            "Missing required parameter: mode (`test` or `live`).",
        )),
    }
}

pub(crate) async fn call_either_mode<T: serde::de::DeserializeOwned>(
    env: &Env,
    account: &str,
    command: &Command,
) -> Result<T, Error> {
    match keystore::call(env, Mode::Test, account, command).await {
        Err(Error::Relayed { status: 404, .. }) => keystore::call(env, Mode::Live, account, command).await,
        other => other,
    }
}

/// Constant-time check of `Authorization: Bearer <ADMIN_TOKEN>`. No header, an empty one, or
/// `Bearer` with nothing after it is `admin_token_missing`; any other value that is not exactly
/// `Bearer <ADMIN_TOKEN>` is `admin_token_invalid`, or `429` while the address is throttled (the
/// right token still passes: checking it reads nothing).
pub(crate) fn authorize_operator(
    req: &Request,
    env: &Env,
    blocked_for: Option<u32>,
) -> Result<WhichToken, Error> {
    let expected = config::admin_tokens(env)?;
    let header = req.headers().get("authorization").ok().flatten().unwrap_or_default();
    let value = header.trim();
    if value.is_empty() || value == "Bearer" {
        return Err(Error::AdminUnauthorized { missing: true });
    }
    let token = header.strip_prefix("Bearer ").unwrap_or("");
    match expected.verify(token).filter(|_| !token.is_empty()) {
        Some(which) => Ok(which),
        None => Err(match blocked_for {
            Some(retry_after) => Error::TooManyFailedAttempts { retry_after },
            None => Error::AdminUnauthorized { missing: false },
        }),
    }
}

/// `POST /accounts/{account}/portal_sessions`: mint a key portal session (`src/portal.rs`) and
/// answer its single-use link: on `PORTAL_HOST` when it is set and the call came to another
/// host, else on this one.
async fn portal_session(
    env: &Env,
    url: &RequestUrl,
    account: &str,
    body: &[u8],
) -> Result<serde_json::Value, Error> {
    let r = keygate_core::api::portal::parse_session_request(body)?;
    let store = r.mode.unwrap_or(Mode::Live);
    let command = Command::PortalMint {
        account: account.to_owned(),
        mode: r.mode,
        return_url: r.return_url,
        expires_in: r.expires_in,
        key_defaults: r.key_defaults,
        grant: None,
    };
    let minted: serde_json::Value = keystore::call(env, store, account, &command).await?;
    let (Some(id), Some(token)) = (minted["id"].as_str(), minted["token"].as_str()) else {
        return Err(Error::StoreUnavailable);
    };
    let base = match config::portal_host(env)? {
        Some(host) if url.host_str() != Some(host.as_str()) => format!("https://{host}"),
        _ => origin(url),
    };
    let start = keygate_core::api::portal::PORTAL_PATH;
    let link =
        format!("{base}{start}/start?account={account}&store={}&session={id}&token={token}", store.as_str());
    Ok(serde_json::json!({
        "object": "portal_session",
        "id": id,
        "account": account,
        "mode": minted["mode"],
        "url": link,
        "return_url": minted["return_url"],
        "expires_at": minted["expires_at"],
    }))
}

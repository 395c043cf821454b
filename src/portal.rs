//! The faces for people (issue 18): the hosted key portal for the provider's customers
//! (`/_keygate/portal/`) and the operator console for its staff (`/_keygate/console/`).
//!
//! * Their pages are two small HTML documents served here, so that their headers (a strict
//!   Content-Security-Policy, `frame-ancestors` from `PORTAL_FRAME_ANCESTORS`, `no-store`) follow
//!   the deployment's vars; their script and style are Workers Static Assets (`ui/public`),
//!   served by the platform without this worker's wasm.
//! * A portal link (`…/portal/start?…`, minted by the operator's `POST
//!   /_keygate/v1/accounts/{account}/portal_sessions`) is exchanged once for a session cookie
//!   (`__Host-`, `HttpOnly`, `Secure`, `SameSite=Strict`); the console's sign-in exchanges the
//!   admin token for one. Every API call of either checks the session with its `KeyStore`
//!   (`PortalCheck`); a change must also come from the page's own origin (`Origin`) and carry
//!   the session's CSRF token (`Keygate-CSRF`).
//! * A portal session acts only on its account's keys in its mode(s), as `portal:<id>` in the
//!   audit log. The console's API is the operator's (`management::operator_api`).

use keygate_core::Error;
use keygate_core::api::object::{KeyObject, List};
use keygate_core::api::portal::{
    self as wire, CONSOLE_PATH as CONSOLE, PORTAL_PATH as PORTAL, SessionCookie,
};
use keygate_core::api::request;
use keygate_core::commands::authority::Principal;
use keygate_core::domain::ids;
use keygate_core::domain::key::{Mode, RawKey};
use keygate_core::domain::portal::{CONSOLE_ACCOUNT, Refusal};
use keygate_core::domain::web_url::RequestUrl;
use keygate_core::policy::throttle::Throttle;
use serde_json::{Value, json};
use worker::{Env, Headers, Method, Request, Response};

use crate::context::RequestContext;
use crate::http::{origin, query_param, read_body, value};
use crate::keystore::{self, Command};
use crate::management;
use crate::{config, respond};

const PORTAL_COOKIE: &str = "__Host-keygate_portal";
const CONSOLE_COOKIE: &str = "__Host-keygate_console";
/// The header a change carries its CSRF token in.
const CSRF_HEADER: &str = "keygate-csrf";
/// How long a console session lasts, seconds.
const CONSOLE_TTL: i64 = 3600;
const PORTAL_HTML: &str = include_str!("../ui/portal.html");
const CONSOLE_HTML: &str = include_str!("../ui/console.html");

#[derive(Clone, Copy, PartialEq, Eq)]
enum Face {
    Portal,
    Console,
}

impl Face {
    fn cookie(self) -> &'static str {
        match self {
            Face::Portal => PORTAL_COOKIE,
            Face::Console => CONSOLE_COOKIE,
        }
    }
}

/// Whether `path` is the portal's or the console's.
pub fn serves(path: &str) -> bool {
    [PORTAL, CONSOLE].iter().any(|p| path.strip_prefix(p).is_some_and(|r| r.is_empty() || r.starts_with('/')))
}

/// Serve one request of the portal or the console.
pub async fn handle(
    mut req: Request,
    url: &RequestUrl,
    env: &Env,
    rc: &RequestContext,
    throttle: Throttle<'_>,
) -> Result<Response, Error> {
    // With PORTAL_HOST, the portal and the console are there and nowhere else.
    if config::portal_host(env)?.is_some_and(|h| url.host_str() != Some(h.as_str())) {
        return Err(Error::NotFound { what: "route".into() });
    }
    let path = url.path();
    let (face, rest) = match path.strip_prefix(PORTAL) {
        Some(rest) => (Face::Portal, rest),
        None => (Face::Console, path.strip_prefix(CONSOLE).unwrap_or(path)),
    };
    let method = req.method();
    let blocked = throttle.blocked_for;
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let response = match (face, segments.as_slice(), &method) {
        (_, [], Method::Get | Method::Head) if rest.is_empty() => {
            let headers = Headers::new();
            let _ = headers.set("Location", &format!("{path}/"));
            Ok(respond::empty(308, headers))
        }
        (_, [], Method::Get | Method::Head) => document(face, url, env),
        (_, [], _) => Err(Error::MethodNotAllowed { allowed: "GET, HEAD" }),
        (Face::Portal, ["start"], Method::Get) => start(url, env, rc, blocked).await,
        (Face::Portal, ["start"], _) => Err(Error::MethodNotAllowed { allowed: "GET" }),
        (Face::Console, ["api", "sign_in"], Method::Post) => sign_in(&mut req, url, env, rc, blocked).await,
        (Face::Console, ["api", "sign_in"], _) => Err(Error::MethodNotAllowed { allowed: "POST" }),
        (_, ["api", rest @ ..], _) => {
            let changes = method != Method::Get && method != Method::Head;
            let session = checked(&req, url, env, face, changes, blocked).await?;
            match (face, rest) {
                (_, ["session"]) if !changes => about(&session, rc),
                (_, ["session"]) => Err(Error::MethodNotAllowed { allowed: "GET" }),
                (_, ["sign_out"]) if method == Method::Post => sign_out(env, face, &session, rc).await,
                (_, ["sign_out"]) => Err(Error::MethodNotAllowed { allowed: "POST" }),
                (Face::Portal, ["keys", action @ ..]) => {
                    portal_keys(&mut req, env, rc, &session, action, method).await
                }
                (Face::Console, ["v1", operator @ ..]) => {
                    let (status, json) =
                        management::operator_api(&mut req, url, env, rc, operator, method).await?;
                    respond::json(status, &json, &rc.request_id)
                }
                _ => Err(Error::NotFound { what: "route".into() }),
            }
        }
        _ => Err(Error::NotFound { what: "route".into() }),
    }?;
    harden(response.headers());
    let _ = response.headers().set(keygate_core::policy::identity::names::REQUEST_ID, &rc.request_id);
    Ok(response)
}

/// What every answer of the portal and the console carries, errors aside (they are JSON with
/// `no-store` already): never cached, never sniffed, and no referrer to another origin.
/// (`same-origin`, not `no-referrer`: under `no-referrer` a browser sends `Origin: null` on a
/// same-origin `fetch`, and the origin check below would refuse the page's own changes.)
fn harden(headers: &Headers) {
    let _ = headers.set("Cache-Control", "no-store");
    let _ = headers.set("X-Content-Type-Options", "nosniff");
    let _ = headers.set("Referrer-Policy", "same-origin");
}

/// The page: its HTML, under a Content-Security-Policy that allows only this origin's script,
/// style and API, and framing only by `PORTAL_FRAME_ANCESTORS` (the portal; the console never).
fn document(face: Face, url: &RequestUrl, env: &Env) -> Result<Response, Error> {
    let (html, ancestors) = match face {
        Face::Portal => (PORTAL_HTML, config::portal_frame_ancestors(env)?),
        Face::Console => (CONSOLE_HTML, None),
    };
    let headers = Headers::new();
    let _ = headers.set("Content-Type", "text/html; charset=utf-8");
    let frame = match &ancestors {
        Some(origins) => origins.as_str(),
        None => {
            let _ = headers.set("X-Frame-Options", "DENY");
            "'none'"
        }
    };
    // The policy names this origin: one the platform routed here, so a plain host; anything else
    // (a character a policy would read as syntax) gets no page rather than a weaker policy.
    let own = origin(url);
    let plain = own.strip_prefix("https://").is_some_and(|h| {
        !h.is_empty()
            && h.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
    });
    if !plain {
        return Err(Error::Internal { what: "the page's own origin" });
    }
    headers
        .set("Content-Security-Policy", &csp(&own, frame))
        .map_err(|_| Error::Internal { what: "the page's Content-Security-Policy" })?;
    Ok(Response::builder().with_status(200).with_headers(headers).fixed(html.as_bytes().to_vec()))
}

/// The pages' policy: script and style only from keygate's own assets (`/_keygate/ui/` of this
/// origin, not the rest of the host, whose paths are the API's), requests only to this origin;
/// no inline script or style, no plugin, no form posting elsewhere, framing by `frame` only.
fn csp(origin: &str, frame: &str) -> String {
    format!(
        "default-src 'none'; script-src {origin}/_keygate/ui/; style-src {origin}/_keygate/ui/; \
         img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors {frame}"
    )
}

/// `GET /_keygate/portal/start?account=…&store=…&session=…&token=…`: use the link once; set
/// the session's cookie and send the browser to the portal.
async fn start(
    url: &RequestUrl,
    env: &Env,
    rc: &RequestContext,
    blocked: Option<u32>,
) -> Result<Response, Error> {
    let param = |name: &str| query_param(url, name).unwrap_or_default();
    let (account, store, session, token) =
        (param("account"), param("store"), param("session"), param("token"));
    let word = |s: &str, prefix: &str| {
        s.strip_prefix(prefix)
            .is_some_and(|r| !r.is_empty() && r.len() <= 64 && r.bytes().all(|b| b.is_ascii_alphanumeric()))
    };
    let store = Mode::from_name(&store);
    let well_formed = ids::parse_account(&account).is_ok()
        && word(&session, "ps_")
        && word(&token, keygate_core::domain::portal::TOKEN_PREFIX);
    // A throttled address keeps only what it proves without a store read: nothing here.
    if let Some(retry_after) = blocked {
        return Err(Error::TooManyFailedAttempts { retry_after });
    }
    let (Some(store), true) = (store, well_formed) else {
        return Err(Error::Portal(Refusal::LinkInvalid));
    };
    let command =
        Command::PortalRedeem { account: account.clone(), session_id: session.clone(), token: RawKey(token) };
    let redeemed: Value = keystore::call(env, store, &account, &command).await?;
    let (Some(secret), Some(expires_at)) = (redeemed["secret"].as_str(), redeemed["expires_at"].as_i64())
    else {
        return Err(Error::StoreUnavailable);
    };
    let cookie = SessionCookie { account, store, session_id: session, secret: secret.to_owned() };
    let headers = Headers::new();
    let _ = headers.set("Location", &format!("{PORTAL}/"));
    let _ = headers.set("Set-Cookie", &set_cookie(Face::Portal, &cookie.value(), expires_at - rc.now));
    Ok(respond::empty(303, headers))
}

/// `POST /_keygate/console/api/sign_in`, `{"token": "<ADMIN_TOKEN>"}`: the admin token, checked
/// in constant time and never echoed or kept, becomes a console session's cookie.
async fn sign_in(
    req: &mut Request,
    url: &RequestUrl,
    env: &Env,
    rc: &RequestContext,
    blocked: Option<u32>,
) -> Result<Response, Error> {
    same_origin(req, url)?;
    let tokens = config::admin_tokens(env)?;
    let token = wire::parse_sign_in(&read_body(req, request::MAX_BODY).await?)?;
    if tokens.verify(&token).is_none() {
        return Err(throttled(Error::AdminUnauthorized { missing: false }, blocked));
    }
    // What the session keeps of the token: its digest, to end the session once the token is
    // rotated out.
    let grant = config::keyring(env)?.pepper.digest_str(&token).as_str().to_owned();
    let store = Mode::Live;
    let mint = Command::PortalMint {
        account: CONSOLE_ACCOUNT.to_owned(),
        mode: None,
        return_url: format!("{}{CONSOLE}/", origin(url)),
        expires_in: CONSOLE_TTL,
        key_defaults: Default::default(),
        grant: Some(RawKey(grant)),
    };
    let minted: Value = keystore::call(env, store, CONSOLE_ACCOUNT, &mint).await?;
    let (Some(id), Some(link)) = (minted["id"].as_str(), minted["token"].as_str()) else {
        return Err(Error::StoreUnavailable);
    };
    let redeem = Command::PortalRedeem {
        account: CONSOLE_ACCOUNT.to_owned(),
        session_id: id.to_owned(),
        token: RawKey(link.to_owned()),
    };
    let redeemed: Value = keystore::call(env, store, CONSOLE_ACCOUNT, &redeem).await?;
    let (Some(secret), Some(expires_at)) = (redeemed["secret"].as_str(), redeemed["expires_at"].as_i64())
    else {
        return Err(Error::StoreUnavailable);
    };
    let cookie = SessionCookie {
        account: CONSOLE_ACCOUNT.to_owned(),
        store,
        session_id: id.to_owned(),
        secret: secret.to_owned(),
    };
    let answer = json!({
        "object": "console_session",
        "id": id,
        "expires_at": expires_at,
        "csrf": redeemed["csrf"],
    });
    let response = respond::json(200, &answer, &rc.request_id)?;
    let _ = response
        .headers()
        .set("Set-Cookie", &set_cookie(Face::Console, &cookie.value(), expires_at - rc.now));
    Ok(response)
}

/// A session checked with its `KeyStore`: the cookie, and the session as the store answered it.
struct Session {
    cookie: SessionCookie,
    state: Value,
}

impl Session {
    fn id(&self) -> &str {
        &self.cookie.session_id
    }

    /// The modes it acts in.
    fn modes(&self) -> Result<Vec<Mode>, Error> {
        // Its one mode, or both when it has none; anything else in the store's answer fails
        // closed.
        match &self.state["mode"] {
            Value::Null => Ok(Mode::ALL.to_vec()),
            Value::String(m) => Mode::from_name(m).map(|m| vec![m]).ok_or(Error::StoreUnavailable),
            _ => Err(Error::StoreUnavailable),
        }
    }

    fn by(&self) -> Principal {
        Principal::Portal { session_id: self.cookie.session_id.clone() }
    }
}

/// The request's session of `face`, checked: its cookie, its time, and for a change its origin
/// and CSRF token; a console session also its admin token, still accepted. No cookie at all is
/// no guess (`portal_session_missing`, not counted); a wrong or made-up one counts as a failed
/// authentication.
async fn checked(
    req: &Request,
    url: &RequestUrl,
    env: &Env,
    face: Face,
    changes: bool,
    blocked: Option<u32>,
) -> Result<Session, Error> {
    let header = req.headers().get("cookie").ok().flatten().unwrap_or_default();
    let named = keygate_core::domain::portal::cookie_pairs(&header)
        .any(|c| c.strip_prefix(face.cookie()).is_some_and(|r| r.starts_with('=')));
    if !named {
        return Err(Error::Portal(Refusal::SessionMissing));
    }
    // A throttled address keeps only what it proves without a store read: nothing here.
    if let Some(retry_after) = blocked {
        return Err(Error::TooManyFailedAttempts { retry_after });
    }
    let cookie = SessionCookie::from_header(&header, face.cookie())
        .filter(|c| (c.account == CONSOLE_ACCOUNT) == (face == Face::Console))
        .ok_or(Error::Portal(Refusal::SessionInvalid))?;
    if changes {
        same_origin(req, url)?;
    }
    let csrf = req.headers().get(CSRF_HEADER).ok().flatten().map(RawKey);
    let command = Command::PortalCheck {
        account: cookie.account.clone(),
        session_id: cookie.session_id.clone(),
        secret: RawKey(cookie.secret.clone()),
        csrf,
        changes,
        mode: None,
    };
    let state: Value = keystore::call(env, cookie.store, &cookie.account, &command).await?;
    // A console session lasts only as long as the admin token it was opened with is accepted:
    // rotating the token out ends it.
    if face == Face::Console {
        let grant = state["grant"].as_str().unwrap_or_default();
        if !config::admin_tokens(env)?.still_grant(grant, &config::keyring(env)?.pepper) {
            return Err(Error::Portal(Refusal::Expired));
        }
    }
    Ok(Session { cookie, state })
}

/// A change must come from the page itself: its `Origin` is this request's origin, and a
/// browser that says where the request comes from (`Sec-Fetch-Site`) says `same-origin`. (The
/// cookie is `SameSite=Strict` and the CSRF token is also required; this is the third lock.)
fn same_origin(req: &Request, url: &RequestUrl) -> Result<(), Error> {
    let header = |name: &str| req.headers().get(name).ok().flatten();
    let given = header("origin").unwrap_or_default();
    let fetch_site_ok = header("sec-fetch-site").is_none_or(|s| s == "same-origin");
    if keygate_core::domain::portal::same_origin(&given, &origin(url)) && fetch_site_ok {
        Ok(())
    } else {
        Err(Error::Portal(Refusal::CsrfMissing))
    }
}

/// While the address is throttled, a failed authentication is answered 429.
fn throttled(e: Error, blocked: Option<u32>) -> Error {
    match blocked {
        Some(retry_after) if e.counts_as_failed_auth() => Error::TooManyFailedAttempts { retry_after },
        _ => e,
    }
}

/// `GET …/api/session`: what the page needs, its CSRF token included (readable by this origin's
/// script only: no CORS, and the cookie is never sent cross-site).
fn about(session: &Session, rc: &RequestContext) -> Result<Response, Error> {
    let s = &session.state;
    let answer = json!({
        "object": "portal_session",
        "id": session.id(),
        "account": if session.cookie.account == CONSOLE_ACCOUNT { Value::Null } else { s["account"].clone() },
        "mode": s["mode"],
        "modes": session.modes()?.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
        "return_url": s["return_url"],
        "expires_at": s["expires_at"],
        "csrf": s["csrf"],
    });
    respond::json(200, &answer, &rc.request_id)
}

/// `POST …/api/sign_out`: the session ends now, and the cookie is cleared.
async fn sign_out(env: &Env, face: Face, session: &Session, rc: &RequestContext) -> Result<Response, Error> {
    let c = &session.cookie;
    let command = Command::PortalEnd {
        account: c.account.clone(),
        session_id: c.session_id.clone(),
        secret: RawKey(c.secret.clone()),
        csrf: session.state["csrf"].as_str().map(|c| RawKey(c.to_owned())),
    };
    let _: Value = keystore::call(env, c.store, &c.account, &command).await?;
    let response = respond::json(200, &json!({ "object": "portal_session", "ended": true }), &rc.request_id)?;
    let _ = response.headers().set("Set-Cookie", &set_cookie(face, "", 0));
    Ok(response)
}

/// The portal's key routes: `GET keys`, `POST keys`, `POST keys/{id}/roll`, `POST
/// keys/{id}/expire`, `DELETE keys/{id}`, in the session's account and mode(s) only.
async fn portal_keys(
    req: &mut Request,
    env: &Env,
    rc: &RequestContext,
    session: &Session,
    action: &[&str],
    method: Method,
) -> Result<Response, Error> {
    let account = session.cookie.account.clone();
    let (status, answer) = match (action, method) {
        ([], Method::Get) => {
            let query = request::parse_key_query(Some("100"), None, None, None)?;
            let mut data = Vec::new();
            let mut has_more = false;
            for mode in session.modes()? {
                let command =
                    Command::List { account: account.clone(), by: session.by(), query: query.clone() };
                let list: List<KeyObject> = keystore::call(env, mode, &account, &command).await?;
                data.extend(list.data);
                has_more |= list.has_more;
            }
            data.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.id.cmp(&b.id)));
            data.iter_mut().for_each(|k| k.metadata.clear());
            (200, value(&List { object: "list".into(), data, has_more })?)
        }
        ([], Method::Post) => {
            config::max_keys(env)?;
            let defaults: keygate_core::domain::portal::KeyDefaults =
                serde_json::from_value(session.state["key_defaults"].clone())
                    .map_err(|_| Error::StoreUnavailable)?;
            let body = read_body(req, request::MAX_BODY).await?;
            let params = wire::parse_portal_create(&body, &session.modes()?, &defaults, rc.now)?;
            let mode = params.mode;
            let command = Command::Create { account: account.clone(), params, actor: session.by().actor() };
            let mut key: KeyObject = keystore::call(env, mode, &account, &command).await?;
            key.metadata.clear();
            (201, value(&key)?)
        }
        ([], _) => return Err(Error::MethodNotAllowed { allowed: "GET, POST" }),
        ([id, rest @ ..], method) => {
            let key_id = ids::parse_key_id(id)?;
            let command = match (rest, method) {
                ([], Method::Delete) => {
                    Command::Revoke { account: account.clone(), key_id, by: session.by() }
                }
                (["expire"], Method::Post) => {
                    Command::Expire { account: account.clone(), key_id, by: session.by() }
                }
                (["roll"], Method::Post) => {
                    config::max_keys(env)?;
                    let grace = request::parse_roll(&read_body(req, request::MAX_BODY).await?)?;
                    Command::Roll { account: account.clone(), key_id, grace, by: session.by() }
                }
                ([], _) => return Err(Error::MethodNotAllowed { allowed: "DELETE" }),
                (["expire" | "roll"], _) => return Err(Error::MethodNotAllowed { allowed: "POST" }),
                _ => return Err(Error::NotFound { what: "route".into() }),
            };
            let status = if command.creates() { 201 } else { 200 };
            // A key id does not name its mode: ask each of the session's modes' objects (and
            // only those: a test session never reaches a live key).
            let mut found = Err(Error::NotFound { what: "key".into() });
            for mode in session.modes()? {
                found = keystore::call::<KeyObject>(env, mode, &account, &command).await;
                if !matches!(found, Err(Error::Relayed { status: 404, .. })) {
                    break;
                }
            }
            let mut key = found?;
            key.metadata.clear();
            (status, value(&key)?)
        }
    };
    respond::json(status, &answer, &rc.request_id)
}

/// `Set-Cookie` for `face`'s session: host-only (`__Host-`), every path, never to script, over
/// HTTPS only, never on a cross-site request; gone after `max_age` seconds (0: now).
fn set_cookie(face: Face, value: &str, max_age: i64) -> String {
    format!(
        "{}={value}; Path=/; Max-Age={}; HttpOnly; Secure; SameSite=Strict",
        face.cookie(),
        max_age.max(0)
    )
}

//! The management API under `/_keygate/v1`.
//!
//! * Operator routes, `Authorization: Bearer <ADMIN_TOKEN>`: `/accounts/{account}/keys…` and
//!   `/accounts/{account}/events`.
//! * Self-service routes, authorised with one of the account's own secret keys: `/keys…`. They
//!   act only on that key's account and mode.
//!
//! Both validate here, then ask the (mode, account) Durable Object, which is the authority.

use keygate_core::Error;
use keygate_core::admin::{self, CreateKey, KeyObject, KeySettings, List, Page};
use keygate_core::authority::{Actor, Event};
use keygate_core::clock::Clock;
use keygate_core::key::{KeyType, Mode};
use worker::{Env, Method, Request, Response, Url};

use crate::keystore::{self, Command};
use crate::platform::WorkerClock;
use crate::{config, edge, respond};

/// Serve one management request.
pub async fn handle(mut req: Request, url: &Url, env: &Env, request_id: &str) -> Result<Response, Error> {
    let rest = url.path().strip_prefix(admin::PREFIX).map(str::to_owned);
    let Some(rest) = rest.filter(|r| r.is_empty() || r.starts_with('/')) else {
        return Err(Error::NotFound { what: "route".into() });
    };
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let method = req.method();
    if segments.first() == Some(&"keys") {
        return self_service(&mut req, url, env, request_id, &segments[1..], method).await;
    }
    authorize_operator(&req, env)?;
    let (status, json) = match segments.as_slice() {
        ["accounts", account, rest @ ..] => {
            let account = admin::parse_account(account)?;
            operator(&mut req, url, env, &account, rest, method).await?
        }
        _ => return Err(Error::NotFound { what: "route".into() }),
    };
    respond::json(status, &json, request_id)
}

async fn operator(
    req: &mut Request,
    url: &Url,
    env: &Env,
    account: &str,
    rest: &[&str],
    method: Method,
) -> Result<(u16, serde_json::Value), Error> {
    let admin = Actor::admin();
    let acct = account.to_owned();
    match (rest, method) {
        (["keys"], Method::Post) => {
            let body = read_body(req).await?;
            let params = CreateKey::from_json(&body, WorkerClock.now())?;
            let command = Command::Create { account: acct, params: params.clone(), actor: admin };
            let created: KeyObject = keystore::call(env, params.mode, account, &command).await?;
            Ok((201, value(&created)?))
        }
        (["keys"], Method::Get) => {
            let modes = match query_param(url, "mode") {
                Some(m) => vec![admin::parse_mode(&m, "mode")?],
                None => Mode::ALL.to_vec(),
            };
            let mut data = Vec::new();
            for mode in modes {
                let list: List<KeyObject> =
                    keystore::call(env, mode, account, &Command::List { account: acct.clone() }).await?;
                data.extend(list.data);
            }
            data.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.id.cmp(&b.id)));
            Ok((200, value(&List::new(data))?))
        }
        (["keys"], _) => Err(Error::MethodNotAllowed { allowed: "GET, POST" }),
        (["keys", id, action @ ..], method) => {
            let key_id = admin::parse_key_id(id)?;
            let command = key_command(req, acct, key_id, action, method, admin).await?;
            let status = status_for(&command);
            let key: KeyObject = call_either_mode(env, account, &command).await?;
            Ok((status, value(&key)?))
        }
        (["events"], Method::Get) => {
            let mode = match query_param(url, "mode") {
                Some(m) => admin::parse_mode(&m, "mode")?,
                None => {
                    return Err(Error::invalid_param(
                        "parameter_missing",
                        "mode",
                        "Missing required parameter: mode (`test` or `live`).",
                    ));
                }
            };
            let page = Page::parse(
                query_param(url, "limit").as_deref(),
                query_param(url, "starting_after").as_deref(),
            )?;
            let events: List<Event> =
                keystore::call(env, mode, account, &Command::Events { account: acct, page }).await?;
            Ok((200, value(&events)?))
        }
        (["events"], _) => Err(Error::MethodNotAllowed { allowed: "GET" }),
        _ => Err(Error::NotFound { what: "route".into() }),
    }
}

/// The command for `/keys/{id}[/roll|/expire]` with `method`.
async fn key_command(
    req: &mut Request,
    account: String,
    key_id: String,
    action: &[&str],
    method: Method,
    actor: Actor,
) -> Result<Command, Error> {
    Ok(match (action, method) {
        ([], Method::Get) => Command::Get { account, key_id },
        ([], Method::Delete) => Command::Revoke { account, key_id, actor },
        ([], Method::Patch) => {
            let settings = KeySettings::from_json(&read_body(req).await?)?;
            Command::Update { account, key_id, settings, actor }
        }
        ([], _) => return Err(Error::MethodNotAllowed { allowed: "GET, PATCH, DELETE" }),
        (["roll"], Method::Post) => {
            let grace = admin::parse_roll(&read_body(req).await?)?;
            Command::Roll { account, key_id, grace, actor }
        }
        (["expire"], Method::Post) => Command::Expire { account, key_id, actor },
        (["roll" | "expire"], _) => return Err(Error::MethodNotAllowed { allowed: "POST" }),
        _ => return Err(Error::NotFound { what: "route".into() }),
    })
}

/// A roll creates a key (201); every other key command answers 200.
fn status_for(command: &Command) -> u16 {
    if matches!(command, Command::Roll { .. }) { 201 } else { 200 }
}

/// `/keys…` with the account's own secret key.
async fn self_service(
    req: &mut Request,
    url: &Url,
    env: &Env,
    request_id: &str,
    rest: &[&str],
    method: Method,
) -> Result<Response, Error> {
    let authn = edge::authenticate(req, url, env, config::staleness(env)?).await?;
    if authn.record.key_type != KeyType::Secret {
        return Err(Error::SecretKeyRequired);
    }
    // Management acts on the authority's state, never on a possibly stale replica.
    let authn = edge::confirm_with_authority(env, authn).await?;
    let (account, mode) = (authn.record.account.clone(), authn.record.mode);
    let actor = Actor(authn.record.id.clone());
    let (status, json) = match (rest, method) {
        ([], Method::Get) => {
            let list: List<KeyObject> =
                keystore::call(env, mode, &account, &Command::List { account: account.clone() }).await?;
            (200, value(&list)?)
        }
        ([], _) => return Err(Error::MethodNotAllowed { allowed: "GET" }),
        ([id, action @ ..], method) => {
            let key_id = admin::parse_key_id(id)?;
            let command = key_command(req, account.clone(), key_id, action, method, actor).await?;
            let status = status_for(&command);
            let key: KeyObject = keystore::call(env, mode, &account, &command).await?;
            (status, value(&key)?)
        }
    };
    respond::json(status, &json, request_id)
}

/// A key id does not name its mode: ask the test object, then the live one.
async fn call_either_mode(env: &Env, account: &str, command: &Command) -> Result<KeyObject, Error> {
    match keystore::call(env, Mode::Test, account, command).await {
        Err(e) if e.code() == "resource_missing" => keystore::call(env, Mode::Live, account, command).await,
        other => other,
    }
}

/// Constant-time check of `Authorization: Bearer <ADMIN_TOKEN>`.
fn authorize_operator(req: &Request, env: &Env) -> Result<(), Error> {
    let expected = config::admin_token(env)?;
    let header = req.headers().get("authorization").ok().flatten();
    let Some(value) = header.filter(|v| !v.trim().is_empty()) else {
        return Err(Error::AdminUnauthorized { missing: true });
    };
    let token = value.strip_prefix("Bearer ").unwrap_or("");
    if token.is_empty() || !expected.verify(token) {
        return Err(Error::AdminUnauthorized { missing: false });
    }
    Ok(())
}

/// Read a request body of at most [`admin::MAX_BODY`] bytes.
async fn read_body(req: &mut Request) -> Result<Vec<u8>, Error> {
    let too_large = Error::BodyTooLarge { limit: admin::MAX_BODY };
    if let Ok(Some(len)) = req.headers().get("content-length")
        && len.trim().parse::<usize>().map_or(true, |n| n > admin::MAX_BODY)
    {
        return Err(too_large);
    }
    let body = req
        .bytes()
        .await
        .map_err(|_| Error::invalid_param("body_invalid", "body", "The request body could not be read."))?;
    if body.len() > admin::MAX_BODY {
        return Err(too_large);
    }
    Ok(body)
}

/// The first value of query parameter `name`.
fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

fn value<T: serde::Serialize>(v: &T) -> Result<serde_json::Value, Error> {
    serde_json::to_value(v).map_err(|_| Error::Internal { what: "encoding a response" })
}

//! The operator's management API under `/_keygate/v1`, authorised with `Bearer <ADMIN_TOKEN>`.
//! It validates, then asks the account's Durable Object, which is the authority for key state.

use keygate_core::Error;
use keygate_core::admin::{self, CreateKey, KeyObject, List};
use keygate_core::clock::Clock;
use keygate_core::key::Mode;
use worker::{Env, Method, Request, Response, Url};

use crate::keystore::{self, Command};
use crate::platform::WorkerClock;
use crate::{config, respond};

/// Serve one admin request.
pub async fn handle(mut req: Request, url: &Url, env: &Env, request_id: &str) -> Result<Response, Error> {
    authorize(&req, env)?;
    let rest = url.path().strip_prefix(admin::PREFIX).unwrap_or("/");
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["accounts", account, "keys"] => {
            let account = admin::parse_account(account)?;
            match req.method() {
                Method::Post => {
                    let body = read_body(&mut req).await?;
                    let params = CreateKey::from_json(&body, WorkerClock.now())?;
                    let created: KeyObject = keystore::call(
                        env,
                        params.mode,
                        &account,
                        &Command::Create { account: account.clone(), params },
                    )
                    .await?;
                    respond::json(201, &created, request_id)
                }
                Method::Get => {
                    let modes = match query_param(url, "mode") {
                        Some(m) => vec![admin::parse_mode(&m, "mode")?],
                        None => Mode::ALL.to_vec(),
                    };
                    let mut data = Vec::new();
                    for mode in modes {
                        let list: List<KeyObject> =
                            keystore::call(env, mode, &account, &Command::List { account: account.clone() })
                                .await?;
                        data.extend(list.data);
                    }
                    data.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.id.cmp(&b.id)));
                    respond::json(200, &List::new(data), request_id)
                }
                _ => Err(Error::MethodNotAllowed { allowed: "GET, POST" }),
            }
        }
        ["accounts", account, "keys", key_id] => {
            let account = admin::parse_account(account)?;
            let key_id = admin::parse_key_id(key_id)?;
            let command = match req.method() {
                Method::Get => Command::Get { account: account.clone(), key_id },
                Method::Delete => Command::Revoke { account: account.clone(), key_id },
                _ => return Err(Error::MethodNotAllowed { allowed: "GET, DELETE" }),
            };
            let key: KeyObject = call_either_mode(env, &account, &command).await?;
            respond::json(200, &key, request_id)
        }
        _ => Err(Error::NotFound { what: "admin route".into() }),
    }
}

/// A key id does not name its mode: ask the test object, then the live one.
async fn call_either_mode(env: &Env, account: &str, command: &Command) -> Result<KeyObject, Error> {
    match keystore::call(env, Mode::Test, account, command).await {
        Err(Error::NotFound { .. }) => keystore::call(env, Mode::Live, account, command).await,
        other => other,
    }
}

/// Constant-time check of `Authorization: Bearer <ADMIN_TOKEN>`.
fn authorize(req: &Request, env: &Env) -> Result<(), Error> {
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
pub fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

//! `KeyStore`, the Durable Object that is the authority for the keys of one (mode, account): how
//! the core's commands ([`keygate_core::commands::command::Command`]) are sent to it. The object is in
//! `keystore/object.rs`.

use keygate_core::Error;
use keygate_core::api::error_body::ErrorBody;
#[cfg(feature = "authority")]
pub use keygate_core::commands::command::Command;
pub use keygate_core::commands::command::EdgeCommand;
use keygate_core::domain::key::Mode;
use serde::de::DeserializeOwned;
use worker::{Env, Request};

use crate::config;

/// The object itself, only in the build that hosts it (feature `authority`). The lean edge
/// build reaches it through a binding to that worker's class and never links its code.
#[cfg(feature = "authority")]
mod object;
#[cfg(feature = "authority")]
pub use object::KeyStore;

/// Send `command` to the object for (mode, account) and decode its answer. An error answer is
/// relayed as it is; a transport fault is [`Error::StoreUnavailable`].
pub async fn call<T: DeserializeOwned>(
    env: &Env,
    mode: Mode,
    account: &str,
    command: &impl serde::Serialize,
) -> Result<T, Error> {
    let body = serde_json::to_string(command).map_err(|_| Error::Internal { what: "encoding a command" })?;
    let text = send(env, mode, account, body).await?;
    serde_json::from_str(&text).map_err(|_| Error::StoreUnavailable)
}

/// Set the authority's clock of the test-mode object of `account` `offset` seconds ahead of the
/// platform's (the `test-clock` build, keygate's own tests only).
#[cfg(feature = "test-clock")]
pub async fn set_test_clock(env: &Env, account: &str, offset: i64) -> Result<(), Error> {
    let url = format!("https://keystore.internal{}", object::test_clock::PATH);
    to_object(env, Mode::Test, account, &url, offset.to_string()).await.map(|_| ())
}

/// Send `command` to the object for (mode, account) after the response, in `waitUntil`, and
/// ignore its answer (best effort: a usage count, an exposure, a canary's use). Serialised here,
/// so that every such report shares one background task in the bundle.
pub fn send_later(ctx: &worker::Context, env: &Env, mode: Mode, account: &str, command: &EdgeCommand<'_>) {
    let Ok(body) = serde_json::to_string(command) else { return };
    let (env, account) = (env.clone(), account.to_owned());
    ctx.wait_until(async move {
        let _ = send(&env, mode, &account, body).await;
    });
}

/// The round trip itself, not generic: one copy in the bundle whatever the answer's type.
async fn send(env: &Env, mode: Mode, account: &str, body: String) -> Result<String, Error> {
    to_object(env, mode, account, "https://keystore.internal/command", body).await
}

async fn to_object(env: &Env, mode: Mode, account: &str, url: &str, body: String) -> Result<String, Error> {
    let ns = env
        .durable_object(config::KEYSTORE_BINDING)
        .map_err(|_| Error::Misconfigured { what: config::KEYSTORE_BINDING })?;
    let stub = ns
        .id_from_name(&format!("{}:{account}", mode.as_str()))
        .and_then(|id| id.get_stub())
        .map_err(|_| Error::StoreUnavailable)?;
    // The platform's own RequestInit: workers-rs's would also link the conversion of every
    // `cf` property, which a command never has.
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&wasm_bindgen::JsValue::from_str(&body));
    let req = web_sys::Request::new_with_str_and_init(url, &init)
        .map(Request::from)
        .map_err(|_| Error::Internal { what: "building a command" })?;
    let mut resp = stub.fetch_with_request(req).await.map_err(|_| Error::StoreUnavailable)?;
    let status = resp.status_code();
    let text = resp.text().await.map_err(|_| Error::StoreUnavailable)?;
    if (200..300).contains(&status) {
        return Ok(text);
    }
    match serde_json::from_str::<ErrorBody>(&text) {
        Ok(body) => Err(body.into_error(status)),
        Err(_) => Err(Error::StoreUnavailable),
    }
}

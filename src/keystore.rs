//! `KeyStore`, the Durable Object that is the authority for the keys of one (mode, account): the
//! commands the worker sends it, and how they are sent. The object is in `keystore/object.rs`.

use keygate_core::admin::{CreateKey, KeySettings, Page};
use keygate_core::authority::Actor;
use keygate_core::clock::UnixSeconds;
use keygate_core::digest::KeyDigest;
use keygate_core::key::Mode;
use keygate_core::{Error, ErrorBody};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use worker::{Env, Method, Request, RequestInit};

use crate::config;

/// The object itself, only in the build that hosts it (feature `authority`). The lean edge
/// build reaches it through a binding to that worker's class and never links its code.
#[cfg(feature = "authority")]
mod object;
#[cfg(feature = "authority")]
pub use object::KeyStore;

/// What the worker asks of a `KeyStore`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Command {
    /// Create a key.
    Create { account: String, params: CreateKey, actor: Actor },
    /// The account's keys.
    List { account: String },
    /// One key.
    Get { account: String, key_id: String },
    /// Roll a key with a grace period in seconds.
    Roll { account: String, key_id: String, grace: i64, actor: Actor },
    /// End a key now.
    Expire { account: String, key_id: String, actor: Actor },
    /// Revoke a key.
    Revoke { account: String, key_id: String, actor: Actor },
    /// The audit log.
    Events { account: String, page: Page },
    /// The authoritative record of a key presented with `digest`.
    Verify { account: String, key_id: String, digest: KeyDigest },
    /// Requests seen at the edge.
    Usage { account: String, key_id: String, at: UnixSeconds, count: u64 },
    /// Change permissions and restrictions.
    Update { account: String, key_id: String, settings: KeySettings, actor: Actor },
    /// A key was seen exposed.
    Exposed { account: String, key_id: String, reason: String, expire: bool },
}

impl Command {
    #[cfg(feature = "authority")]
    fn changes_state(&self) -> bool {
        matches!(
            self,
            Command::Create { .. } | Command::Roll { .. } | Command::Expire { .. } | Command::Revoke { .. }
        )
    }
}

/// Send `command` to the object for (mode, account) and decode its answer. An error answer is
/// relayed as it is; a transport fault is [`Error::StoreUnavailable`].
pub async fn call<T: DeserializeOwned>(
    env: &Env,
    mode: Mode,
    account: &str,
    command: &Command,
) -> Result<T, Error> {
    let ns = env
        .durable_object(config::KEYSTORE_BINDING)
        .map_err(|_| Error::Misconfigured { what: config::KEYSTORE_BINDING })?;
    let stub = ns
        .id_from_name(&format!("{}:{account}", mode.as_str()))
        .and_then(|id| id.get_stub())
        .map_err(|_| Error::StoreUnavailable)?;
    let body = serde_json::to_string(command).map_err(|_| Error::Internal { what: "encoding a command" })?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(body.into()));
    let req = Request::new_with_init("https://keystore.internal/command", &init)
        .map_err(|_| Error::Internal { what: "building a command" })?;
    let mut resp = stub.fetch_with_request(req).await.map_err(|_| Error::StoreUnavailable)?;
    let status = resp.status_code();
    let text = resp.text().await.map_err(|_| Error::StoreUnavailable)?;
    if (200..300).contains(&status) {
        return serde_json::from_str(&text).map_err(|_| Error::StoreUnavailable);
    }
    match serde_json::from_str::<ErrorBody>(&text) {
        Ok(body) => Err(body.into_error(status)),
        Err(_) => Err(Error::StoreUnavailable),
    }
}

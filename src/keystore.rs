//! `KeyStore`, the Durable Object that is the authority for the keys of one (mode, account).
//!
//! Storage layout (the DO's transactional key-value storage, values are JSON text):
//! * `key:{key_id}` → [`StoredKey`]: the record, its digest, `last_used`, and whether KV has it.
//!
//! Every change is written to the DO's own storage first, then replicated to KV under the digest.
//! A KV write that fails leaves `kv_synced = false`; the alarm retries until KV agrees.

use keygate_core::admin::{CreateKey, KeyObject, List};
use keygate_core::clock::Clock;
use keygate_core::key::Mode;
use keygate_core::keystate::{self, StoredKey};
use keygate_core::rng::SystemRng;
use keygate_core::{Error, ErrorBody};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use worker::{
    DurableObject, Env, ListOptions, Method, Request, RequestInit, Response, State, durable_object,
};

use crate::config;
use crate::platform::WorkerClock;

/// Seconds between KV replication retries.
const KV_RETRY_SECONDS: i64 = 5;

/// What the worker asks of a `KeyStore`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Command {
    /// Create a key.
    Create {
        /// The account (the object is already per account; this is checked).
        account: String,
        /// Validated parameters.
        params: CreateKey,
    },
    /// List the account's keys in this mode.
    List {
        /// The account.
        account: String,
    },
    /// One key.
    Get {
        /// The account.
        account: String,
        /// `key_…`.
        key_id: String,
    },
    /// Revoke a key.
    Revoke {
        /// The account.
        account: String,
        /// `key_…`.
        key_id: String,
    },
}

/// The object for (mode, account): `idFromName("test:acct_123")`.
pub fn object_name(mode: Mode, account: &str) -> String {
    format!("{}:{account}", mode.as_str())
}

/// Send `command` to the object for (mode, account) and decode its answer. An error answer is
/// passed on as the same error; a transport fault is [`Error::StoreUnavailable`].
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
        .id_from_name(&object_name(mode, account))
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
    Err(decode_error(status, &text))
}

/// Turn an error answer of the object back into the error it described.
fn decode_error(status: u16, text: &str) -> Error {
    #[derive(Deserialize)]
    struct Wire {
        error: WireObject,
    }
    #[derive(Deserialize)]
    struct WireObject {
        code: String,
    }
    match serde_json::from_str::<Wire>(text).map(|w| w.error.code) {
        Ok(code) if code == "misconfigured" => Error::Misconfigured { what: "KEY_PEPPER" },
        Ok(code) if code == "record_corrupt" => Error::RecordCorrupt,
        Ok(code) if code == "resource_missing" && status == 404 => Error::NotFound { what: "key".into() },
        _ => Error::StoreUnavailable,
    }
}

/// The Durable Object.
#[durable_object]
pub struct KeyStore {
    state: State,
    env: Env,
}

impl DurableObject for KeyStore {
    fn new(state: State, env: Env) -> Self {
        KeyStore { state, env }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let outcome = match req.text().await {
            Ok(body) => match serde_json::from_str::<Command>(&body) {
                Ok(command) => self.run(command).await,
                Err(_) => Err(Error::Internal { what: "undecodable command" }),
            },
            Err(_) => Err(Error::Internal { what: "unreadable command" }),
        };
        Ok(match outcome {
            Ok(json) => Response::builder().with_status(200).fixed(json.into_bytes()),
            Err(e) => {
                let body = serde_json::to_vec(&ErrorBody::new(&e, "")).unwrap_or_default();
                Response::builder().with_status(e.status()).fixed(body)
            }
        })
    }

    async fn alarm(&self) -> worker::Result<Response> {
        let pending = self.sync_kv().await;
        if pending > 0 {
            self.schedule_retry().await;
        }
        Response::ok("")
    }
}

impl KeyStore {
    async fn run(&self, command: Command) -> Result<String, Error> {
        match command {
            Command::Create { account, params } => {
                let pepper = config::pepper(&self.env)?;
                let now = WorkerClock.now();
                let new = keystate::create(&account, &params, &pepper, &mut SystemRng, now)?;
                let stored = self.commit(new.stored).await?;
                let mut object = KeyObject::from_stored(&stored);
                object.secret = Some(new.key.expose_secret().to_owned());
                to_json(&object)
            }
            Command::List { account } => {
                let now = WorkerClock.now();
                let data = self
                    .all_keys()
                    .await?
                    .into_iter()
                    .filter(|k| k.record.account == account)
                    .map(|k| {
                        let mut o = KeyObject::from_stored(&k);
                        o.status = k.status_at(now).as_str().into();
                        o
                    })
                    .collect();
                to_json(&List::new(data))
            }
            Command::Get { account, key_id } => {
                let key = self.load(&account, &key_id).await?;
                let mut o = KeyObject::from_stored(&key);
                o.status = key.status_at(WorkerClock.now()).as_str().into();
                to_json(&o)
            }
            Command::Revoke { account, key_id } => {
                let key = self.load(&account, &key_id).await?;
                let next = self.commit(keystate::revoke(&key)).await?;
                to_json(&KeyObject::from_stored(&next))
            }
        }
    }

    /// The key `key_id` of `account`, or not found.
    async fn load(&self, account: &str, key_id: &str) -> Result<StoredKey, Error> {
        let text: Option<String> =
            self.state.storage().get(&format!("key:{key_id}")).await.map_err(|_| Error::StoreUnavailable)?;
        let key: StoredKey = match text {
            Some(t) => serde_json::from_str(&t).map_err(|_| Error::RecordCorrupt)?,
            None => return Err(Error::NotFound { what: "key".into() }),
        };
        if key.record.account != account {
            return Err(Error::NotFound { what: "key".into() });
        }
        Ok(key)
    }

    /// Save a changed key to the DO first, then replicate it to KV (or leave that to the alarm).
    async fn commit(&self, mut key: StoredKey) -> Result<StoredKey, Error> {
        if key.kv_synced {
            return Ok(key);
        }
        self.save(&key).await?;
        if self.replicate(&key).await {
            key.kv_synced = true;
            self.save(&key).await?;
        } else {
            self.schedule_retry().await;
        }
        Ok(key)
    }

    async fn save(&self, key: &StoredKey) -> Result<(), Error> {
        let json = serde_json::to_string(key).map_err(|_| Error::Internal { what: "encoding a key" })?;
        self.state
            .storage()
            .put(&format!("key:{}", key.record.id), json)
            .await
            .map_err(|_| Error::StoreUnavailable)
    }

    async fn all_keys(&self) -> Result<Vec<StoredKey>, Error> {
        let map = self
            .state
            .storage()
            .list_with_options(ListOptions::new().prefix("key:"))
            .await
            .map_err(|_| Error::StoreUnavailable)?;
        let mut out = Vec::new();
        for value in map.values() {
            let text = value.ok().and_then(|v| v.as_string()).ok_or(Error::RecordCorrupt)?;
            out.push(serde_json::from_str(&text).map_err(|_| Error::RecordCorrupt)?);
        }
        Ok(out)
    }

    /// Write the key's record to its mode's KV namespace. True when KV acknowledged it.
    async fn replicate(&self, key: &StoredKey) -> bool {
        let Ok(kv) = self.env.kv(config::kv_binding(key.record.mode)) else {
            return false;
        };
        match kv.put(key.digest.as_str(), key.record.to_json()) {
            Ok(put) => put.execute().await.is_ok(),
            Err(_) => false,
        }
    }

    /// Replicate every key KV has not acknowledged yet. Returns how many are still pending.
    async fn sync_kv(&self) -> usize {
        let Ok(keys) = self.all_keys().await else {
            return 1;
        };
        let mut pending = 0;
        for mut key in keys.into_iter().filter(|k| !k.kv_synced) {
            if self.replicate(&key).await {
                key.kv_synced = true;
                if self.save(&key).await.is_err() {
                    pending += 1;
                }
            } else {
                pending += 1;
            }
        }
        pending
    }

    async fn schedule_retry(&self) {
        let at = (WorkerClock.now() + KV_RETRY_SECONDS) * 1000;
        let _ = self.state.storage().set_alarm(at).await;
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|_| Error::Internal { what: "encoding a response" })
}

//! The `KeyStore` Durable Object. All of its logic is `keygate_core::authority::Authority`; this
//! file adapts the object's storage and KV to the core's traits.

use keygate_core::authority::{Authority, RecordWriter, StateStore};
use keygate_core::clock::{Clock, UnixSeconds};
use keygate_core::digest::KeyDigest;
use keygate_core::key::Mode;
use keygate_core::rng::SystemRng;
use keygate_core::store::StoreError;
use keygate_core::{Error, ErrorBody};
use serde::Serialize;
use worker::{DurableObject, Env, ListOptions, Request, Response, State, durable_object};

use super::Command;
use crate::config;
use crate::platform::WorkerClock;

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
        let outcome = match req.text().await.ok().and_then(|b| serde_json::from_str::<Command>(&b).ok()) {
            Some(command) if command.changes_state() => {
                // A change, with its KV write, runs alone: no other event is delivered until it
                // is done, so no change can overwrite another's state or reorder KV writes.
                let (storage, env) = (self.state.storage(), self.env.clone());
                self.state
                    .block_concurrency_while(async move { Ok(execute(storage, env, command).await) })
                    .await
                    .unwrap_or(Err(Error::StoreUnavailable))
            }
            Some(command) => execute(self.state.storage(), self.env.clone(), command).await,
            None => Err(Error::Internal { what: "undecodable command" }),
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
        let (storage, env) = (self.state.storage(), self.env.clone());
        let _ = self
            .state
            .block_concurrency_while(async move {
                let now = WorkerClock.now();
                let (state, kv) = (DoState(storage), KvWriter(&env));
                let next = Authority { state: &state, kv: &kv }.sync(now).await;
                schedule(&state.0, next.unwrap_or(Some(now + keygate_core::authority::KV_RETRY_SECONDS)))
                    .await;
                Ok(())
            })
            .await;
        Response::ok("")
    }
}

/// Run one command against the object's storage.
async fn execute(storage: worker::Storage, env: Env, command: Command) -> Result<String, Error> {
    let now = WorkerClock.now();
    let changes = command.changes_state();
    let (state, kv) = (DoState(storage), KvWriter(&env));
    let a = Authority { state: &state, kv: &kv };
    let json = match command {
        Command::Create { account, params, actor } => {
            let pepper = config::pepper(&env)?;
            to_json(&a.create(&account, &params, &pepper, &mut SystemRng, now, &actor).await?)
        }
        Command::List { account } => to_json(&keygate_core::admin::List::new(a.list(&account, now).await?)),
        Command::Get { account, key_id } => to_json(&a.get(&account, &key_id, now).await?),
        Command::Roll { account, key_id, grace, actor } => {
            let pepper = config::pepper(&env)?;
            to_json(&a.roll(&account, &key_id, grace, &pepper, &mut SystemRng, now, &actor).await?)
        }
        Command::Expire { account, key_id, actor } => {
            to_json(&a.expire(&account, &key_id, now, &actor).await?)
        }
        Command::Revoke { account, key_id, actor } => {
            to_json(&a.revoke(&account, &key_id, now, &actor).await?)
        }
        Command::Events { account, page } => to_json(&a.events(&account, &page).await?),
        Command::Verify { account, key_id, digest } => to_json(&a.verify(&account, &key_id, &digest).await?),
        Command::Update { account, key_id, settings, actor } => {
            to_json(&a.update(&account, &key_id, &settings, now, &actor).await?)
        }
        Command::Exposed { account, key_id, reason, expire } => {
            a.exposed(&account, &key_id, &reason, expire, now).await?;
            Ok("{}".into())
        }
        Command::Usage { account, key_id, at, count } => {
            a.record_usage(&account, &key_id, at, count).await?;
            Ok("{}".into())
        }
    }?;
    if changes {
        // A pending KV write or expiry needs the alarm; if this fails, the next change sets it.
        if let Ok(next) = a.next_alarm(now).await {
            schedule(&state.0, next).await;
        }
    }
    Ok(json)
}

async fn schedule(storage: &worker::Storage, at: Option<UnixSeconds>) {
    let _ = match at {
        // An absolute time: worker's `From<i64>` would read a number as an offset from now.
        Some(t) => {
            let at = worker::js_sys::Date::new(&worker::wasm_bindgen::JsValue::from_f64((t * 1000) as f64));
            storage.set_alarm(worker::ScheduledTime::new(at)).await
        }
        None => storage.delete_alarm().await,
    };
}

fn to_json<T: Serialize>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|_| Error::Internal { what: "encoding a response" })
}

/// The DO's storage as the core's [`StateStore`].
struct DoState(worker::Storage);

fn failed(e: worker::Error) -> StoreError {
    StoreError::Failed(e.to_string())
}

impl StateStore for DoState {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.0.get::<String>(key).await.map_err(failed)
    }

    async fn put(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.0.put(key, value).await.map_err(failed)
    }

    async fn list(
        &self,
        prefix: &str,
        end: Option<&str>,
        reverse: bool,
        limit: Option<usize>,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut opts = ListOptions::new().prefix(prefix).reverse(reverse);
        if let Some(e) = end {
            opts = opts.end(e);
        }
        if let Some(n) = limit {
            opts = opts.limit(n);
        }
        let map = self.0.list_with_options(opts).await.map_err(failed)?;
        let mut rows = Vec::new();
        for entry in map.entries() {
            let pair = entry.map_err(|_| StoreError::Failed("listing".into()))?;
            let pair: worker::js_sys::Array = pair.into();
            let (k, v) = (pair.get(0).as_string(), pair.get(1).as_string());
            match (k, v) {
                (Some(k), Some(v)) => rows.push((k, v)),
                _ => return Err(StoreError::Failed("a stored value is not text".into())),
            }
        }
        Ok(rows)
    }
}

/// KV as the core's [`RecordWriter`].
struct KvWriter<'a>(&'a Env);

impl RecordWriter for KvWriter<'_> {
    async fn put(&self, mode: Mode, digest: &KeyDigest, record: &str) -> Result<(), StoreError> {
        let binding = config::kv_binding(mode);
        let kv = self.0.kv(binding).map_err(|_| StoreError::Misconfigured(binding))?;
        kv.put(digest.as_str(), record)
            .map_err(|e| StoreError::Failed(e.to_string()))?
            .execute()
            .await
            .map_err(|e| StoreError::Failed(e.to_string()))
    }
}

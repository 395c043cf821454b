//! The `KeyStore` Durable Object. All of its logic is `keygate_core::commands::authority::Authority`; this
//! file adapts the object's storage and KV to the core's traits.

use keygate_core::Error;
use keygate_core::api::error_body::ErrorBody;
use keygate_core::api::webhook::deliver_due;
use keygate_core::clock::{Clock, UnixSeconds};
use keygate_core::commands::authority::{Authority, Limits};
use keygate_core::commands::command::{self, Command};
use keygate_core::commands::ports::{RecordWriter, StateStore};
use keygate_core::domain::digest::KeyDigest;
use keygate_core::domain::key::Mode;
use keygate_core::rng::SystemRng;
use keygate_core::store::StoreError;
use worker::{DurableObject, Env, ListOptions, Request, Response, State, durable_object};

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
        #[cfg(feature = "test-clock")]
        if req.path() == test_clock::PATH {
            return test_clock::set(&self.state, &mut req).await;
        }
        let command = req.text().await.ok().and_then(|b| serde_json::from_str::<Command>(&b).ok());
        let answer = match command {
            Some(command) if command.serialised() => {
                // A command that writes runs alone, its KV write and alarm included: no other
                // event is delivered until it is done, so no change can overwrite another's state
                // or reorder KV writes (the core decides which commands these are).
                let (storage, env) = (self.state.storage(), self.env.clone());
                self.state
                    .block_concurrency_while(async move { Ok(execute(storage, env, command).await) })
                    .await
                    .unwrap_or(Err(Error::StoreUnavailable))
            }
            Some(command) => execute(self.state.storage(), self.env.clone(), command).await,
            None => Err(Error::Internal { what: "undecodable command" }),
        };
        Ok(match answer {
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
                let now = authority_now(&storage).await;
                let (state, kv) = (DoState(storage), KvWriter(&env));
                let a = Authority { state: &state, kv: &kv, limits: limits(&env) };
                let next = a.sync(now).await;
                schedule(
                    &state.0,
                    next.unwrap_or(Some(now + keygate_core::commands::authority::KV_RETRY_SECONDS)),
                )
                .await;
                Ok(())
            })
            .await;
        // Webhooks go out after the upkeep, outside `blockConcurrencyWhile`: a slow or failing
        // endpoint never holds up a key operation. Each attempt is recorded as it completes.
        if let Some(endpoint) = config::webhook(&self.env) {
            self.deliver(endpoint).await;
        }
        Response::ok("")
    }
}

impl KeyStore {
    /// Send what is due in the outbox, then set the alarm for what comes next (more deliveries
    /// at once if some were left).
    async fn deliver(&self, endpoint: Result<(worker::Url, Vec<keygate_verify::Secret>), &'static str>) {
        let storage = self.state.storage();
        // The authority's time, read afresh for each attempt (the `test-clock` build's offset is
        // fixed for the alarm's length); signatures carry the wall clock's.
        let offset = authority_now(&storage).await - WorkerClock.now();
        let now = || WorkerClock.now() + offset;
        let (state, kv) = (DoState(storage), KvWriter(&self.env));
        let a = Authority { state: &state, kv: &kv, limits: limits(&self.env) };
        let limit = crate::webhooks::PER_ALARM;
        let sent = match endpoint {
            Ok((url, secrets)) => {
                let sender = crate::webhooks::Endpoint(url);
                deliver_due(&a, Ok((&sender, &secrets)), now, || WorkerClock.now(), limit).await
            }
            Err(why) => deliver_due::<_, _, crate::webhooks::Endpoint>(&a, Err(why), now, || 0, limit).await,
        };
        if let Err(e) = sent {
            worker::console_error!("keygate: webhook delivery failed: {}", e.code());
        }
        let now = now();
        let next = a.next_alarm(now).await;
        schedule(&state.0, next.unwrap_or(Some(now + keygate_core::commands::authority::KV_RETRY_SECONDS)))
            .await;
    }
}

/// What the object may store: `MAX_KEYS_PER_ACCOUNT` (a misconfigured value keeps the default;
/// `config::max_keys` refuses it on the management path before it gets here).
fn limits(env: &Env) -> Limits {
    Limits {
        max_keys: config::max_keys(env).unwrap_or(keygate_core::commands::authority::DEFAULT_MAX_KEYS),
        webhooks: config::webhook_url(env).is_some(),
        retired_keep: keygate_core::commands::authority::retired_keep(
            config::kv_cache_ttl(env).unwrap_or(config::DEFAULT_KV_CACHE_TTL),
        ),
        ..Limits::default()
    }
}

/// Run one command against the object's storage, and set the alarm as the core says.
async fn execute(storage: worker::Storage, env: Env, command: Command) -> Result<String, Error> {
    let now = authority_now(&storage).await;
    let (state, kv) = (DoState(storage), KvWriter(&env));
    let a = Authority { state: &state, kv: &kv, limits: limits(&env) };
    let outcome = command::run(&a, command, || config::keyring(&env), &mut SystemRng, now).await;
    if let Some(at) = outcome.alarm {
        schedule(&state.0, at).await;
    }
    let doc_base = config::doc_url(&env);
    outcome.answer.and_then(|answer| keygate_core::api::object::render(answer, now, &doc_base))
}

/// The authority's time: the platform's clock (in the `test-clock` build, plus the offset an
/// operator set for this test-mode object).
async fn authority_now(storage: &worker::Storage) -> UnixSeconds {
    #[cfg(feature = "test-clock")]
    return WorkerClock.now() + test_clock::offset(storage).await;
    #[cfg(not(feature = "test-clock"))]
    {
        let _ = storage;
        WorkerClock.now()
    }
}

async fn schedule(storage: &worker::Storage, at: Option<UnixSeconds>) {
    // The authority's time back to the platform's, which the alarm is set in.
    #[cfg(feature = "test-clock")]
    let at = match at {
        Some(t) => Some(t - test_clock::offset(storage).await),
        None => None,
    };
    let _ = match at {
        // An absolute time: worker's `From<i64>` would read a number as an offset from now.
        Some(t) => {
            let at = worker::js_sys::Date::new(&worker::wasm_bindgen::JsValue::from_f64((t * 1000) as f64));
            storage.set_alarm(worker::ScheduledTime::new(at)).await
        }
        None => storage.delete_alarm().await,
    };
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

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.0.delete(key).await.map(|_| ()).map_err(failed)
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
        rows(self.0.list_with_options(opts).await.map_err(failed)?)
    }

    async fn scan(
        &self,
        prefix: &str,
        start: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut opts = ListOptions::new().prefix(prefix).limit(limit);
        if let Some(s) = start {
            opts = opts.start(s);
        }
        rows(self.0.list_with_options(opts).await.map_err(failed)?)
    }
}

/// A storage listing's entries as text pairs.
fn rows(map: worker::js_sys::Map) -> Result<Vec<(String, String)>, StoreError> {
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

    async fn delete(&self, mode: Mode, digest: &KeyDigest) -> Result<(), StoreError> {
        let binding = config::kv_binding(mode);
        let kv = self.0.kv(binding).map_err(|_| StoreError::Misconfigured(binding))?;
        kv.delete(digest.as_str()).await.map_err(|e| StoreError::Failed(e.to_string()))
    }

    async fn get(&self, mode: Mode, digest: &KeyDigest) -> Result<Option<String>, StoreError> {
        let binding = config::kv_binding(mode);
        let kv = self.0.kv(binding).map_err(|_| StoreError::Misconfigured(binding))?;
        kv.get(digest.as_str()).text().await.map_err(|e| StoreError::Failed(e.to_string()))
    }
}

/// The `test-clock` build's clock offset for one test-mode object (keygate's own tests only).
#[cfg(feature = "test-clock")]
pub mod test_clock {
    use keygate_core::clock::{Clock, UnixSeconds};
    use worker::{Request, Response, State};

    /// The object's path for setting it.
    pub const PATH: &str = "/test-clock";
    /// Where the offset is kept (beside the core's `key:` and `event:` entries).
    const STORAGE_KEY: &str = "test-clock:offset";

    /// Seconds the authority's clock is ahead of the platform's.
    pub async fn offset(storage: &worker::Storage) -> UnixSeconds {
        storage.get::<UnixSeconds>(STORAGE_KEY).await.ok().flatten().unwrap_or(0)
    }

    /// Set the offset (body: seconds), and ring the alarm at once, so that whatever is due by the
    /// new time (a refill) happens now and the next alarm is set on the new clock.
    pub async fn set(state: &State, req: &mut Request) -> worker::Result<Response> {
        let Some(offset) = req.text().await.ok().and_then(|t| t.trim().parse::<UnixSeconds>().ok()) else {
            return Response::error("offset", 400);
        };
        state.storage().put(STORAGE_KEY, offset).await?;
        let now = crate::platform::WorkerClock.now();
        let at = worker::js_sys::Date::new(&worker::wasm_bindgen::JsValue::from_f64((now * 1000) as f64));
        state.storage().set_alarm(worker::ScheduledTime::new(at)).await?;
        Response::ok("")
    }
}

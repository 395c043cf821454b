//! The `KeyStore` Durable Object's command protocol: what the worker asks of the authority for
//! one (mode, account), which commands must run alone, and their dispatch over [`Authority`].
//! The Durable Object in `src/` only decodes a command, runs it (alone when
//! [`Command::serialised`] says so, inside `blockConcurrencyWhile`) and applies the
//! [`Outcome`]'s alarm.

use crate::Error;
use crate::admin::{CreateKey, KeyObject, KeySettings, List, Page};
use crate::authority::{Actor, Authority, KV_RETRY_SECONDS, Principal, RecordWriter, StateStore};
use crate::clock::UnixSeconds;
use crate::digest::{KeyDigest, Pepper};
use crate::rng::Rng;

/// What the worker asks of a `KeyStore`. The edge sends `Verify`, `Usage` and `Exposed`; their
/// shapes are shared by the lean edge and the full worker, which are deployed separately, so
/// they change only compatibly.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Command {
    /// Create a key (operator only).
    Create {
        /// Account.
        account: String,
        /// Validated body.
        params: CreateKey,
        /// Who asked.
        actor: Actor,
    },
    /// The account's keys that `by` may see.
    List {
        /// Account.
        account: String,
        /// Who asks.
        by: Principal,
    },
    /// One key.
    Get {
        /// Account.
        account: String,
        /// Key.
        key_id: String,
        /// Who asks.
        by: Principal,
    },
    /// Roll a key with a grace period in seconds.
    Roll {
        /// Account.
        account: String,
        /// Key.
        key_id: String,
        /// Seconds the old key keeps working.
        grace: i64,
        /// Who asks.
        by: Principal,
    },
    /// End a key now.
    Expire {
        /// Account.
        account: String,
        /// Key.
        key_id: String,
        /// Who asks.
        by: Principal,
    },
    /// Revoke a key.
    Revoke {
        /// Account.
        account: String,
        /// Key.
        key_id: String,
        /// Who asks.
        by: Principal,
    },
    /// The audit log.
    Events {
        /// Account.
        account: String,
        /// Which page.
        page: Page,
    },
    /// The authoritative record of a key presented with `digest`.
    Verify {
        /// Account.
        account: String,
        /// Key.
        key_id: String,
        /// The presented key's digest.
        digest: KeyDigest,
    },
    /// Requests seen at the edge.
    Usage {
        /// Account.
        account: String,
        /// Key.
        key_id: String,
        /// When.
        at: UnixSeconds,
        /// How many.
        count: u64,
    },
    /// Change permissions and restrictions.
    Update {
        /// Account.
        account: String,
        /// Key.
        key_id: String,
        /// The change.
        settings: KeySettings,
        /// Who asks.
        by: Principal,
    },
    /// A key was seen exposed.
    Exposed {
        /// Account.
        account: String,
        /// Key.
        key_id: String,
        /// `plain_http` or `secret_key_in_browser`.
        reason: String,
        /// Also end the key (`ON_EXPOSURE = "expire"`).
        expire: bool,
    },
}

impl Command {
    /// Whether this command writes (the object's storage or KV), and so must run alone: no other
    /// event may be delivered while it runs, or a change could overwrite another's state or
    /// reorder their KV writes. Exhaustive on purpose: a new command must choose.
    pub fn serialised(&self) -> bool {
        match self {
            Command::Create { .. }
            | Command::Roll { .. }
            | Command::Expire { .. }
            | Command::Revoke { .. }
            | Command::Update { .. }
            | Command::Exposed { .. }
            | Command::Usage { .. } => true,
            Command::List { .. } | Command::Get { .. } | Command::Events { .. } | Command::Verify { .. } => {
                false
            }
        }
    }

    /// Whether a roll: the one command whose success creates a key (201).
    pub fn creates(&self) -> bool {
        matches!(self, Command::Create { .. } | Command::Roll { .. })
    }
}

/// What running a command gives the object: its answer (JSON text, or the error to relay), and
/// what to do with the alarm.
#[derive(Debug)]
pub struct Outcome {
    /// The answer.
    pub answer: Result<String, Error>,
    /// `Some(Some(t))`: set the alarm at `t`; `Some(None)`: delete it; `None`: leave it.
    pub alarm: Option<Option<UnixSeconds>>,
}

/// Run `command` against `authority` at `now`. `pepper` is asked for only by the commands that
/// make keys. After every serialised command, whether it succeeded or not (a write may have
/// landed before a failure), the alarm is set for the next pending KV write, expiry or removal,
/// or soon if even that could not be read.
pub async fn run<S: StateStore, W: RecordWriter>(
    authority: &Authority<'_, S, W>,
    command: Command,
    pepper: impl FnOnce() -> Result<Pepper, Error>,
    rng: &mut impl Rng,
    now: UnixSeconds,
) -> Outcome {
    let serialised = command.serialised();
    let answer = execute(authority, command, pepper, rng, now).await;
    let alarm = if serialised {
        Some(authority.next_alarm(now).await.unwrap_or(Some(now + KV_RETRY_SECONDS)))
    } else {
        None
    };
    Outcome { answer, alarm }
}

async fn execute<S: StateStore, W: RecordWriter>(
    a: &Authority<'_, S, W>,
    command: Command,
    pepper: impl FnOnce() -> Result<Pepper, Error>,
    rng: &mut impl Rng,
    now: UnixSeconds,
) -> Result<String, Error> {
    match command {
        Command::Create { account, params, actor } => {
            to_json(&a.create(&account, &params, &pepper()?, rng, now, &actor).await?)
        }
        Command::List { account, by } => to_json(&List::new(a.list_in_scope(&account, &by, now).await?)),
        Command::Get { account, key_id, by } => {
            to_json(&KeyObject::from_stored(&a.load_in_scope(&account, &key_id, &by, now).await?, now))
        }
        Command::Roll { account, key_id, grace, by } => {
            to_json(&a.roll(&account, &key_id, grace, &pepper()?, rng, now, &by).await?)
        }
        Command::Expire { account, key_id, by } => to_json(&a.expire(&account, &key_id, now, &by).await?),
        Command::Revoke { account, key_id, by } => to_json(&a.revoke(&account, &key_id, now, &by).await?),
        Command::Events { account, page } => to_json(&a.events(&account, &page).await?),
        Command::Verify { account, key_id, digest } => to_json(&a.verify(&account, &key_id, &digest).await?),
        Command::Update { account, key_id, settings, by } => {
            to_json(&a.update(&account, &key_id, &settings, now, &by).await?)
        }
        Command::Exposed { account, key_id, reason, expire } => {
            a.exposed(&account, &key_id, &reason, expire, now).await?;
            Ok("{}".into())
        }
        Command::Usage { account, key_id, at, count } => {
            a.record_usage(&account, &key_id, at, count).await?;
            Ok("{}".into())
        }
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|_| Error::Internal { what: "encoding a response" })
}

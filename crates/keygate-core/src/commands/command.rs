//! The `KeyStore` Durable Object's command protocol: what the worker asks of the authority for
//! one (mode, account), which commands must run alone, and their dispatch over [`Authority`].
//! The Durable Object in `src/` only decodes a command, runs it (alone when
//! [`Command::serialised`] says so, inside `blockConcurrencyWhile`), applies the [`Outcome`]'s
//! alarm, and has the API layer render the [`Answer`] (`crate::api::object::render`).

use crate::Error;
use crate::clock::UnixSeconds;
use crate::commands::authority::{Authority, Created, KV_RETRY_SECONDS, Principal};
use crate::commands::ports::{RecordWriter, StateStore};
use crate::domain::digest::KeyDigest;
use crate::domain::event::{Actor, EventPage, Page};
use crate::domain::key_format::Keyring;
use crate::domain::keystate::StoredKey;
use crate::domain::leak::{CanarySighting, SeenBy};
use crate::domain::quota::{CreditChange, LeaseAsk, LeaseGrant};
use crate::domain::record::KeyRecord;
use crate::domain::settings::{CreateKey, KeySettings};
use crate::rng::Rng;

/// What the worker asks of a `KeyStore`. The edge sends `Verify`, `Usage`, `Exposed`, `Lease`,
/// `Refused`, `CanaryUsed` and `Redigest`; their
/// shapes are shared by the lean edge and the full worker, which are deployed separately, so
/// they change only compatibly.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Command {
    /// Import existing keys (operator only).
    Import {
        /// Account.
        account: String,
        /// The keys, checked and digested by the API layer.
        items: Vec<crate::domain::keystate::ImportKey>,
        /// Who asked.
        actor: Actor,
    },
    /// The edge found a key under an outdated digest: store it under its current one.
    Redigest {
        /// Account.
        account: String,
        /// Key.
        key_id: String,
        /// The key as presented, to re-digest (never stored or logged).
        secret: crate::domain::key::RawKey,
    },
    /// What is left of this (mode, account)'s migration (operator only).
    Migration {
        /// Account.
        account: String,
    },
    /// Mint a portal session (operator only).
    PortalMint {
        /// Account.
        account: String,
        /// Its one mode, or both.
        mode: Option<crate::domain::key::Mode>,
        /// The portal's link back.
        return_url: String,
        /// Seconds it lasts.
        expires_in: i64,
        /// The usage controls of the keys it creates.
        #[serde(default)]
        key_defaults: crate::domain::portal::KeyDefaults,
        /// A console session's admin-token digest (redacted in `Debug`).
        #[serde(default)]
        grant: Option<crate::domain::key::RawKey>,
    },
    /// Use a portal session's link.
    PortalRedeem {
        /// Account.
        account: String,
        /// `ps_…`.
        session_id: String,
        /// The link's token (redacted in `Debug`).
        token: crate::domain::key::RawKey,
    },
    /// Check one portal request.
    PortalCheck {
        /// Account.
        account: String,
        /// `ps_…`.
        session_id: String,
        /// The cookie's secret (redacted in `Debug`).
        secret: crate::domain::key::RawKey,
        /// The request's CSRF token, if any (redacted in `Debug`).
        #[serde(default)]
        csrf: Option<crate::domain::key::RawKey>,
        /// Whether the request changes anything.
        changes: bool,
        /// The mode it acts in, if one.
        #[serde(default)]
        mode: Option<crate::domain::key::Mode>,
    },
    /// Sign a portal session out.
    PortalEnd {
        /// Account.
        account: String,
        /// `ps_…`.
        session_id: String,
        /// The cookie's secret (redacted in `Debug`).
        secret: crate::domain::key::RawKey,
        /// The request's CSRF token (redacted in `Debug`).
        #[serde(default)]
        csrf: Option<crate::domain::key::RawKey>,
    },
    /// Create a key (operator only).
    Create {
        /// Account.
        account: String,
        /// Validated body.
        params: CreateKey,
        /// Who asked.
        actor: Actor,
    },
    /// One page of the account's keys that `by` may see.
    List {
        /// Account.
        account: String,
        /// Who asks.
        by: Principal,
        /// Which page.
        #[serde(default)]
        query: crate::domain::listing::KeyQuery,
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
    /// One page of the webhook outbox, newest first (operator only).
    Deliveries {
        /// Account.
        account: String,
        /// Which page.
        page: Page,
    },
    /// Another attempt of a webhook delivery, now (operator only).
    RetryDelivery {
        /// Account.
        account: String,
        /// The event's id.
        id: String,
    },
    /// Keys of the account found in a leak report (the full worker's secret-scanning and leak
    /// routes; never the edge).
    Leaked {
        /// Account.
        account: String,
        /// The keys, and where each was found.
        leaks: Vec<crate::domain::leak::Leak>,
        /// Also end them (`ON_LEAK = "expire"`).
        expire: bool,
    },
    /// Usage-control blocks for a key the edge authenticated (`crate::domain::quota`).
    Lease {
        /// Account.
        account: String,
        /// Key.
        key_id: String,
        /// What the edge lacks, and what it returns.
        ask: LeaseAsk,
    },
    /// Requests the edge refused for a key's usage controls.
    Refused {
        /// Account.
        account: String,
        /// Key.
        key_id: String,
        /// When.
        at: UnixSeconds,
        /// How many.
        count: u64,
    },
    /// A canary key was presented (the edge, or self-service): record it.
    CanaryUsed {
        /// Account.
        account: String,
        /// Key.
        key_id: String,
        /// What the request showed of its sender.
        seen: CanarySighting,
    },
    /// Change a key's credits (operator only).
    Credits {
        /// Account.
        account: String,
        /// Key.
        key_id: String,
        /// The change.
        change: CreditChange,
        /// Who asks.
        by: Principal,
    },
}

/// The commands the lean edge sends, borrowed from what it already holds. Each serialises
/// exactly as the [`Command`] of the same name (a test checks it), so the object reads it as
/// one; and the edge, which sends nothing else, links no serialiser for the management commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum EdgeCommand<'a> {
    /// [`Command::Verify`].
    Verify {
        /// Account.
        account: &'a str,
        /// Key.
        key_id: &'a str,
        /// The presented key's digest.
        digest: &'a KeyDigest,
    },
    /// [`Command::Usage`].
    Usage {
        /// Account.
        account: &'a str,
        /// Key.
        key_id: &'a str,
        /// When.
        at: UnixSeconds,
        /// How many.
        count: u64,
    },
    /// [`Command::Exposed`].
    Exposed {
        /// Account.
        account: &'a str,
        /// Key.
        key_id: &'a str,
        /// `plain_http` or `secret_key_in_browser`.
        reason: &'a str,
        /// Also end the key.
        expire: bool,
    },
    /// [`Command::Lease`].
    Lease {
        /// Account.
        account: &'a str,
        /// Key.
        key_id: &'a str,
        /// What the edge lacks, and what it returns.
        ask: LeaseAsk,
    },
    /// [`Command::Refused`].
    Refused {
        /// Account.
        account: &'a str,
        /// Key.
        key_id: &'a str,
        /// When.
        at: UnixSeconds,
        /// How many.
        count: u64,
    },
    /// [`Command::CanaryUsed`].
    Redigest {
        /// Account.
        account: &'a str,
        /// Key.
        key_id: &'a str,
        /// The key as presented (redacted in `Debug`).
        secret: RawKeyRef<'a>,
    },
    /// A canary key was presented.
    CanaryUsed {
        /// Account.
        account: &'a str,
        /// Key.
        key_id: &'a str,
        /// What the request showed of its sender.
        seen: SeenBy<'a>,
    },
}

/// A raw key borrowed for an [`EdgeCommand`]: serialised as it is, redacted in `Debug`.
#[derive(Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct RawKeyRef<'a>(pub &'a str);

impl std::fmt::Debug for RawKeyRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RawKey({})", crate::domain::key::redact(self.0))
    }
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
            | Command::Leaked { .. }
            | Command::RetryDelivery { .. }
            | Command::Usage { .. }
            | Command::Lease { .. }
            | Command::Refused { .. }
            | Command::CanaryUsed { .. }
            | Command::Import { .. }
            | Command::Redigest { .. }
            | Command::PortalMint { .. }
            | Command::PortalRedeem { .. }
            | Command::PortalEnd { .. }
            | Command::Credits { .. } => true,
            Command::Migration { .. } | Command::PortalCheck { .. } => false,
            Command::List { .. }
            | Command::Get { .. }
            | Command::Events { .. }
            | Command::Deliveries { .. }
            | Command::Verify { .. } => false,
        }
    }

    /// Whether a create or a roll: the commands whose success makes a key (201).
    pub fn creates(&self) -> bool {
        matches!(self, Command::Create { .. } | Command::Roll { .. })
    }
}

/// What a command answers, in domain terms; the API layer renders it.
#[derive(Debug)]
pub enum Answer {
    /// A key as it now is.
    Key(StoredKey),
    /// A key just made, with its secret.
    Created(Created),
    /// Keys, newest first.
    Keys(Vec<StoredKey>, bool),
    /// A page of the audit log.
    Events(EventPage),
    /// A key's authoritative record (for the edge).
    Record(KeyRecord),
    /// Usage-control blocks granted (for the edge).
    Lease(LeaseGrant),
    /// A page of the webhook outbox.
    Deliveries(Vec<crate::domain::webhook::Delivery>, bool),
    /// One result per imported item.
    Imported(Vec<Result<StoredKey, Error>>),
    /// A migration's state.
    Migration(crate::commands::migration::MigrationStatus),
    /// A portal session just minted, with its link's token.
    PortalMinted(crate::domain::portal::Minted),
    /// A portal link just used: the cookie's secret and the CSRF token.
    PortalRedeemed(crate::domain::portal::Redeemed),
    /// A portal session checked.
    Portal(crate::domain::portal::PortalSession),
    /// One webhook delivery.
    Delivery(crate::domain::webhook::Delivery),
    /// Done; nothing to say.
    Done,
}

/// What running a command gives the object: its answer, and what to do with the alarm.
#[derive(Debug)]
pub struct Outcome {
    /// The answer, or the error to relay.
    pub answer: Result<Answer, Error>,
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
    keys: impl FnOnce() -> Result<Keyring, Error>,
    rng: &mut impl Rng,
    now: UnixSeconds,
) -> Outcome {
    let serialised = command.serialised();
    let answer = execute(authority, command, keys, rng, now).await;
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
    keys: impl FnOnce() -> Result<Keyring, Error>,
    rng: &mut impl Rng,
    now: UnixSeconds,
) -> Result<Answer, Error> {
    Ok(match command {
        Command::Create { account, params, actor } => {
            Answer::Created(a.create(&account, &params, &keys()?, rng, now, &actor).await?)
        }
        Command::List { account, by, query } => {
            let (keys, has_more) = a.list_page(&account, &by, &query, now).await?;
            Answer::Keys(keys, has_more)
        }
        Command::Get { account, key_id, by } => {
            Answer::Key(a.load_in_scope(&account, &key_id, &by, now).await?)
        }
        Command::Roll { account, key_id, grace, by } => {
            Answer::Created(a.roll(&account, &key_id, grace, &keys()?, rng, now, &by).await?)
        }
        Command::Expire { account, key_id, by } => Answer::Key(a.expire(&account, &key_id, now, &by).await?),
        Command::Revoke { account, key_id, by } => Answer::Key(a.revoke(&account, &key_id, now, &by).await?),
        Command::Events { account, page } => Answer::Events(a.events(&account, &page).await?),
        Command::Verify { account, key_id, digest } => {
            Answer::Record(a.verify(&account, &key_id, &digest).await?)
        }
        Command::Update { account, key_id, settings, by } => {
            Answer::Key(a.update(&account, &key_id, &settings, now, &by).await?)
        }
        Command::Exposed { account, key_id, reason, expire } => {
            a.exposed(&account, &key_id, &reason, expire, now).await?;
            Answer::Done
        }
        Command::Deliveries { account, page } => {
            let (data, more) = a.deliveries(&account, &page).await?;
            Answer::Deliveries(data, more)
        }
        Command::RetryDelivery { account, id } => {
            Answer::Delivery(a.retry_delivery(&account, &id, now).await?)
        }
        Command::Leaked { account, leaks, expire } => {
            a.leaked(&account, &leaks, expire, now).await?;
            Answer::Done
        }
        Command::Usage { account, key_id, at, count } => {
            a.record_usage(&account, &key_id, at, count, false).await?;
            Answer::Done
        }
        Command::Lease { account, key_id, ask } => Answer::Lease(a.lease(&account, &key_id, ask, now).await?),
        Command::Refused { account, key_id, at, count } => {
            a.record_usage(&account, &key_id, at, count, true).await?;
            Answer::Done
        }
        Command::Credits { account, key_id, change, by } => {
            Answer::Key(a.adjust_credits(&account, &key_id, change, now, &by).await?)
        }
        Command::Import { account, items, actor } => {
            Answer::Imported(a.import(&account, &items, &keys()?, rng, now, &actor).await?)
        }
        Command::Redigest { account, key_id, secret } => {
            a.redigest(&account, &key_id, &secret.0, &keys()?, now).await?;
            Answer::Done
        }
        Command::Migration { account: _ } => Answer::Migration(a.migration_status(&keys()?, now).await?),
        Command::PortalMint { account, mode, return_url, expires_in, key_defaults, grant } => {
            let keys = keys()?;
            let minted = a.portal_mint(
                &account,
                mode,
                &return_url,
                expires_in,
                key_defaults,
                grant.map(|g| g.0),
                &keys,
                rng,
                now,
            );
            Answer::PortalMinted(minted.await?)
        }
        Command::PortalRedeem { account, session_id, token } => Answer::PortalRedeemed(
            a.portal_redeem(&account, &session_id, &token.0, &keys()?, rng, now).await?,
        ),
        Command::PortalCheck { account, session_id, secret, csrf, changes, mode } => {
            let keys = keys()?;
            let s = a.portal_check(
                &account,
                &session_id,
                &secret.0,
                csrf.as_ref().map(|c| c.0.as_str()),
                changes,
                mode,
                &keys,
                now,
            );
            Answer::Portal(s.await?)
        }
        Command::PortalEnd { account, session_id, secret, csrf } => {
            a.portal_end(
                &account,
                &session_id,
                &secret.0,
                csrf.as_ref().map(|c| c.0.as_str()),
                &keys()?,
                now,
            )
            .await?;
            Answer::Done
        }
        Command::CanaryUsed { account, key_id, seen } => {
            a.canary_used(&account, &key_id, &seen, now).await?;
            Answer::Done
        }
    })
}

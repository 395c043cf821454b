//! The authority for the keys of one (mode, account): what the `KeyStore` Durable Object does,
//! written against two small traits so that it runs natively with fakes that fail on demand.
//!
//! Storage layout (values are JSON text):
//! * `key:{key_id}` → [`StoredKey`]
//! * `event:{seq:012}` → [`crate::domain::event::Event`], `seq` counting up from 1
//! * `meta:event_seq` → the last `seq` used
//!
//! Every change is written to the state store first, then to KV. A KV write that fails leaves the
//! key with `kv_synced = false`; [`Authority::sync`] (the DO's alarm) retries until KV agrees, and
//! also stores expiries whose time has come, so KV learns of them.

use crate::Error;
use crate::clock::UnixSeconds;
use crate::commands::ports::{RecordWriter, StateStore};
use crate::domain::digest::KeyDigest;
use crate::domain::event::Actor;
use crate::domain::key::ApiKey;
use crate::domain::key_format::Keyring;
use crate::domain::keystate::{self, StoredKey};
use crate::domain::leak::Leak;
use crate::domain::quota::{CreditChange, LeaseAsk, LeaseGrant};
use crate::domain::record::KeyStatus;
use crate::domain::settings::{CreateKey, KeySettings};
use crate::policy::delegation;
use crate::rng::Rng;

/// Seconds between KV replication retries.
pub const KV_RETRY_SECONDS: i64 = 5;

/// Bounds on what one object stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Keys stored per (mode, account), ended keys included until they are removed
    /// ([`ENDED_RETENTION`]). A create or roll beyond it is `409 key_limit_reached`.
    pub max_keys: usize,
    /// Audit-log events kept per (mode, account): each new event beyond it removes the oldest.
    /// The webhook outbox keeps as many deliveries.
    pub max_events: u64,
    /// Whether events are also queued for the webhook endpoint (`WEBHOOK_URL` is set).
    pub webhooks: bool,
    /// Seconds a re-digested key's outdated KV entry is kept beside the new one: long enough
    /// for every edge location to see the new entry, and for any cached miss of it to expire
    /// (twice KV's propagation and the edge's staleness bound, `KV_CACHE_TTL`).
    pub retired_keep: i64,
}

/// [`Limits::retired_keep`] for a deployment whose `KV_CACHE_TTL` is `kv_cache_ttl` seconds.
pub fn retired_keep(kv_cache_ttl: u64) -> i64 {
    2 * (crate::policy::gate::KV_PROPAGATION as i64 + kv_cache_ttl as i64 + 61)
}

/// The default of `MAX_KEYS_PER_ACCOUNT`.
pub const DEFAULT_MAX_KEYS: usize = 500;

/// The audit log's retention, in events per (mode, account).
pub const MAX_EVENTS: u64 = 10_000;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_keys: DEFAULT_MAX_KEYS,
            max_events: MAX_EVENTS,
            webhooks: false,
            retired_keep: retired_keep(60),
        }
    }
}

/// Who asks for a change to a key: the operator, or a key of the account (self-service), whose
/// own current record then bounds what it may act on (see [`crate::policy::delegation`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Principal {
    /// `ADMIN_TOKEN`.
    Operator,
    /// A secret key of the account, confirmed by its digest.
    Key {
        /// Its id.
        key_id: String,
        /// Its digest: the object confirms that the caller is still this key.
        digest: KeyDigest,
    },
    /// A portal session of the account, checked by the worker (`Command::PortalCheck`) before
    /// it sends the change, as it checks the operator's token: it acts on the account's keys
    /// in the session's mode, never sees a canary, and is the audit log's `portal:<id>`.
    Portal {
        /// `ps_…`.
        session_id: String,
    },
}

impl Principal {
    /// The audit log's actor for this principal.
    pub fn actor(&self) -> Actor {
        match self {
            Principal::Operator => Actor::admin(),
            Principal::Key { key_id, .. } => Actor(key_id.clone()),
            Principal::Portal { session_id } => Actor(format!("portal:{session_id}")),
        }
    }
}

/// The key a change applies to, when, and at whose request.
struct On<'a> {
    account: &'a str,
    key_id: &'a str,
    now: UnixSeconds,
    by: &'a Principal,
}

/// A key just made (created, or a roll's successor), with its secret: shown once, in the answer.
#[derive(Debug)]
pub struct Created {
    /// What the authority stores.
    pub key: StoredKey,
    /// The raw key (redacted in `Debug`).
    pub secret: ApiKey,
}

/// The authority over one (mode, account)'s keys.
pub struct Authority<'a, S, W> {
    /// The DO's own storage.
    pub state: &'a S,
    /// The KV namespaces.
    pub kv: &'a W,
    /// What it may store.
    pub limits: Limits,
}

impl<S: StateStore, W: RecordWriter> Authority<'_, S, W> {
    /// Create a key; the answer includes the secret, once.
    pub async fn create(
        &self,
        account: &str,
        params: &CreateKey,
        keys: &Keyring,
        rng: &mut impl Rng,
        now: UnixSeconds,
        actor: &Actor,
    ) -> Result<Created, Error> {
        let stored = self.check_room().await?;
        let new = keystate::create(account, params, keys, rng, now)?;
        // Indexed first: an entry whose key was never stored is skipped by lists.
        self.ensure_index(Some(stored)).await?;
        self.index_new(&new.stored.record).await?;
        let data = serde_json::json!({ "type": new.stored.record.key_type, "expires_at": new.stored.record.expires_at });
        let stored = self.commit_logged(new.stored, "key.created", actor, now, data).await?;
        Ok(Created { key: stored, secret: new.key })
    }

    /// Roll an active key with `grace` seconds of overlap. Returns the successor with its secret.
    #[allow(clippy::too_many_arguments)]
    pub async fn roll(
        &self,
        account: &str,
        key_id: &str,
        grace: i64,
        keys: &Keyring,
        rng: &mut impl Rng,
        now: UnixSeconds,
        by: &Principal,
    ) -> Result<Created, Error> {
        let actor = &by.actor();
        let old = self.load_in_scope(account, key_id, by, now).await?;
        let (retired, successor) = keystate::roll(&old, grace, keys, rng, now)?;
        let stored = self.check_room().await?;
        // Both states are stored before either reaches KV, so no failure can lose the successor.
        self.ensure_index(Some(stored)).await?;
        self.index_new(&successor.stored.record).await?;
        // And both events are recorded before anything reaches KV, so no fault can lose one.
        self.save(&retired).await?;
        self.save(&successor.stored).await?;
        let data = serde_json::json!({
            "rolled_to": successor.stored.record.id,
            "expires_at": retired.record.expires_at,
        });
        self.log("key.rolled", &retired, actor, now, data).await?;
        let data = serde_json::json!({ "rolled_from": old.record.id });
        self.log("key.created", &successor.stored, actor, now, data).await?;
        self.replicate(retired).await?;
        let stored = self.replicate(successor.stored).await?;
        Ok(Created { key: stored, secret: successor.key })
    }

    /// End a key now.
    pub async fn expire(
        &self,
        account: &str,
        key_id: &str,
        now: UnixSeconds,
        by: &Principal,
    ) -> Result<StoredKey, Error> {
        self.change(
            On { account, key_id, now, by },
            "key.expired",
            |k| Ok(keystate::expire(k, now)),
            |k| serde_json::json!({ "expires_at": k.record.expires_at }),
        )
        .await
    }

    /// Revoke a key for good.
    pub async fn revoke(
        &self,
        account: &str,
        key_id: &str,
        now: UnixSeconds,
        by: &Principal,
    ) -> Result<StoredKey, Error> {
        self.change(
            On { account, key_id, now, by },
            "key.revoked",
            |k| Ok(keystate::revoke(k, now)),
            |_| serde_json::json!({}),
        )
        .await
    }

    /// Change a key's permissions and restrictions.
    pub async fn update(
        &self,
        account: &str,
        key_id: &str,
        settings: &KeySettings,
        now: UnixSeconds,
        by: &Principal,
    ) -> Result<StoredKey, Error> {
        let data = serde_json::to_value(settings).unwrap_or_default();
        let self_service = matches!(by, Principal::Key { .. });
        self.change(
            On { account, key_id, now, by },
            "key.updated",
            |k| {
                // Self-service only narrows; widening is the operator's alone.
                if self_service {
                    delegation::check_narrowing(&k.record, settings)?;
                }
                keystate::update(k, settings, now)
            },
            |_| data,
        )
        .await
    }

    /// Apply one transition to a key: store and replicate it and log `kind` if it changed
    /// anything; answer with the key as it now is.
    async fn change(
        &self,
        on: On<'_>,
        kind: &str,
        transition: impl FnOnce(&StoredKey) -> Result<StoredKey, Error>,
        data: impl FnOnce(&StoredKey) -> serde_json::Value,
    ) -> Result<StoredKey, Error> {
        let On { account, key_id, now, by } = on;
        let old = self.load_in_scope(account, key_id, by, now).await?;
        let next = transition(&old)?;
        if next == old {
            return Ok(old);
        }
        // A change of the authority's own state only (credits) is stored; KV has nothing new.
        let data = data(&next);
        let next = if next.kv_synced && next.record == old.record {
            self.save(&next).await?;
            self.log(kind, &next, &by.actor(), now, data).await?;
            next
        } else {
            self.commit_logged(next, kind, &by.actor(), now, data).await?
        };
        Ok(next)
    }

    /// Record that a key was seen exposed (`plain_http`, `secret_key_in_browser`); with `expire`,
    /// also end it now. Only the first sighting is logged.
    pub async fn exposed(
        &self,
        account: &str,
        key_id: &str,
        reason: &str,
        expire: bool,
        now: UnixSeconds,
    ) -> Result<(), Error> {
        let old = self.load(account, key_id).await?;
        let marked = keystate::mark_exposed(&old, reason, now);
        self.exposure(&old, marked, serde_json::json!({ "reason": reason }), reason, expire, now).await
    }

    /// Save `marked` (`old` marked exposed) with a `key.exposed` event carrying `data` if that
    /// changed anything, then end the key too when `expire`.
    async fn exposure(
        &self,
        old: &StoredKey,
        marked: StoredKey,
        data: serde_json::Value,
        reason: &str,
        expire: bool,
        now: UnixSeconds,
    ) -> Result<(), Error> {
        if marked != *old {
            self.save(&marked).await?;
            self.log("key.exposed", &marked, &Actor::system(), now, data).await?;
        }
        if expire {
            let ended = keystate::expire(&marked, now);
            if ended != marked {
                let data = serde_json::json!({ "expires_at": ended.record.expires_at, "reason": reason });
                self.commit_logged(ended, "key.expired", &Actor::system(), now, data).await?;
            }
        }
        Ok(())
    }

    /// A canary key was presented: count it, and record a `key.canary_used` event (audit log
    /// and webhook) with what the request showed of its sender, at most once a minute per key
    /// ([`keystate::CANARY_EVENT_INTERVAL`]). A key that is not a canary, or that ended, is left
    /// alone.
    pub async fn canary_used(
        &self,
        account: &str,
        key_id: &str,
        seen: &crate::domain::leak::CanarySighting,
        now: UnixSeconds,
    ) -> Result<(), Error> {
        let key = self.load(account, key_id).await?;
        if !key.record.canary || !matches!(key.status_at(now), KeyStatus::Active | KeyStatus::Rolling) {
            return Ok(());
        }
        let cut = |s: &str| s.chars().take(crate::domain::leak::MAX_SEEN_LEN).collect::<String>();
        let data = serde_json::json!({
            "ip": cut(&seen.ip),
            "user_agent": cut(&seen.user_agent),
            "method": cut(&seen.method),
            "path": cut(&seen.path),
        });
        self.canary_seen(key, seen.count, data, now).await
    }

    /// Count `count` uses of the canary `key`, and record `data` as a `key.canary_used` event
    /// if its minute allows ([`keystate::CANARY_EVENT_INTERVAL`]), with the uses so far.
    async fn canary_seen(
        &self,
        key: StoredKey,
        count: u64,
        mut data: serde_json::Value,
        now: UnixSeconds,
    ) -> Result<(), Error> {
        let (next, event) = keystate::canary_used(&key, count, now);
        self.save(&next).await?;
        if event {
            data["uses"] = serde_json::json!(next.canary_seen.map(|(u, _)| u));
            self.log("key.canary_used", &next, &Actor::system(), now, data).await?;
        }
        Ok(())
    }

    /// Keys of this account found in a leak report: each is marked exposed with the report (the
    /// key object and a `key.exposed` event show where it was found), and ended too when
    /// `expire` (`ON_LEAK = "expire"`). A key removed since the report was triaged is skipped;
    /// the same report again changes nothing, so a retried report is harmless.
    pub async fn leaked(
        &self,
        account: &str,
        leaks: &[Leak],
        expire: bool,
        now: UnixSeconds,
    ) -> Result<(), Error> {
        for leak in leaks {
            let old = match self.load(account, &leak.key_id).await {
                Ok(k) => k,
                Err(Error::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            // A canary found in public is where it was planted: its sighting is recorded as a
            // use, and it stays a canary (never exposed or ended by a report, which an attacker
            // could otherwise post to disarm it).
            if old.record.canary {
                if matches!(old.status_at(now), KeyStatus::Active | KeyStatus::Rolling) {
                    let data =
                        serde_json::json!({ "reason": leak.reason, "url": leak.url, "source": leak.source });
                    self.canary_seen(old, 1, data, now).await?;
                }
                continue;
            }
            let marked = keystate::mark_leaked(&old, leak, now);
            let data = serde_json::json!({ "reason": leak.reason, "url": leak.url, "source": leak.source });
            self.exposure(&old, marked, data, &leak.reason, expire, now).await?;
        }
        Ok(())
    }

    /// Lease usage-control blocks for a key the edge authenticated: from the key's own state, or
    /// from its successor's while it is rolling. Only the state is written (the record, and so
    /// KV, does not change). A key that can no longer authenticate leases nothing.
    pub async fn lease(
        &self,
        account: &str,
        key_id: &str,
        ask: LeaseAsk,
        now: UnixSeconds,
    ) -> Result<LeaseGrant, Error> {
        let owner = self.load(account, key_id).await?;
        // The edge's copy said the key works; the authority knows better.
        match owner.status_at(now) {
            KeyStatus::Active | KeyStatus::Rolling => {}
            KeyStatus::Revoked => return Err(Error::ApiKeyRevoked { redacted: owner.record.redacted() }),
            KeyStatus::Expired => {
                return Err(Error::ApiKeyExpired {
                    redacted: owner.record.redacted(),
                    expired_at: owner.record.expires_at.unwrap_or(now),
                    rolled: owner.record.rolled_at.is_some(),
                });
            }
        }
        // A key rolled several times shares the newest successor's pool: follow the chain (a
        // roll only ever points forward, and a chain longer than the keys an account may hold
        // is a corrupt state).
        let mut pool = owner.clone();
        for _ in 0..=self.limits.max_keys {
            match pool.shares_with.clone() {
                Some(successor) => pool = self.load(account, &successor).await?,
                None => break,
            }
        }
        let (mut next, grant) = keystate::lease(&owner, &pool, ask, now);
        if next != pool {
            // A webhook when the credits run low or out (not an audit event: nothing was changed
            // by anyone), once per grant: the flag is saved with the lease.
            let notice = crate::domain::quota::credits_notice(pool.credits.as_ref(), next.credits.as_mut());
            self.save(&next).await?;
            if let Some(kind) = notice {
                let c = next.credits.as_ref().map(|c| (c.remaining, c.granted));
                let data = serde_json::json!({ "remaining": c.map(|c| c.0), "granted": c.map(|c| c.1) });
                self.enqueue(kind, &next, data, now).await?;
            }
        }
        Ok(grant)
    }

    /// Set, raise or lower a key's credits (operator only; audit-logged). A key without credits
    /// (unlimited) is given some with `PATCH … {"credits": …}` instead.
    pub async fn adjust_credits(
        &self,
        account: &str,
        key_id: &str,
        change: CreditChange,
        now: UnixSeconds,
        by: &Principal,
    ) -> Result<StoredKey, Error> {
        if !matches!(by, Principal::Operator) {
            return Err(Error::WideningNotAllowed { param: "credits".into() });
        }
        let old = self.load_in_scope(account, key_id, by, now).await?;
        let mut next = keystate::refill(&old, now);
        // Setting credits starts a new period (leases of the old count are not returned into it);
        // raising or lowering them keeps it.
        let period = keystate::next_period(&next);
        match next.credits.as_mut() {
            Some(c) => {
                c.adjust(change)?;
                if let CreditChange::Set(_) = change {
                    c.period = period;
                    next.credit_periods = period;
                }
            }
            None => {
                let message = match &next.shares_with {
                    Some(successor) => format!(
                        "This key is rolling: it spends the credits of its successor {successor}. Change those."
                    ),
                    None => "This key has no credits: it is unlimited. Give it credits with PATCH {\"credits\": {\"remaining\": N}} first.".to_owned(),
                };
                return Err(Error::invalid_param("parameter_invalid", "credits", message));
            }
        }
        // Only the authority's count changes: the record, and so KV, stays as it is.
        self.save(&next).await?;
        let data = serde_json::json!({ "change": change, "remaining": next.credits.map(|c| c.remaining) });
        self.log("key.credits_adjusted", &next, &by.actor(), now, data).await?;
        Ok(next)
    }

    /// Count use of a key, or with `refused` requests its usage controls refused (reported by
    /// the edge, coalesced).
    pub async fn record_usage(
        &self,
        account: &str,
        key_id: &str,
        at: UnixSeconds,
        count: u64,
        refused: bool,
    ) -> Result<(), Error> {
        let key = self.load(account, key_id).await?;
        let next = if refused {
            keystate::record_refused(&key, at, count)
        } else {
            keystate::record_usage(&key, at, count)
        };
        self.save(&next).await
    }
}

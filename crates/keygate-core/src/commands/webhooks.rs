//! The authority's outbox: each webhook event is stored beside the change it reports, in the
//! same storage, before anything is sent; the alarm then sends what is due
//! (`crate::api::webhook::deliver_due`) and records each attempt here. A webhook outage
//! therefore never blocks or slows a key operation: the operation only writes the outbox.
//!
//! Storage (beside the authority's `key:` and `event:` entries):
//! * `outbox:{seq:012}` → [`Delivery`], `seq` counting up from 1 (`meta:outbox_seq`)
//! * `outbox_due:{at:012}:{seq:012}` → `""`: the pending deliveries by due time
//! * `outbox_id:{event id}` → `seq`
//!
//! * `meta:outbox_nonce`: drawn at random once, so that event ids never repeat across outboxes
//! * `meta:outbox_paused_until`: set when the endpoint did not answer, so that one alarm does not
//!   wait out a timeout for every due delivery
//!
//! Retention: delivered and failed entries are removed once [`Limits::max_events`] newer ones
//! exist, as audit events are. A pending entry is kept until it settles, up to twice that many;
//! beyond that it is dropped, and counted in `meta:outbox_dropped` (shown with the list).
//!
//! [`Limits::max_events`]: crate::commands::authority::Limits

use crate::Error;
use crate::clock::UnixSeconds;
use crate::commands::authority::Authority;
use crate::commands::ports::{RecordWriter, StateStore};
use crate::domain::event::Page;
use crate::domain::keystate::StoredKey;
use crate::domain::webhook::{AttemptOutcome, Delivery, DeliveryStatus, is_webhook_event};

const SEQ: &str = "meta:outbox_seq";
const NONCE: &str = "meta:outbox_nonce";
const PAUSED: &str = "meta:outbox_paused_until";
const DROPPED: &str = "meta:outbox_dropped";
const DUE: &str = "outbox_due:";

fn entry(seq: u64) -> String {
    format!("outbox:{seq:012}")
}

fn due_entry(at: UnixSeconds, seq: u64) -> String {
    format!("{DUE}{:012}:{seq:012}", at.max(0))
}

impl<S: StateStore, W: RecordWriter> Authority<'_, S, W> {
    /// Queue the webhook event `kind` about `key` (as it is now), when webhooks are on and the
    /// type is one that is sent.
    pub(crate) async fn enqueue(
        &self,
        kind: &str,
        key: &StoredKey,
        detail: serde_json::Value,
        now: UnixSeconds,
    ) -> Result<(), Error> {
        if !self.limits.webhooks || !is_webhook_event(kind) {
            return Ok(());
        }
        let seq = self.last_seq().await? + 1;
        let nonce = match self.state.get(NONCE).await.map_err(Error::from)? {
            Some(n) => n,
            None => {
                let mut bytes = [0u8; 12];
                crate::rng::Rng::fill(&mut crate::rng::SystemRng, &mut bytes)?;
                let n = crate::domain::digest::hex(&bytes);
                self.state.put(NONCE, &n).await.map_err(Error::from)?;
                n
            }
        };
        let delivery = Delivery::new(&nonce, seq, kind, key, detail, now);
        self.put_delivery(None, &delivery).await?;
        self.state.put(&format!("outbox_id:{}", delivery.id), &seq.to_string()).await.map_err(Error::from)?;
        self.state.put(SEQ, &seq.to_string()).await.map_err(Error::from)?;
        // Retention: the entry that just fell out, if it settled; a pending one only twice as far.
        if let Some(gone) = seq.checked_sub(self.limits.max_events).filter(|g| *g > 0)
            && self.delivery(gone).await?.is_some_and(|d| d.status != DeliveryStatus::Pending)
        {
            self.drop_delivery(gone).await?;
        }
        if let Some(gone) = seq.checked_sub(2 * self.limits.max_events).filter(|g| *g > 0)
            && let Some(d) = self.delivery(gone).await?
        {
            if d.status == DeliveryStatus::Pending {
                let dropped = self.state.get(DROPPED).await.map_err(Error::from)?;
                let n = dropped.and_then(|n| n.parse::<u64>().ok()).unwrap_or(0) + 1;
                self.state.put(DROPPED, &n.to_string()).await.map_err(Error::from)?;
            }
            self.drop_delivery(gone).await?;
        }
        Ok(())
    }

    async fn last_seq(&self) -> Result<u64, Error> {
        let last = self.state.get(SEQ).await.map_err(Error::from)?;
        Ok(last.and_then(|s| s.parse::<u64>().ok()).unwrap_or(0))
    }

    /// Up to `limit` pending deliveries due by `now`, the earliest first (none while the outbox
    /// is paused: the endpoint did not answer a moment ago).
    pub async fn due_deliveries(&self, now: UnixSeconds, limit: usize) -> Result<Vec<Delivery>, Error> {
        if self.paused_until().await?.is_some_and(|t| t > now) {
            return Ok(Vec::new());
        }
        let rows = self.state.scan(DUE, None, limit).await.map_err(Error::from)?;
        let mut out = Vec::with_capacity(rows.len());
        for (name, _) in rows {
            let Some((at, seq)) = parse_due(&name) else { continue };
            if at > now {
                break;
            }
            // An entry this version cannot read (written by a newer one, before a rollback) is
            // left where it is, off the due list: it never blocks the others.
            match self.delivery(seq).await {
                Ok(Some(d)) if d.status == DeliveryStatus::Pending => out.push(d),
                Ok(_) | Err(Error::RecordCorrupt) => self.state.delete(&name).await.map_err(Error::from)?,
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Hold every delivery until `until`: the endpoint did not answer (a timeout, a refused
    /// connection), so the others would not be answered either.
    pub async fn pause_deliveries(&self, until: UnixSeconds) -> Result<(), Error> {
        self.state.put(PAUSED, &until.to_string()).await.map_err(Error::from)
    }

    async fn paused_until(&self) -> Result<Option<UnixSeconds>, Error> {
        let text = self.state.get(PAUSED).await.map_err(Error::from)?;
        Ok(text.and_then(|t| t.parse().ok()))
    }

    /// Record an attempt at delivery `seq` made at `now`, on the delivery as stored now (an
    /// operator's retry may have landed while it was being sent).
    pub async fn record_attempt(
        &self,
        seq: u64,
        outcome: &AttemptOutcome,
        now: UnixSeconds,
    ) -> Result<Option<Delivery>, Error> {
        let Some(current) = self.delivery(seq).await? else { return Ok(None) };
        let next = current.attempted(outcome, now);
        self.put_delivery(Some(&current), &next).await?;
        // Settled after it fell out of retention: removed now.
        if next.status != DeliveryStatus::Pending && seq + self.limits.max_events <= self.last_seq().await? {
            self.drop_delivery(seq).await?;
        }
        Ok(Some(next))
    }

    /// One page of the outbox, newest first, and whether older entries follow.
    pub async fn deliveries(&self, account: &str, page: &Page) -> Result<(Vec<Delivery>, bool), Error> {
        let end = match page.starting_after.as_deref() {
            Some(id) => match self.seq_of(id).await? {
                Some(seq) => Some(entry(seq)),
                None => {
                    return Err(Error::invalid_param(
                        "parameter_invalid",
                        "starting_after",
                        "`starting_after` is not a delivery of this account and mode.",
                    ));
                }
            },
            None => None,
        };
        let rows = self
            .state
            .list("outbox:", end.as_deref(), true, Some(page.limit + 1))
            .await
            .map_err(Error::from)?;
        // An entry this version cannot read is not listed (it is never sent either).
        let mut data: Vec<Delivery> = rows
            .iter()
            .filter_map(|(_, text)| serde_json::from_str::<Delivery>(text).ok())
            .filter(|d| d.account == account)
            .collect();
        let more = data.len() > page.limit;
        data.truncate(page.limit);
        Ok((data, more))
    }

    /// The operator asks for another attempt of delivery `id` now.
    pub async fn retry_delivery(&self, account: &str, id: &str, now: UnixSeconds) -> Result<Delivery, Error> {
        let not_found = || Error::NotFound { what: "webhook delivery".into() };
        let seq = self.seq_of(id).await?.ok_or_else(not_found)?;
        let current = self.delivery(seq).await?.filter(|d| d.account == account).ok_or_else(not_found)?;
        let next = current.retried(now);
        self.put_delivery(Some(&current), &next).await?;
        Ok(next)
    }

    /// When the earliest pending delivery is due, if any is (not before a pause ends).
    pub async fn next_delivery(&self) -> Result<Option<UnixSeconds>, Error> {
        let first = self.state.scan(DUE, None, 1).await.map_err(Error::from)?;
        let Some(at) = first.first().and_then(|(name, _)| parse_due(name)).map(|(at, _)| at) else {
            return Ok(None);
        };
        Ok(Some(self.paused_until().await?.map_or(at, |p| at.max(p))))
    }

    async fn delivery(&self, seq: u64) -> Result<Option<Delivery>, Error> {
        let text = self.state.get(&entry(seq)).await.map_err(Error::from)?;
        text.map(|t| serde_json::from_str(&t).map_err(|_| Error::RecordCorrupt)).transpose()
    }

    async fn seq_of(&self, id: &str) -> Result<Option<u64>, Error> {
        let text = self.state.get(&format!("outbox_id:{id}")).await.map_err(Error::from)?;
        Ok(text.and_then(|t| t.parse().ok()))
    }

    /// Store `next` (which replaces `old`), and keep the due index in step with it.
    async fn put_delivery(&self, old: Option<&Delivery>, next: &Delivery) -> Result<(), Error> {
        let json =
            serde_json::to_string(next).map_err(|_| Error::Internal { what: "encoding a delivery" })?;
        self.state.put(&entry(next.seq), &json).await.map_err(Error::from)?;
        let was = old.and_then(|d| d.next_attempt_at);
        if was != next.next_attempt_at {
            if let Some(at) = was {
                self.state.delete(&due_entry(at, next.seq)).await.map_err(Error::from)?;
            }
            if let Some(at) = next.next_attempt_at {
                self.state.put(&due_entry(at, next.seq), "").await.map_err(Error::from)?;
            }
        }
        Ok(())
    }

    async fn drop_delivery(&self, seq: u64) -> Result<(), Error> {
        let Some(d) = self.delivery(seq).await? else { return Ok(()) };
        if let Some(at) = d.next_attempt_at {
            self.state.delete(&due_entry(at, seq)).await.map_err(Error::from)?;
        }
        self.state.delete(&format!("outbox_id:{}", d.id)).await.map_err(Error::from)?;
        self.state.delete(&entry(seq)).await.map_err(Error::from)
    }
}

fn parse_due(name: &str) -> Option<(UnixSeconds, u64)> {
    let (at, seq) = name.strip_prefix(DUE)?.split_once(':')?;
    Some((at.parse().ok()?, seq.parse().ok()?))
}

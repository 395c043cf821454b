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
//! Retention: the newest [`Limits::max_events`](crate::commands::authority::Limits) entries, as
//! for the audit log; an entry still pending when it falls out is dropped (and counted in the
//! log line of its removal by the glue).

use crate::Error;
use crate::clock::UnixSeconds;
use crate::commands::authority::Authority;
use crate::commands::ports::{RecordWriter, StateStore};
use crate::domain::event::Page;
use crate::domain::keystate::StoredKey;
use crate::domain::webhook::{AttemptOutcome, Delivery, DeliveryStatus, is_webhook_event};

const SEQ: &str = "meta:outbox_seq";
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
        let last = self.state.get(SEQ).await.map_err(Error::from)?;
        let seq = last.and_then(|s| s.parse::<u64>().ok()).unwrap_or(0) + 1;
        let delivery = Delivery::new(seq, kind, key, detail, now);
        self.put_delivery(None, &delivery).await?;
        self.state.put(&format!("outbox_id:{}", delivery.id), &seq.to_string()).await.map_err(Error::from)?;
        self.state.put(SEQ, &seq.to_string()).await.map_err(Error::from)?;
        if let Some(gone) = seq.checked_sub(self.limits.max_events).filter(|g| *g > 0) {
            self.drop_delivery(gone).await?;
        }
        Ok(())
    }

    /// Up to `limit` pending deliveries due by `now`, the earliest first.
    pub async fn due_deliveries(&self, now: UnixSeconds, limit: usize) -> Result<Vec<Delivery>, Error> {
        let rows = self.state.scan(DUE, None, limit).await.map_err(Error::from)?;
        let mut out = Vec::with_capacity(rows.len());
        for (name, _) in rows {
            let Some((at, seq)) = parse_due(&name) else { continue };
            if at > now {
                break;
            }
            match self.delivery(seq).await? {
                Some(d) if d.status == DeliveryStatus::Pending => out.push(d),
                // A stray due entry (its delivery dropped, or already settled): remove it.
                _ => self.state.delete(&name).await.map_err(Error::from)?,
            }
        }
        Ok(out)
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
        let mut data = Vec::with_capacity(rows.len());
        for (_, text) in rows {
            let d: Delivery = serde_json::from_str(&text).map_err(|_| Error::RecordCorrupt)?;
            if d.account == account {
                data.push(d);
            }
        }
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

    /// When the earliest pending delivery is due, if any is.
    pub async fn next_delivery(&self) -> Result<Option<UnixSeconds>, Error> {
        let first = self.state.scan(DUE, None, 1).await.map_err(Error::from)?;
        Ok(first.first().and_then(|(name, _)| parse_due(name)).map(|(at, _)| at))
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

//! In-memory ports for tests, with fault injection: every write failing, a write that landed but
//! whose call failed, and another command run in the middle of a KV write.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;

use crate::commands::ports::{RecordWriter, StateStore};
use crate::domain::digest::KeyDigest;
use crate::domain::key::Mode;
use crate::domain::record::{KeyRecord, KeyStatus};
use crate::store::StoreError;

/// Something a fake runs in the middle of a write: another command, as a platform that lets
/// other events in while a write is in flight would.
pub type Hook = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()>>>>;

/// In-memory [`StateStore`] for tests, with fault injection.
#[derive(Debug, Default)]
pub struct MemoryState {
    data: RefCell<BTreeMap<String, String>>,
    /// When set, every operation fails with it.
    pub fault: RefCell<Option<StoreError>>,
    /// When set, the next `put` stores its value and then fails ("the write landed but the call
    /// failed"); it is cleared by that put.
    pub landed_but_failed: RefCell<bool>,
    /// Values read so far: one per `get` that found one, one per row a `list` or `scan` returned
    /// (what a command cost in reads).
    pub values_read: RefCell<usize>,
}

impl MemoryState {
    /// Empty.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether any stored name or value contains `needle` (a secret, a hash that must be gone).
    pub fn mentions(&self, needle: &str) -> bool {
        self.data.borrow().iter().any(|(k, v)| k.contains(needle) || v.contains(needle))
    }
}

impl StateStore for MemoryState {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        if let Some(f) = self.fault.borrow().clone() {
            return Err(f);
        }
        let v = self.data.borrow().get(key).cloned();
        *self.values_read.borrow_mut() += usize::from(v.is_some());
        Ok(v)
    }

    async fn put(&self, key: &str, value: &str) -> Result<(), StoreError> {
        if let Some(f) = self.fault.borrow().clone() {
            return Err(f);
        }
        self.data.borrow_mut().insert(key.to_owned(), value.to_owned());
        if self.landed_but_failed.replace(false) {
            return Err(StoreError::Failed("injected: the write landed but the call failed".into()));
        }
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        if let Some(f) = self.fault.borrow().clone() {
            return Err(f);
        }
        self.data.borrow_mut().remove(key);
        Ok(())
    }

    async fn list(
        &self,
        prefix: &str,
        end: Option<&str>,
        reverse: bool,
        limit: Option<usize>,
    ) -> Result<Vec<(String, String)>, StoreError> {
        if let Some(f) = self.fault.borrow().clone() {
            return Err(f);
        }
        let data = self.data.borrow();
        let matching =
            data.iter().filter(|(k, _)| k.starts_with(prefix) && end.is_none_or(|e| k.as_str() < e));
        let rows: Vec<(String, String)> = if reverse {
            matching.rev().map(|(k, v)| (k.clone(), v.clone())).collect()
        } else {
            matching.map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        let rows: Vec<(String, String)> = rows.into_iter().take(limit.unwrap_or(usize::MAX)).collect();
        *self.values_read.borrow_mut() += rows.len();
        Ok(rows)
    }

    async fn scan(
        &self,
        prefix: &str,
        start: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, String)>, StoreError> {
        if let Some(f) = self.fault.borrow().clone() {
            return Err(f);
        }
        let data = self.data.borrow();
        let from = start.filter(|s| *s > prefix).unwrap_or(prefix).to_owned();
        let rows: Vec<(String, String)> = data
            .range(from..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        *self.values_read.borrow_mut() += rows.len();
        Ok(rows)
    }
}

/// In-memory [`RecordWriter`] for tests: remembers what KV holds, and fails on demand: every
/// write while `failing`; the next write after it landed with `landed_but_failed`; and it runs
/// `during_put` (another command) while the next write is in flight, before it lands.
#[derive(Default)]
pub struct MemoryKv {
    /// (mode, digest) → record JSON.
    pub data: RefCell<HashMap<(Mode, String), String>>,
    /// When true, every write fails.
    pub failing: RefCell<bool>,
    /// When true, the next write lands and then reports failure (cleared by it).
    pub landed_but_failed: RefCell<bool>,
    /// Run once, in the middle of the next write, before its value lands.
    pub during_put: RefCell<Option<Hook>>,
    /// How many writes were attempted.
    pub attempts: RefCell<usize>,
    /// How many reads reached it (as the edge's [`crate::store::RecordStore`]).
    pub reads: RefCell<usize>,
}

/// The edge's view of what the authority wrote: one read per `get`, one per bulk read.
impl crate::store::RecordStore for MemoryKv {
    async fn get(&self, mode: Mode, digest: &KeyDigest) -> Result<Option<String>, StoreError> {
        *self.reads.borrow_mut() += 1;
        Ok(self.data.borrow().get(&(mode, digest.0.clone())).cloned())
    }

    async fn get_many(&self, mode: Mode, digests: &[KeyDigest]) -> Result<Vec<Option<String>>, StoreError> {
        *self.reads.borrow_mut() += 1;
        let data = self.data.borrow();
        Ok(digests.iter().map(|d| data.get(&(mode, d.0.clone())).cloned()).collect())
    }
}

impl std::fmt::Debug for MemoryKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryKv").field("data", &self.data).field("attempts", &self.attempts).finish()
    }
}

impl MemoryKv {
    /// The record KV holds for `digest`, parsed.
    pub fn record(&self, mode: Mode, digest: &KeyDigest) -> Option<KeyRecord> {
        self.data.borrow().get(&(mode, digest.0.clone())).and_then(|s| KeyRecord::from_json(s).ok())
    }

    /// The status KV holds for `digest`.
    pub fn status(&self, mode: Mode, digest: &KeyDigest) -> Option<KeyStatus> {
        self.record(mode, digest).map(|r| r.status)
    }

    /// Whether any KV name or value contains `needle`.
    pub fn mentions(&self, needle: &str) -> bool {
        self.data.borrow().iter().any(|((_, k), v)| k.contains(needle) || v.contains(needle))
    }
}

impl RecordWriter for MemoryKv {
    async fn put(&self, mode: Mode, digest: &KeyDigest, record: &str) -> Result<(), StoreError> {
        *self.attempts.borrow_mut() += 1;
        let hook = self.during_put.borrow_mut().take();
        if let Some(hook) = hook {
            hook().await;
        }
        if *self.failing.borrow() {
            return Err(StoreError::Failed("injected KV failure".into()));
        }
        self.data.borrow_mut().insert((mode, digest.0.clone()), record.to_owned());
        if self.landed_but_failed.replace(false) {
            return Err(StoreError::Failed("injected: the write landed but the call failed".into()));
        }
        Ok(())
    }

    async fn delete(&self, mode: Mode, digest: &KeyDigest) -> Result<(), StoreError> {
        if *self.failing.borrow() {
            return Err(StoreError::Failed("injected KV failure".into()));
        }
        self.data.borrow_mut().remove(&(mode, digest.0.clone()));
        Ok(())
    }

    async fn get(&self, mode: Mode, digest: &KeyDigest) -> Result<Option<String>, StoreError> {
        if *self.failing.borrow() {
            return Err(StoreError::Failed("injected KV failure".into()));
        }
        Ok(self.data.borrow().get(&(mode, digest.0.clone())).cloned())
    }
}

/// In-memory webhook endpoint for tests: it keeps every body that reached it, answers from a
/// script (then 200), can lose its answer after receiving ("the send landed but the call
/// failed": a timeout after the receiver got it), and can run another command while a send is
/// in flight.
#[derive(Default)]
pub struct MemoryReceiver {
    /// What reached the receiver: each body and its signature header.
    pub received: RefCell<Vec<(Vec<u8>, String)>>,
    /// The next answers, in order: a status (the body reached it) or a failure before it did.
    /// When empty, 200.
    pub script: RefCell<std::collections::VecDeque<crate::domain::webhook::AttemptOutcome>>,
    /// The next this many sends reach the receiver, whose answer is then lost (a timeout).
    pub lost_answers: RefCell<usize>,
    /// Run while the next send is in flight (another command, in the middle).
    pub during_send: RefCell<Option<Hook>>,
}

impl crate::commands::ports::WebhookSender for MemoryReceiver {
    async fn send(&self, body: &[u8], signature: &str) -> crate::domain::webhook::AttemptOutcome {
        use crate::domain::webhook::AttemptOutcome;
        let hook = self.during_send.borrow_mut().take();
        if let Some(hook) = hook {
            hook().await;
        }
        let outcome = self.script.borrow_mut().pop_front().unwrap_or(AttemptOutcome::Answered(200));
        if matches!(outcome, AttemptOutcome::Answered(_)) {
            self.received.borrow_mut().push((body.to_vec(), signature.to_owned()));
            let lost = *self.lost_answers.borrow();
            if lost > 0 {
                *self.lost_answers.borrow_mut() = lost - 1;
                return AttemptOutcome::Failed("timed out (injected: the receiver got it)".into());
            }
        }
        outcome
    }
}

//! Store access behind a small trait, with an in-memory fake that can inject faults.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::domain::digest::KeyDigest;
use crate::domain::key::Mode;

/// Why a store read failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The store answered with an error.
    Failed(String),
    /// The store did not answer in time.
    Timeout,
    /// The store's binding is missing from the deployment.
    Misconfigured(&'static str),
}

/// A store fault fails closed: a missing binding is the deployment's misconfiguration (500), any
/// other fault the store's unavailability (503). One mapping for the edge, the authority and the
/// management API alike.
impl From<StoreError> for crate::Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Misconfigured(what) => crate::Error::Misconfigured { what },
            StoreError::Failed(_) | StoreError::Timeout => crate::Error::StoreUnavailable,
        }
    }
}

/// The edge's read-only view of key records: one namespace per mode, keyed by digest.
#[allow(async_fn_in_trait)]
pub trait RecordStore {
    /// The record stored under `digest` in `mode`'s namespace, as JSON text.
    async fn get(&self, mode: Mode, digest: &KeyDigest) -> Result<Option<String>, StoreError>;

    /// The records under each of `digests` (at most [`MAX_BULK`]) in `mode`'s namespace, in
    /// their order. By default one read each; Workers KV answers them in one bulk read, which
    /// counts as one operation against the platform's per-invocation limit.
    async fn get_many(&self, mode: Mode, digests: &[KeyDigest]) -> Result<Vec<Option<String>>, StoreError> {
        let mut out = Vec::with_capacity(digests.len());
        for digest in digests {
            out.push(self.get(mode, digest).await?);
        }
        Ok(out)
    }
}

/// The most keys one bulk read asks for (Workers KV's limit).
pub const MAX_BULK: usize = 100;

/// In-memory [`RecordStore`] for tests and benchmarks, with fault injection.
#[derive(Debug, Default)]
pub struct MemoryStore {
    /// One map per mode, as KV has one namespace per mode.
    data: RefCell<[HashMap<String, String>; 2]>,
    fault: RefCell<Option<StoreError>>,
    reads: RefCell<usize>,
}

impl MemoryStore {
    /// Empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Store `value` under `digest` in `mode`'s namespace.
    pub fn put(&self, mode: Mode, digest: &KeyDigest, value: impl Into<String>) {
        self.data.borrow_mut()[mode as usize].insert(digest.0.clone(), value.into());
    }

    /// Make every following read fail with `fault` (or succeed again with `None`).
    pub fn set_fault(&self, fault: Option<StoreError>) {
        *self.fault.borrow_mut() = fault;
    }

    /// How many reads reached the store.
    pub fn reads(&self) -> usize {
        *self.reads.borrow()
    }
}

impl RecordStore for MemoryStore {
    async fn get(&self, mode: Mode, digest: &KeyDigest) -> Result<Option<String>, StoreError> {
        *self.reads.borrow_mut() += 1;
        if let Some(f) = self.fault.borrow().clone() {
            return Err(f);
        }
        Ok(self.data.borrow()[mode as usize].get(digest.as_str()).cloned())
    }

    /// One read, as KV's bulk read is one operation; more than [`MAX_BULK`] keys is a failure,
    /// as on KV.
    async fn get_many(&self, mode: Mode, digests: &[KeyDigest]) -> Result<Vec<Option<String>>, StoreError> {
        *self.reads.borrow_mut() += 1;
        if let Some(f) = self.fault.borrow().clone() {
            return Err(f);
        }
        if digests.len() > MAX_BULK {
            return Err(StoreError::Failed(format!("a bulk read of {} keys", digests.len())));
        }
        let data = self.data.borrow();
        Ok(digests.iter().map(|d| data[mode as usize].get(d.as_str()).cloned()).collect())
    }
}

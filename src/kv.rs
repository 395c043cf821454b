//! Workers KV as the edge's [`RecordStore`]: one namespace per mode. A read that does not answer
//! within [`READ_TIMEOUT`] is a [`StoreError::Timeout`], so the request fails closed (503)
//! instead of hanging.

use std::time::Duration;

use futures_util::future::{Either, select};
use keygate_core::domain::digest::KeyDigest;
use keygate_core::domain::key::Mode;
use keygate_core::store::{RecordStore, StoreError};
use worker::{Delay, Env};

use crate::config::kv_binding;

/// The longest a key-record read may take.
pub const READ_TIMEOUT: Duration = Duration::from_secs(3);

/// KV namespaces `KEYS_TEST` and `KEYS_LIVE`.
pub struct KvRecords<'a> {
    /// The worker's environment.
    pub env: &'a Env,
    /// How long an edge location may cache a record (the revocation bound), seconds.
    pub cache_ttl: u64,
}

impl RecordStore for KvRecords<'_> {
    async fn get(&self, mode: Mode, digest: &KeyDigest) -> Result<Option<String>, StoreError> {
        let kv = self.env.kv(kv_binding(mode)).map_err(|_| StoreError::Misconfigured(kv_binding(mode)))?;
        let read = std::pin::pin!(kv.get(digest.as_str()).cache_ttl(self.cache_ttl).text());
        match select(read, Delay::from(READ_TIMEOUT)).await {
            Either::Left((result, _)) => result.map_err(|_| StoreError::Failed("the KV read failed".into())),
            Either::Right(_) => Err(StoreError::Timeout),
        }
    }

    /// One bulk read (one operation against the platform's per-invocation limit).
    #[cfg(feature = "authority")]
    async fn get_many(&self, mode: Mode, digests: &[KeyDigest]) -> Result<Vec<Option<String>>, StoreError> {
        let kv = self.env.kv(kv_binding(mode)).map_err(|_| StoreError::Misconfigured(kv_binding(mode)))?;
        let names: Vec<&str> = digests.iter().map(KeyDigest::as_str).collect();
        let read = std::pin::pin!(kv.get_bulk(&names).cache_ttl(self.cache_ttl).text());
        match select(read, Delay::from(READ_TIMEOUT)).await {
            Either::Left((Ok(mut found), _)) => {
                Ok(names.iter().map(|n| found.remove(*n).flatten()).collect())
            }
            Either::Left((Err(_), _)) => Err(StoreError::Failed("the KV bulk read failed".into())),
            Either::Right(_) => Err(StoreError::Timeout),
        }
    }
}

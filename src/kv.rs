//! Workers KV as the edge's [`RecordStore`]: one namespace per mode.

use keygate_core::digest::KeyDigest;
use keygate_core::key::Mode;
use keygate_core::store::{RecordStore, StoreError};
use worker::Env;

use crate::config::kv_binding;

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
        kv.get(digest.as_str())
            .cache_ttl(self.cache_ttl)
            .text()
            .await
            .map_err(|e| StoreError::Failed(e.to_string()))
    }
}

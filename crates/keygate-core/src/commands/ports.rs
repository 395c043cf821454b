//! What the authority needs of its platform: the object's own transactional storage, and the
//! edge's KV namespaces it writes.

use crate::domain::digest::KeyDigest;
use crate::domain::key::Mode;
use crate::store::StoreError;

/// The Durable Object's own transactional storage, as JSON text values.
#[allow(async_fn_in_trait)]
pub trait StateStore {
    /// The value at `key`.
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Store `value` at `key`.
    async fn put(&self, key: &str, value: &str) -> Result<(), StoreError>;
    /// Remove `key` (nothing if absent).
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Entries whose key starts with `prefix`, in key order (descending when `reverse`), only
    /// keys before `end` (exclusive, in ascending order) when given, at most `limit`.
    async fn list(
        &self,
        prefix: &str,
        end: Option<&str>,
        reverse: bool,
        limit: Option<usize>,
    ) -> Result<Vec<(String, String)>, StoreError>;
    /// Entries whose key starts with `prefix`, in ascending key order from `start` (inclusive)
    /// when given, at most `limit`: one page of an index, without reading the rest.
    async fn scan(
        &self,
        prefix: &str,
        start: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, String)>, StoreError>;
}

/// Writes key records to the edge's KV namespaces.
#[allow(async_fn_in_trait)]
pub trait RecordWriter {
    /// Store `record` under `digest` in `mode`'s namespace.
    async fn put(&self, mode: Mode, digest: &KeyDigest, record: &str) -> Result<(), StoreError>;
    /// Remove the record under `digest` in `mode`'s namespace.
    async fn delete(&self, mode: Mode, digest: &KeyDigest) -> Result<(), StoreError>;
    /// The record under `digest` in `mode`'s namespace, as this location reads it now (a
    /// re-digest checks that no other key is stored there).
    async fn get(&self, mode: Mode, digest: &KeyDigest) -> Result<Option<String>, StoreError>;
}

/// Sends a webhook to the provider's endpoint.
#[allow(async_fn_in_trait)]
pub trait WebhookSender {
    /// POST `body` with `signature` as `Keygate-Webhook-Signature`: the endpoint's status, or
    /// why there was none (a timeout, a connection failure).
    async fn send(&self, body: &[u8], signature: &str) -> crate::domain::webhook::AttemptOutcome;
}

//! Reporting key use to the authority without slowing requests: counted per isolate and sent
//! through `wait_until`, at most once per key per minute. Counts that an isolate holds when it
//! is evicted are lost, so the per-day counts are a lower bound.

use keygate_core::domain::record::KeyRecord;
use keygate_core::policy::usage::Tally;
use worker::{Context, Env};

use crate::keystore::{self, EdgeCommand};

/// Keys tracked per isolate before the table is reset (bounds memory).
const MAX_TRACKED: usize = 10_000;

thread_local! {
    static PENDING: Tally = Tally::new(MAX_TRACKED);
}

/// Count one request with `record`'s key, and report if this key's minute has turned.
pub fn note(ctx: &Context, env: &Env, record: &KeyRecord, now: i64) {
    if let Some(count) = PENDING.with(|t| t.note(&record.id, now)) {
        let env = env.clone();
        let (account, key_id, mode) = (record.account.clone(), record.id.clone(), record.mode);
        ctx.wait_until(async move {
            let command = EdgeCommand::Usage { account: &account, key_id: &key_id, at: now, count };
            // Best effort: a lost report only undercounts.
            let _ = keystore::call::<serde::de::IgnoredAny>(&env, mode, &account, &command).await;
        });
    }
}

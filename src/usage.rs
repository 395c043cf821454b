//! Reporting key use to the authority without slowing requests: counted per isolate and sent
//! through `wait_until`, at most once per key per minute. Counts that an isolate holds when it
//! is evicted are lost, so the per-day counts are a lower bound. Requests refused by a key's
//! usage controls are counted and reported the same way, apart.

use keygate_core::domain::record::KeyRecord;
use keygate_core::policy::usage::Tally;
use worker::{Context, Env};

use crate::keystore::{self, EdgeCommand};

/// Keys tracked per isolate before the table is reset (bounds memory).
const MAX_TRACKED: usize = 10_000;

thread_local! {
    static PENDING: Tally = Tally::new(MAX_TRACKED);
    static REFUSED: Tally = Tally::new(MAX_TRACKED);
}

/// Count one request with `record`'s key, and report if this key's minute has turned.
pub fn note(ctx: &Context, env: &Env, record: &KeyRecord, now: i64) {
    report(ctx, env, record, now, false);
}

/// Count one request of `record`'s key refused by its usage controls, reported like use.
pub fn note_refused(ctx: &Context, env: &Env, record: &KeyRecord, now: i64) {
    report(ctx, env, record, now, true);
}

fn report(ctx: &Context, env: &Env, record: &KeyRecord, now: i64, refused: bool) {
    let tally = if refused { &REFUSED } else { &PENDING };
    if let Some(count) = tally.with(|t| t.note(&record.id, now)) {
        let (account, key_id) = (record.account.as_str(), record.id.as_str());
        let command = if refused {
            EdgeCommand::Refused { account, key_id, at: now, count }
        } else {
            EdgeCommand::Usage { account, key_id, at: now, count }
        };
        // Best effort: a lost report only undercounts.
        keystore::send_later(ctx, env, record.mode, account, &command);
    }
}

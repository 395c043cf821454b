//! Reporting key use to the authority without slowing requests: counted per isolate and sent
//! through `wait_until`, at most once per key per minute. Counts that an isolate holds when it
//! is evicted are lost, so the per-day counts are a lower bound.

use std::cell::RefCell;
use std::collections::HashMap;

use keygate_core::clock::Clock;
use keygate_core::record::KeyRecord;
use worker::{Context, Env};

use crate::keystore::{self, Command};
use crate::platform::WorkerClock;

/// Keys tracked per isolate before the table is reset (bounds memory).
const MAX_TRACKED: usize = 10_000;

#[derive(Default)]
struct Pending {
    reported_minute: Option<i64>,
    count: u64,
}

thread_local! {
    static PENDING: RefCell<HashMap<String, Pending>> = RefCell::new(HashMap::new());
}

/// Count one request with `record`'s key, and report if this key's minute has turned.
pub fn note(ctx: &Context, env: &Env, record: &KeyRecord) {
    let now = WorkerClock.now();
    let minute = now.div_euclid(60);
    let due = PENDING.with(|cell| {
        let mut table = cell.borrow_mut();
        if table.len() >= MAX_TRACKED && !table.contains_key(&record.id) {
            table.clear();
        }
        let p = table.entry(record.id.clone()).or_default();
        p.count += 1;
        if p.reported_minute == Some(minute) {
            return None;
        }
        p.reported_minute = Some(minute);
        Some(std::mem::take(&mut p.count))
    });
    if let Some(count) = due {
        let env = env.clone();
        let (account, mode) = (record.account.clone(), record.mode);
        let command = Command::Usage { account: account.clone(), key_id: record.id.clone(), at: now, count };
        ctx.wait_until(async move {
            // Best effort: a lost report only undercounts.
            let _ = keystore::call::<serde_json::Value>(&env, mode, &account, &command).await;
        });
    }
}

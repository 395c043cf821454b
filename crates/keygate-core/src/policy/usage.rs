//! Usage reports from the edge, coalesced: each isolate counts requests per key and reports at
//! most once per key per minute, so a busy key costs the authority one write a minute per
//! isolate instead of one per request. The first request of a minute is reported at once with
//! everything counted since the last report; requests later in that minute wait for the next
//! report. Counts an isolate holds when it is evicted are lost, so the authority's counts are a
//! lower bound, exact up to what isolates still hold.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::clock::UnixSeconds;

#[derive(Debug, Default)]
struct Pending {
    reported_minute: Option<i64>,
    count: u64,
}

/// Per-key counts not yet reported, at most `capacity` keys (when full, all are forgotten).
#[derive(Debug)]
pub struct Tally {
    table: RefCell<HashMap<String, Pending>>,
    capacity: usize,
}

impl Tally {
    /// Empty, tracking at most `capacity` keys.
    pub fn new(capacity: usize) -> Self {
        Tally { table: RefCell::new(HashMap::new()), capacity }
    }

    /// Count one request with `key_id` at `now`; `Some(count)` when it is time to report that
    /// many (this request included).
    pub fn note(&self, key_id: &str, now: UnixSeconds) -> Option<u64> {
        let minute = now.div_euclid(60);
        let mut table = self.table.borrow_mut();
        if table.len() >= self.capacity && !table.contains_key(key_id) {
            table.clear();
        }
        let p = table.entry(key_id.to_owned()).or_default();
        p.count += 1;
        if p.reported_minute == Some(minute) {
            return None;
        }
        p.reported_minute = Some(minute);
        Some(std::mem::take(&mut p.count))
    }
}

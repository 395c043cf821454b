//! Logging that survives a flood of refusals: every refusal is accounted for, but a flood from
//! one client address does not become one log line per request.
//!
//! Per isolate, refusals are counted per (client address, code) in windows of
//! [`WINDOW_SECONDS`] aligned to the clock. The first [`FULL_LINES`] of a window are logged in
//! full; the rest are only counted, and once the window has ended one summary line says how many
//! more there were. So a flood of N refusals gives at most `FULL_LINES + 1` lines per address,
//! code and window, and the full lines plus the summaries' `suppressed` counts add up to N.
//!
//! Summaries are written by the next request the isolate serves after the window ends, whoever
//! sends it (a check of one number while nothing is pending); counts an isolate holds when it is
//! evicted are lost, as with usage counts.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use crate::clock::UnixSeconds;

/// The window refusals are counted in, seconds.
pub const WINDOW_SECONDS: UnixSeconds = 60;
/// Refusals logged in full per (address, code) and window.
pub const FULL_LINES: u64 = 5;

/// What to do with one refusal's log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Write it in full.
    Log,
    /// Count it only: a summary will say so.
    Suppress,
}

/// The line that accounts for refusals not logged in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The client address.
    pub client_ip: String,
    /// The error code.
    pub code: String,
    /// When the window began, unix seconds.
    pub window_start: UnixSeconds,
    /// Refusals of this address and code in the window, all told.
    pub refusals: u64,
    /// How many of them were logged in full.
    pub logged: u64,
    /// How many were not: `refusals - logged`.
    pub suppressed: u64,
}

impl Summary {
    /// The JSON log line: `{"summary":"refusals","client_ip",…,"suppressed"}`.
    pub fn line(&self) -> String {
        let text = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
        format!(
            "{{\"summary\":\"refusals\",\"client_ip\":{},\"code\":{},\"window_start\":{},\"window_seconds\":{},\"refusals\":{},\"logged\":{},\"suppressed\":{}}}",
            text(&self.client_ip),
            text(&self.code),
            self.window_start,
            WINDOW_SECONDS,
            self.refusals,
            self.logged,
            self.suppressed
        )
    }
}

/// The per-isolate counts, keyed by `address NUL code`, each a packed (window, refusals): the
/// same map type as the isolate's other per-key tables, so the lean edge links its code once.
/// At most `capacity` pairs are tracked; when full, everything pending is summarised at once and
/// the counts start again.
#[derive(Debug)]
pub struct RefusalLog {
    counts: RefCell<HashMap<String, i64>>,
    /// The end of the earliest window with something suppressed, or `MAX`: nothing to write.
    due: Cell<UnixSeconds>,
    capacity: usize,
}

impl RefusalLog {
    /// Empty, tracking at most `capacity` pairs.
    pub fn new(capacity: usize) -> Self {
        RefusalLog { counts: RefCell::new(HashMap::new()), due: Cell::new(UnixSeconds::MAX), capacity }
    }

    /// Count a refusal with `code` from `client_ip` at `now`: whether to log it in full, and the
    /// summaries to write first (of windows that have ended).
    pub fn refusal(&self, client_ip: &str, code: &str, now: UnixSeconds) -> (Verdict, Vec<Summary>) {
        let mut out = self.flush(now);
        let window = now.div_euclid(WINDOW_SECONDS);
        let key = format!("{client_ip}\0{code}");
        let mut counts = self.counts.borrow_mut();
        if counts.len() >= self.capacity && !counts.contains_key(&key) {
            out.extend(counts.drain().filter_map(|(k, c)| summary(&k, c)));
            self.due.set(UnixSeconds::MAX);
        }
        let c = counts.entry(key).or_insert(pack(window, 0));
        let (w, n) = unpack(*c);
        // A count left from an ended window had nothing suppressed (flush takes the others).
        let refusals = if w == window { n + 1 } else { 1 };
        *c = pack(window, refusals);
        if refusals <= FULL_LINES {
            return (Verdict::Log, out);
        }
        self.due.set(self.due.get().min((window + 1) * WINDOW_SECONDS));
        (Verdict::Suppress, out)
    }

    /// The summaries of every window that has ended by `now` with something suppressed; those
    /// windows are forgotten. One comparison while nothing is due.
    pub fn flush(&self, now: UnixSeconds) -> Vec<Summary> {
        if now < self.due.get() {
            return Vec::new();
        }
        let window = now.div_euclid(WINDOW_SECONDS);
        let mut counts = self.counts.borrow_mut();
        let mut out = Vec::new();
        let mut next = UnixSeconds::MAX;
        counts.retain(|k, c| {
            let (w, n) = unpack(*c);
            if w < window {
                out.extend(summary(k, *c));
                return false;
            }
            if n > FULL_LINES {
                next = next.min((w + 1) * WINDOW_SECONDS);
            }
            true
        });
        self.due.set(next);
        out
    }
}

/// A window number (unix seconds / [`WINDOW_SECONDS`]) and a count in one `i64`.
fn pack(window: i64, refusals: u64) -> i64 {
    (window << 32) | refusals.min(u32::MAX as u64) as i64
}

fn unpack(packed: i64) -> (i64, u64) {
    (packed >> 32, (packed & 0xffff_ffff) as u64)
}

fn summary(key: &str, packed: i64) -> Option<Summary> {
    let (window, refusals) = unpack(packed);
    let logged = refusals.min(FULL_LINES);
    let (client_ip, code) = key.split_once('\0').unwrap_or((key, ""));
    (refusals > logged).then(|| Summary {
        client_ip: client_ip.to_owned(),
        code: code.to_owned(),
        window_start: window * WINDOW_SECONDS,
        refusals,
        logged,
        suppressed: refusals - logged,
    })
}

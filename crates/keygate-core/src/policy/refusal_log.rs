//! Logging that survives a flood of refusals: every refusal is accounted for, but a flood does
//! not become one log line per request, whether it comes from one client address or from a new
//! address every time.
//!
//! Per isolate, refusals are counted per (client address, code) in windows of
//! [`WINDOW_SECONDS`] aligned to the clock. A refusal is logged in full while its address and
//! code have had fewer than [`FULL_LINES`] full lines in the window **and** its code has had
//! fewer than [`FULL_LINES_PER_CODE`], whatever the address; every other refusal is only counted.
//! Once the window has ended, summary lines account for the ones counted: one per address for the
//! [`SUMMARY_ADDRESSES`] addresses with the most, and one more (`"client_ip": null`) for all the
//! other addresses of that code together, with how many addresses it covers.
//!
//! So a window gives at most `FULL_LINES_PER_CODE + SUMMARY_ADDRESSES + 1` lines per code, and the
//! full lines plus the summaries' `suppressed` counts add up to the number of refusals.
//!
//! Summaries are written by the next request the isolate serves after the window ends, whoever
//! sends it (a check of one number while nothing is pending); counts an isolate holds when it is
//! evicted are lost, as with usage counts. When more than `capacity` (address, code) pairs are
//! tracked, everything pending is summarised at once and counting starts again.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use crate::clock::UnixSeconds;

/// The window refusals are counted in, seconds.
pub const WINDOW_SECONDS: UnixSeconds = 60;
/// Refusals logged in full per (address, code) and window.
pub const FULL_LINES: u64 = 5;
/// Refusals logged in full per code and window, all addresses together.
pub const FULL_LINES_PER_CODE: u64 = 100;
/// Addresses summarised one by one per code and window (those with the most refusals counted
/// only); the others share one summary line.
pub const SUMMARY_ADDRESSES: usize = 20;

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
    /// The client address, or `None` for the line that covers all the other addresses.
    pub client_ip: Option<String>,
    /// How many addresses the line covers: 1, or more for the line of the others.
    pub addresses: u64,
    /// The error code.
    pub code: String,
    /// When the window began, unix seconds.
    pub window_start: UnixSeconds,
    /// Refusals of this code in the window from the addresses covered, all told.
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
            "{{\"summary\":\"refusals\",\"client_ip\":{},\"addresses\":{},\"code\":{},\"window_start\":{},\"window_seconds\":{},\"refusals\":{},\"logged\":{},\"suppressed\":{}}}",
            self.client_ip.as_deref().map_or_else(|| "null".to_owned(), text),
            self.addresses,
            text(&self.code),
            self.window_start,
            WINDOW_SECONDS,
            self.refusals,
            self.logged,
            self.suppressed
        )
    }
}

/// The per-isolate counts, keyed by `address NUL code`, each a packed (window, logged, refusals):
/// the same map type as the isolate's other per-key tables, so the lean edge links its code once.
#[derive(Debug)]
pub struct RefusalLog {
    counts: RefCell<HashMap<String, i64>>,
    /// Full lines per code in the current window: (code, window, lines).
    per_code: RefCell<Vec<(String, i64, u64)>>,
    /// The end of the earliest window with something suppressed, or `MAX`: nothing to write.
    due: Cell<UnixSeconds>,
    capacity: usize,
}

impl RefusalLog {
    /// Empty, tracking at most `capacity` (address, code) pairs.
    pub fn new(capacity: usize) -> Self {
        RefusalLog {
            counts: RefCell::new(HashMap::new()),
            per_code: RefCell::new(Vec::new()),
            due: Cell::new(UnixSeconds::MAX),
            capacity,
        }
    }

    /// Count a refusal with `code` from `client_ip` at `now`: whether to log it in full, and the
    /// summaries to write first (of windows that have ended, or of everything when the table is
    /// full).
    pub fn refusal(&self, client_ip: &str, code: &str, now: UnixSeconds) -> (Verdict, Vec<Summary>) {
        let mut out = self.flush(now);
        let window = now.div_euclid(WINDOW_SECONDS);
        let key = format!("{client_ip}\0{code}");
        let mut counts = self.counts.borrow_mut();
        if counts.len() >= self.capacity && !counts.contains_key(&key) {
            out.extend(summaries(counts.drain().filter_map(|(k, c)| Pending::of(&k, c))));
            self.due.set(UnixSeconds::MAX);
        }
        let c = counts.entry(key).or_insert(pack(window, 0, 0));
        let (w, logged, n) = unpack(*c);
        // A count left from an ended window had nothing suppressed (flush takes the others).
        let (logged, refusals) = if w == window { (logged, n + 1) } else { (0, 1) };
        let full = logged < FULL_LINES && self.take_line(code, window);
        let logged = logged + full as u64;
        *c = pack(window, logged, refusals);
        if full {
            return (Verdict::Log, out);
        }
        self.due.set(self.due.get().min((window + 1) * WINDOW_SECONDS));
        (Verdict::Suppress, out)
    }

    /// One of the code's full lines for `window`, if any is left.
    fn take_line(&self, code: &str, window: i64) -> bool {
        let mut per_code = self.per_code.borrow_mut();
        let i = match per_code.iter().position(|(c, _, _)| c == code) {
            Some(i) => i,
            None => {
                per_code.push((code.to_owned(), window, 0));
                per_code.len() - 1
            }
        };
        let (_, w, lines) = &mut per_code[i];
        if *w != window {
            (*w, *lines) = (window, 0);
        }
        if *lines >= FULL_LINES_PER_CODE {
            return false;
        }
        *lines += 1;
        true
    }

    /// The summaries of every window that has ended by `now` with something suppressed; those
    /// windows are forgotten. One comparison while nothing is due.
    pub fn flush(&self, now: UnixSeconds) -> Vec<Summary> {
        if now < self.due.get() {
            return Vec::new();
        }
        let window = now.div_euclid(WINDOW_SECONDS);
        let mut counts = self.counts.borrow_mut();
        let mut ended = Vec::new();
        let mut next = UnixSeconds::MAX;
        counts.retain(|k, c| {
            let (w, logged, n) = unpack(*c);
            if w < window {
                ended.extend(Pending::of(k, *c));
                return false;
            }
            if n > logged {
                next = next.min((w + 1) * WINDOW_SECONDS);
            }
            true
        });
        self.due.set(next);
        summaries(ended.into_iter())
    }
}

/// A (window, logged, refusals) in one `i64`: the window number (unix seconds /
/// [`WINDOW_SECONDS`]) in the high 32 bits, then 4 bits of full lines, then 28 of refusals
/// (saturating: 268 million per address, code and minute).
fn pack(window: i64, logged: u64, refusals: u64) -> i64 {
    (window << 32) | ((logged.min(15) as i64) << 28) | refusals.min((1 << 28) - 1) as i64
}

fn unpack(packed: i64) -> (i64, u64, u64) {
    (packed >> 32, ((packed >> 28) & 0xf) as u64, (packed & ((1 << 28) - 1)) as u64)
}

/// One (address, code, window) with refusals counted only.
struct Pending {
    client_ip: String,
    code: String,
    window: i64,
    refusals: u64,
    logged: u64,
}

impl Pending {
    fn of(key: &str, packed: i64) -> Option<Pending> {
        let (window, logged, refusals) = unpack(packed);
        let (client_ip, code) = key.split_once('\0').unwrap_or((key, ""));
        (refusals > logged).then(|| Pending {
            client_ip: client_ip.to_owned(),
            code: code.to_owned(),
            window,
            refusals,
            logged,
        })
    }
}

/// Per code and window: a line for each of the [`SUMMARY_ADDRESSES`] addresses with the most
/// refusals counted only, and one for all the others together.
fn summaries(pending: impl Iterator<Item = Pending>) -> Vec<Summary> {
    let mut pending: Vec<Pending> = pending.collect();
    pending.sort_by(|a, b| {
        (a.window, &a.code)
            .cmp(&(b.window, &b.code))
            .then((b.refusals - b.logged).cmp(&(a.refusals - a.logged)))
            .then(a.client_ip.cmp(&b.client_ip))
    });
    let mut out = Vec::new();
    let mut rest: Option<Summary> = None;
    let mut shown = 0;
    for (i, p) in pending.iter().enumerate() {
        let first_of_group = i == 0 || (pending[i - 1].window, &pending[i - 1].code) != (p.window, &p.code);
        if first_of_group {
            out.extend(rest.take());
            shown = 0;
        }
        if shown < SUMMARY_ADDRESSES {
            shown += 1;
            out.push(Summary {
                client_ip: Some(p.client_ip.clone()),
                addresses: 1,
                code: p.code.clone(),
                window_start: p.window * WINDOW_SECONDS,
                refusals: p.refusals,
                logged: p.logged,
                suppressed: p.refusals - p.logged,
            });
            continue;
        }
        let r = rest.get_or_insert_with(|| Summary {
            client_ip: None,
            addresses: 0,
            code: p.code.clone(),
            window_start: p.window * WINDOW_SECONDS,
            refusals: 0,
            logged: 0,
            suppressed: 0,
        });
        r.addresses += 1;
        r.refusals += p.refusals;
        r.logged += p.logged;
        r.suppressed += p.refusals - p.logged;
    }
    out.extend(rest);
    out
}

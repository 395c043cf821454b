//! Logging that survives a flood: a bounded number of lines, whose counts add up exactly.
use std::collections::HashMap;

use keygate_core::policy::refusal_log::{
    FULL_LINES, FULL_LINES_PER_CODE, RefusalLog, SUMMARY_ADDRESSES, Summary, Verdict, WINDOW_SECONDS,
};

const T0: i64 = 2_000_000_000 - 2_000_000_000 % 60;

/// Feed `refusals` (address, code, time) and return (full lines, summaries) as written, with a
/// final flush well after the last window.
fn run(log: &RefusalLog, refusals: &[(&str, &str, i64)]) -> (usize, Vec<Summary>) {
    let (mut full, mut summaries) = (0, Vec::new());
    for (ip, code, t) in refusals {
        let (verdict, before) = log.refusal(ip, code, *t);
        summaries.extend(before);
        if verdict == Verdict::Log {
            full += 1;
        }
    }
    summaries.extend(log.flush(refusals.iter().map(|r| r.2).max().unwrap_or(T0) + 10 * WINDOW_SECONDS));
    (full, summaries)
}

#[test]
fn a_flood_gives_a_bounded_number_of_lines_whose_counts_add_up() {
    let log = RefusalLog::new(1000);
    // 10000 refusals from one address with one code, within one window.
    let flood: Vec<(&str, &str, i64)> =
        (0..10_000).map(|i| ("203.0.113.7", "api_key_invalid", T0 + i % 60)).collect();
    let (full, summaries) = run(&log, &flood);
    assert_eq!(full as u64, FULL_LINES);
    assert_eq!(summaries.len(), 1);
    let s = &summaries[0];
    assert_eq!(
        (s.client_ip.as_deref(), s.code.as_str(), s.window_start),
        (Some("203.0.113.7"), "api_key_invalid", T0)
    );
    assert_eq!((s.refusals, s.logged, s.suppressed), (10_000, FULL_LINES, 10_000 - FULL_LINES));
    assert_eq!(full as u64 + s.suppressed, 10_000);
}

#[test]
fn across_windows_addresses_and_codes_every_refusal_is_accounted_for() {
    let log = RefusalLog::new(1000);
    let mut refusals = Vec::new();
    let ips = ["203.0.113.1", "203.0.113.2", "2001:db8::/64"];
    let codes = ["api_key_invalid", "api_key_revoked"];
    let mut n = 0u64;
    for w in 0..5 {
        for (i, ip) in ips.iter().enumerate() {
            for (j, code) in codes.iter().enumerate() {
                // 0, 3, 6, … refusals: some pairs under the full-line quota, some far over.
                let count = ((w * 7 + i * 3 + j * 5) % 13) as i64 * 3;
                for k in 0..count {
                    refusals.push((*ip, *code, T0 + w as i64 * WINDOW_SECONDS + k % WINDOW_SECONDS));
                    n += 1;
                }
            }
        }
    }
    let (full, summaries) = run(&log, &refusals);
    let suppressed: u64 = summaries.iter().map(|s| s.suppressed).sum();
    assert_eq!(full as u64 + suppressed, n, "every refusal is a full line or counted in a summary");
    // At most FULL_LINES + 1 lines per (address, code, window).
    let pairs_windows = 5 * ips.len() * codes.len();
    assert!(full + summaries.len() <= pairs_windows * (FULL_LINES as usize + 1));
    for s in &summaries {
        assert_eq!(s.refusals, s.logged + s.suppressed);
        assert_eq!(s.logged, FULL_LINES);
        assert_eq!(s.window_start % WINDOW_SECONDS, 0);
        let line: serde_json::Value = serde_json::from_str(&s.line()).unwrap();
        assert_eq!(line["summary"], "refusals");
        assert_eq!(line["suppressed"], s.suppressed);
        assert_eq!(line["client_ip"], s.client_ip.as_deref().unwrap());
        assert_eq!(line["addresses"], 1);
    }
}

#[test]
fn summaries_come_with_the_next_request_after_the_window_and_not_before() {
    let log = RefusalLog::new(1000);
    for i in 0..20 {
        log.refusal("203.0.113.9", "api_key_invalid", T0 + i);
    }
    assert!(log.flush(T0 + 59).is_empty(), "the window is still open");
    let s = log.flush(T0 + 60);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].suppressed, 15);
    assert!(log.flush(T0 + 61).is_empty(), "written once");
    // A pair under the quota needs no summary, and a new window starts counting afresh.
    log.refusal("203.0.113.9", "api_key_invalid", T0 + 61);
    assert_eq!(log.refusal("203.0.113.9", "api_key_invalid", T0 + 62).0, Verdict::Log);
    assert!(log.flush(T0 + 200).is_empty());
}

#[test]
fn a_full_table_is_summarised_at_once_and_stays_bounded() {
    let log = RefusalLog::new(4);
    let mut total = 0u64;
    let mut full = 0u64;
    let mut suppressed = 0u64;
    for ip in 0..50 {
        for _ in 0..8 {
            let (v, s) = log.refusal(&format!("198.51.100.{ip}"), "api_key_invalid", T0 + 1);
            total += 1;
            full += (v == Verdict::Log) as u64;
            suppressed += s.iter().map(|s| s.suppressed).sum::<u64>();
        }
    }
    suppressed += log.flush(T0 + 120).iter().map(|s| s.suppressed).sum::<u64>();
    assert_eq!(full + suppressed, total);
}

/// Full lines per code, and every summary line, of one run.
fn lines_per_code(full: &[(String, i64)], summaries: &[Summary]) -> HashMap<(String, i64), usize> {
    let mut per = HashMap::new();
    for (code, w) in full {
        *per.entry((code.clone(), *w)).or_insert(0) += 1;
    }
    for s in summaries {
        *per.entry((s.code.clone(), s.window_start / WINDOW_SECONDS)).or_insert(0) += 1;
    }
    per
}

#[test]
fn a_flood_from_a_new_address_every_time_is_bounded_per_code_and_adds_up() {
    let log = RefusalLog::new(100_000);
    // 5000 refusals in one window, each from another address, two codes interleaved, plus one
    // address that keeps trying.
    let mut full = Vec::new();
    let mut summaries = Vec::new();
    let mut n = 0u64;
    for i in 0..5000u32 {
        let ip = format!("198.18.{}.{}", i / 256, i % 256);
        let code = if i % 3 == 0 { "api_key_revoked" } else { "api_key_invalid" };
        for (ip, code) in [(ip.as_str(), code), ("203.0.113.50", "api_key_invalid")] {
            let (v, s) = log.refusal(ip, code, T0 + (i as i64 % 60));
            summaries.extend(s);
            n += 1;
            if v == Verdict::Log {
                full.push((code.to_owned(), T0 / WINDOW_SECONDS));
            }
        }
    }
    assert!(log.flush(T0 + 59).is_empty(), "nothing before the window ends");
    summaries.extend(log.flush(T0 + 60));
    let suppressed: u64 = summaries.iter().map(|s| s.suppressed).sum();
    assert_eq!(full.len() as u64 + suppressed, n, "every refusal accounted for");
    let per = lines_per_code(&full, &summaries);
    assert_eq!(per.len(), 2);
    for ((code, _), lines) in &per {
        assert!(*lines <= FULL_LINES_PER_CODE as usize + SUMMARY_ADDRESSES + 1, "{code}: {lines} lines");
    }
    assert_eq!(full.len() as u64, 2 * FULL_LINES_PER_CODE, "each code's budget of full lines, no more");
    // Who: the address that kept trying leads its code's summaries, with its own count.
    let invalid: Vec<&Summary> = summaries.iter().filter(|s| s.code == "api_key_invalid").collect();
    assert_eq!(invalid[0].client_ip.as_deref(), Some("203.0.113.50"));
    assert_eq!(invalid[0].refusals, 5000);
    assert_eq!(invalid.iter().filter(|s| s.client_ip.is_some()).count(), SUMMARY_ADDRESSES);
    let others = invalid.iter().find(|s| s.client_ip.is_none()).expect("a line for the others");
    assert_eq!(others.refusals, others.logged + others.suppressed);
    // How many: every address that failed with this code shows up in a full line or a summary.
    let logged_addresses = full.iter().filter(|(c, _)| c == "api_key_invalid").count() as u64;
    let summarised: u64 = invalid.iter().map(|s| s.addresses).sum();
    assert!(summarised + logged_addresses >= 3334, "{summarised} + {logged_addresses}");
    let line: serde_json::Value = serde_json::from_str(&others.line()).unwrap();
    assert_eq!(line["client_ip"], serde_json::Value::Null);
    assert_eq!(line["addresses"], others.addresses);
}

#[test]
fn the_per_code_budget_starts_again_each_window() {
    let log = RefusalLog::new(100_000);
    let mut logged = [0u64; 2];
    for w in 0..2i64 {
        for i in 0..(FULL_LINES_PER_CODE + 10) {
            let (v, _) = log.refusal(&format!("198.51.100.{i}"), "api_key_invalid", T0 + w * WINDOW_SECONDS);
            logged[w as usize] += (v == Verdict::Log) as u64;
        }
    }
    assert_eq!(logged, [FULL_LINES_PER_CODE, FULL_LINES_PER_CODE]);
    // Another code is not held back by this one.
    assert_eq!(log.refusal("198.51.100.1", "api_key_expired", T0 + WINDOW_SECONDS).0, Verdict::Log);
}

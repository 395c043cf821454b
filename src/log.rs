//! One structured JSON log line per request. Never a raw key: only ids, codes, and a path whose
//! key-like segments are redacted; the query string is never logged.

use keygate_core::key::{PREFIX_LEN, parse_prefix, redact};
use keygate_core::record::KeyRecord;
use serde::Serialize;

/// What the request path learned, filled in as it goes.
#[derive(Debug, Default, Serialize)]
pub struct RequestLog {
    /// `req_…`.
    pub request_id: String,
    /// Method.
    pub method: String,
    /// Path with key-like segments redacted, no query.
    pub path: String,
    /// The key, once known.
    pub key_id: Option<String>,
    /// Its account.
    pub account: Option<String>,
    /// Its mode.
    pub mode: Option<&'static str>,
    /// `allow` or `deny`.
    pub decision: &'static str,
    /// The error code of a denial.
    pub code: Option<String>,
    /// Response status.
    pub status: u16,
    /// Milliseconds in keygate, origin included.
    pub latency_ms: f64,
}

impl RequestLog {
    /// Start a log line.
    pub fn new(request_id: &str, method: &str, path: &str) -> Self {
        RequestLog {
            request_id: request_id.to_owned(),
            method: method.to_owned(),
            path: redact_path(path),
            decision: "deny",
            ..Default::default()
        }
    }

    /// Note the key the request was authenticated with.
    pub fn key(&mut self, record: &KeyRecord) {
        self.key_id = Some(record.id.clone());
        self.account = Some(record.account.clone());
        self.mode = Some(record.mode.as_str());
    }

    /// Write the line.
    pub fn emit(&self) {
        if let Ok(line) = serde_json::to_string(self) {
            worker::console_log!("{line}");
        }
    }
}

/// `/v1/sk_test_…abcd/x` for `/v1/sk_test_<secret>/x`; long paths are cut at 512 bytes.
pub fn redact_path(path: &str) -> String {
    let mut out: String = path
        .split('/')
        .map(|seg| {
            let looks_like_key = seg.get(..PREFIX_LEN).is_some_and(|p| parse_prefix(p).is_some());
            if looks_like_key { redact(seg) } else { seg.to_owned() }
        })
        .collect::<Vec<_>>()
        .join("/");
    if out.len() > 512 {
        let mut cut = 512;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}

//! One structured JSON log line per request, as `LOG_REQUESTS` asks. Never a raw key: only ids,
//! codes, and a path whose key-like segments are redacted; the query string is never logged.

use keygate_core::clock::UnixSeconds;
use keygate_core::domain::key::{PREFIX_LEN, parse_prefix, redact};
use keygate_core::domain::key_format::KeyFormat;
use keygate_core::domain::record::KeyRecord;
use keygate_core::policy::refusal_log::{RefusalLog, Verdict};
use serde::Serialize;
use std::cell::RefCell;
use std::rc::Rc;

/// Which requests get a log line (`LOG_REQUESTS`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum LogRequests {
    /// Every request.
    All,
    /// Refused requests only (the default). An allowed request reaches the origin with its
    /// `Keygate-Request-Id` and identity, so the origin's own log has it; a refused one is seen
    /// by keygate alone.
    #[default]
    Denied,
    /// None.
    None,
}

impl LogRequests {
    /// Parse the var: `all`, `denied` (default when unset) or `none`.
    pub fn parse(value: Option<&str>) -> Option<LogRequests> {
        match value {
            None | Some("denied") => Some(LogRequests::Denied),
            Some("all") => Some(LogRequests::All),
            Some("none") => Some(LogRequests::None),
            Some(_) => None,
        }
    }

    /// Whether a request with this `decision` gets a line.
    pub fn wants(self, decision: &str) -> bool {
        match self {
            LogRequests::All => true,
            LogRequests::Denied => decision != "allow",
            LogRequests::None => false,
        }
    }
}

/// What the request path learned, filled in as it goes.
#[derive(Debug, Default, Serialize)]
pub struct RequestLog {
    /// Which lines to write. Until the var is read, every line is (a misconfigured
    /// `LOG_REQUESTS` is itself refused, and that refusal is logged).
    #[serde(skip)]
    pub level: Option<LogRequests>,
    /// `req_…`.
    pub request_id: String,
    /// Method.
    pub method: String,
    /// Path, no query; written with key-like segments redacted ([`redact_path`]), which is
    /// done only when a line is written.
    #[serde(serialize_with = "redacted")]
    pub path: String,
    /// `CF-Connecting-IP`, or `unknown`.
    pub client_ip: String,
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
    pub latency_ms: u64,
}

impl RequestLog {
    /// Start a log line.
    pub fn new(request_id: &str, method: &str, path: &str, client_ip: &str) -> Self {
        RequestLog {
            request_id: request_id.to_owned(),
            method: method.to_owned(),
            path: path.to_owned(),
            client_ip: client_ip.to_owned(),
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

    /// Write the line, if `LOG_REQUESTS` wants it. A refusal goes through the isolate's flood
    /// accounting first (`keygate_core::policy::refusal_log`): past the first few per client
    /// address, code and minute, it is only counted, and a summary line says how many. Every
    /// request also writes the summaries of windows that have ended.
    /// `address` is the client address as counted, asked for only for a refusal.
    /// `format` is the deployment's key format (`None` when `KEY_FORMAT` is misconfigured: the
    /// path is then redacted more widely).
    pub fn emit<'a>(
        &self,
        now: UnixSeconds,
        format: Option<Rc<KeyFormat>>,
        address: impl FnOnce() -> &'a str,
    ) {
        let level = self.level.unwrap_or(LogRequests::All);
        let (verdict, summaries) = REFUSALS.with(|r| match (&self.code, self.decision) {
            (Some(code), "deny") if level.wants("deny") => r.refusal(address(), code, now),
            _ => (Verdict::Log, r.flush(now)),
        });
        for s in summaries {
            worker::console_log!("{}", s.line());
        }
        if verdict == Verdict::Suppress || !level.wants(self.decision) {
            return;
        }
        LINE_FORMAT.with(|f| *f.borrow_mut() = format);
        if let Ok(line) = serde_json::to_string(self) {
            worker::console_log!("{line}");
        }
    }
}

/// (Address, code) pairs whose refusals are counted per isolate, at most this many.
const REFUSALS_TRACKED: usize = 10_000;

thread_local! {
    static REFUSALS: RefusalLog = RefusalLog::new(REFUSALS_TRACKED);
    /// The key format of the line being written.
    static LINE_FORMAT: RefCell<Option<Rc<KeyFormat>>> = const { RefCell::new(None) };
}

fn redacted<S: serde::Serializer>(path: &str, s: S) -> Result<S::Ok, S::Error> {
    let out = LINE_FORMAT.with(|f| redact_path(path, f.borrow().as_deref()));
    s.serialize_str(&out)
}

/// `/v1/sk_test_…abcd/x` for `/v1/sk_test_<secret>/x`: a segment that looks like a key of the
/// deployment's format (or of keygate's own) is redacted. Without a usable format, any segment
/// of 16 or more key-like characters is. Long paths are cut at 512 bytes.
pub fn redact_path(path: &str, format: Option<&KeyFormat>) -> String {
    let mut out: String = path
        .split('/')
        .map(|seg| {
            let own = seg.get(..PREFIX_LEN).is_some_and(|p| parse_prefix(p).is_some());
            match format {
                _ if own => redact(seg),
                Some(f) if f.looks_like_key(seg) => f.redact(seg),
                Some(_) => seg.to_owned(),
                None if seg.len() >= 16
                    && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
                {
                    redact(seg)
                }
                None => seg.to_owned(),
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_requests_values() {
        assert_eq!(LogRequests::parse(None), Some(LogRequests::Denied));
        assert_eq!(LogRequests::parse(Some("denied")), Some(LogRequests::Denied));
        assert_eq!(LogRequests::parse(Some("all")), Some(LogRequests::All));
        assert_eq!(LogRequests::parse(Some("none")), Some(LogRequests::None));
        for bad in ["", "ALL", "yes", "denied "] {
            assert_eq!(LogRequests::parse(Some(bad)), None, "{bad:?}");
        }
    }

    #[test]
    fn which_lines_are_written() {
        assert!(LogRequests::All.wants("allow") && LogRequests::All.wants("deny"));
        assert!(!LogRequests::Denied.wants("allow") && LogRequests::Denied.wants("deny"));
        assert!(!LogRequests::None.wants("allow") && !LogRequests::None.wants("deny"));
    }

    #[test]
    fn key_like_path_segments_are_redacted() {
        let key = format!("sk_test_{}", "a".repeat(38));
        let out = redact_path(&format!("/v1/{key}/x"), Some(&KeyFormat::default()));
        assert!(!out.contains(&key));
        assert!(out.starts_with("/v1/sk_test_") && out.ends_with("/x"));
        // A deployment's own format, and a misconfigured one.
        let moment = KeyFormat::parse_json(
            r#"{"prefixes":{"secret":{"test":"sk_test_","live":"sk_"}},"imported":{"min_length":21,"max_length":24}}"#,
        )
        .unwrap();
        let key = format!("sk_{}", "vYZCAeHawUqDCmVpEKh2U");
        let out = redact_path(&format!("/v1/{key}/x"), Some(&moment));
        assert_eq!(out, "/v1/sk_…Kh2U/x");
        let out = redact_path(&format!("/v1/{key}/x"), None);
        assert!(!out.contains(&key) && out.ends_with("/x"), "{out}");
    }
}

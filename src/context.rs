//! One request's context, shared by its phases (as pingora's per-request `CTX`): the time, read
//! once; the request id; the client address; the request's header names, read once; and the log
//! line that the phases fill in.

use keygate_core::clock::UnixSeconds;
use worker::Request;

use crate::log::RequestLog;
use crate::platform;

/// What every phase of one request may read, and the log line it writes.
pub struct RequestContext {
    /// When the request arrived, milliseconds (for the log's latency).
    pub started_ms: u64,
    /// The request time, seconds: every decision of this request uses this one reading.
    pub now: UnixSeconds,
    /// `req_…`, returned to the client and sent to the origin.
    pub request_id: String,
    /// `CF-Connecting-IP`, or `unknown`.
    pub client_ip: String,
    /// The request's header names, lower-case as the platform keeps them, each followed by
    /// `\n` (one string: one crossing from JavaScript, no allocation per name).
    header_names: String,
    /// The request's log line.
    pub log: RequestLog,
}

impl RequestContext {
    /// The context of `req`, as it arrives.
    pub fn new(req: &Request) -> Self {
        let started_ms = worker::Date::now().as_millis();
        let request_id = platform::request_id();
        let client_ip =
            req.headers().get("cf-connecting-ip").ok().flatten().unwrap_or_else(|| "unknown".into());
        let log = RequestLog::new(&request_id, req.method().as_ref(), &req.path(), &client_ip);
        RequestContext {
            started_ms,
            now: (started_ms / 1000) as UnixSeconds,
            request_id,
            client_ip,
            header_names: crate::upstream::names(req.headers()),
            log,
        }
    }

    /// The request's header names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.header_names.split('\n').filter(|n| !n.is_empty())
    }
}

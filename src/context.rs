//! One request's context, shared by its phases (as pingora's per-request `CTX`): the time, read
//! once; the request id; the client address; the request's header names, read once; and the log
//! line that the phases fill in.

use keygate_core::clock::UnixSeconds;

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
    /// The method, as the client sent it.
    pub method: String,
    /// `client_ip` as failures and refusals are counted under (IPv6 per /64), worked out once,
    /// and only if asked for.
    address: std::cell::OnceCell<String>,
    /// The request's header names, lower-case as the platform keeps them, each followed by
    /// `\n` (one string: one crossing from JavaScript, no allocation per name).
    header_names: String,
    /// The request's log line.
    pub log: RequestLog,
    /// Headers a refusal carries besides keygate's usual ones (a key's usage controls).
    pub refusal_headers: Vec<(&'static str, String)>,
    /// Whether a 401 challenges the client (`WWW-Authenticate`). Not on the portal's and the
    /// console's routes: a browser would answer a challenge with its own login dialog.
    pub challenge: bool,
}

impl RequestContext {
    /// The context of `req`, as it arrives, whose URL has `path`. The request stays the
    /// platform's own object: worker's `Request` would also read its `cf` properties, which
    /// the platform builds anew on every read and keygate never uses.
    pub fn new(req: &web_sys::Request, path: &str) -> Self {
        let started_ms = worker::Date::now().as_millis();
        let request_id = platform::request_id();
        let headers = req.headers();
        let client_ip = headers.get("cf-connecting-ip").ok().flatten().unwrap_or_else(|| "unknown".into());
        let method = req.method();
        let log = RequestLog::new(&request_id, &method, path, &client_ip);
        RequestContext {
            started_ms,
            now: (started_ms / 1000) as UnixSeconds,
            request_id,
            client_ip,
            method,
            address: std::cell::OnceCell::new(),
            header_names: crate::upstream::names(&headers),
            log,
            refusal_headers: Vec::new(),
            challenge: true,
        }
    }

    /// The client address as failures and refusals are counted under.
    pub fn address(&self) -> &str {
        self.address.get_or_init(|| keygate_core::policy::throttle::counted_as(&self.client_ip))
    }

    /// The request's header names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.header_names.split('\n').filter(|n| !n.is_empty())
    }
}

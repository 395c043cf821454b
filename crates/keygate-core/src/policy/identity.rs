//! The identity keygate passes to the origin, and header hygiene: no client-sent header that
//! could be taken for an identity ever reaches the origin.

use crate::domain::record::KeyRecord;

/// Header names keygate sets on proxied requests.
pub mod names {
    /// Account id.
    pub const ACCOUNT: &str = "Keygate-Account";
    /// Key id.
    pub const KEY_ID: &str = "Keygate-Key-Id";
    /// `secret`, `publishable` or `restricted`.
    pub const KEY_TYPE: &str = "Keygate-Key-Type";
    /// `test` or `live`.
    pub const MODE: &str = "Keygate-Mode";
    /// Per-request id, also returned to the client.
    pub const REQUEST_ID: &str = "Keygate-Request-Id";
    /// Which source confirmed the key: `do`, or `kv;max-staleness=<seconds>`.
    pub const VERIFIED: &str = "Keygate-Verified";
    /// A restricted key's permissions, `charges=read,refunds=write`.
    pub const PERMISSIONS: &str = "Keygate-Permissions";
}

/// Hop-by-hop headers (RFC 9110 §7.6.1), never forwarded.
pub const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];

/// Forwarding claims a client may not make for keygate (compared without an `X-` prefix):
/// `Forwarded`, `X-Forwarded-Host` and `X-Forwarded-Prefix` change how origins build URLs and
/// route (Spring's prefix, Symfony's trusted host), so a client's are dropped.
pub const FORWARDING: [&str; 3] = ["forwarded", "forwarded-host", "forwarded-prefix"];

/// The verified identity of a request, borrowed from its key's record and the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity<'a> {
    /// `acct_…`.
    pub account: &'a str,
    /// `key_…`.
    pub key_id: &'a str,
    /// Key type wire name.
    pub key_type: &'static str,
    /// Mode wire name.
    pub mode: &'static str,
    /// `req_…`.
    pub request_id: &'a str,
    /// `do`, or `kv;max-staleness=<seconds>`: the bound on how stale the key's state may be.
    pub verified: &'a str,
    /// A restricted key's permissions (`charges=read,refunds=write`), for finer rules at the origin.
    pub permissions: Option<String>,
}

impl<'a> Identity<'a> {
    /// The identity of a request authenticated with `record`, confirmed as `verified` says.
    pub fn new(record: &'a KeyRecord, request_id: &'a str, verified: &'a str) -> Self {
        Identity {
            account: &record.account,
            key_id: &record.id,
            key_type: record.key_type.as_str(),
            mode: record.mode.as_str(),
            request_id,
            verified,
            permissions: (record.key_type == crate::domain::key::KeyType::Restricted).then(|| {
                crate::domain::settings::permissions_header(&record.permissions.clone().unwrap_or_default())
            }),
        }
    }

    /// The headers to add to the upstream request.
    pub fn headers(&self) -> Vec<(&'static str, &str)> {
        let mut h: Vec<(&'static str, &str)> = vec![
            (names::ACCOUNT, self.account),
            (names::KEY_ID, self.key_id),
            (names::KEY_TYPE, self.key_type),
            (names::MODE, self.mode),
            (names::REQUEST_ID, self.request_id),
            (names::VERIFIED, self.verified),
        ];
        if let Some(p) = &self.permissions {
            h.push((names::PERMISSIONS, p));
        }
        h
    }
}

/// Whether a client-sent header must be dropped before proxying: the credential, hop-by-hop
/// headers, forwarding claims ([`FORWARDING`]), and anything named like an identity header in any case, with `_` for `-`, or with an
/// `X-` prefix (`Keygate-Account`, `keygate_account`, `X-Keygate-Mode`, …).
pub fn must_strip(name: &str) -> bool {
    let lower = name.to_ascii_lowercase().replace('_', "-");
    let bare = lower.strip_prefix("x-").unwrap_or(&lower);
    lower == "authorization"
        || bare.starts_with("keygate-")
        || HOP_BY_HOP.contains(&lower.as_str())
        || FORWARDING.contains(&bare)
}

/// The target of an upstream request, as the origin will see it.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// Method.
    pub method: &'a str,
    /// `Host` the origin is called with (host, and `:port` when not the default).
    pub host: &'a str,
    /// Path with query, exactly as sent.
    pub path: &'a str,
}

impl Identity<'_> {
    /// `Keygate-Signature` (version 2) for this identity on `target` at `t`, one `v2=` per
    /// secret. It covers every header of [`Identity::headers`], the request id and the verified
    /// bound included, so the origin can refuse a replayed request id and trust the bound.
    pub fn signature(&self, secrets: &[keygate_verify::Secret], t: i64, target: Target) -> String {
        let signed = keygate_verify::Signed {
            method: target.method,
            host: target.host,
            path: target.path,
            account: self.account,
            key_id: self.key_id,
            mode: self.mode,
            key_type: self.key_type,
            permissions: self.permissions.as_deref().unwrap_or(""),
            request_id: self.request_id,
            verified: self.verified,
        };
        keygate_verify::sign(secrets, t, &signed)
    }
}

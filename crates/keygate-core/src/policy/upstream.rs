//! The header plan of the upstream request and of the answer the client gets: decided here, in
//! full, from the request's header names and the identity; the worker only applies it.
//!
//! To the origin: every client header that could pass for keygate's own, the credential,
//! hop-by-hop headers and forwarding claims are dropped ([`must_strip`]); `Host` comes from the
//! target URL; the identity headers, `Cache-Control: no-store` and the signature are set.
//! To the client: the origin's answer with `Keygate-Request-Id`, keygate's CORS decision instead
//! of the origin's, and `Deprecation`/`Sunset` while the key is rolling.

use crate::policy::decision::Deprecation;
use crate::policy::identity::{Identity, must_strip, names};
use crate::time::http_date;

/// What to change in the two header sets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HeaderPlan<'a> {
    /// Client headers not to forward (lower-case names as the platform keeps them).
    pub drop: Vec<&'a str>,
    /// Headers to set on the upstream request, replacing any the client sent.
    pub set: Vec<(&'static str, String)>,
    /// Drop every answer header whose lower-case name starts with this.
    pub answer_drop_prefix: &'static str,
    /// Headers to set on the answer.
    pub answer_set: Vec<(&'static str, String)>,
    /// Headers to add to the answer, keeping what the origin sent.
    pub answer_append: Vec<(&'static str, &'static str)>,
}

/// What lets a page at `origin` (a publishable key's allowed origin) read keygate's answer: the
/// origin allowed, and the headers it may read (the request id, a rolling key's deprecation, the
/// usage controls' state). The same on a proxied answer and on a refusal by the usage controls,
/// which a page must be able to read to back off.
pub fn cors_allow(origin: &str) -> [(&'static str, String); 2] {
    [
        ("Access-Control-Allow-Origin", origin.to_owned()),
        (
            "Access-Control-Expose-Headers",
            "Keygate-Request-Id, Deprecation, Sunset, Retry-After, RateLimit-Policy, RateLimit, Keygate-Credits-Remaining"
                .to_owned(),
        ),
    ]
}

/// The name prefix of keygate's own session cookies (the key portal's and the operator
/// console's, `src/portal.rs`). They are scoped to the whole host (`__Host-` requires `Path=/`),
/// so the browser also sends them with API requests: they are never forwarded to an origin.
pub const OWN_COOKIE_PREFIX: &str = "__Host-keygate_";

/// The `Cookie` header to forward instead of `header`: `None` to forward it as it is,
/// `Some(None)` to drop it (it held only keygate's cookies), `Some(Some(v))` to send `v`, the
/// client's other cookies in their order.
pub fn forwarded_cookie(header: &str) -> Option<Option<String>> {
    if !header.contains(OWN_COOKIE_PREFIX) {
        return None;
    }
    let kept: Vec<&str> =
        crate::domain::portal::cookie_pairs(header).filter(|c| !c.starts_with(OWN_COOKIE_PREFIX)).collect();
    Some((!kept.is_empty()).then(|| kept.join("; ")))
}

/// The plan for a request whose client headers are `names`, proxied with `identity` and its
/// `signature`; `cors_origin` is the origin to allow (publishable keys from an allowed origin),
/// `deprecation` is set while the key is rolling.
pub fn plan<'a>(
    names: impl IntoIterator<Item = &'a str>,
    identity: &Identity<'_>,
    signature: String,
    cors_origin: Option<&str>,
    deprecation: Option<Deprecation>,
) -> HeaderPlan<'a> {
    // `host` is set by the platform from the target URL.
    let drop = names.into_iter().filter(|n| must_strip(n) || *n == "host").collect();
    let mut set: Vec<(&'static str, String)> =
        identity.headers().into_iter().map(|(n, v)| (n, v.to_owned())).collect();
    // Without the credential, a shared cache between keygate and the origin could store one
    // account's answer and serve it to another: tell every cache on the way not to.
    set.push(("Cache-Control", "no-store".to_owned()));
    set.push((keygate_verify::HEADER, signature));
    let mut answer_set = vec![(names::REQUEST_ID, identity.request_id.to_owned())];
    let mut answer_append = Vec::new();
    if let Some(o) = cors_origin {
        answer_set.extend(cors_allow(o));
        answer_append.push(("Vary", "Origin"));
    }
    if let Some(d) = deprecation {
        // RFC 9745 and RFC 8594: this key has a successor and stops working at `sunset`.
        answer_set.push(("Deprecation", format!("@{}", d.rolled_at)));
        answer_set.push(("Sunset", http_date(d.sunset)));
    }
    // CORS is keygate's decision: whatever the origin said is replaced.
    HeaderPlan { drop, set, answer_drop_prefix: "access-control-", answer_set, answer_append }
}

#[cfg(test)]
mod tests {
    use super::forwarded_cookie;

    #[test]
    fn keygate_session_cookies_never_reach_the_origin() {
        assert_eq!(forwarded_cookie("a=1; b=2"), None);
        assert_eq!(
            forwarded_cookie("a=1; __Host-keygate_portal=acct_1.test.ps_x.kgps_y; b=2"),
            Some(Some("a=1; b=2".into()))
        );
        assert_eq!(forwarded_cookie("__Host-keygate_console=console.live.ps_x.kgps_y"), Some(None));
        assert_eq!(
            forwarded_cookie("__Host-keygate_console=c;__Host-keygate_portal=p;theirs=__Host-keygate_x"),
            Some(Some("theirs=__Host-keygate_x".into()))
        );
        // Repeated Cookie fields joined with a comma.
        assert_eq!(forwarded_cookie("a=1, __Host-keygate_portal=p, b=2"), Some(Some("a=1; b=2".into())));
    }
}

//! Portal sessions (issue 18): a short-lived link the provider's backend mints for one of its
//! logged-in customers, as Stripe's customer portal sessions work. The link carries a single-use
//! token; opening it exchanges the token for a session secret (the portal's cookie) and a CSRF
//! token. The session can act only on its account, in its mode(s), and ends at `expires_at` at
//! the latest.
//!
//! Only digests of the link's token and of the session secret are kept (HMAC under the pepper),
//! and both are compared in constant time. Pure transitions with an injected clock and
//! randomness; the authority stores the session (`portal:{id}`) and the worker sets the cookie.
//!
//! The worker serves them (`src/portal.rs`): the operator's `POST …/portal_sessions`, the
//! link's exchange for a cookie, and the portal's own API. The operator console's sessions are
//! sessions of the reserved account [`CONSOLE_ACCOUNT`], which no API account id can name.

use std::fmt;

use subtle::ConstantTimeEq;

use crate::Error;
use crate::clock::UnixSeconds;
use crate::domain::digest::{KeyDigest, Pepper};
use crate::domain::key::{Mode, random_base62, random_id};
use crate::rng::Rng;

/// The shortest session, seconds.
pub const MIN_TTL: i64 = 60;
/// The longest session, seconds.
pub const MAX_TTL: i64 = 3600;
/// The link's token: this prefix, then 32 base62 characters (≈190 bits).
pub const TOKEN_PREFIX: &str = "kgpt_";
/// The cookie's session secret: this prefix, then 32 base62 characters.
pub const SECRET_PREFIX: &str = "kgps_";
/// The account under which the operator console's sessions are kept: not an account id
/// (those are `acct_…`), so no portal link or API route can reach them.
pub const CONSOLE_ACCOUNT: &str = "console";

/// A portal session as the authority stores it.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PortalSession {
    /// `ps_…`.
    pub id: String,
    /// The account it acts on.
    pub account: String,
    /// The one mode it acts in, or `None` for both.
    pub mode: Option<Mode>,
    /// Where the portal's link back goes.
    pub return_url: String,
    /// When it was minted.
    pub created_at: UnixSeconds,
    /// When it ends, whatever happens.
    pub expires_at: UnixSeconds,
    /// The digest of the link's token.
    token: KeyDigest,
    /// When the link was used (it works once).
    pub redeemed_at: Option<UnixSeconds>,
    /// The digest of the session secret, once the link was used.
    secret: Option<KeyDigest>,
    /// The CSRF token every state change must carry, once the link was used.
    csrf: Option<String>,
    /// Ended by signing out.
    pub ended: bool,
    /// The usage controls of every key created in this session: the provider's, never the
    /// customer's to choose (a key created without them would be unlimited).
    #[serde(default)]
    pub key_defaults: KeyDefaults,
    /// For an operator console session: the digest (under the pepper) of the admin token it was
    /// opened with. The worker ends the session once that token is no longer accepted.
    #[serde(default)]
    pub grant: Option<String>,
}

impl fmt::Debug for PortalSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PortalSession")
            .field("id", &self.id)
            .field("account", &self.account)
            .field("mode", &self.mode)
            .field("expires_at", &self.expires_at)
            .field("redeemed_at", &self.redeemed_at)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

/// What the operator sets, when minting a session, for the keys the session creates.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyDefaults {
    /// Their rate limit.
    #[serde(default)]
    pub rate_limit: Option<crate::domain::quota::RateLimit>,
    /// Their credits.
    #[serde(default)]
    pub credits: Option<crate::domain::quota::Credits>,
}

/// A session just minted, with its link's token (shown once, in the answer to the operator).
pub struct Minted {
    /// What the authority stores.
    pub session: PortalSession,
    /// The link's token.
    pub token: String,
}

impl fmt::Debug for Minted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Minted").field("session", &self.session).field("token", &"<redacted>").finish()
    }
}

/// A link just used: the session secret for the cookie and the CSRF token for the page.
pub struct Redeemed {
    /// The session as it is now.
    pub session: PortalSession,
    /// The cookie's value.
    pub secret: String,
    /// The CSRF token.
    pub csrf: String,
}

impl fmt::Debug for Redeemed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redeemed").field("session", &self.session).finish_non_exhaustive()
    }
}

/// Why a link or a session is refused: one of the errors (the one `Error` carries it).
pub use crate::error::PortalRefusal as Refusal;

impl PortalSession {
    /// Mint a session of `account` for `mode` (`None`: both) that ends `expires_in` seconds
    /// after `now` (from [`MIN_TTL`] to [`MAX_TTL`]), with an `https` `return_url`.
    pub fn mint(
        account: &str,
        mode: Option<Mode>,
        return_url: &str,
        expires_in: i64,
        pepper: &Pepper,
        rng: &mut impl Rng,
        now: UnixSeconds,
    ) -> Result<Minted, Error> {
        if !(MIN_TTL..=MAX_TTL).contains(&expires_in) {
            return Err(Error::invalid_param(
                "parameter_invalid",
                "expires_in",
                format!("`expires_in` must be {MIN_TTL} to {MAX_TTL} seconds."),
            ));
        }
        let url_ok = crate::domain::web_url::WebOrigin::parse(return_url)
            .is_some_and(|o| o.scheme == "https")
            && return_url.len() <= 2048
            && !return_url.bytes().any(|b| b.is_ascii_control() || b == b' ');
        if !url_ok {
            return Err(Error::invalid_param(
                "parameter_invalid",
                "return_url",
                "`return_url` must be an https URL of at most 2048 characters.",
            ));
        }
        let token = format!("{TOKEN_PREFIX}{}", random_base62(rng, 32)?);
        let session = PortalSession {
            id: random_id("ps_", rng)?,
            account: account.to_owned(),
            mode,
            return_url: return_url.to_owned(),
            created_at: now,
            expires_at: now + expires_in,
            token: pepper.digest_str(&token),
            redeemed_at: None,
            secret: None,
            csrf: None,
            ended: false,
            key_defaults: KeyDefaults::default(),
            grant: None,
        };
        Ok(Minted { session, token })
    }

    /// Use the link: `token` must be its own, unused, before the session ends. Then the token is
    /// dead, and the session has a secret (the cookie) and a CSRF token.
    pub fn redeem(
        &self,
        token: &str,
        pepper: &Pepper,
        rng: &mut impl Rng,
        now: UnixSeconds,
    ) -> Result<Redeemed, Refusal> {
        let presented = pepper.digest_str(token);
        let matches: bool = presented.as_str().as_bytes().ct_eq(self.token.as_str().as_bytes()).into();
        if !matches || self.redeemed_at.is_some() {
            return Err(Refusal::LinkInvalid);
        }
        if self.ended || now >= self.expires_at {
            return Err(Refusal::Expired);
        }
        let secret = format!("{SECRET_PREFIX}{}", random_base62(rng, 32).map_err(|_| Refusal::LinkInvalid)?);
        let csrf = random_base62(rng, 32).map_err(|_| Refusal::LinkInvalid)?;
        let mut session = self.clone();
        session.redeemed_at = Some(now);
        session.secret = Some(pepper.digest_str(&secret));
        session.csrf = Some(csrf.clone());
        Ok(Redeemed { session, secret, csrf })
    }

    /// Check a request of the session: its cookie's `secret`, the time, and for a state change
    /// (`changes`) its CSRF token; then that it acts in `mode`.
    pub fn check(
        &self,
        secret: &str,
        csrf: Option<&str>,
        changes: bool,
        mode: Option<Mode>,
        pepper: &Pepper,
        now: UnixSeconds,
    ) -> Result<(), Refusal> {
        let Some(expected) = &self.secret else { return Err(Refusal::SessionInvalid) };
        let presented = pepper.digest_str(secret);
        let matches: bool = presented.as_str().as_bytes().ct_eq(expected.as_str().as_bytes()).into();
        if !matches {
            return Err(Refusal::SessionInvalid);
        }
        if self.ended || now >= self.expires_at {
            return Err(Refusal::Expired);
        }
        if changes {
            let ok = match (csrf, &self.csrf) {
                (Some(given), Some(want)) => bool::from(given.as_bytes().ct_eq(want.as_bytes())),
                _ => false,
            };
            if !ok {
                return Err(Refusal::CsrfMissing);
            }
        }
        match (self.mode, mode) {
            (Some(own), Some(asked)) if own != asked => Err(Refusal::OutOfScope),
            _ => Ok(()),
        }
    }

    /// Sign out: the session ends now.
    pub fn end(&self) -> PortalSession {
        let mut s = self.clone();
        s.ended = true;
        s
    }

    /// The audit log's actor for what this session does.
    pub fn actor(&self) -> crate::domain::event::Actor {
        crate::domain::event::Actor(format!("portal:{}", self.id))
    }

    /// The CSRF token, once the link was used (for the portal's page, after [`Self::check`]).
    pub fn csrf(&self) -> Option<&str> {
        self.csrf.as_deref()
    }

    /// The modes it acts in.
    pub fn modes(&self) -> Vec<Mode> {
        self.mode.map_or_else(|| Mode::ALL.to_vec(), |m| vec![m])
    }
}

/// Whether `given`, a request's `Origin`, is `ours` (`scheme://host[:port]` of the request's own
/// URL). Exactly, except on a loopback host, where `wrangler dev`'s local proxy rewrites
/// `Origin` to the plain-http URL it forwards to: there `http://` stands for `https://`. A
/// deployment's host is never loopback.
pub fn same_origin(given: &str, ours: &str) -> bool {
    if given.eq_ignore_ascii_case(ours) {
        return true;
    }
    let local = ours.strip_prefix("https://").filter(|h| {
        let host = h.rsplit_once(':').map_or(*h, |(host, _)| host);
        ["127.0.0.1", "localhost", "[::1]"].contains(&host)
    });
    local.is_some_and(|h| given.strip_prefix("http://").is_some_and(|g| g.eq_ignore_ascii_case(h)))
}

/// `PORTAL_HOST`: the host name (no scheme, no port) that alone serves the key portal and the
/// operator console, so that no page of the API's origin shares their origin. `Ok(None)`: unset
/// (they answer on any host keygate serves). `Err` for anything but a host name in its canonical
/// (lower-case) form.
pub fn parse_portal_host(var: Option<&str>) -> Result<Option<String>, &'static str> {
    match var.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => match crate::domain::web_url::canonical_host(v) {
            Some(host) if host == v && !v.contains(':') => Ok(Some(host)),
            _ => Err("a host name, such as keys.example.com (no scheme, no port, lower case)"),
        },
    }
}

/// The `name=value` pairs of a `Cookie` header, trimmed: split on `;` as browsers join them, and
/// on `,` too, as repeated `Cookie` fields may be joined (no cookie name or value holds either).
pub fn cookie_pairs(header: &str) -> impl Iterator<Item = &str> {
    header.split([';', ',']).map(str::trim).filter(|c| !c.is_empty())
}

/// What `PORTAL_FRAME_ANCESTORS` must be.
const NOT_ORIGINS: &str = "https origins separated by spaces or commas";

/// `PORTAL_FRAME_ANCESTORS`: the origins that may frame the portal, separated by spaces or
/// commas, each `https://host[:port]` (no path, no wildcard). Answers the CSP's
/// `frame-ancestors` source list; `Ok(None)` for none (the default: no framing); `Err` for a
/// value that is not such a list, which the worker refuses as a misconfiguration rather than
/// guess at.
pub fn parse_frame_ancestors(var: Option<&str>) -> Result<Option<String>, &'static str> {
    let items: Vec<&str> = var.unwrap_or("").split([' ', ',']).filter(|s| !s.is_empty()).collect();
    if items.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for item in items {
        let origin = crate::domain::web_url::WebOrigin::parse(item).ok_or(NOT_ORIGINS)?;
        let exact = origin.serialize();
        if origin.scheme != "https" || exact != item.trim_end_matches('/') {
            return Err(NOT_ORIGINS);
        }
        out.push(exact);
    }
    Ok(Some(out.join(" ")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_change_comes_from_this_origin_exactly_but_for_wrangler_devs_loopback_proxy() {
        use super::same_origin;
        assert!(same_origin("https://api.example.com", "https://api.example.com"));
        for other in [
            "http://api.example.com",
            "https://api.example.com.evil.example",
            "https://evil.example",
            "null",
            "",
            "https://api.example.com:8443",
        ] {
            assert!(!same_origin(other, "https://api.example.com"), "{other}");
        }
        assert!(same_origin("http://127.0.0.1:8787", "https://127.0.0.1:8787"));
        assert!(!same_origin("http://127.0.0.1:9999", "https://127.0.0.1:8787"));
        assert!(!same_origin("http://localhost:8787", "https://127.0.0.1:8787"));
    }

    #[test]
    fn the_portal_host_is_a_bare_host_name() {
        use super::parse_portal_host as p;
        assert_eq!(p(None), Ok(None));
        assert_eq!(p(Some("")), Ok(None));
        assert_eq!(p(Some("keys.example.com")), Ok(Some("keys.example.com".into())));
        for bad in [
            "https://keys.example.com",
            "keys.example.com:8443",
            "Keys.Example.com",
            "keys.example.com/",
            "a b",
            "*.example.com",
        ] {
            assert!(p(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn frame_ancestors_are_https_origins_or_nothing() {
        use super::parse_frame_ancestors as p;
        assert_eq!(p(None), Ok(None));
        assert_eq!(p(Some(" ")), Ok(None));
        assert_eq!(
            p(Some("https://app.example.com, https://dash.example.com:8443")),
            Ok(Some("https://app.example.com https://dash.example.com:8443".into()))
        );
        for bad in [
            "http://app.example.com",
            "*",
            "https://*.example.com",
            "https://a.example/path",
            "'self'",
            "app.example.com",
            "https://a.example;script-src *",
        ] {
            assert!(p(Some(bad)).is_err(), "{bad}");
        }
    }

    use super::*;
    use crate::rng::FixedRng;

    fn pepper() -> Pepper {
        Pepper::new("portal-pepper-portal-pepper-portal-pe").unwrap()
    }

    fn minted(mode: Option<Mode>) -> Minted {
        let mut rng = FixedRng::new(*b"portal-rng");
        PortalSession::mint(
            "acct_1",
            mode,
            "https://app.example.com/settings",
            600,
            &pepper(),
            &mut rng,
            1000,
        )
        .unwrap()
    }

    #[test]
    fn a_link_works_once_and_only_before_its_session_ends() {
        let m = minted(Some(Mode::Test));
        assert!(m.token.starts_with(TOKEN_PREFIX) && m.token.len() == TOKEN_PREFIX.len() + 32);
        assert!(!format!("{m:?}").contains(&m.token), "the token is redacted");
        assert!(!serde_json::to_string(&m.session).unwrap().contains(&m.token), "only its digest is kept");
        let mut rng = FixedRng::new(*b"redeem-rng");
        assert_eq!(
            m.session.redeem("kgpt_wrong", &pepper(), &mut rng, 1001).unwrap_err(),
            Refusal::LinkInvalid
        );
        assert_eq!(m.session.redeem(&m.token, &pepper(), &mut rng, 1600).unwrap_err(), Refusal::Expired);
        let r = m.session.redeem(&m.token, &pepper(), &mut rng, 1001).unwrap();
        assert!(r.secret.starts_with(SECRET_PREFIX));
        assert!(!serde_json::to_string(&r.session).unwrap().contains(&r.secret));
        // Used: dead, even with the right token.
        assert_eq!(r.session.redeem(&m.token, &pepper(), &mut rng, 1002).unwrap_err(), Refusal::LinkInvalid);
    }

    #[test]
    fn a_session_needs_its_secret_its_csrf_token_for_changes_and_stays_in_its_mode() {
        let m = minted(Some(Mode::Test));
        assert_eq!(
            m.session.check("kgps_x", None, false, None, &pepper(), 1001).unwrap_err(),
            Refusal::SessionInvalid,
            "a link never used has no session"
        );
        let r = m.session.redeem(&m.token, &pepper(), &mut FixedRng::new(*b"redeem-rng"), 1001).unwrap();
        let s = &r.session;
        for shown in [format!("{r:?}"), format!("{s:?}")] {
            assert!(!shown.contains(&r.csrf) && !shown.contains(&r.secret), "Debug is redacted: {shown}");
        }
        s.check(&r.secret, None, false, Some(Mode::Test), &pepper(), 1002).unwrap();
        assert_eq!(
            s.check("kgps_other", None, false, None, &pepper(), 1002).unwrap_err(),
            Refusal::SessionInvalid
        );
        assert_eq!(s.check(&r.secret, None, true, None, &pepper(), 1002).unwrap_err(), Refusal::CsrfMissing);
        assert_eq!(
            s.check(&r.secret, Some("nope"), true, None, &pepper(), 1002).unwrap_err(),
            Refusal::CsrfMissing
        );
        s.check(&r.secret, Some(&r.csrf), true, Some(Mode::Test), &pepper(), 1002).unwrap();
        assert_eq!(
            s.check(&r.secret, Some(&r.csrf), true, Some(Mode::Live), &pepper(), 1002).unwrap_err(),
            Refusal::OutOfScope
        );
        assert_eq!(s.check(&r.secret, None, false, None, &pepper(), 1600).unwrap_err(), Refusal::Expired);
        assert_eq!(
            s.end().check(&r.secret, None, false, None, &pepper(), 1003).unwrap_err(),
            Refusal::Expired
        );
        assert_eq!(s.actor().0, format!("portal:{}", s.id));
        assert_eq!(minted(None).session.modes(), Mode::ALL.to_vec());
    }

    #[test]
    fn bad_sessions_are_refused_with_the_parameter() {
        let mut rng = FixedRng::new(*b"portal-rng");
        for (url, ttl, param) in [
            ("https://app.example.com", 59, "expires_in"),
            ("https://app.example.com", 3601, "expires_in"),
            ("http://app.example.com", 600, "return_url"),
            ("javascript:alert(1)", 600, "return_url"),
            ("https://app.example.com/a b", 600, "return_url"),
            ("https://user@app.example.com", 600, "return_url"),
        ] {
            let e = PortalSession::mint("acct_1", None, url, ttl, &pepper(), &mut rng, 0).unwrap_err();
            assert_eq!((e.status(), e.param()), (400, Some(param)), "{url} {ttl}");
        }
    }
}

//! The portal's and the console's requests (issue 18): the operator's `POST
//! /accounts/{account}/portal_sessions` body, the portal's "Create key" body, the console's
//! sign-in body, and the session cookie's value. Every defect is a 400 naming the field.

use serde_json::{Map, Value};

use crate::Error;
use crate::api::request::{clip, json_object, missing, only, parse_mode, unknown, wrong_type};
use crate::api::settings::{parse_credits, parse_rate_limit};
use crate::clock::UnixSeconds;
use crate::domain::key::{KeyType, Mode};
use crate::domain::portal::KeyDefaults;
use crate::domain::settings::CreateKey;

/// Where the key portal is served.
pub const PORTAL_PATH: &str = "/_keygate/portal";
/// Where the operator console is served.
pub const CONSOLE_PATH: &str = "/_keygate/console";

/// A validated `POST /accounts/{account}/portal_sessions` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRequest {
    /// The one mode the session acts in, or `None` for both.
    pub mode: Option<Mode>,
    /// The portal's link back.
    pub return_url: String,
    /// Seconds the session lasts ([`crate::domain::portal::MIN_TTL`] to `MAX_TTL`; default 3600).
    pub expires_in: i64,
    /// The usage controls of keys the session creates.
    pub key_defaults: KeyDefaults,
}

/// Parse the operator's body. `return_url` is required; its form and `expires_in`'s range are
/// checked where the session is minted (`PortalSession::mint`), the same for every caller.
pub fn parse_session_request(body: &[u8]) -> Result<SessionRequest, Error> {
    let obj = json_object(body)?;
    only(&obj, &["mode", "return_url", "expires_in", "key_defaults"])?;
    let mode = match obj.get("mode") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(parse_mode(s, "mode")?),
        Some(_) => return Err(wrong_type("mode", "`test`, `live` or null")),
    };
    let return_url = match obj.get("return_url") {
        None | Some(Value::Null) => return Err(missing("return_url")),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(wrong_type("return_url", "a string (an https URL)")),
    };
    let expires_in = match obj.get("expires_in") {
        None | Some(Value::Null) => crate::domain::portal::MAX_TTL,
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| wrong_type("expires_in", "whole seconds"))?,
        Some(_) => return Err(wrong_type("expires_in", "an integer (seconds)")),
    };
    let key_defaults = match obj.get("key_defaults") {
        None | Some(Value::Null) => KeyDefaults::default(),
        Some(Value::Object(d)) => {
            for field in d.keys() {
                if field != "rate_limit" && field != "credits" {
                    return Err(unknown(&format!("key_defaults.{}", clip(field))));
                }
            }
            let of = |name: &str| d.get(name).filter(|v| !v.is_null());
            KeyDefaults {
                rate_limit: of("rate_limit").map(parse_rate_limit).transpose()?,
                credits: of("credits").map(parse_credits).transpose()?,
            }
        }
        Some(_) => return Err(wrong_type("key_defaults", "an object with `rate_limit` and `credits`")),
    };
    Ok(SessionRequest { mode, return_url, expires_in, key_defaults })
}

/// The portal's "Create key": `{"name", "type": "secret" | "publishable", "mode"}` and nothing
/// else. The customer chooses neither usage controls (the session's [`KeyDefaults`] apply) nor
/// restrictions, permissions or metadata; `mode` must be one of the session's (`modes`).
pub fn parse_portal_create(
    body: &[u8],
    modes: &[Mode],
    defaults: &KeyDefaults,
    now: UnixSeconds,
) -> Result<CreateKey, Error> {
    let obj = json_object(body)?;
    only(&obj, &["name", "type", "mode"])?;
    let mode = match (obj.get("mode"), modes) {
        (None | Some(Value::Null), [only]) => *only,
        (None | Some(Value::Null), _) => return Err(missing("mode")),
        (Some(Value::String(s)), _) => parse_mode(s, "mode")?,
        (Some(_), _) => return Err(wrong_type("mode", "a string")),
    };
    if !modes.contains(&mode) {
        return Err(Error::Portal(crate::domain::portal::Refusal::OutOfScope));
    }
    let key_type = match obj.get("type") {
        Some(Value::String(s)) => KeyType::from_name(s).filter(|t| *t != KeyType::Restricted),
        None => return Err(missing("type")),
        Some(_) => None,
    }
    .ok_or_else(|| wrong_type("type", "`secret` or `publishable`"))?;
    let mut create = Map::new();
    create.insert("type".into(), Value::String(key_type.as_str().into()));
    create.insert("mode".into(), Value::String(mode.as_str().into()));
    if let Some(name) = obj.get("name") {
        create.insert("name".into(), name.clone());
    }
    let mut params = CreateKey::from_object(&create, now, &[])?;
    params.rate_limit = defaults.rate_limit;
    params.credits = defaults.credits;
    Ok(params)
}

/// The console's sign-in body, `{"token": "<ADMIN_TOKEN>"}`: the token (compared by the caller
/// in constant time, never echoed).
pub fn parse_sign_in(body: &[u8]) -> Result<String, Error> {
    let obj = json_object(body)?;
    only(&obj, &["token"])?;
    match obj.get("token") {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        None | Some(Value::Null) | Some(Value::String(_)) => Err(Error::AdminUnauthorized { missing: true }),
        Some(_) => Err(wrong_type("token", "a string")),
    }
}

/// A session cookie's value: `{account}.{store mode}.{session id}.{secret}`. The store mode is
/// the mode of the `KeyStore` that keeps the session (live for a session of both modes).
#[derive(Clone, PartialEq, Eq)]
pub struct SessionCookie {
    /// The account (or [`crate::domain::portal::CONSOLE_ACCOUNT`]).
    pub account: String,
    /// Where the session is kept.
    pub store: Mode,
    /// `ps_…`.
    pub session_id: String,
    /// `kgps_…` (redacted in `Debug`).
    pub secret: String,
}

impl std::fmt::Debug for SessionCookie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCookie")
            .field("account", &self.account)
            .field("store", &self.store)
            .field("session_id", &self.session_id)
            .finish_non_exhaustive()
    }
}

impl SessionCookie {
    /// The cookie's value.
    pub fn value(&self) -> String {
        format!("{}.{}.{}.{}", self.account, self.store.as_str(), self.session_id, self.secret)
    }

    /// Read the value of cookie `name` from a `Cookie` header. Anything malformed is no session.
    pub fn from_header(header: &str, name: &str) -> Option<SessionCookie> {
        let value = crate::domain::portal::cookie_pairs(header)
            .find_map(|c| c.strip_prefix(name)?.strip_prefix('='))?;
        let mut parts = value.split('.');
        let (account, store, session_id, secret) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let word = |s: &str, prefix: &str, max: usize| {
            s.strip_prefix(prefix).is_some_and(|r| {
                !r.is_empty() && r.len() <= max && r.bytes().all(|b| b.is_ascii_alphanumeric())
            })
        };
        let account_ok = account == crate::domain::portal::CONSOLE_ACCOUNT
            || crate::domain::ids::parse_account(account).is_ok();
        let ok = parts.next().is_none()
            && account_ok
            && word(session_id, "ps_", 64)
            && word(secret, crate::domain::portal::SECRET_PREFIX, 64);
        let store = Mode::from_name(store).filter(|_| ok)?;
        Some(SessionCookie {
            account: account.to_owned(),
            store,
            session_id: session_id.to_owned(),
            secret: secret.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_request_takes_its_fields_and_nothing_else() {
        let r = parse_session_request(br#"{"return_url": "https://app.example.com/"}"#).unwrap();
        assert_eq!((r.mode, r.expires_in), (None, 3600));
        let r = parse_session_request(
            br#"{"mode": "test", "return_url": "https://a.example/", "expires_in": 60,
                 "key_defaults": {"rate_limit": {"limit": 5, "window": 60}, "credits": {"remaining": 3}}}"#,
        )
        .unwrap();
        assert_eq!(r.mode, Some(Mode::Test));
        assert_eq!(r.key_defaults.rate_limit.unwrap().limit, 5);
        assert_eq!(r.key_defaults.credits.unwrap().remaining, 3);
        let param = |b: &[u8]| match parse_session_request(b).unwrap_err() {
            Error::InvalidParameter { param, .. } => param,
            e => panic!("{e:?}"),
        };
        assert_eq!(param(b"{}"), "return_url");
        assert_eq!(param(br#"{"return_url": "https://a/", "mode": "prod"}"#), "mode");
        assert_eq!(param(br#"{"return_url": "https://a/", "account": "acct_2"}"#), "account");
        assert_eq!(param(br#"{"return_url": "https://a/", "expires_in": "60"}"#), "expires_in");
        assert_eq!(
            param(br#"{"return_url": "https://a/", "key_defaults": {"strict": true}}"#),
            "key_defaults.strict"
        );
        assert_eq!(
            param(br#"{"return_url": "https://a/", "key_defaults": {"rate_limit": {"limit": 0, "window": 60}}}"#),
            "rate_limit.limit"
        );
    }

    #[test]
    fn a_portal_key_gets_the_sessions_defaults_and_no_choice_of_its_own() {
        let defaults = KeyDefaults {
            rate_limit: Some(crate::domain::quota::RateLimit::new(5, 60, "rate_limit").unwrap()),
            credits: None,
        };
        let k =
            parse_portal_create(br#"{"name": "CI", "type": "secret"}"#, &[Mode::Test], &defaults, 0).unwrap();
        assert_eq!((k.mode, k.key_type, k.name.as_str()), (Mode::Test, KeyType::Secret, "CI"));
        assert_eq!(k.rate_limit.unwrap().limit, 5);
        // Both modes: the mode must be said, and be one of the session's.
        assert!(parse_portal_create(br#"{"type": "secret"}"#, &Mode::ALL, &defaults, 0).is_err());
        let e = parse_portal_create(br#"{"type": "secret", "mode": "live"}"#, &[Mode::Test], &defaults, 0);
        assert_eq!(e.unwrap_err().code(), "portal_out_of_scope");
        // Nothing the provider decides can be set from the portal.
        for body in [
            &br#"{"type": "secret", "credits": null}"#[..],
            br#"{"type": "secret", "rate_limit": null}"#,
            br#"{"type": "secret", "metadata": {"plan": "gold"}}"#,
            br#"{"type": "secret", "canary": true}"#,
            br#"{"type": "restricted"}"#,
            br#"{"type": "secret", "name": "a\u0000b"}"#,
        ] {
            let e = parse_portal_create(body, &[Mode::Test], &defaults, 0).unwrap_err();
            assert_eq!(e.status(), 400, "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn a_cookie_is_read_back_exactly_and_anything_else_is_no_session() {
        let c = SessionCookie {
            account: "acct_1".into(),
            store: Mode::Live,
            session_id: "ps_abc".into(),
            secret: "kgps_XYZ".into(),
        };
        let header = format!("a=b; __Host-keygate_portal={}; c=d", c.value());
        assert_eq!(SessionCookie::from_header(&header, "__Host-keygate_portal"), Some(c.clone()));
        let joined = format!("a=b, __Host-keygate_portal={}", c.value());
        assert_eq!(SessionCookie::from_header(&joined, "__Host-keygate_portal"), Some(c.clone()));
        assert!(!format!("{c:?}").contains("XYZ"), "the secret is redacted");
        for bad in [
            "__Host-keygate_portal=acct_1.live.ps_abc",
            "__Host-keygate_portal=acct_1.prod.ps_abc.kgps_XYZ",
            "__Host-keygate_portal=acct_1.live.ps_abc.kgps_XYZ.more",
            "__Host-keygate_portal=acct-1.live.ps_abc.kgps_XYZ",
            "__Host-keygate_portal=acct_1.live.key_abc.kgps_XYZ",
            "__Host-keygate_portal=acct_1.live.ps_abc.kgps_",
            "x__Host-keygate_portal=acct_1.live.ps_abc.kgps_XYZ",
        ] {
            assert_eq!(SessionCookie::from_header(bad, "__Host-keygate_portal"), None, "{bad}");
        }
        let console = "__Host-keygate_console=console.live.ps_a.kgps_b";
        assert_eq!(SessionCookie::from_header(console, "__Host-keygate_console").unwrap().account, "console");
    }
}

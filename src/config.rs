//! Reading vars, secrets and bindings. Anything missing or unusable is
//! [`Error::Misconfigured`]: keygate then refuses, and never falls back to a default secret.

use keygate_core::Error;
use keygate_core::domain::digest::Pepper;
use keygate_core::domain::key_format::KeyFormat;
use keygate_core::domain::web_url::BaseUrl;
use keygate_core::policy::access::EdgePolicy;
use keygate_core::policy::gate::StalenessBudget;
use keygate_core::policy::pattern::{DEFAULT_PUBLISHABLE_ALLOWLIST, EndpointList, ResourceMap};
use keygate_core::policy::pins::HostPins;
use keygate_verify::Secret;
use std::rc::Rc;

use crate::platform::IsolateCache;
use keygate_core::domain::key::Mode;
use worker::Env;
#[cfg(feature = "authority")]
use worker::Url;

/// Where error codes are documented, unless `ERROR_DOC_URL` says otherwise.
pub const DEFAULT_DOC_URL: &str = "https://github.com/keygate/keygate/blob/main/docs/errors.md";

/// A string binding (secret or var), if present and non-empty, read from JS once per isolate.
/// Vars and secrets are fixed for an isolate's life (a change is a new version, which runs in
/// new isolates), so the first read is the answer for every later request: later ones cost a
/// lookup here instead of a crossing to JS (and a UTF-16 to UTF-8 copy) per var. The first read
/// is one property lookup: worker's `Env::secret`/`var` check the binding's constructor name
/// across the JS boundary and format an error for every absent one.
fn string(env: &Env, name: &'static str) -> Option<String> {
    with_string(env, name, |v| v.map(str::to_owned))
}

/// `f` of the binding `name` as [`string`] reads it, without copying it out of the isolate's
/// cache.
fn with_string<R>(env: &Env, name: &'static str, f: impl FnOnce(Option<&str>) -> R) -> R {
    let known = VARS.with_borrow(|vars| vars.iter().any(|(n, _)| *n == name));
    if !known {
        let value = worker::js_sys::Reflect::get(env, &worker::wasm_bindgen::JsValue::from_str(name))
            .ok()
            .and_then(|v| v.as_string())
            .filter(|s| !s.is_empty());
        VARS.with_borrow_mut(|vars| vars.push((name, value)));
    }
    VARS.with_borrow(|vars| f(vars.iter().find(|(n, _)| *n == name).and_then(|(_, v)| v.as_deref())))
}

thread_local! {
    /// Every var and secret read in this isolate (a few dozen at most), absent ones included.
    static VARS: std::cell::RefCell<Vec<(&'static str, Option<String>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// The `KEY_PEPPER` secret.
pub fn pepper(env: &Env) -> Result<Pepper, Error> {
    let secret = string(env, "KEY_PEPPER").ok_or(Error::Misconfigured { what: "KEY_PEPPER" })?;
    crate::platform::cached_pepper(secret)
}

/// `KEY_PEPPER_PREVIOUS`, while a pepper rotation lasts: a key not found under its digest with
/// `KEY_PEPPER` is looked for under this one's, and re-digested. Set, it must be at least 32
/// bytes. Equal to `KEY_PEPPER` it is no rotation (the first step of one: the old pepper set
/// as the previous one before the new one replaces it), and costs nothing.
pub fn previous_pepper(env: &Env) -> Result<Option<Pepper>, Error> {
    let Some(secret) = string(env, "KEY_PEPPER_PREVIOUS") else { return Ok(None) };
    if string(env, "KEY_PEPPER").as_deref() == Some(secret.as_str()) {
        return Ok(None);
    }
    crate::platform::cached_previous_pepper(secret).map(Some)
}

/// `KEY_FORMAT` (JSON, see `keygate_core::domain::key_format`), keygate's own format when
/// unset, parsed once per isolate. Invalid or ambiguous: misconfigured.
pub fn key_format(env: &Env) -> Result<Rc<KeyFormat>, Error> {
    let text = string(env, "KEY_FORMAT").unwrap_or_default();
    FORMAT.with(|c| {
        c.get_or_try(text, |t| {
            if t.trim().is_empty() {
                Ok(Rc::new(KeyFormat::default()))
            } else {
                KeyFormat::parse_json(t).map(Rc::new)
            }
        })
    })
}

/// The key format this isolate read last, without reading its var again: for the throttled
/// shortcut, once the edge's settings are known to have been read fine (they cannot change
/// within an isolate).
pub fn key_format_read() -> Option<Rc<KeyFormat>> {
    FORMAT.with(IsolateCache::peek)
}

/// The key format and peppers, owned (the authority and the management API).
#[cfg(feature = "authority")]
pub fn keyring(env: &Env) -> Result<keygate_core::domain::key_format::Keyring, Error> {
    Ok(keygate_core::domain::key_format::Keyring {
        format: (*key_format(env)?).clone(),
        pepper: pepper(env)?,
        previous: previous_pepper(env)?,
    })
}

/// The `ADMIN_TOKEN` secret, and `ADMIN_TOKEN_PREVIOUS` beside it during a rotation.
#[cfg(feature = "authority")]
pub fn admin_tokens(env: &Env) -> Result<keygate_core::domain::digest::OperatorTokens, Error> {
    keygate_core::domain::digest::OperatorTokens::new(
        string(env, "ADMIN_TOKEN").as_deref(),
        string(env, "ADMIN_TOKEN_PREVIOUS").as_deref(),
    )
}

/// The origin for `mode`: `ORIGIN_TEST` or `ORIGIN_LIVE`, an absolute http(s) URL.
pub fn origin(env: &Env, mode: Mode) -> Result<BaseUrl, Error> {
    let name = match mode {
        Mode::Test => "ORIGIN_TEST",
        Mode::Live => "ORIGIN_LIVE",
    };
    let value = string(env, name).ok_or(Error::Misconfigured { what: name })?;
    let parse = |s: &String| BaseUrl::parse(s.trim()).ok_or(Error::Misconfigured { what: name });
    match mode {
        Mode::Test => ORIGIN_TEST.with(|c| c.get_or_try(value, parse)),
        Mode::Live => ORIGIN_LIVE.with(|c| c.get_or_try(value, parse)),
    }
}

/// Default and minimum of `KV_CACHE_TTL`, seconds (Workers KV's own minimum is 30).
pub const DEFAULT_KV_CACHE_TTL: u64 = 60;
/// The smallest `KV_CACHE_TTL` accepted.
pub const MIN_KV_CACHE_TTL: u64 = 30;

/// `KV_CACHE_TTL`: how long edge locations cache key records, which bounds how long a
/// revocation takes to reach every edge. An invalid value is a misconfiguration.
pub fn kv_cache_ttl(env: &Env) -> Result<u64, Error> {
    seconds_var(env, "KV_CACHE_TTL", DEFAULT_KV_CACHE_TTL, MIN_KV_CACHE_TTL..=86_400)
}

/// `EDGE_CACHE_TTL`: seconds an isolate may use a key record it read from KV without reading
/// again (0 to 60, default 5), taken out of the `KV_CACHE_TTL` budget. Invalid: misconfigured.
pub fn edge_cache_ttl(env: &Env) -> Result<u64, Error> {
    seconds_var(env, "EDGE_CACHE_TTL", DEFAULT_EDGE_CACHE_TTL, 0..=60)
}

/// A whole number (of seconds, or of anything) in `range`, or `default` when unset; anything
/// else is a misconfiguration.
fn seconds_var(
    env: &Env,
    name: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, Error> {
    match string(env, name) {
        None => Ok(default),
        Some(s) => s
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or(Error::Misconfigured { what: name }),
    }
}

/// `MAX_KEYS_PER_ACCOUNT`: keys one (mode, account) may hold, ended keys included until they
/// are removed 30 days after they end (1 to 100000, default 500). Invalid: misconfigured.
#[cfg(feature = "authority")]
pub fn max_keys(env: &Env) -> Result<usize, Error> {
    let default = keygate_core::commands::authority::DEFAULT_MAX_KEYS as u64;
    seconds_var(env, "MAX_KEYS_PER_ACCOUNT", default, 1..=100_000).map(|n| n as usize)
}

/// Default of `EDGE_CACHE_TTL`, seconds.
pub const DEFAULT_EDGE_CACHE_TTL: u64 = 5;

/// `KV_CACHE_TTL` split between KV's cache and the isolate's window (`EDGE_CACHE_TTL`).
pub fn staleness(env: &Env) -> Result<StalenessBudget, Error> {
    Ok(StalenessBudget::new(kv_cache_ttl(env)?, edge_cache_ttl(env)?))
}

thread_local! {
    /// Whether a request in this isolate has read the edge's settings (the publishable
    /// allowlist, resource map, cache times and pepper) without fault. Vars and secrets are
    /// fixed for an isolate's life (a change is a new version, in new isolates), so once true,
    /// reading them again cannot turn up a misconfiguration.
    pub static EDGE_SETTINGS_READ: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// The parsed origins, reused while their vars are unchanged.
    static ORIGIN_TEST: IsolateCache<String, BaseUrl> = const { IsolateCache::new() };
    static ORIGIN_LIVE: IsolateCache<String, BaseUrl> = const { IsolateCache::new() };
    /// The parsed key format, reused while `KEY_FORMAT` is unchanged.
    static FORMAT: IsolateCache<String, Rc<KeyFormat>> = const { IsolateCache::new() };
    /// The parsed edge policy, reused while its vars are unchanged.
    static POLICY: IsolateCache<(String, String), Rc<EdgePolicy>> = const { IsolateCache::new() };
    /// The signing secrets' HMAC states, reused while the secrets are unchanged.
    static SIGNING: IsolateCache<(String, Option<String>), Rc<Vec<Secret>>> = const { IsolateCache::new() };
}

/// `PUBLISHABLE_ALLOWLIST` (JSON array of "METHOD /path", default
/// [`DEFAULT_PUBLISHABLE_ALLOWLIST`]) and `RESOURCE_MAP` (JSON, optional), parsed once per isolate.
pub fn edge_policy(env: &Env) -> Result<Rc<EdgePolicy>, Error> {
    let allowlist =
        string(env, "PUBLISHABLE_ALLOWLIST").unwrap_or_else(|| DEFAULT_PUBLISHABLE_ALLOWLIST.to_owned());
    let resources = string(env, "RESOURCE_MAP").unwrap_or_default();
    POLICY.with(|c| {
        c.get_or_try((allowlist, resources), |(allowlist, resources)| {
            let publishable_allowlist = EndpointList::parse_json(allowlist, "PUBLISHABLE_ALLOWLIST")
                .map_err(|_| Error::Misconfigured { what: "PUBLISHABLE_ALLOWLIST" })?;
            let resources = if resources.is_empty() {
                ResourceMap::default()
            } else {
                ResourceMap::parse_json(resources)
                    .map_err(|_| Error::Misconfigured { what: "RESOURCE_MAP" })?
            };
            Ok(Rc::new(EdgePolicy { publishable_allowlist, resources }))
        })
    })
}

/// `ORIGIN_SIGNING_SECRET` (required) and `ORIGIN_SIGNING_SECRET_PREVIOUS` (during a rotation),
/// each at least 32 bytes. Missing or short: misconfigured, and nothing is proxied.
pub fn signing_secrets(env: &Env) -> Result<Rc<Vec<Secret>>, Error> {
    let current = string(env, "ORIGIN_SIGNING_SECRET")
        .filter(|s| s.len() >= keygate_core::domain::digest::MIN_SECRET_LEN)
        .ok_or(Error::Misconfigured { what: "ORIGIN_SIGNING_SECRET" })?;
    let previous = string(env, "ORIGIN_SIGNING_SECRET_PREVIOUS");
    if previous.as_ref().is_some_and(|p| p.len() < keygate_core::domain::digest::MIN_SECRET_LEN) {
        return Err(Error::Misconfigured { what: "ORIGIN_SIGNING_SECRET_PREVIOUS" });
    }
    SIGNING.with(|c| {
        c.get_or_try((current, previous), |(current, previous)| {
            let mut secrets = vec![Secret::new(current.as_bytes())];
            if let Some(p) = previous {
                secrets.push(Secret::new(p.as_bytes()));
            }
            Ok(Rc::new(secrets))
        })
    })
}

/// `LIVE_HOSTS` and `TEST_HOSTS`: comma-separated hostnames pinned to one mode (optional).
pub fn host_pins(env: &Env) -> HostPins {
    HostPins::parse(
        &string(env, "LIVE_HOSTS").unwrap_or_default(),
        &string(env, "TEST_HOSTS").unwrap_or_default(),
    )
}

/// `ON_EXPOSURE`: `flag` (default) records an exposed key; `expire` also ends it at once.
pub fn expire_on_exposure(env: &Env) -> Result<bool, Error> {
    match string(env, "ON_EXPOSURE").as_deref() {
        None | Some("flag") => Ok(false),
        Some("expire") => Ok(true),
        Some(_) => Err(Error::Misconfigured { what: "ON_EXPOSURE" }),
    }
}

/// `ON_LEAK`: what a reported leak does to a secret or restricted key, `expire` (default) or
/// `flag`. Anything else is a misconfiguration.
#[cfg(feature = "authority")]
pub fn on_leak(env: &Env) -> Result<keygate_core::policy::leaks::LeakPolicy, Error> {
    keygate_core::policy::leaks::LeakPolicy::parse(string(env, "ON_LEAK").as_deref())
        .ok_or(Error::Misconfigured { what: "ON_LEAK" })
}

/// `SECRET_SCANNING_KEYS_URL`: GitHub's signing keys document (default GitHub's own). It must be
/// `https`, or `http` to a loopback address (local development and tests).
#[cfg(feature = "authority")]
pub fn scanning_keys_url(env: &Env) -> Result<Url, Error> {
    let what = "SECRET_SCANNING_KEYS_URL";
    let raw = string(env, what).unwrap_or_else(|| keygate_core::policy::leaks::DEFAULT_KEYS_URL.to_owned());
    Url::parse(&raw)
        .ok()
        .filter(keygate_core::policy::outbound::outbound_url_allowed)
        .ok_or(Error::Misconfigured { what })
}

/// `GITHUB_TOKEN`, optional secret: sent when fetching GitHub's secret-scanning signing keys
/// (a token without scopes lifts GitHub's limit of 60 unauthenticated calls an hour per address).
#[cfg(feature = "authority")]
pub fn github_token(env: &Env) -> Option<String> {
    string(env, "GITHUB_TOKEN")
}

/// `WEBHOOK_URL`, if set: the provider's webhook endpoint (`https`, or `http` to a loopback host
/// for local development).
#[cfg(feature = "authority")]
pub fn webhook_url(env: &Env) -> Option<String> {
    string(env, "WEBHOOK_URL")
}

/// Where and how webhooks are sent, when `WEBHOOK_URL` is set: the endpoint and its signing
/// secrets (`WEBHOOK_SIGNING_SECRET`, then `WEBHOOK_SIGNING_SECRET_PREVIOUS` during a rotation,
/// each at least 32 bytes), or what is wrong with them (each attempt then fails with it, and is
/// retried: no event is lost to a misconfiguration).
#[cfg(feature = "authority")]
pub fn webhook(env: &Env) -> Option<Result<(Url, Vec<Secret>), &'static str>> {
    let url = webhook_url(env)?;
    let Some(url) = Url::parse(&url).ok().filter(keygate_core::policy::outbound::outbound_url_allowed) else {
        return Some(Err("misconfigured: WEBHOOK_URL must be an https URL (http only to a loopback host)"));
    };
    let secret = |name| string(env, name).filter(|s| s.len() >= keygate_core::domain::digest::MIN_SECRET_LEN);
    let Some(current) = secret("WEBHOOK_SIGNING_SECRET") else {
        return Some(Err("misconfigured: WEBHOOK_SIGNING_SECRET is missing or shorter than 32 bytes"));
    };
    let mut secrets = vec![Secret::new(current.as_bytes())];
    match (string(env, "WEBHOOK_SIGNING_SECRET_PREVIOUS"), secret("WEBHOOK_SIGNING_SECRET_PREVIOUS")) {
        (None, _) => {}
        (Some(_), Some(previous)) => secrets.push(Secret::new(previous.as_bytes())),
        (Some(_), None) => {
            return Some(Err("misconfigured: WEBHOOK_SIGNING_SECRET_PREVIOUS is shorter than 32 bytes"));
        }
    }
    Some(Ok((url, secrets)))
}

/// `PORTAL_HOST`: the one host that serves the key portal and the operator console (optional).
/// Not a host name: a misconfiguration.
#[cfg(feature = "authority")]
pub fn portal_host(env: &Env) -> Result<Option<String>, Error> {
    keygate_core::domain::portal::parse_portal_host(string(env, "PORTAL_HOST").as_deref())
        .map_err(|_| Error::Misconfigured { what: "PORTAL_HOST" })
}

/// Whether `host` is `PORTAL_HOST`'s, where nothing is proxied to an origin. Compared as set:
/// the full worker refuses a value that is not a canonical host name, and then serves no portal.
pub fn is_portal_host(env: &Env, host: Option<&str>) -> bool {
    with_string(env, "PORTAL_HOST", |portal| match (portal, host) {
        (Some(portal), Some(host)) => portal.trim() == host,
        _ => false,
    })
}

/// `PORTAL_FRAME_ANCESTORS`: the origins that may frame the portal (none by default). A value
/// that is not a list of https origins is a misconfiguration.
#[cfg(feature = "authority")]
pub fn portal_frame_ancestors(env: &Env) -> Result<Option<String>, Error> {
    keygate_core::domain::portal::parse_frame_ancestors(string(env, "PORTAL_FRAME_ANCESTORS").as_deref())
        .map_err(|_| Error::Misconfigured { what: "PORTAL_FRAME_ANCESTORS" })
}

/// `LOG_REQUESTS`: `denied` (default), `all` or `none`. Anything else is a misconfiguration.
pub fn log_requests(env: &Env) -> Result<crate::log::LogRequests, Error> {
    crate::log::LogRequests::parse(string(env, "LOG_REQUESTS").as_deref())
        .ok_or(Error::Misconfigured { what: "LOG_REQUESTS" })
}

/// The KV binding name for `mode`.
pub fn kv_binding(mode: Mode) -> &'static str {
    match mode {
        Mode::Test => "KEYS_TEST",
        Mode::Live => "KEYS_LIVE",
    }
}

/// The Durable Object namespace binding.
pub const KEYSTORE_BINDING: &str = "KEYSTORE";

/// The lean edge build's service binding to the full worker, which serves the management API.
#[cfg(not(feature = "authority"))]
pub const AUTHORITY_BINDING: &str = "AUTHORITY";

/// Base URL that `doc_url` anchors into.
pub fn doc_url(env: &Env) -> String {
    string(env, "ERROR_DOC_URL").unwrap_or_else(|| DEFAULT_DOC_URL.to_owned())
}

//! Phase 1 of the request path: find exactly one credential in the request.
//!
//! Accepted: `Authorization: Bearer <key>` and `Authorization: Basic base64(<key>:)` (the key as
//! the username, an empty password). Refused with a precise error: anything else, several
//! credentials, and a key in the query string.

use std::borrow::Cow;
use std::fmt;

use crate::Error;
use crate::domain::key_format::KeyFormat;

/// The longest `Authorization` header accepted, in bytes.
pub use crate::error::MAX_AUTHORIZATION_LEN;

/// Query parameter names that conventionally carry API keys (compared case-insensitively).
pub const QUERY_KEY_PARAMS: [&str; 8] =
    ["api_key", "apikey", "api-key", "key", "access_token", "auth_token", "secret_key", "authorization"];

/// How the credential was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Authorization: Bearer <key>`.
    Bearer,
    /// `Authorization: Basic base64(<key>:)`.
    Basic,
}

/// The one credential in a request: an unvalidated key string (borrowed from the header when it
/// was sent as is). `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential<'a> {
    secret: Cow<'a, str>,
    scheme: Scheme,
}

impl<'a> Credential<'a> {
    /// Find the credential in a request, given its `Authorization` header (as the platform joins
    /// repeated headers: with `, `) and its raw query string (without `?`).
    pub fn from_request(
        authorization: Option<&'a str>,
        query: Option<&str>,
        format: &KeyFormat,
    ) -> Result<Credential<'a>, Error> {
        if let Some(q) = query {
            check_query(q, format)?;
        }
        // An empty header is treated as absent: the platform may drop it before we see it, and
        // the answer must not depend on that.
        let Some(value) = authorization.filter(|v| !trim_sp(v).is_empty()) else {
            return Err(Error::ApiKeyMissing);
        };
        Credential::from_authorization(value)
    }

    /// Parse one `Authorization` header value.
    pub fn from_authorization(value: &'a str) -> Result<Credential<'a>, Error> {
        if value.len() > MAX_AUTHORIZATION_LEN {
            return Err(Error::AuthorizationTooLarge);
        }
        // The platform has already trimmed surrounding whitespace; be robust anyway.
        let value = trim_sp(value);
        if value.is_empty() {
            return Err(Error::AuthorizationMalformed { detail: "the header is empty" });
        }
        // Neither a key nor base64 contains a comma: a comma means a list of credentials, which is
        // also how repeated Authorization headers reach us.
        if value.as_bytes().contains(&b',') {
            return Err(Error::MultipleCredentials);
        }
        let (scheme, rest) = match value.bytes().position(is_sp) {
            Some(i) => (&value[..i], Some(&value[i + 1..])),
            None => (value, None),
        };
        let scheme = match scheme {
            "Bearer" => Scheme::Bearer,
            "Basic" => Scheme::Basic,
            s if s.eq_ignore_ascii_case("bearer") => {
                return Err(Error::AuthorizationSchemeCase { expected: "Bearer" });
            }
            s if s.eq_ignore_ascii_case("basic") => {
                return Err(Error::AuthorizationSchemeCase { expected: "Basic" });
            }
            _ => return Err(Error::AuthorizationSchemeUnsupported),
        };
        let token = match rest {
            None | Some("") => {
                return Err(Error::AuthorizationMalformed { detail: "no token after the scheme" });
            }
            Some(t) => t,
        };
        if token.bytes().next().is_some_and(is_sp) {
            return Err(Error::AuthorizationMalformed { detail: "more than one space after the scheme" });
        }
        // Visible ASCII (every key and all base64) has no whitespace; only other text is searched.
        // (No early exit: the loop is vectorised.)
        let graphic = token.bytes().fold(true, |ok, b| ok & b.is_ascii_graphic());
        if !graphic && token.contains(char::is_whitespace) {
            return Err(Error::AuthorizationMalformed { detail: "unexpected text after the token" });
        }
        match scheme {
            Scheme::Bearer => Ok(Credential { secret: Cow::Borrowed(token), scheme }),
            Scheme::Basic => parse_basic(token),
        }
    }

    /// Check the presented secret against the deployment's key format (no store is touched).
    pub fn into_key(self, format: &KeyFormat) -> Result<crate::domain::key::ApiKey, Error> {
        // A borrowed secret is copied only once it has passed the format and checksum check.
        match self.secret {
            Cow::Borrowed(s) => format.parse(s),
            Cow::Owned(s) => format.parse_owned(s),
        }
    }

    /// The presented secret (not yet validated). Never log it.
    pub fn expose_secret(&self) -> &str {
        &self.secret
    }

    /// How it was sent.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }
}

impl fmt::Debug for Credential<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credential({:?}, {})", self.scheme, crate::domain::key::redact(&self.secret))
    }
}

/// Standard base64 (RFC 4648 §4), as HTTP Basic credentials are: padding optional, but only
/// at the end and only to complete the last group, and unused bits of the last symbol zero.
/// Written out here rather than taken from the `base64` crate, whose general engine is 3 KB of
/// the lean edge's 200 KB budget; `tests/properties.rs` checks it agrees with that crate on
/// every input.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let data = bytes.iter().rposition(|&c| c != b'=').map_or(0, |i| i + 1);
    let (rem, pad) = (data % 4, bytes.len() - data);
    if rem == 1 || pad > 2 || (pad > 0 && (rem == 0 || rem + pad > 4)) {
        return None;
    }
    let mut out = Vec::with_capacity(data / 4 * 3 + 2);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in &bytes[..data] {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    (acc == 0).then_some(out)
}

fn parse_basic(token: &str) -> Result<Credential<'static>, Error> {
    let bytes = decode_base64(token)
        .ok_or(Error::BasicMalformed { detail: "the credentials are not valid base64" })?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::BasicMalformed { detail: "the credentials are not UTF-8 text" })?;
    let Some((user, password)) = text.split_once(':') else {
        return Err(Error::BasicMalformed { detail: "no `:` between username and password" });
    };
    if !password.is_empty() {
        return Err(Error::BasicPasswordNotEmpty);
    }
    if user.is_empty() {
        return Err(Error::BasicMalformed { detail: "the username (your API key) is empty" });
    }
    Ok(Credential { secret: Cow::Owned(user.to_owned()), scheme: Scheme::Basic })
}

/// Refuse a query string that carries a key: by a conventional parameter name, or by a value that
/// looks like a key of the deployment's format under any name.
pub fn check_query(query: &str, format: &KeyFormat) -> Result<(), Error> {
    for pair in query.split('&') {
        // Only an escaped pair needs decoding; most query strings have none.
        if pair.bytes().any(|b| b == b'%' || b == b'+') {
            for (name, value) in form_urlencoded::parse(pair.as_bytes()) {
                check_param(&name, &value, format)?;
            }
        } else {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            check_param(name, value, format)?;
        }
    }
    Ok(())
}

fn check_param(name: &str, value: &str, format: &KeyFormat) -> Result<(), Error> {
    if format.looks_like_key(name) {
        return Err(Error::ApiKeyInQuery { param: format.redact(name) });
    }
    let named = QUERY_KEY_PARAMS.iter().any(|p| name.eq_ignore_ascii_case(p));
    if named || format.looks_like_key(value) {
        return Err(Error::ApiKeyInQuery { param: truncate(name, 64) });
    }
    Ok(())
}

fn is_sp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// `s` without leading and trailing spaces and tabs.
fn trim_sp(s: &str) -> &str {
    let b = s.as_bytes();
    let start = b.iter().position(|&c| !is_sp(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|&c| !is_sp(c)).map_or(start, |i| i + 1);
    &s[start..end]
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

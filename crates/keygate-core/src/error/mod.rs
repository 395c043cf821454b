//! The one error type of keygate. Every refusal, client fault or server fault is a variant here.
//! The core only describes an error (status, type, code, message, param); the worker renders it
//! as a Stripe-shaped JSON response at the edge.

use std::fmt;

/// The longest path plus query accepted, in bytes.
pub const MAX_URI_LEN: usize = 8192;

/// The longest `Authorization` header accepted, in bytes.
pub const MAX_AUTHORIZATION_LEN: usize = 4096;

/// The `type` field of an error object, as Stripe spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// The request itself is wrong: fix the request.
    InvalidRequest,
    /// The credential is missing, invalid, revoked or expired.
    Authentication,
    /// The credential is valid but may not do this.
    Permission,
    /// Too many requests.
    RateLimit,
    /// keygate or something it depends on failed; the request was not let through.
    Api,
}

impl ErrorType {
    /// Parse the wire spelling.
    pub fn from_name(s: &str) -> Option<Self> {
        [Self::InvalidRequest, Self::Authentication, Self::Permission, Self::RateLimit, Self::Api]
            .into_iter()
            .find(|t| t.as_str() == s)
    }

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::InvalidRequest => "invalid_request_error",
            ErrorType::Authentication => "authentication_error",
            ErrorType::Permission => "permission_error",
            ErrorType::RateLimit => "rate_limit_error",
            ErrorType::Api => "api_error",
        }
    }
}

/// Everything that can stop a request. Messages never contain a raw key, only a redacted one.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The request did not arrive over HTTPS (whatever `X-Forwarded-Proto` claims).
    HttpsRequired,
    /// No credential at all: no `Authorization` header.
    ApiKeyMissing,
    /// The `Authorization` header is empty, has no token, or has junk around the token.
    AuthorizationMalformed {
        /// What exactly is wrong, for the message.
        detail: &'static str,
    },
    /// The scheme is `bearer`/`BASIC`/…: right word, wrong case. keygate takes the exact spelling.
    AuthorizationSchemeCase {
        /// The spelling keygate expects (`Bearer` or `Basic`).
        expected: &'static str,
    },
    /// The scheme is neither `Bearer` nor `Basic`.
    AuthorizationSchemeUnsupported,
    /// The `Authorization` header is longer than [`crate::policy::credential::MAX_AUTHORIZATION_LEN`].
    AuthorizationTooLarge,
    /// The path and query are longer than [`MAX_URI_LEN`].
    UriTooLong,
    /// More than one credential: several `Authorization` values, or a list in one header.
    MultipleCredentials,
    /// `Basic` credentials that are not base64 of `key:`.
    BasicMalformed {
        /// What exactly is wrong, for the message.
        detail: &'static str,
    },
    /// `Basic` credentials with a non-empty password; the key goes in the username.
    BasicPasswordNotEmpty,
    /// A key was sent in the query string, where it leaks into logs; it is never forwarded.
    ApiKeyInQuery {
        /// The query parameter that carried it.
        param: String,
    },
    /// Wrong format or checksum, or no such key. The message shows only the redacted key.
    ApiKeyInvalid {
        /// The key as it may be shown: prefix and last four characters.
        redacted: String,
    },
    /// The key was revoked.
    ApiKeyRevoked {
        /// The key as it may be shown.
        redacted: String,
    },
    /// The key's `expires_at` has passed.
    ApiKeyExpired {
        /// The key as it may be shown.
        redacted: String,
        /// When it expired, unix seconds.
        expired_at: i64,
        /// Whether it expired because it was rolled to a successor.
        rolled: bool,
    },
    /// A lifecycle change that needs an active key was asked of a key in another state.
    KeyNotActive {
        /// The key's current status.
        status: &'static str,
    },
    /// The self-service API takes only secret keys.
    SecretKeyRequired,
    /// A test key on a host pinned to live mode (decided from the prefix alone).
    TestKeyOnLiveHost,
    /// A live key on a host pinned to test mode (decided from the prefix alone).
    LiveKeyOnTestHost,
    /// A secret key was sent from a browser; it must now be considered exposed.
    SecretKeyInBrowser,
    /// The client address is not in the key's `allowed_ips`.
    IpNotAllowed {
        /// The address seen (`CF-Connecting-IP`), or `unknown`.
        ip: String,
    },
    /// The request's web origin is not in the publishable key's `allowed_origins`.
    OriginNotAllowed {
        /// The origin seen, or `none`.
        origin: String,
    },
    /// The request is not in the key's `allowed_endpoints`.
    EndpointNotAllowed {
        /// The method.
        method: String,
        /// The path.
        path: String,
    },
    /// A publishable key on a route that is not on the operator's publishable allowlist.
    PublishableKeyNotAllowed,
    /// A restricted key without the permission this route needs.
    InsufficientPermissions {
        /// `resource:level`, or `None` when the path maps to no resource.
        required: Option<String>,
    },
    /// The admin API was called without the right operator token.
    AdminUnauthorized {
        /// Whether a token was sent at all.
        missing: bool,
    },
    /// A signed request (a secret-scanning report) whose signature is missing, malformed, made
    /// with an unknown key or wrong. Counts as a failed authentication unless it is missing
    /// ([`SIGNATURE_MISSING`]), like a missing key or token.
    SignatureRejected {
        /// `signature_missing`, `signature_malformed`, `signature_key_unknown` or
        /// `signature_invalid`.
        code: &'static str,
        /// What is wrong.
        message: &'static str,
    },
    /// The keys a signature is checked with could not be fetched: the report is refused (503)
    /// and its sender retries.
    SigningKeysUnavailable,
    /// A canary key was presented. It is answered exactly as [`Error::ApiKeyInvalid`] (same
    /// status, code, message and headers); only keygate knows, to record its use.
    CanaryKeyUsed {
        /// The key as presented, redacted.
        redacted: String,
        /// Its account.
        account: String,
        /// Its id.
        key_id: String,
        /// Whether it is a live-mode key (its mode, which the base module of errors does not
        /// name: the domain comes after it).
        livemode: bool,
    },
    /// Too many failed authentications from this client address: throttled.
    TooManyFailedAttempts {
        /// Seconds until the client may try again.
        retry_after: u32,
    },
    /// The key's own rate limit (`rate_limit`) is spent for the current window.
    RateLimitExceeded {
        /// Seconds until the window ends.
        retry_after: u32,
    },
    /// The key has no credits left.
    CreditsExhausted {
        /// Seconds until the next refill, if one is due.
        retry_after: Option<u32>,
    },
    /// A request body or parameter is invalid (admin API).
    InvalidParameter {
        /// Machine-readable code, e.g. `parameter_invalid`.
        code: &'static str,
        /// The offending parameter.
        param: String,
        /// Human explanation.
        message: String,
    },
    /// A path that an origin could read as a different resource (encoded `/`, `\\`, `.`, `%`,
    /// matrix parameters, empty or dot segments): see [`crate::policy::request_shape`].
    PathNotCanonical {
        /// Why, for the message.
        reason: &'static str,
    },
    /// A method override (`X-HTTP-Method-Override` and kin, or `_method` in the query).
    MethodOverride {
        /// The header or query parameter that carried it.
        param: String,
    },
    /// Self-service: a key with restrictions acted on a key less restricted than itself.
    KeyOutOfScope,
    /// Self-service: a change that would give a key more power than it has.
    WideningNotAllowed {
        /// The setting at fault.
        param: String,
    },
    /// A portal session refused the link or the request.
    Portal(PortalRefusal),
    /// An imported key (by its digest or its SHA-256) is stored already.
    KeyAlreadyExists {
        /// The stored key's id.
        key_id: String,
        /// Where the import named it (`keys[i].secret` or `keys[i].hash`).
        param: String,
    },
    /// The (mode, account) already holds as many keys as it may.
    KeyLimitReached {
        /// The limit.
        limit: usize,
    },
    /// The request body is larger than the endpoint accepts.
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// No such route or object.
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// The route exists but not with this method.
    MethodNotAllowed {
        /// The methods the route takes, for `Allow`.
        allowed: &'static str,
    },
    /// A required var, secret or binding is absent or unusable. Never passed through.
    Misconfigured {
        /// Which setting (name only, never its value).
        what: &'static str,
    },
    /// The key store (KV or the Durable Object) failed or timed out. Fails closed.
    StoreUnavailable,
    /// A stored key record could not be read. Fails closed.
    RecordCorrupt,
    /// The origin could not be reached.
    OriginUnavailable,
    /// An internal fault that has no better name (e.g. randomness unavailable).
    Internal {
        /// What failed, for logs and the message.
        what: &'static str,
    },
    /// An error the key authority (the Durable Object) answered with, passed on exactly.
    Relayed {
        /// Its HTTP status.
        status: u16,
        /// Its type.
        kind: ErrorType,
        /// Its code.
        code: String,
        /// Its message.
        message: String,
        /// Its parameter.
        param: Option<String>,
    },
}

mod table;

/// The code of an [`Error::SignatureRejected`] without any signature.
pub const SIGNATURE_MISSING: &str = "signature_missing";

impl Error {
    /// The parameter at fault, when there is one.
    pub fn param(&self) -> Option<&str> {
        match self {
            Error::ApiKeyInQuery { param }
            | Error::InvalidParameter { param, .. }
            | Error::MethodOverride { param }
            | Error::WideningNotAllowed { param }
            | Error::KeyAlreadyExists { param, .. } => Some(param),
            Error::Relayed { param, .. } => param.as_deref(),
            Error::BodyTooLarge { .. } => Some("body"),
            _ => None,
        }
    }

    /// Whether this refusal is a failed authentication that counts towards throttling: a wrong,
    /// malformed, revoked or expired credential (but not a missing one).
    pub fn counts_as_failed_auth(&self) -> bool {
        use Error::*;
        matches!(
            self,
            ApiKeyInvalid { .. }
                | CanaryKeyUsed { .. }
                | ApiKeyRevoked { .. }
                | ApiKeyExpired { .. }
                | AuthorizationMalformed { .. }
                | AuthorizationSchemeCase { .. }
                | AuthorizationSchemeUnsupported
                | AuthorizationTooLarge
                | MultipleCredentials
                | BasicMalformed { .. }
                | BasicPasswordNotEmpty
                | AdminUnauthorized { missing: false }
                | Portal(PortalRefusal::LinkInvalid | PortalRefusal::SessionInvalid)
        ) || matches!(self, SignatureRejected { code, .. } if *code != SIGNATURE_MISSING)
    }

    /// Shorthand for an invalid parameter.
    pub fn invalid_param(code: &'static str, param: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidParameter { code, param: param.into(), message: message.into() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.code(), self.status(), self.message())
    }
}

impl std::error::Error for Error {}

/// Why a link or a session is refused. The worker renders each as a precise 4xx; none says
/// whether a session of that id exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PortalRefusal {
    /// The link's token is wrong, or the link was used already.
    LinkInvalid,
    /// The session ended (its time, or signed out).
    Expired,
    /// The cookie's secret is wrong, or the link was never used.
    SessionInvalid,
    /// No session cookie at all (not a guess: never counted for throttling).
    SessionMissing,
    /// A state change without the session's CSRF token.
    CsrfMissing,
    /// Outside the session's mode.
    OutOfScope,
}

impl PortalRefusal {
    /// Every refusal.
    pub const ALL: [PortalRefusal; 6] = [
        PortalRefusal::LinkInvalid,
        PortalRefusal::Expired,
        PortalRefusal::SessionInvalid,
        PortalRefusal::SessionMissing,
        PortalRefusal::CsrfMissing,
        PortalRefusal::OutOfScope,
    ];
}

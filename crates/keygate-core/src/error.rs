//! The one error type of keygate. Every refusal, client fault or server fault is a variant here.
//! The core only describes an error (status, type, code, message, param); the worker renders it
//! as a Stripe-shaped JSON response at the edge.

use std::fmt;

/// The longest path plus query accepted, in bytes.
pub const MAX_URI_LEN: usize = 8192;

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
    /// The key's mode is not served on this host (mode pinning, decided from the prefix alone).
    ModeMismatch {
        /// The mode of the key that was sent.
        key_mode: crate::domain::key::Mode,
    },
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
    /// Too many failed authentications from this client address: throttled.
    TooManyFailedAttempts {
        /// Seconds until the client may try again.
        retry_after: u32,
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

impl Error {
    /// HTTP status for this error.
    pub fn status(&self) -> u16 {
        use Error::*;
        match self {
            HttpsRequired => 403,
            ApiKeyMissing | ApiKeyInvalid { .. } | AdminUnauthorized { .. } => 401,
            AuthorizationMalformed { .. }
            | AuthorizationSchemeCase { .. }
            | AuthorizationSchemeUnsupported
            | MultipleCredentials
            | BasicMalformed { .. }
            | BasicPasswordNotEmpty
            | ApiKeyInQuery { .. }
            | InvalidParameter { .. }
            | PathNotCanonical { .. }
            | MethodOverride { .. }
            | BodyTooLarge { .. } => 400,
            AuthorizationTooLarge => 431,
            UriTooLong => 414,
            ApiKeyRevoked { .. } | ApiKeyExpired { .. } | SecretKeyRequired => 403,
            ModeMismatch { .. }
            | SecretKeyInBrowser
            | IpNotAllowed { .. }
            | OriginNotAllowed { .. }
            | EndpointNotAllowed { .. }
            | PublishableKeyNotAllowed
            | InsufficientPermissions { .. }
            | KeyOutOfScope
            | WideningNotAllowed { .. } => 403,
            KeyNotActive { .. } | KeyLimitReached { .. } => 409,
            NotFound { .. } => 404,
            TooManyFailedAttempts { .. } => 429,
            MethodNotAllowed { .. } => 405,
            Misconfigured { .. } | RecordCorrupt | Internal { .. } => 500,
            OriginUnavailable => 502,
            StoreUnavailable => 503,
            Relayed { status, .. } => *status,
        }
    }

    /// The `type` of the error object.
    pub fn error_type(&self) -> ErrorType {
        use Error::*;
        // Exhaustive on purpose: a new variant must choose its type.
        match self {
            ApiKeyMissing
            | ApiKeyInvalid { .. }
            | ApiKeyRevoked { .. }
            | ApiKeyExpired { .. }
            | AdminUnauthorized { .. } => ErrorType::Authentication,
            SecretKeyRequired
            | SecretKeyInBrowser
            | IpNotAllowed { .. }
            | OriginNotAllowed { .. }
            | EndpointNotAllowed { .. }
            | PublishableKeyNotAllowed
            | InsufficientPermissions { .. }
            | KeyOutOfScope
            | WideningNotAllowed { .. } => ErrorType::Permission,
            Misconfigured { .. } | StoreUnavailable | RecordCorrupt | OriginUnavailable | Internal { .. } => {
                ErrorType::Api
            }
            Relayed { kind, .. } => *kind,
            TooManyFailedAttempts { .. } => ErrorType::RateLimit,
            HttpsRequired
            | ModeMismatch { .. }
            | AuthorizationMalformed { .. }
            | AuthorizationSchemeCase { .. }
            | AuthorizationSchemeUnsupported
            | AuthorizationTooLarge
            | UriTooLong
            | MultipleCredentials
            | BasicMalformed { .. }
            | BasicPasswordNotEmpty
            | ApiKeyInQuery { .. }
            | KeyNotActive { .. }
            | KeyLimitReached { .. }
            | PathNotCanonical { .. }
            | MethodOverride { .. }
            | InvalidParameter { .. }
            | BodyTooLarge { .. }
            | NotFound { .. }
            | MethodNotAllowed { .. } => ErrorType::InvalidRequest,
        }
    }

    /// The stable machine-readable `code`. Users match on these: never rename one.
    pub fn code(&self) -> &str {
        use Error::*;
        match self {
            HttpsRequired => "https_required",
            ApiKeyMissing => "api_key_missing",
            AuthorizationMalformed { .. } => "authorization_malformed",
            AuthorizationSchemeCase { .. } => "authorization_scheme_case",
            AuthorizationSchemeUnsupported => "authorization_scheme_unsupported",
            AuthorizationTooLarge => "authorization_too_large",
            UriTooLong => "uri_too_long",
            MultipleCredentials => "multiple_credentials",
            BasicMalformed { .. } => "basic_auth_malformed",
            BasicPasswordNotEmpty => "basic_auth_password_not_empty",
            ApiKeyInQuery { .. } => "api_key_in_query",
            ApiKeyInvalid { .. } => "api_key_invalid",
            ApiKeyRevoked { .. } => "api_key_revoked",
            ApiKeyExpired { .. } => "api_key_expired",
            KeyNotActive { .. } => "key_not_active",
            SecretKeyRequired => "secret_key_required",
            ModeMismatch { key_mode: crate::domain::key::Mode::Test } => "test_key_on_live_host",
            ModeMismatch { key_mode: crate::domain::key::Mode::Live } => "live_key_on_test_host",
            SecretKeyInBrowser => "secret_key_in_browser",
            IpNotAllowed { .. } => "ip_not_allowed",
            OriginNotAllowed { .. } => "origin_not_allowed",
            EndpointNotAllowed { .. } => "endpoint_not_allowed",
            PublishableKeyNotAllowed => "publishable_key_not_allowed",
            InsufficientPermissions { .. } => "insufficient_permissions",
            AdminUnauthorized { missing: true } => "admin_token_missing",
            AdminUnauthorized { missing: false } => "admin_token_invalid",
            InvalidParameter { code, .. } => code,
            BodyTooLarge { .. } => "body_too_large",
            PathNotCanonical { .. } => "path_not_canonical",
            MethodOverride { .. } => "method_override_not_allowed",
            KeyOutOfScope => "key_out_of_scope",
            WideningNotAllowed { .. } => "widening_not_allowed",
            KeyLimitReached { .. } => "key_limit_reached",
            NotFound { .. } => "resource_missing",
            TooManyFailedAttempts { .. } => "too_many_failed_attempts",
            MethodNotAllowed { .. } => "method_not_allowed",
            Misconfigured { .. } => "misconfigured",
            StoreUnavailable => "store_unavailable",
            RecordCorrupt => "record_corrupt",
            OriginUnavailable => "origin_unavailable",
            Internal { .. } => "internal_error",
            Relayed { code, .. } => code,
        }
    }

    /// The parameter at fault, when there is one.
    pub fn param(&self) -> Option<&str> {
        match self {
            Error::ApiKeyInQuery { param }
            | Error::InvalidParameter { param, .. }
            | Error::MethodOverride { param }
            | Error::WideningNotAllowed { param } => Some(param),
            Error::Relayed { param, .. } => param.as_deref(),
            Error::BodyTooLarge { .. } => Some("body"),
            Error::InsufficientPermissions { .. } => None,
            _ => None,
        }
    }

    /// A human message: what went wrong and how to fix it. Never contains a raw key.
    pub fn message(&self) -> String {
        use Error::*;
        match self {
            HttpsRequired => "This API is served over HTTPS only. The request was refused; resend it to the https:// URL. If it carried a key, treat that key as exposed.".into(),
            ApiKeyMissing => "You did not provide an API key. Send it in the Authorization header as `Authorization: Bearer YOUR_KEY`, or with HTTP Basic auth using the key as the username and an empty password (curl -u YOUR_KEY:).".into(),
            AuthorizationMalformed { detail } => format!("The Authorization header is malformed: {detail}. Expected `Authorization: Bearer YOUR_KEY`."),
            AuthorizationSchemeCase { expected } => format!("The authorization scheme must be written exactly `{expected}`."),
            AuthorizationSchemeUnsupported => "Unsupported authorization scheme. Use `Bearer YOUR_KEY`, or Basic auth with the key as the username and an empty password.".into(),
            AuthorizationTooLarge => format!("The Authorization header is larger than {} bytes.", crate::policy::credential::MAX_AUTHORIZATION_LEN),
            UriTooLong => format!("The path and query are longer than {MAX_URI_LEN} bytes."),
            MultipleCredentials => "More than one credential was sent. Send exactly one API key, in one Authorization header.".into(),
            BasicMalformed { detail } => format!("The Basic credentials are malformed: {detail}. Use the API key as the username and an empty password, i.e. base64 of `YOUR_KEY:`."),
            BasicPasswordNotEmpty => "The Basic auth password must be empty: put the API key in the username and leave the password blank (curl -u YOUR_KEY:).".into(),
            ApiKeyInQuery { param } => format!("API keys are not accepted in the query string (found `{param}`), where they leak into logs and browser history. Send the key in the Authorization header instead."),
            ApiKeyInvalid { redacted } => format!("Invalid API key provided: {redacted}"),
            ApiKeyRevoked { redacted } => format!("The API key {redacted} has been revoked. Use an active key."),
            ApiKeyExpired { redacted, expired_at, rolled } => {
                let when = crate::time::http_date(*expired_at);
                if *rolled {
                    format!("The API key {redacted} was rolled and expired at {when} ({expired_at}). Use its successor.")
                } else {
                    format!("The API key {redacted} expired at {when} ({expired_at}). Use an active key.")
                }
            }
            KeyNotActive { status } => format!("Only an active key can be rolled; this key is {status}."),
            SecretKeyRequired => "This endpoint needs a secret key (sk_…). Publishable and restricted keys cannot manage keys.".into(),
            ModeMismatch { key_mode: crate::domain::key::Mode::Test } => "This host serves live mode only; a test key cannot be used here.".into(),
            ModeMismatch { key_mode: crate::domain::key::Mode::Live } => "This host serves test mode only; a live key cannot be used here.".into(),
            SecretKeyInBrowser => "Secret API keys cannot be used from a browser: this request carried a browser's Origin. The key has been recorded as exposed; roll it, and use a publishable key in client-side code.".into(),
            IpNotAllowed { ip } => format!("This API key cannot be used from the IP address {ip}."),
            OriginNotAllowed { origin } => format!("This publishable key cannot be used from the origin {origin}."),
            EndpointNotAllowed { method, path } => format!("This API key is not allowed to call {method} {path}."),
            PublishableKeyNotAllowed => "This API call cannot be made with a publishable API key. Use a secret key from your server.".into(),
            InsufficientPermissions { required: Some(p) } => format!("This restricted key does not have the required permission {p} for this request."),
            InsufficientPermissions { required: None } => "This path belongs to no resource that a restricted key can be granted (a nested path needs a route in RESOURCE_MAP); use a secret key.".into(),
            AdminUnauthorized { missing: true } => "The admin API needs `Authorization: Bearer <ADMIN_TOKEN>`.".into(),
            AdminUnauthorized { missing: false } => "Invalid admin token.".into(),
            InvalidParameter { message, .. } => message.clone(),
            BodyTooLarge { limit } => format!("The request body is larger than {limit} bytes."),
            PathNotCanonical { reason } => format!("The request path was refused because {reason}: an origin could read it as a different resource than the one keygate authorised. Send the path in its plain form."),
            MethodOverride { param } => format!("Method overrides are not accepted (found `{param}`): send the request with the method you mean."),
            KeyOutOfScope => "This key has restrictions, so it can manage only keys that are at least as restricted as itself (same or narrower allowed_ips and allowed_endpoints, and an expiry no later than its own).".into(),
            WideningNotAllowed { param } => format!("Self-service can only narrow a key's settings; this change to `{param}` would give the key more power. Ask the operator."),
            KeyLimitReached { limit } => format!("This account already has {limit} keys in this mode, the most it may have. Keys that ended are removed 30 days after they end."),
            NotFound { what } => format!("No such {what}."),
            TooManyFailedAttempts { retry_after } => format!("Too many failed authentication attempts from this address. Retry in {retry_after} seconds."),
            MethodNotAllowed { allowed } => format!("Method not allowed here; allowed: {allowed}."),
            Misconfigured { what } => format!("keygate is misconfigured ({what} is missing or invalid); the request was refused. The operator must fix the deployment."),
            StoreUnavailable => "The key store is unavailable; the request was refused. Retry later.".into(),
            RecordCorrupt => "A stored key record is unreadable; the request was refused.".into(),
            OriginUnavailable => "The API origin could not be reached.".into(),
            Internal { what } => format!("Internal error ({what}); the request was refused."),
            Relayed { message, .. } => message.clone(),
        }
    }

    /// Whether this refusal is a failed authentication that counts towards throttling: a wrong,
    /// malformed, revoked or expired credential (but not a missing one).
    pub fn counts_as_failed_auth(&self) -> bool {
        use Error::*;
        matches!(
            self,
            ApiKeyInvalid { .. }
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
        )
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

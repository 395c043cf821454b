//! The wire table: every error variant's status, type, code and message, in one row each.

use super::PortalRefusal as Refusal;
use super::{Error, ErrorType, MAX_AUTHORIZATION_LEN, MAX_URI_LEN};

/// Each variant's wire description in one row: its pattern, then its HTTP status, its `type`,
/// its stable `code`, and its message (what went wrong and how to fix it; never a raw key). The
/// macro turns the table into [`Error::status`], [`Error::error_type`], [`Error::code`] and
/// [`Error::message`], so a new variant is one row, and a variant without a row does not compile.
macro_rules! wire_table {
    ($($pat:pat => $status:expr, $kind:expr, $code:expr, $message:expr;)+) => {
        impl Error {
            /// HTTP status for this error.
            #[allow(unused_variables)]
            pub fn status(&self) -> u16 {
                match self { $($pat => $status,)+ }
            }

            /// The `type` of the error object.
            #[allow(unused_variables)]
            pub fn error_type(&self) -> ErrorType {
                match self { $($pat => $kind,)+ }
            }

            /// The stable machine-readable `code`. Users match on these: never rename one.
            #[allow(unused_variables)]
            pub fn code(&self) -> &str {
                match self { $($pat => $code,)+ }
            }

            /// A human message: what went wrong and how to fix it. Never contains a raw key.
            #[allow(unused_variables)]
            pub fn message(&self) -> String {
                match self { $($pat => $message,)+ }
            }
        }
    };
}

use ErrorType::{Api, Authentication, InvalidRequest, Permission, RateLimit};

wire_table! {
    Self::HttpsRequired => 403, InvalidRequest, "https_required",
        "This API is served over HTTPS only. The request was refused; resend it to the https:// URL. If it carried a key, treat that key as exposed.".into();
    Self::UriTooLong => 414, InvalidRequest, "uri_too_long",
        format!("The path and query are longer than {MAX_URI_LEN} bytes.");
    Self::PathNotCanonical { reason } => 400, InvalidRequest, "path_not_canonical",
        format!("The request path was refused because {reason}: an origin could read it as a different resource than the one keygate authorised. Send the path in its plain form.");
    Self::MethodOverride { param } => 400, InvalidRequest, "method_override_not_allowed",
        format!("Method overrides are not accepted (found `{param}`): send the request with the method you mean.");
    Self::ApiKeyMissing => 401, Authentication, "api_key_missing",
        "You did not provide an API key. Send it in the Authorization header as `Authorization: Bearer YOUR_KEY`, or with HTTP Basic auth using the key as the username and an empty password (curl -u YOUR_KEY:).".into();
    Self::AuthorizationMalformed { detail } => 400, InvalidRequest, "authorization_malformed",
        format!("The Authorization header is malformed: {detail}. Expected `Authorization: Bearer YOUR_KEY`.");
    Self::AuthorizationSchemeCase { expected } => 400, InvalidRequest, "authorization_scheme_case",
        format!("The authorization scheme must be written exactly `{expected}`.");
    Self::AuthorizationSchemeUnsupported => 400, InvalidRequest, "authorization_scheme_unsupported",
        "Unsupported authorization scheme. Use `Bearer YOUR_KEY`, or Basic auth with the key as the username and an empty password.".into();
    Self::AuthorizationTooLarge => 431, InvalidRequest, "authorization_too_large",
        format!("The Authorization header is larger than {MAX_AUTHORIZATION_LEN} bytes.");
    Self::MultipleCredentials => 400, InvalidRequest, "multiple_credentials",
        "More than one credential was sent. Send exactly one API key, in one Authorization header.".into();
    Self::BasicMalformed { detail } => 400, InvalidRequest, "basic_auth_malformed",
        format!("The Basic credentials are malformed: {detail}. Use the API key as the username and an empty password, i.e. base64 of `YOUR_KEY:`.");
    Self::BasicPasswordNotEmpty => 400, InvalidRequest, "basic_auth_password_not_empty",
        "The Basic auth password must be empty: put the API key in the username and leave the password blank (curl -u YOUR_KEY:).".into();
    Self::ApiKeyInQuery { param } => 400, InvalidRequest, "api_key_in_query",
        format!("API keys are not accepted in the query string (found `{param}`), where they leak into logs and browser history. Send the key in the Authorization header instead.");
    Self::ApiKeyInvalid { redacted } | Self::CanaryKeyUsed { redacted, .. } => 401, Authentication, "api_key_invalid",
        format!("Invalid API key provided: {redacted}");
    Self::ApiKeyRevoked { redacted } => 403, Authentication, "api_key_revoked",
        format!("The API key {redacted} has been revoked. Use an active key.");
    Self::ApiKeyExpired { redacted, expired_at, rolled } => 403, Authentication, "api_key_expired",
        expired_message(redacted, *expired_at, *rolled);
    Self::TestKeyOnLiveHost => 403, InvalidRequest, "test_key_on_live_host",
        "This host serves live mode only; a test key cannot be used here.".into();
    Self::LiveKeyOnTestHost => 403, InvalidRequest, "live_key_on_test_host",
        "This host serves test mode only; a live key cannot be used here.".into();
    Self::SecretKeyInBrowser => 403, Permission, "secret_key_in_browser",
        "Secret API keys cannot be used from a browser, and this request came from one (it carried Origin or Sec-Fetch-Mode). The key has been recorded as exposed; roll it, and use a publishable key in client-side code.".into();
    Self::IpNotAllowed { ip } => 403, Permission, "ip_not_allowed",
        format!("This API key cannot be used from the IP address {ip}.");
    Self::OriginNotAllowed { origin } => 403, Permission, "origin_not_allowed",
        format!("This publishable key cannot be used from the origin {origin}.");
    Self::EndpointNotAllowed { method, path } => 403, Permission, "endpoint_not_allowed",
        format!("This API key is not allowed to call {method} {path}.");
    Self::PublishableKeyNotAllowed => 403, Permission, "publishable_key_not_allowed",
        "This API call cannot be made with a publishable API key. Use a secret key from your server.".into();
    Self::InsufficientPermissions { required: Some(p) } => 403, Permission, "insufficient_permissions",
        format!("This restricted key does not have the required permission {p} for this request.");
    Self::InsufficientPermissions { required: None } => 403, Permission, "insufficient_permissions",
        "This path belongs to no resource that a restricted key can be granted (a nested path needs a route in RESOURCE_MAP); use a secret key.".into();
    Self::SecretKeyRequired => 403, Permission, "secret_key_required",
        "This endpoint needs a secret key (sk_…). Publishable and restricted keys cannot manage keys.".into();
    Self::KeyOutOfScope => 403, Permission, "key_out_of_scope",
        "This key has restrictions, so it can manage only keys that are at least as restricted as itself (same or narrower allowed_ips and allowed_endpoints, and an expiry no later than its own).".into();
    Self::WideningNotAllowed { param } => 403, Permission, "widening_not_allowed",
        format!("Self-service can only narrow a key's settings; this change to `{param}` would give the key more power. Ask the operator.");
    Self::KeyNotActive { status } => 409, InvalidRequest, "key_not_active",
        format!("Only an active key can be rolled or changed; this key is {status}.");
    Self::Portal(Refusal::LinkInvalid) => 401, Authentication, "portal_link_invalid",
        "This portal link is not valid, or was used already: each link opens the portal once. Ask for a new one where you found it.".into();
    Self::Portal(Refusal::Expired) => 401, Authentication, "portal_session_expired",
        "This portal session has ended. Open the portal again from where you found it.".into();
    Self::Portal(Refusal::SessionInvalid) => 401, Authentication, "portal_session_invalid",
        "No valid portal session: open the portal from its link.".into();
    Self::Portal(Refusal::SessionMissing) => 401, Authentication, "portal_session_missing",
        "No portal session: open the portal from its link, or sign in to the console.".into();
    Self::Portal(Refusal::CsrfMissing) => 403, Permission, "portal_csrf_invalid",
        "A change in the portal must carry the session's CSRF token (the `Keygate-CSRF` header), as the portal's page sends it.".into();
    Self::Portal(Refusal::OutOfScope) => 403, Permission, "portal_out_of_scope",
        "This portal session manages the keys of another mode only.".into();
    Self::KeyAlreadyExists { key_id, .. } => 409, InvalidRequest, "key_already_exists",
        format!("This key is already stored, as {key_id}: importing it again changes nothing.");
    Self::KeyLimitReached { limit } => 409, InvalidRequest, "key_limit_reached",
        format!("This account already has {limit} keys in this mode, the most it may have. Keys that ended are removed 30 days after they end.");
    Self::AdminUnauthorized { missing: true } => 401, Authentication, "admin_token_missing",
        "The admin API needs `Authorization: Bearer <ADMIN_TOKEN>`.".into();
    Self::AdminUnauthorized { missing: false } => 401, Authentication, "admin_token_invalid",
        "Invalid admin token.".into();
    Self::SignatureRejected { code, message } => 401, Authentication, code,
        (*message).into();
    Self::SigningKeysUnavailable => 503, Api, "signing_keys_unavailable",
        "The signing keys this request is checked with could not be fetched; nothing was done. Retry later.".into();
    Self::TooManyFailedAttempts { retry_after } => 429, RateLimit, "too_many_failed_attempts",
        format!("Too many failed authentication attempts from this address. Retry in {retry_after} seconds.");
    Self::RateLimitExceeded { retry_after } => 429, RateLimit, "rate_limit_exceeded",
        format!("This key's rate limit is used up for now. Retry in {retry_after} seconds.");
    Self::CreditsExhausted { retry_after: Some(retry_after) } => 429, RateLimit, "credits_exhausted",
        format!("This key has no credits left. They are refilled in {retry_after} seconds.");
    Self::CreditsExhausted { retry_after: None } => 429, RateLimit, "credits_exhausted",
        "This key has no credits left.".into();
    Self::InvalidParameter { code, message, .. } => 400, InvalidRequest, code,
        message.clone();
    Self::BodyTooLarge { limit } => 400, InvalidRequest, "body_too_large",
        format!("The request body is larger than {limit} bytes.");
    Self::NotFound { what } => 404, InvalidRequest, "resource_missing",
        format!("No such {what}.");
    Self::MethodNotAllowed { allowed } => 405, InvalidRequest, "method_not_allowed",
        format!("Method not allowed here; allowed: {allowed}.");
    Self::Misconfigured { what } => 500, Api, "misconfigured",
        format!("keygate is misconfigured ({what} is missing or invalid); the request was refused. The operator must fix the deployment.");
    Self::StoreUnavailable => 503, Api, "store_unavailable",
        "The key store is unavailable; the request was refused. Retry later.".into();
    Self::RecordCorrupt => 500, Api, "record_corrupt",
        "A stored key record is unreadable; the request was refused.".into();
    Self::OriginUnavailable => 502, Api, "origin_unavailable",
        "The API origin could not be reached.".into();
    Self::Internal { what } => 500, Api, "internal_error",
        format!("Internal error ({what}); the request was refused.");
    Self::Relayed { status, kind, code, message, .. } => *status, *kind, code,
        message.clone();
}

fn expired_message(redacted: &str, expired_at: i64, rolled: bool) -> String {
    let when = crate::time::http_date(expired_at);
    if rolled {
        format!("The API key {redacted} was rolled and expired at {when} ({expired_at}). Use its successor.")
    } else {
        format!("The API key {redacted} expired at {when} ({expired_at}). Use an active key.")
    }
}

//! Every error's status, type and code: the contract users match on.
use keygate_core::api::error_body::ErrorBody;
use keygate_core::{Error, ErrorType};

#[test]
fn mapping_table() {
    let r = || "sk_test_…abcd".to_string();
    let table: Vec<(Error, u16, &str, &str)> = vec![
        (Error::HttpsRequired, 403, "invalid_request_error", "https_required"),
        (Error::ApiKeyMissing, 401, "authentication_error", "api_key_missing"),
        (
            Error::AuthorizationMalformed { detail: "x" },
            400,
            "invalid_request_error",
            "authorization_malformed",
        ),
        (
            Error::AuthorizationSchemeCase { expected: "Bearer" },
            400,
            "invalid_request_error",
            "authorization_scheme_case",
        ),
        (
            Error::AuthorizationSchemeUnsupported,
            400,
            "invalid_request_error",
            "authorization_scheme_unsupported",
        ),
        (Error::AuthorizationTooLarge, 431, "invalid_request_error", "authorization_too_large"),
        (Error::UriTooLong, 414, "invalid_request_error", "uri_too_long"),
        (Error::MultipleCredentials, 400, "invalid_request_error", "multiple_credentials"),
        (Error::BasicMalformed { detail: "x" }, 400, "invalid_request_error", "basic_auth_malformed"),
        (Error::BasicPasswordNotEmpty, 400, "invalid_request_error", "basic_auth_password_not_empty"),
        (Error::ApiKeyInQuery { param: "key".into() }, 400, "invalid_request_error", "api_key_in_query"),
        (Error::ApiKeyInvalid { redacted: r() }, 401, "authentication_error", "api_key_invalid"),
        (Error::ApiKeyRevoked { redacted: r() }, 403, "authentication_error", "api_key_revoked"),
        (
            Error::ApiKeyExpired { redacted: r(), expired_at: 0, rolled: false },
            403,
            "authentication_error",
            "api_key_expired",
        ),
        (Error::KeyNotActive { status: "rolling" }, 409, "invalid_request_error", "key_not_active"),
        (Error::SecretKeyRequired, 403, "permission_error", "secret_key_required"),
        (Error::AdminUnauthorized { missing: true }, 401, "authentication_error", "admin_token_missing"),
        (Error::AdminUnauthorized { missing: false }, 401, "authentication_error", "admin_token_invalid"),
        (
            Error::invalid_param("parameter_invalid", "mode", "m"),
            400,
            "invalid_request_error",
            "parameter_invalid",
        ),
        (Error::BodyTooLarge { limit: 1 }, 400, "invalid_request_error", "body_too_large"),
        (
            Error::TooManyFailedAttempts { retry_after: 60 },
            429,
            "rate_limit_error",
            "too_many_failed_attempts",
        ),
        (Error::RateLimitExceeded { retry_after: 12 }, 429, "rate_limit_error", "rate_limit_exceeded"),
        (Error::CreditsExhausted { retry_after: Some(3600) }, 429, "rate_limit_error", "credits_exhausted"),
        (Error::CreditsExhausted { retry_after: None }, 429, "rate_limit_error", "credits_exhausted"),
        (Error::NotFound { what: "key".into() }, 404, "invalid_request_error", "resource_missing"),
        (Error::MethodNotAllowed { allowed: "GET" }, 405, "invalid_request_error", "method_not_allowed"),
        (Error::Misconfigured { what: "KEY_PEPPER" }, 500, "api_error", "misconfigured"),
        (Error::StoreUnavailable, 503, "api_error", "store_unavailable"),
        (Error::RecordCorrupt, 500, "api_error", "record_corrupt"),
        (Error::OriginUnavailable, 502, "api_error", "origin_unavailable"),
        (Error::Internal { what: "x" }, 500, "api_error", "internal_error"),
    ];
    for (e, status, kind, code) in table {
        assert_eq!((e.status(), e.error_type().as_str(), e.code()), (status, kind, code), "{e:?}");
        // Relaying through the Durable Object keeps all of it.
        let body = ErrorBody::new(&e, "https://docs");
        assert_eq!(body.error.doc_url, format!("https://docs#{code}"));
        let relayed = body.into_error(e.status());
        assert_eq!((relayed.status(), relayed.error_type().as_str(), relayed.code()), (status, kind, code));
        assert_eq!(
            (relayed.message(), relayed.param()),
            (e.message(), e.param().map(str::to_owned).as_deref())
        );
    }
    assert_eq!(ErrorType::from_name("permission_error"), Some(ErrorType::Permission));
    assert_eq!(ErrorType::from_name("nope"), None);
}

#[test]
fn what_counts_as_a_failed_authentication() {
    let r = || "sk_test_…abcd".to_string();
    assert!(Error::ApiKeyInvalid { redacted: r() }.counts_as_failed_auth());
    assert!(Error::ApiKeyRevoked { redacted: r() }.counts_as_failed_auth());
    assert!(Error::BasicPasswordNotEmpty.counts_as_failed_auth());
    assert!(Error::AdminUnauthorized { missing: false }.counts_as_failed_auth());
    for code in ["signature_malformed", "signature_key_unknown", "signature_invalid"] {
        assert!(Error::SignatureRejected { code, message: "m" }.counts_as_failed_auth(), "{code}");
    }
    for not in [
        Error::SignatureRejected { code: keygate_core::error::SIGNATURE_MISSING, message: "m" },
        Error::SigningKeysUnavailable,
        Error::ApiKeyMissing,
        Error::AdminUnauthorized { missing: true },
        Error::HttpsRequired,
        Error::PublishableKeyNotAllowed,
        Error::StoreUnavailable,
        Error::Misconfigured { what: "KEY_PEPPER" },
    ] {
        assert!(!not.counts_as_failed_auth(), "{not:?}");
    }
}

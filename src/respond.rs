//! Rendering at the edge: errors become Stripe-shaped JSON with the right status and headers.

use keygate_core::Error;
use keygate_core::api::error_body::ErrorBody;
use keygate_core::policy::identity::names;
use worker::{Headers, Response};

/// Build the HTTP response for `err`. Never fails: a failure to build headers degrades to a
/// bare response with the same status.
/// A 401 challenges the client (`WWW-Authenticate`) when `challenge` is set.
pub fn error(
    err: &Error,
    request_id: &str,
    doc_base: &str,
    extra: &[(&'static str, String)],
    challenge: bool,
) -> Response {
    let body = serde_json::to_vec(&ErrorBody::new(err, doc_base)).unwrap_or_default();
    let headers = json_headers(request_id);
    if err.status() == 401 && challenge {
        let _ = headers
            .set("WWW-Authenticate", r#"Bearer realm="keygate", Basic realm="keygate", charset="UTF-8""#);
    }
    if let Error::MethodNotAllowed { allowed } = err {
        let _ = headers.set("Allow", allowed);
    }
    if err.status() == 503 {
        let _ = headers.set("Retry-After", "1");
    }
    if let Error::TooManyFailedAttempts { retry_after }
    | Error::RateLimitExceeded { retry_after }
    | Error::CreditsExhausted { retry_after: Some(retry_after) } = err
    {
        let _ = headers.set("Retry-After", &retry_after.to_string());
    }
    for (name, value) in extra {
        let _ = headers.set(name, value);
    }
    Response::builder().with_status(err.status()).with_headers(headers).fixed(body)
}

/// A JSON success response.
#[cfg(feature = "authority")]
pub fn json<T: serde::Serialize>(status: u16, value: &T, request_id: &str) -> Result<Response, Error> {
    let body = serde_json::to_vec(value).map_err(|_| Error::Internal { what: "serialising a response" })?;
    let headers = json_headers(request_id);
    Ok(Response::builder().with_status(status).with_headers(headers).fixed(body))
}

/// What every JSON answer of keygate carries: its type, no caching, the request id.
fn json_headers(request_id: &str) -> Headers {
    let headers = Headers::new();
    let _ = headers.set("Content-Type", "application/json");
    let _ = headers.set("Cache-Control", "no-store");
    let _ = headers.set(names::REQUEST_ID, request_id);
    headers
}

/// A response without a body.
pub fn empty(status: u16, headers: Headers) -> Response {
    Response::builder().with_status(status).with_headers(headers).empty()
}

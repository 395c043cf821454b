//! The error body every refusal is rendered as, `{"error":{"type","code","message","param","doc_url"}}`,
//! and the way back from it (errors the authority answered with are relayed as they are).

use crate::error::{Error, ErrorType};

/// The JSON error object, `{"error":{"type","code","message","param","doc_url"}}`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ErrorBody {
    /// The error object.
    pub error: ErrorObject,
}

/// The inner error object.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ErrorObject {
    /// `invalid_request_error`, `authentication_error`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Stable machine-readable code.
    pub code: String,
    /// Human explanation.
    pub message: String,
    /// Offending parameter or null.
    pub param: Option<String>,
    /// Where the code is documented.
    pub doc_url: String,
    /// For `insufficient_permissions`: the permission the request needed, e.g. `refunds:write`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub required_permission: Option<String>,
    /// For `key_already_exists`: the id of the key stored already.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub key: Option<String>,
}

impl ErrorBody {
    /// The error an answer in this shape describes (used to relay the authority's errors).
    pub fn into_error(self, status: u16) -> Error {
        let e = self.error;
        // A portal refusal comes back as itself, so that the worker counts it for throttling
        // exactly as one it found itself.
        use crate::domain::portal::Refusal;
        if let Some(r) = Refusal::ALL.into_iter().find(|r| Error::Portal(*r).code() == e.code) {
            return Error::Portal(r);
        }
        Error::Relayed {
            status,
            kind: ErrorType::from_name(&e.kind).unwrap_or(ErrorType::Api),
            code: e.code,
            message: e.message,
            param: e.param,
        }
    }

    /// Describe `err`; `doc_base` is the documentation page the code anchors into.
    pub fn new(err: &Error, doc_base: &str) -> Self {
        ErrorBody {
            error: ErrorObject {
                kind: err.error_type().as_str().to_owned(),
                code: err.code().to_owned(),
                message: err.message(),
                param: err.param().map(str::to_owned),
                doc_url: format!("{doc_base}#{}", err.code()),
                required_permission: match err {
                    Error::InsufficientPermissions { required } => required.clone(),
                    _ => None,
                },
                key: match err {
                    Error::KeyAlreadyExists { key_id, .. } => Some(key_id.clone()),
                    _ => None,
                },
            },
        }
    }
}

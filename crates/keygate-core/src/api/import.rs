//! `POST /accounts/{account}/keys/import`: the body, `{"keys": [ITEM, …]}`, checked item by
//! item. A body that is not such a list (or holds more than [`MAX_IMPORT`] items) is one 400;
//! within it, each item is checked alone, and a bad item is a per-item error naming
//! `keys[i].field`, never failing the others.
//!
//! An item is a create's fields (`type`, `mode`, `name`, `expires_at`, `strict`, `permissions`,
//! restrictions, usage controls, `metadata`) and `created_at`, with either
//! * `secret`: the existing raw key, which must have the deployment's form for its type and mode
//!   (a keygate key, or an imported one: see [`crate::domain::key_format`]). Only its digest is
//!   kept; it is never stored, logged or answered back, and no message repeats it; or
//! * `hash`: `{"algorithm": "sha256_hex" | "sha256_base64", "value": "…"}`, the SHA-256 of the
//!   whole raw key (prefix included), with `prefix` (the configured one for its type and mode)
//!   and `last4`. Only for a deployment whose `KEY_FORMAT` declares imported keys: the edge looks
//!   a key up by its SHA-256 only when it has an imported key's form.

use serde_json::Value;

use crate::Error;
use crate::api::request::{CREATE_FIELDS, missing, wrong_type};
use crate::clock::UnixSeconds;
use crate::domain::digest::KeyDigest;
use crate::domain::key_format::Keyring;
use crate::domain::keystate::ImportKey;
use crate::domain::settings::CreateKey;

pub use crate::commands::migration::MAX_IMPORT;

/// The largest import body accepted, bytes: [`MAX_IMPORT`] items of up to 2 KiB each.
pub const MAX_IMPORT_BODY: usize = MAX_IMPORT * 2048;

/// The fields an item may have besides a create's.
const ITEM_FIELDS: [&str; 5] = ["secret", "hash", "prefix", "last4", "created_at"];

/// Parse an import body: one result per item, in order.
pub fn parse_import(
    body: &[u8],
    keys: &Keyring,
    now: UnixSeconds,
) -> Result<Vec<Result<ImportKey, Error>>, Error> {
    if body.len() > MAX_IMPORT_BODY {
        return Err(Error::BodyTooLarge { limit: MAX_IMPORT_BODY });
    }
    let obj = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => m,
        _ => {
            return Err(Error::invalid_param(
                "body_invalid",
                "body",
                "The request body must be a JSON object: {\"keys\": [ … ]}.",
            ));
        }
    };
    // An unknown field is not named back: a pasted key could be one.
    if obj.keys().any(|k| k != "keys") {
        return Err(Error::invalid_param("parameter_unknown", "body", "The body takes `keys` only."));
    }
    let items = match obj.get("keys") {
        None => return Err(missing("keys")),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(wrong_type("keys", "an array of keys")),
    };
    if items.is_empty() || items.len() > MAX_IMPORT {
        return Err(Error::invalid_param(
            "parameter_invalid",
            "keys",
            format!("`keys` takes 1 to {MAX_IMPORT} keys; send more in further calls."),
        ));
    }
    Ok(items.iter().enumerate().map(|(i, item)| parse_item(i, item, keys, now)).collect())
}

fn parse_item(index: usize, item: &Value, keys: &Keyring, now: UnixSeconds) -> Result<ImportKey, Error> {
    let within = |e: Error| prefixed(e, index);
    let Value::Object(obj) = item else {
        return Err(within(Error::invalid_param("parameter_invalid", "", "Each key must be a JSON object.")));
    };
    // An unknown field is not named back: a pasted key could be one. (Nor is `canary` taken: a
    // canary is planted, never imported.)
    let known = |k: &str| k != "canary" && (ITEM_FIELDS.contains(&k) || CREATE_FIELDS.contains(&k));
    if !obj.keys().all(|k| known(k)) {
        let fields: Vec<&str> =
            CREATE_FIELDS.iter().chain(&ITEM_FIELDS).copied().filter(|f| known(f)).collect();
        return Err(within(Error::invalid_param(
            "parameter_unknown",
            "",
            format!(
                "This key has a field an import does not take (not named back: it could be a pasted key). An item takes {}.",
                fields.join(", ")
            ),
        )));
    }
    let mut params = CreateKey::from_object(obj, now, &ITEM_FIELDS).map_err(within)?;
    params.canary = false;
    let created_at = match obj.get("created_at") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_i64().filter(|t| (0..=now).contains(t)).ok_or_else(|| {
            within(Error::invalid_param(
                "parameter_invalid",
                "created_at",
                "`created_at` must be a whole unix time in seconds, not in the future.",
            ))
        })?),
    };
    let prefix = keys.format.prefix_for(params.key_type, params.mode).map_err(within)?;
    let (digest, sha256_id, prefix, last4) = match (obj.get("secret"), obj.get("hash")) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(within(Error::invalid_param(
                "parameter_missing",
                "secret",
                "Each key takes either `secret` (the raw key) or `hash` (its SHA-256), not both.",
            )));
        }
        (Some(secret), None) => {
            for field in ["prefix", "last4"] {
                if obj.contains_key(field) {
                    return Err(within(Error::invalid_param(
                        "parameter_unknown",
                        field,
                        format!("`{field}` is read from `secret`; give it only with `hash`."),
                    )));
                }
            }
            let Value::String(secret) = secret else { return Err(within(wrong_type("secret", "a string"))) };
            let key = keys.format.parse(secret).map_err(|_| {
                within(Error::invalid_param(
                    "parameter_invalid",
                    "secret",
                    "`secret` does not have this deployment's key format (KEY_FORMAT): a configured prefix, then only characters of its alphabet, a keygate key's length and checksum or an imported key's length.",
                ))
            })?;
            if key.key_type() != params.key_type || key.mode() != params.mode {
                return Err(within(Error::invalid_param(
                    "parameter_invalid",
                    "secret",
                    format!(
                        "`secret` has the prefix of {} keys in {} mode, but `type` and `mode` say {} and {}.",
                        key.key_type().as_str(),
                        key.mode().as_str(),
                        params.key_type.as_str(),
                        params.mode.as_str()
                    ),
                )));
            }
            let sha256_id = KeyDigest::sha256_of(key.expose_secret());
            (keys.digest(&key), sha256_id, key.prefix().to_owned(), key.last4().to_owned())
        }
        (None, Some(hash)) => {
            if keys.format.imported().is_none() {
                return Err(within(Error::invalid_param(
                    "parameter_invalid",
                    "hash",
                    "This deployment's key format (KEY_FORMAT) declares no imported keys (`imported`), so a key imported as a hash could never be found.",
                )));
            }
            let digest = parse_hash(hash).map_err(within)?;
            let given = |field: &str| match obj.get(field) {
                None => Err(within(missing(field))),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(within(wrong_type(field, "a string"))),
            };
            let given_prefix = given("prefix")?;
            if given_prefix != prefix {
                return Err(within(Error::invalid_param(
                    "parameter_invalid",
                    "prefix",
                    format!(
                        "`prefix` must be `{prefix}`, the prefix of {} keys in {} mode.",
                        params.key_type.as_str(),
                        params.mode.as_str()
                    ),
                )));
            }
            let last4 = given("last4")?;
            if last4.len() != 4 || !last4.bytes().all(|c| keys.format.in_alphabet(c)) {
                return Err(within(Error::invalid_param(
                    "parameter_invalid",
                    "last4",
                    "`last4` must be the key's last four characters, from the key format's alphabet.",
                )));
            }
            (digest.clone(), digest, given_prefix, last4)
        }
    };
    // Found again whichever way it is given: by its digest (a raw key) or SHA-256 (a hash), and
    // by the alias of its SHA-256; during a rotation, also under the previous pepper.
    let alias = keys.pepper.hash_alias(&sha256_id);
    let mut also = Vec::new();
    // A raw key is also looked for by its SHA-256: an earlier hash import not used yet, in any
    // account (KV), or imported before hash aliases existed. Read only, never stored.
    if !digest.is_imported_hash() {
        also.push(sha256_id.clone());
    }
    if let Some(previous) = &keys.previous {
        if !digest.is_imported_hash()
            && let Some(Value::String(secret)) = obj.get("secret")
        {
            also.push(previous.digest_str(secret));
        }
        also.push(previous.hash_alias(&sha256_id));
    }
    Ok(ImportKey { params, digest, prefix, last4, created_at, index, alias, also })
}

/// The lookup id of an imported hash: `{"algorithm": "sha256_hex" | "sha256_base64", "value"}`.
fn parse_hash(hash: &Value) -> Result<KeyDigest, Error> {
    let Value::Object(h) = hash else { return Err(wrong_type("hash", "an object")) };
    if h.keys().any(|k| !["algorithm", "value"].contains(&k.as_str())) {
        return Err(Error::invalid_param(
            "parameter_unknown",
            "hash",
            "`hash` takes `algorithm` and `value` only (an unknown field is not named back).",
        ));
    }
    let value = match h.get("value") {
        None => return Err(missing("hash.value")),
        Some(Value::String(v)) => v.as_str(),
        Some(_) => return Err(wrong_type("hash.value", "a string")),
    };
    let bytes = match h.get("algorithm").and_then(Value::as_str) {
        None => return Err(missing("hash.algorithm")),
        Some("sha256_hex") => decode_hex(value).filter(|b| b.len() == 32).ok_or_else(|| {
            Error::invalid_param(
                "parameter_invalid",
                "hash.value",
                "`hash.value` must be 64 hexadecimal digits (a SHA-256 in hex).",
            )
        })?,
        Some("sha256_base64") => {
            crate::policy::credential::decode_base64(value).filter(|b| b.len() == 32).ok_or_else(|| {
                Error::invalid_param(
                    "parameter_invalid",
                    "hash.value",
                    "`hash.value` must be a SHA-256 in standard base64 (32 bytes, 43 or 44 characters).",
                )
            })?
        }
        Some(_) => {
            return Err(Error::invalid_param(
                "parameter_invalid",
                "hash.algorithm",
                "`hash.algorithm` must be `sha256_hex` or `sha256_base64`.",
            ));
        }
    };
    Ok(KeyDigest::sha256_hex(&bytes))
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok()))
        .collect()
}

/// `e` with its parameter named within item `index` (`keys[3].expires_at`).
fn prefixed(e: Error, index: usize) -> Error {
    let at = |param: &str| {
        if param.is_empty() { format!("keys[{index}]") } else { format!("keys[{index}].{param}") }
    };
    match e {
        // A nested unknown field is not named back either: only the known field that holds it.
        Error::InvalidParameter { code: "parameter_unknown", param, .. } => {
            let known = param.split(['.', '[']).next().unwrap_or("");
            Error::invalid_param(
                "parameter_unknown",
                at(known),
                "This field holds a field it does not take (not named back: it could be a pasted key).",
            )
        }
        Error::InvalidParameter { code, param, message } => {
            Error::InvalidParameter { code, param: at(&param), message }
        }
        Error::WideningNotAllowed { param } => Error::WideningNotAllowed { param: at(&param) },
        other => other,
    }
}

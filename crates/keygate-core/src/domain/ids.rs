//! Identifiers: account ids, key ids and event ids, and what makes each valid.

use crate::Error;

/// Whether `s` is a valid account id: `acct_` followed by 1–64 ASCII letters or digits.
pub fn valid_account(s: &str) -> bool {
    s.strip_prefix("acct_")
        .is_some_and(|rest| (1..=64).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Check an account id from a path.
pub fn parse_account(s: &str) -> Result<String, Error> {
    if valid_account(s) {
        Ok(s.to_owned())
    } else {
        Err(Error::invalid_param(
            "account_invalid",
            "account",
            "Account ids are `acct_` followed by 1 to 64 letters or digits.",
        ))
    }
}

/// Check a key id from a path: `key_` followed by 1–64 ASCII letters or digits.
pub fn parse_key_id(s: &str) -> Result<String, Error> {
    let ok = s.strip_prefix("key_").is_some_and(|rest| {
        (1..=64).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    });
    if ok { Ok(s.to_owned()) } else { Err(Error::NotFound { what: "key".into() }) }
}

pub(crate) fn event_id(seq: u64) -> String {
    format!("evt_{seq:012}")
}

/// The sequence number inside an event id, if it is one.
pub fn parse_event_id(id: &str) -> Option<u64> {
    let digits = id.strip_prefix("evt_")?;
    if digits.len() != 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

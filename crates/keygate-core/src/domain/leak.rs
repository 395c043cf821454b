//! Leaked keys: a token a secret scanner found in public (GitHub's partner program, or another
//! scanner through the operator), and what keygate answers about it.
//!
//! A reported token is a secret until proven otherwise: [`Sighting`] never shows it in `Debug`,
//! and nothing answers it back. The answer names it by its SHA-256 ([`token_hash`]), as GitHub's
//! feedback format asks.
//!
//! A canary key is a leak detector of its own: [`CanarySighting`] is what a request that
//! presented one showed of its sender.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Why a key was reported: GitHub's secret scanning.
pub const REASON_GITHUB: &str = "github_secret_scanning";
/// Why a key was reported: an operator's report (`POST /_keygate/v1/leaks`).
pub const REASON_OPERATOR: &str = "reported_leak";

/// One token a scanner reported, and where it was found.
#[derive(Clone, PartialEq, Eq)]
pub struct Sighting {
    /// The token as found. Never logged, stored or answered back.
    pub token: String,
    /// The scanner's name for the token's type (GitHub's `type`), answered back as `token_type`.
    pub token_type: String,
    /// Where it was found (may be empty).
    pub url: String,
    /// What kind of place (`content`, `commit`, `npm`, …), lower-cased; `None` when not given.
    pub source: Option<String>,
}

impl std::fmt::Debug for Sighting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sighting")
            .field("token", &crate::domain::key::redact(&self.token))
            .field("token_type", &self.token_type)
            .field("url", &self.url)
            .field("source", &self.source)
            .finish()
    }
}

/// A scanner's verdict on one token, as GitHub's feedback format spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    /// A secret or restricted key of this deployment (whatever its status now).
    TruePositive,
    /// Anything else: not a key of this deployment's format, a key that does not exist, or a
    /// publishable key (public by design: finding one in public is not a leak).
    FalsePositive,
}

/// What keygate records on one key it found in a report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Leak {
    /// `key_…`.
    pub key_id: String,
    /// [`REASON_GITHUB`] or [`REASON_OPERATOR`].
    pub reason: String,
    /// Where it was found (may be empty).
    pub url: String,
    /// What kind of place, if the scanner said.
    #[serde(default)]
    pub source: Option<String>,
}

/// A token as the feedback names it: the lower-case hex SHA-256 of its bytes.
pub fn token_hash(token: &str) -> String {
    keygate_verify::hex(&Sha256::digest(token.as_bytes()))
}

/// What a request that presented a canary showed of its sender (the authority cuts each field to
/// [`MAX_SEEN_LEN`] characters before it keeps it).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CanarySighting {
    /// `CF-Connecting-IP`.
    pub ip: String,
    /// `User-Agent`, or empty.
    pub user_agent: String,
    /// The method.
    pub method: String,
    /// The path (never the query, which could carry anything).
    pub path: String,
    /// How many presentations this report stands for (an isolate reports a canary at most once a
    /// minute, with the count since its last report); 0 is read as 1.
    #[serde(default)]
    pub count: u64,
}

/// [`CanarySighting`], borrowed from what the edge holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SeenBy<'a> {
    /// `CF-Connecting-IP`.
    pub ip: &'a str,
    /// `User-Agent`, or empty.
    pub user_agent: &'a str,
    /// The method.
    pub method: &'a str,
    /// The path.
    pub path: &'a str,
    /// How many presentations this report stands for.
    pub count: u64,
}

/// The longest field of a [`CanarySighting`] kept.
pub const MAX_SEEN_LEN: usize = 256;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_hash_is_sha256_hex() {
        // SHA-256("abc"), FIPS 180-2's example.
        assert_eq!(token_hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn debug_never_shows_the_token() {
        // Built at run time: a key-shaped literal in the source looks like a committed key.
        let token = format!("{}{}", "sk_live_", "0123456789abcdefghij".repeat(2));
        let s = Sighting {
            token: token.clone(),
            token_type: "keygate_secret_key".into(),
            url: String::new(),
            source: None,
        };
        let shown = format!("{s:?}");
        assert!(!shown.contains(&token), "{shown}");
        assert!(!shown.contains("0123456789abcdefghij"), "{shown}");
    }
}

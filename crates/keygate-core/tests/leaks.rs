//! Leak reports: GitHub's signature, the report parsers, the triage of reported tokens and what
//! the authority does to a leaked key.
mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::block_on;
use keygate_core::api::leaks::{
    MAX_GITHUB_TOKENS, MAX_REPORT_TOKENS, feedback, parse_github_report, parse_operator_report,
};
use keygate_core::commands::authority::Authority;
use keygate_core::commands::fakes::{MemoryKv, MemoryState};
use keygate_core::commands::leaks::triage;
use keygate_core::domain::digest::Pepper;
use keygate_core::domain::event::Page;
use keygate_core::domain::key::{ApiKey, KeyType, Mode};
use keygate_core::domain::leak::{Label, Leak, REASON_GITHUB, Sighting, token_hash};
use keygate_core::domain::settings::CreateKey;
use keygate_core::policy::leaks::{KEYS_TTL, KeysCache, MAX_KEYS_AGE, SigningKeys, parse_signature};
use keygate_core::rng::FixedRng;
use keygate_core::store::StoreError;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};

// GitHub's own example from its partner-program documentation: a real signature by a real key.
const GITHUB_ID: &str = "90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a";
const GITHUB_PEM: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE9MJJHnMfn2+H4xL4YaPDA4RpJqUq\nkCmRCBnYERxZanmcpzQSXs1X/AljlKkbJ8qpVIW4clayyef9gWhFbNHWAA==\n-----END PUBLIC KEY-----\n";
const GITHUB_BODY: &[u8] = br#"[{"token":"some_token","type":"some_type","url":"some_url"}]"#;
const GITHUB_SIG: &str =
    "MEUCIQDKZokqnCjrRtw0tni+2Ltvl/uiMJ1EGumEsp1BsNr32AIgQY1YXD2nlj+XNfGK4rBfkMJ1JDOQcYXxa2sY8FNkrKc=";

fn document(entries: &[(&str, &str)]) -> Vec<u8> {
    let keys: Vec<_> = entries
        .iter()
        .map(|(id, pem)| serde_json::json!({ "key_identifier": id, "key": pem, "is_current": true }))
        .collect();
    serde_json::to_vec(&serde_json::json!({ "public_keys": keys })).unwrap()
}

/// Decode the headers and verify, as the endpoint does.
fn check(keys: &SigningKeys, id: &str, sig: &str, body: &[u8]) -> Result<(), keygate_core::Error> {
    keys.verify(&parse_signature(Some(id), Some(sig))?, body)
}

fn code(e: keygate_core::Error) -> (u16, String) {
    (e.status(), e.code().to_owned())
}

#[test]
fn githubs_documented_signature_verifies_and_nothing_else_does() {
    let keys = SigningKeys::from_json(&document(&[(GITHUB_ID, GITHUB_PEM)])).unwrap();
    check(&keys, GITHUB_ID, GITHUB_SIG, GITHUB_BODY).unwrap();

    // One byte of the body changed after signing.
    let mut altered = GITHUB_BODY.to_vec();
    altered[11] = b'S';
    assert_eq!(
        code(check(&keys, GITHUB_ID, GITHUB_SIG, &altered).unwrap_err()),
        (401, "signature_invalid".into())
    );
    // The same body with a space added (a re-serialised body is not the signed one).
    let spaced = [GITHUB_BODY, b" "].concat();
    assert_eq!(
        code(check(&keys, GITHUB_ID, GITHUB_SIG, &spaced).unwrap_err()),
        (401, "signature_invalid".into())
    );
    // Another identifier.
    let other = "f9525bf080f75b3506ca1ead061add62b8633a346606dc5fe544e29231c6ee0d";
    assert_eq!(
        code(check(&keys, other, GITHUB_SIG, GITHUB_BODY).unwrap_err()),
        (401, "signature_key_unknown".into())
    );
    // Not base64, base64 of something else, a truncated DER.
    for bad in ["not base64!", "aGVsbG8=", &GITHUB_SIG[..40]] {
        assert_eq!(
            code(check(&keys, GITHUB_ID, bad, GITHUB_BODY).unwrap_err()),
            (401, "signature_malformed".into()),
            "{bad}"
        );
    }
    // A signature over the body by another key, presented under GitHub's identifier.
    let forger = SigningKey::from_slice(&[7u8; 32]).unwrap();
    let forged: Signature = forger.sign(GITHUB_BODY);
    let forged = STANDARD.encode(forged.to_der().as_bytes());
    assert_eq!(
        code(check(&keys, GITHUB_ID, &forged, GITHUB_BODY).unwrap_err()),
        (401, "signature_invalid".into())
    );
}

#[test]
fn the_keys_document_is_read_strictly_but_skips_keys_of_other_kinds() {
    // An RSA key (not P-256) beside GitHub's: skipped, GitHub's still used.
    let rsa = "-----BEGIN PUBLIC KEY-----\nMFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAMgYs9ZqBTGnNW0hyl5I4Zp5zrD6pp5w\nkbb/OzGkBPTRK0b9ciaqDcpHVbmo7vhrsKJvC8K3YrThLN3TUfJvHn8CAwEAAQ==\n-----END PUBLIC KEY-----\n";
    let keys = SigningKeys::from_json(&document(&[("rsa", rsa), (GITHUB_ID, GITHUB_PEM)])).unwrap();
    assert_eq!(keys.len(), 1);
    assert!(keys.knows(GITHUB_ID) && !keys.knows("rsa"));
    // A document with no usable key is a failed fetch (the cache keeps what it had).
    assert!(SigningKeys::from_json(&document(&[("rsa", rsa)])).is_err());
    for bad in
        [&b"[]"[..], b"{}", b"{\"public_keys\": 3}", b"not json", b"{\"public_keys\": [{\"key\": \"x\"}]}"]
    {
        assert!(SigningKeys::from_json(bad).is_err(), "{}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn a_report_signed_by_a_listed_key_verifies() {
    let signer = SigningKey::from_slice(&[42u8; 32]).unwrap();
    let pem = signer.verifying_key().to_public_key_pem(LineEnding::LF).unwrap();
    let keys = SigningKeys::from_json(&document(&[("ours", &pem)])).unwrap();
    let body = br#"[{"token":"sk_live_x","type":"keygate","url":"","source":"Content"}]"#;
    let sig: Signature = signer.sign(body);
    check(&keys, "ours", &STANDARD.encode(sig.to_der().as_bytes()), body).unwrap();
}

#[test]
fn signing_keys_are_refetched_after_their_ttl_and_for_an_unknown_identifier() {
    let mut cache = KeysCache::default();
    let t = 1_000_000;
    assert!(cache.wants_fetch(GITHUB_ID, t) && cache.keys(t).is_none());
    cache.attempting(t);
    cache.fetched(SigningKeys::from_json(&document(&[(GITHUB_ID, GITHUB_PEM)])).unwrap(), t);
    // Known: no fetch until the TTL.
    assert!(!cache.wants_fetch(GITHUB_ID, t + 61));
    assert!(!cache.wants_fetch(GITHUB_ID, t + KEYS_TTL - 1));
    assert!(cache.wants_fetch(GITHUB_ID, t + KEYS_TTL));
    // Unknown: one fetch a minute at most, however many reports name it.
    assert!(cache.wants_fetch("rotated", t + 60));
    cache.attempting(t + 60);
    for dt in 61..120 {
        assert!(!cache.wants_fetch("rotated", t + dt));
    }
    assert!(cache.wants_fetch("rotated", t + 120));
    // A failed refresh keeps the keys it had, for a day at most.
    assert!(cache.keys(t + 120).is_some_and(|k| k.knows(GITHUB_ID)));
    assert!(cache.keys(t + MAX_KEYS_AGE - 1).is_some());
    assert!(cache.keys(t + MAX_KEYS_AGE).is_none(), "keys a day old without a refresh are no longer trusted");
}

#[test]
fn githubs_report_is_parsed_leniently_where_github_may_grow() {
    let body = br#"[
        {"token":"a","type":"keygate_secret","url":"https://github.com/o/r/blob/x/f","source":"Content"},
        {"token":"b","type":"t","url":"","source":"NPM","added_by_github_later":{"x":1}},
        {"token":"c","type":"t"}
    ]"#;
    let s = parse_github_report(body).unwrap();
    assert_eq!(s.len(), 3);
    assert_eq!(
        (s[0].token.as_str(), s[0].token_type.as_str(), s[0].source.as_deref()),
        ("a", "keygate_secret", Some("content"))
    );
    assert_eq!((s[1].url.as_str(), s[1].source.as_deref()), ("", Some("npm")));
    assert_eq!((s[2].url.as_str(), s[2].source.as_deref()), ("", None));
    assert!(parse_github_report(b"[]").unwrap().is_empty());

    let err = |b: &[u8]| {
        let e = parse_github_report(b).unwrap_err();
        (e.status(), e.code().to_owned(), e.param().map(str::to_owned))
    };
    assert_eq!(err(br#"{"token":"a"}"#), (400, "body_invalid".into(), Some("body".into())));
    assert_eq!(err(b"[1]"), (400, "parameter_invalid".into(), Some("[0]".into())));
    assert_eq!(
        err(br#"[{"token":"a"},{"type":"t"}]"#),
        (400, "parameter_missing".into(), Some("[1].token".into()))
    );
    assert_eq!(err(br#"[{"token":5}]"#), (400, "parameter_invalid".into(), Some("[0].token".into())));
    assert_eq!(err(br#"[{"token":"a","url":7}]"#), (400, "parameter_invalid".into(), Some("[0].url".into())));
    assert_eq!(err(b"[{"), (400, "body_invalid".into(), Some("body".into())));
    let many =
        serde_json::to_vec(&vec![serde_json::json!({"token": "x", "type": "t"}); MAX_GITHUB_TOKENS + 1])
            .unwrap();
    assert_eq!(err(&many), (400, "too_many_tokens".into(), Some("body".into())));
    let full =
        serde_json::to_vec(&vec![serde_json::json!({"token": "x", "type": "t"}); MAX_GITHUB_TOKENS]).unwrap();
    assert_eq!(parse_github_report(&full).unwrap().len(), MAX_GITHUB_TOKENS);
    // Over-long fields of GitHub's are cut, never refused (GitHub does not retry a 4xx).
    let long = serde_json::to_vec(&serde_json::json!([{"token": "x", "type": "t".repeat(500), "url": "u".repeat(5000), "source": "S".repeat(100)}])).unwrap();
    let s = parse_github_report(&long).unwrap();
    assert_eq!(
        (s[0].token_type.len(), s[0].url.len(), s[0].source.as_deref().map(str::len)),
        (128, 2048, Some(64))
    );
}

#[test]
fn the_operators_report_is_strict_and_never_names_what_it_refuses() {
    let s = parse_operator_report(
        br#"{"tokens":["sk_a",{"token":"sk_b","url":"https://paste.example/1","source":"Pastebin"}]}"#,
    )
    .unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!((s[0].token.as_str(), s[0].url.as_str()), ("sk_a", ""));
    assert_eq!((s[1].url.as_str(), s[1].source.as_deref()), ("https://paste.example/1", Some("pastebin")));
    let err = |b: &[u8]| {
        let e = parse_operator_report(b).unwrap_err();
        (e.code().to_owned(), e.param().map(str::to_owned), e.message())
    };
    // Built at run time: a key-shaped literal in the source looks like a committed key.
    let secret = &format!("{}PASTEDINTHEWRONGPLACE{}", "sk_live_", "0".repeat(17));
    let (c, p, m) = err(format!(r#"{{"tokens":[{{"token":"x","{secret}":1}}]}}"#).as_bytes());
    assert_eq!((c.as_str(), p.as_deref()), ("parameter_unknown", Some("tokens[0]")));
    assert!(!m.contains("PASTED"), "{m}");
    let (c, p, m) = err(format!(r#"{{"{secret}":[]}}"#).as_bytes());
    assert_eq!((c.as_str(), p.as_deref()), ("parameter_unknown", Some("body")));
    assert!(!m.contains("PASTED"), "{m}");
    assert_eq!(err(br#"{"tokens":[]}"#).1.as_deref(), Some("tokens"));
    assert_eq!(err(br#"{}"#).0, "parameter_missing");
    assert_eq!(err(br#"{"tokens":"sk"}"#).1.as_deref(), Some("tokens"));
    assert_eq!(err(br#"{"tokens":[3]}"#).1.as_deref(), Some("tokens[0]"));
    assert_eq!(err(br#"{"tokens":[{"url":"u"}]}"#).1.as_deref(), Some("tokens[0].token"));
    assert_eq!(err(b"[]").0, "body_invalid");
    // An operator's over-long field is a 400 naming it.
    let long = format!(r#"{{"tokens":[{{"token":"x","url":"{}"}}]}}"#, "u".repeat(2049));
    assert_eq!(err(long.as_bytes()).1.as_deref(), Some("tokens[0].url"));
    let long = format!(r#"{{"tokens":[{{"token":"x","source":"{}"}}]}}"#, "s".repeat(65));
    assert_eq!(err(long.as_bytes()).1.as_deref(), Some("tokens[0].source"));
    // An operator's over-long field is a 400 naming it.
    let long = format!(r#"{{"tokens":[{{"token":"x","url":"{}"}}]}}"#, "u".repeat(2049));
    assert_eq!(err(long.as_bytes()).1.as_deref(), Some("tokens[0].url"));
    let long = format!(r#"{{"tokens":[{{"token":"x","source":"{}"}}]}}"#, "s".repeat(65));
    assert_eq!(err(long.as_bytes()).1.as_deref(), Some("tokens[0].source"));
}

const T0: i64 = 2_000_000_000;

fn pepper() -> keygate_core::domain::key_format::Keyring {
    keygate_core::domain::key_format::Keyring::new(
        Pepper::new("leaks-pepper-leaks-pepper-leaks-pepper").unwrap(),
    )
}

/// Keys made by an authority, with their records copied into the edge's read store.
struct World(common::Replicated);

impl World {
    fn new() -> Self {
        World(common::Replicated::new("leaks-pepper-leaks-pepper-leaks-pepper"))
    }

    fn authority(&self) -> Authority<'_, MemoryState, MemoryKv> {
        self.0.authority()
    }

    /// A new key of `account`; its record is also put where triage reads it.
    fn key(&self, account: &str, key_type: KeyType, mode: Mode, rng: &mut FixedRng) -> (String, String) {
        let params = CreateKey { name: "n".into(), ..common::plain_key(key_type, mode) };
        self.0.key(account, &params, rng, T0)
    }
}

impl std::ops::Deref for World {
    type Target = common::Replicated;
    fn deref(&self) -> &common::Replicated {
        &self.0
    }
}

fn sighting(token: &str, url: &str) -> Sighting {
    Sighting {
        token: token.into(),
        token_type: "keygate_api_key".into(),
        url: url.into(),
        source: Some("content".into()),
    }
}

#[test]
fn triage_labels_each_token_and_groups_the_leaks_by_authority() {
    let w = World::new();
    let mut rng = FixedRng::new(*b"triage");
    let (live_id, live) = w.key("acct_a", KeyType::Secret, Mode::Live, &mut rng);
    let (rk_id, rk) = w.key("acct_a", KeyType::Restricted, Mode::Live, &mut rng);
    let (test_id, test) = w.key("acct_b", KeyType::Secret, Mode::Test, &mut rng);
    let (_, pk) = w.key("acct_a", KeyType::Publishable, Mode::Live, &mut rng);
    // Well-formed but unknown: a key of this format that keygate never made.
    let unknown = ApiKey::generate(KeyType::Secret, Mode::Live, &mut FixedRng::new(*b"unknown")).unwrap();
    let report = vec![
        sighting(&live, "https://github.com/o/r/1"),
        sighting("ghp_notakeyofours", "u"),
        sighting(&pk, "u"),
        sighting(&test, "https://github.com/o/r/2"),
        sighting(unknown.expose_secret(), "u"),
        sighting(&rk, "https://github.com/o/r/3"),
        sighting(&live, "https://github.com/o/r/again"),
    ];
    let t = block_on(triage(&w.store, pepper().lookup(), &report, REASON_GITHUB)).unwrap();
    use Label::*;
    assert_eq!(
        t.labels,
        vec![
            TruePositive,
            FalsePositive,
            FalsePositive,
            TruePositive,
            FalsePositive,
            TruePositive,
            TruePositive
        ]
    );
    let leak = |id: &str, url: &str| Leak {
        key_id: id.into(),
        reason: REASON_GITHUB.into(),
        url: url.into(),
        source: Some("content".into()),
    };
    assert_eq!(
        t.leaks.get(&(Mode::Live, "acct_a".into())),
        Some(&vec![leak(&live_id, "https://github.com/o/r/1"), leak(&rk_id, "https://github.com/o/r/3")]),
        "a key reported twice is one leak, with its first sighting"
    );
    assert_eq!(
        t.leaks.get(&(Mode::Test, "acct_b".into())),
        Some(&vec![leak(&test_id, "https://github.com/o/r/2")])
    );
    assert_eq!(t.leaks.len(), 2);
    // One bulk read per mode that has well-formed tokens.
    assert_eq!(w.store.reads(), 2);

    let fb = feedback(&report, &t.labels);
    assert_eq!(fb[0].token_hash, token_hash(&live));
    assert_eq!(fb[0].token_type, "keygate_api_key");
    let text = serde_json::to_string(&fb).unwrap();
    assert!(text.contains(r#""label":"true_positive""#) && text.contains(r#""label":"false_positive""#));
    for s in &report {
        assert!(!text.contains(&s.token), "the feedback never carries a token");
    }
}

#[test]
fn a_report_of_garbage_reads_nothing_and_a_full_report_reads_in_bulk() {
    let w = World::new();
    let garbage: Vec<_> =
        (0..MAX_REPORT_TOKENS).map(|i| sighting(&format!("sk_live_{i:038}"), "u")).collect();
    let t = block_on(triage(&w.store, pepper().lookup(), &garbage, REASON_GITHUB)).unwrap();
    assert!(t.labels.iter().all(|l| *l == Label::FalsePositive));
    assert_eq!(w.store.reads(), 0, "no token has a valid checksum: nothing is read");

    let mut rng = FixedRng::new(*b"bulk");
    let mut report = Vec::new();
    for i in 0..MAX_REPORT_TOKENS {
        let mode = if i % 2 == 0 { Mode::Live } else { Mode::Test };
        let mut filler = FixedRng::new(format!("filler-{i:04}"));
        report.push(ApiKey::generate(KeyType::Secret, mode, &mut filler).unwrap().expose_secret().to_owned());
    }
    let (_, real) = w.key("acct_a", KeyType::Secret, Mode::Live, &mut rng);
    report[500] = real;
    let report: Vec<_> = report.iter().map(|t| sighting(t, "u")).collect();
    let t = block_on(triage(&w.store, pepper().lookup(), &report, REASON_GITHUB)).unwrap();
    assert_eq!(t.labels.iter().filter(|l| **l == Label::TruePositive).count(), 1);
    assert_eq!(t.labels[500], Label::TruePositive);
    // 500 live and 500 test digests: five bulk reads each, far within 1000 operations.
    assert_eq!(w.store.reads(), 10);
}

#[test]
fn a_store_fault_fails_the_report_instead_of_calling_keys_clean() {
    let w = World::new();
    let mut rng = FixedRng::new(*b"fault");
    let (_, live) = w.key("acct_a", KeyType::Secret, Mode::Live, &mut rng);
    w.store.set_fault(Some(StoreError::Timeout));
    let e =
        block_on(triage(&w.store, pepper().lookup(), &[sighting(&live, "u")], REASON_GITHUB)).unwrap_err();
    assert_eq!(e.status(), 503);
}

#[test]
fn the_authority_flags_or_ends_a_leaked_key_once_per_report() {
    let w = World::new();
    let mut rng = FixedRng::new(*b"authority");
    let (flagged, _) = w.key("acct_a", KeyType::Secret, Mode::Test, &mut rng);
    let (ended, _) = w.key("acct_a", KeyType::Secret, Mode::Test, &mut rng);
    let a = w.authority();
    let leak = |id: &str| Leak {
        key_id: id.into(),
        reason: REASON_GITHUB.into(),
        url: "https://github.com/o/r/blob/1/.env".into(),
        source: Some("content".into()),
    };
    // An exposure seen at the edge first; the report then says more, and replaces it.
    block_on(a.exposed("acct_a", &flagged, "plain_http", false, T0 + 1)).unwrap();
    let gone = Leak { key_id: "key_removedlongago".into(), ..leak("x") };
    block_on(a.leaked("acct_a", &[leak(&flagged), gone.clone()], false, T0 + 2)).unwrap();
    let k = block_on(a.load("acct_a", &flagged)).unwrap();
    let e = k.exposed.clone().unwrap();
    assert_eq!(
        (e.reason.as_str(), e.at, e.url.as_deref(), e.source.as_deref()),
        (REASON_GITHUB, T0 + 2, Some("https://github.com/o/r/blob/1/.env"), Some("content"))
    );
    assert_eq!(k.status_at(T0 + 3).as_str(), "active", "flag leaves the key working");
    // The same report again (GitHub retries): nothing new.
    block_on(a.leaked("acct_a", &[leak(&flagged)], false, T0 + 3)).unwrap();
    let events = block_on(a.events("acct_a", &Page { limit: 50, starting_after: None })).unwrap();
    let exposed: Vec<_> =
        events.data.iter().filter(|e| e.kind == "key.exposed" && e.key_id == flagged).collect();
    assert_eq!(exposed.len(), 2, "the edge's sighting and the report, once each");
    assert_eq!(exposed[0].data["url"], "https://github.com/o/r/blob/1/.env");

    block_on(a.leaked("acct_a", &[leak(&ended)], true, T0 + 4)).unwrap();
    let k = block_on(a.load("acct_a", &ended)).unwrap();
    assert_eq!((k.status_at(T0 + 5).as_str(), k.record.expires_at), ("expired", Some(T0 + 4)));
    block_on(a.leaked("acct_a", &[leak(&ended)], true, T0 + 9)).unwrap();
    // Reported again from many places (a flood of reports, or a key copied everywhere): the
    // first report stands, and the audit log gets nothing more, for a live key or an ended one.
    let before = block_on(a.events("acct_a", &Page { limit: 100, starting_after: None })).unwrap().data.len();
    for i in 0..40 {
        let elsewhere = Leak { url: format!("https://gist.github.com/x/{i}"), ..leak(&flagged) };
        block_on(a.leaked(
            "acct_a",
            &[elsewhere, Leak { url: format!("u{i}"), ..leak(&ended) }],
            false,
            T0 + 10 + i,
        ))
        .unwrap();
    }
    let after = block_on(a.events("acct_a", &Page { limit: 100, starting_after: None })).unwrap().data.len();
    assert_eq!(after, before, "no event from 80 more reports");
    let k = block_on(a.load("acct_a", &flagged)).unwrap();
    assert_eq!(k.exposed.as_ref().and_then(|e| e.url.as_deref()), Some("https://github.com/o/r/blob/1/.env"));
    let events = block_on(a.events("acct_a", &Page { limit: 50, starting_after: None })).unwrap();
    let kinds: Vec<_> = events.data.iter().filter(|e| e.key_id == ended).map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "key.expired").count(), 1, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "key.exposed").count(), 1, "{kinds:?}");
}

#[test]
fn the_scanning_pattern_matches_every_secret_and_restricted_key_and_no_publishable_one() {
    use keygate_core::api::leaks::ScanningPattern;
    let p = ScanningPattern::of_deployment(&keygate_core::domain::key_format::KeyFormat::default());
    assert_eq!(p.pattern, "(?:sk_test_|sk_live_|rk_test_|rk_live_)[0-9A-Za-z]{38}");
    assert_eq!(p.prefixes, ["sk_test_", "sk_live_", "rk_test_", "rk_live_"]);
    // The pattern, checked by hand against generated keys: a prefix it lists, then the length
    // and alphabet it says.
    for t in KeyType::ALL {
        for m in Mode::ALL {
            let k = ApiKey::generate(t, m, &mut FixedRng::new(*b"pattern-0123456789")).unwrap();
            let s = k.expose_secret();
            let listed = p.prefixes.iter().any(|pre| s.starts_with(pre.as_str()));
            assert_eq!(listed, t != KeyType::Publishable, "{t:?} {m:?}");
            assert!((p.min_length..=p.max_length).contains(&s.len()));
            assert!(s[8..].bytes().all(|b| b.is_ascii_alphanumeric()));
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn keys() -> SigningKeys {
        SigningKeys::from_json(&document(&[(GITHUB_ID, GITHUB_PEM)])).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The report parsers and the keys document never panic on any bytes, and an accepted
        /// report never has more tokens than the limit.
        #[test]
        fn report_parsers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(s) = parse_github_report(&data) {
                prop_assert!(s.len() <= MAX_GITHUB_TOKENS);
            }
            if let Ok(s) = parse_operator_report(&data) {
                prop_assert!(!s.is_empty() && s.len() <= MAX_REPORT_TOKENS);
            }
            let _ = SigningKeys::from_json(&data);
        }

        /// JSON-shaped reports: whatever the items, never a panic.
        #[test]
        fn json_reports_never_panic(items in proptest::collection::vec(
            (any::<Option<String>>(), any::<Option<String>>(), any::<Option<String>>(), any::<bool>()), 0..20)
        ) {
            let arr: Vec<_> = items.iter().map(|(t, u, s, extra)| {
                let mut o = serde_json::Map::new();
                if let Some(t) = t { o.insert("token".into(), t.clone().into()); }
                if let Some(u) = u { o.insert("url".into(), u.clone().into()); }
                if let Some(s) = s { o.insert("source".into(), s.clone().into()); }
                if *extra { o.insert("extra".into(), 1.into()); }
                serde_json::Value::Object(o)
            }).collect();
            let _ = parse_github_report(&serde_json::to_vec(&arr).unwrap());
            let _ = parse_operator_report(&serde_json::to_vec(&serde_json::json!({ "tokens": arr })).unwrap());
        }

        /// The signature decoder never panics, and nothing but GitHub's own signature verifies
        /// GitHub's body: any other header value, as text or as base64 of any bytes, is refused.
        #[test]
        fn no_other_signature_verifies(sig in any::<String>(), der in proptest::collection::vec(any::<u8>(), 0..100), id in any::<String>()) {
            let k = keys();
            prop_assume!(sig != GITHUB_SIG);
            prop_assert!(check(&k, GITHUB_ID, &sig, GITHUB_BODY).is_err());
            let encoded = STANDARD.encode(&der);
            prop_assume!(encoded != GITHUB_SIG);
            prop_assert!(check(&k, GITHUB_ID, &encoded, GITHUB_BODY).is_err());
            let _ = check(&k, &id, GITHUB_SIG, GITHUB_BODY);
            let _ = parse_signature(Some(&id), Some(&sig));
        }

        /// A changed body never verifies under GitHub's signature.
        #[test]
        fn no_other_body_verifies(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            prop_assume!(body != GITHUB_BODY);
            prop_assert!(check(&keys(), GITHUB_ID, GITHUB_SIG, &body).is_err());
        }
    }
}

//! Moving an API behind keygate (issue: adoption): the deployment's own key format, importing
//! existing keys by their raw secret or their SHA-256, upgrading a hash on its first use, and
//! rotating the pepper without invalidating a key. Each against the authority over in-memory
//! storage and KV, and the edge's lookup over what the authority wrote.
mod common;

use common::block_on;
use keygate_core::Error;
use keygate_core::api::import::parse_import;
use keygate_core::commands::authority::{Authority, Limits, Principal};
use keygate_core::commands::fakes::{MemoryKv, MemoryState};
use keygate_core::domain::digest::{KeyDigest, Pepper};
use keygate_core::domain::event::{Actor, Page};
use keygate_core::domain::key::{KeyType, Mode};
use keygate_core::domain::key_format::{KeyFormat, Keyring};
use keygate_core::domain::keystate::ImportKey;
use keygate_core::policy::gate::{Found, ParsedRecords, Presented, authenticate};
use keygate_core::policy::pins::HostPins;
use keygate_core::policy::throttle::{KnownGood, Throttle};
use keygate_core::rng::FixedRng;
use serde_json::json;

const T0: i64 = 2_000_000_000;
const ACCT: &str = "acct_moment";
const PEPPER: &str = "migration-pepper-migration-pepper-xx";
const PEPPER_2: &str = "the-next-pepper-the-next-pepper-the-n";

/// Moment's format: `sk_test_`/`pk_test_` in test mode, `sk_`/`pk_` in live mode, base62, and
/// keys from before keygate of 20 to 24 characters after their prefix.
const MOMENT: &str = r#"{
  "prefixes": {"secret": {"test": "sk_test_", "live": "sk_"},
               "publishable": {"test": "pk_test_", "live": "pk_"}},
  "alphabet": "base62", "random_length": 32,
  "imported": {"min_length": 20, "max_length": 24}
}"#;

/// A Moment-style live key from before keygate (built at run time: no literal looks like a key).
fn old_live_key(n: usize) -> String {
    let base62 = keygate_core::domain::key::BASE62;
    format!("sk_{}{}{}", "vYZCAeHawUqDCmVpEKh", base62[n / 62 % 62] as char, base62[n % 62] as char)
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    keygate_core::domain::digest::hex(&sha2::Sha256::digest(s.as_bytes()))
}

fn moment(pepper: &str, previous: Option<&str>) -> Keyring {
    Keyring {
        format: KeyFormat::parse_json(MOMENT).unwrap(),
        pepper: Pepper::new(pepper).unwrap(),
        previous: previous.map(|p| Pepper::new(p).unwrap()),
    }
}

struct World {
    seed: std::cell::Cell<u8>,
    state: MemoryState,
    kv: MemoryKv,
    records: ParsedRecords,
    known: KnownGood,
}

impl World {
    fn new() -> Self {
        World {
            seed: std::cell::Cell::new(0),
            state: MemoryState::new(),
            kv: MemoryKv::default(),
            records: ParsedRecords::new(0),
            known: KnownGood::new(16),
        }
    }

    fn authority(&self) -> Authority<'_, MemoryState, MemoryKv> {
        Authority {
            state: &self.state,
            kv: &self.kv,
            limits: Limits { retired_keep: 300, ..Limits::default() },
        }
    }

    fn import(&self, keys: &Keyring, body: serde_json::Value) -> Vec<Result<String, Error>> {
        let items = parse_import(body.to_string().as_bytes(), keys, T0).unwrap();
        let mut out: Vec<Option<Result<String, Error>>> = vec![None; items.len()];
        let mut good: Vec<ImportKey> = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            match item {
                Ok(k) => good.push(k),
                Err(e) => out[i] = Some(Err(e)),
            }
        }
        for mode in Mode::ALL {
            let batch: Vec<ImportKey> = good.iter().filter(|k| k.params.mode == mode).cloned().collect();
            let indexes: Vec<usize> = batch.iter().map(|k| k.index).collect();
            let results =
                block_on(self.authority().import(ACCT, &batch, keys, &mut self.rng(), T0, &Actor::admin()))
                    .unwrap();
            for (i, r) in indexes.into_iter().zip(results) {
                out[i] = Some(r.map(|k| k.record.id));
            }
        }
        out.into_iter().map(Option::unwrap).collect()
    }

    fn present(
        &self,
        keys: &Keyring,
        secret: &str,
        now: i64,
    ) -> Result<keygate_core::policy::gate::Authenticated, Error> {
        let auth = format!("Bearer {secret}");
        let presented = Presented { authorization: Some(&auth), query: None, host: None };
        let throttle = Throttle { known: &self.known, blocked_for: None };
        block_on(authenticate(
            presented,
            &HostPins::default(),
            &self.kv,
            keys.lookup(),
            &self.records,
            throttle,
            now,
        ))
    }

    /// A source of different ids for each import.
    fn rng(&self) -> FixedRng {
        self.seed.set(self.seed.get() + 1);
        FixedRng::new([b'i', b'm', b'p', self.seed.get(), b'r', b'n', b'g', b'!', b'!', b'!'])
    }

    fn reads(&self) -> usize {
        *self.kv.reads.borrow()
    }
}

// ---- 1. The deployment's own key format ----------------------------------------------------

#[test]
fn the_default_format_is_keygates_own_and_keys_made_before_still_parse() {
    let f = KeyFormat::default();
    // A key of the committed vectors, made by the code before KEY_FORMAT existed.
    let mut rng = FixedRng::new(*b"vectors!!!");
    let made = keygate_core::domain::key::ApiKey::generate(KeyType::Secret, Mode::Test, &mut rng).unwrap();
    let again = f.parse(made.expose_secret()).unwrap();
    assert_eq!((again.key_type(), again.mode(), again.imported()), (KeyType::Secret, Mode::Test, false));
    assert_eq!(again.prefix(), "sk_test_");
    assert_eq!(made.expose_secret().len(), 46);
    assert_eq!(keygate_core::domain::key::checksum(&made.expose_secret()[..40]), made.expose_secret()[40..]);
    // No imports: a key of another length is refused, whatever its prefix.
    assert!(f.parse(&format!("sk_test_{}", "a".repeat(21))).is_err());
}

#[test]
fn moments_format_is_expressible_and_reads_each_prefix_as_its_own() {
    let f = KeyFormat::parse_json(MOMENT).unwrap();
    let mut rng = FixedRng::new(*b"moment-rng");
    let live = f.generate(KeyType::Secret, Mode::Live, &mut rng).unwrap();
    let test = f.generate(KeyType::Secret, Mode::Test, &mut rng).unwrap();
    assert!(live.expose_secret().starts_with("sk_") && !live.expose_secret().starts_with("sk_test_"));
    assert_eq!(live.expose_secret().len(), 3 + 38);
    assert_eq!(f.parse(live.expose_secret()).unwrap().mode(), Mode::Live);
    // `sk_test_…` is read with the longer prefix: `_` cannot occur in a random part.
    let read = f.parse(test.expose_secret()).unwrap();
    assert_eq!((read.mode(), read.prefix(), read.imported()), (Mode::Test, "sk_test_", false));
    // A key from before keygate: no checksum, 21 characters after `sk_`.
    let old = f.parse(&old_live_key(0)).unwrap();
    assert_eq!((old.key_type(), old.mode(), old.imported()), (KeyType::Secret, Mode::Live, true));
    assert_eq!(old.redacted(), "sk_…Kh00");
    // No restricted prefix: none can be made.
    assert_eq!(f.generate(KeyType::Restricted, Mode::Live, &mut rng).unwrap_err().param(), Some("type"));
    // A keygate-length key with a wrong checksum is looked up as an imported one only if its
    // length is in the imported range (here it is not: refused unread).
    let mut bad = live.expose_secret().to_owned();
    bad.replace_range(5..6, if &bad[5..6] == "a" { "b" } else { "a" });
    assert!(f.parse(&bad).is_err());
    // Characters outside the alphabet, an unknown prefix, a length outside every range.
    for garbage in [
        format!("sk_{}", "vYZCAeHawUqDCmVpEKh2-"),
        format!("xk_{}", "vYZCAeHawUqDCmVpEKh2U"),
        format!("sk_{}", "vYZCAeHawUqDCmVpEKh"),
        format!("sk_{}", "a".repeat(25)),
        "sk_".to_owned(),
    ] {
        assert_eq!(f.parse(&garbage).unwrap_err().code(), "api_key_invalid", "{garbage}");
    }
}

#[test]
fn an_ambiguous_or_weak_format_is_refused_naming_the_var() {
    let bad = [
        // `sk_` + `test_…`: `_` in the alphabet makes `sk_test_` ambiguous.
        r#"{"prefixes": {"secret": {"test": "sk_test_", "live": "sk_"}}, "alphabet": "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_"}"#,
        // `sk` + `t…`: the longer prefix's extra characters are all base62.
        r#"{"prefixes": {"secret": {"test": "skt", "live": "sk"}}}"#,
        // The same prefix twice.
        r#"{"prefixes": {"secret": {"test": "sk_", "live": "sk_"}}}"#,
        r#"{"prefixes": {"secret": {"test": "sk_test_", "live": "sk_live_"}, "publishable": {"test": "sk_test_", "live": "pk_"}}}"#,
        // Under 128 bits of randomness.
        r#"{"prefixes": {"secret": {"test": "sk_test_", "live": "sk_"}}, "random_length": 20}"#,
        r#"{"prefixes": {"secret": {"test": "sk_test_", "live": "sk_"}}, "alphabet": "hex", "random_length": 31}"#,
        // Not an alphabet, a bad prefix, a bad range, unknown fields, not JSON.
        r#"{"prefixes": {"secret": {"test": "sk_test_", "live": "sk_"}}, "alphabet": "aab"}"#,
        r#"{"prefixes": {"secret": {"test": "sk test_", "live": "sk_"}}}"#,
        r#"{"prefixes": {"secret": {"test": "sk/test_", "live": "sk_"}}}"#,
        r#"{"prefixes": {"secret": {"test": "sk+test_", "live": "sk_"}}}"#,
        r#"{"prefixes": {"secret": {"test": "", "live": "sk_"}}}"#,
        r#"{"prefixes": {"secret": {"test": "sk_test_", "live": "sk_"}}, "imported": {"min_length": 30, "max_length": 20}}"#,
        r#"{"prefixes": {"secret": {"test": "sk_test_", "live": "sk_"}}, "imported": {"min_length": 4, "max_length": 20}}"#,
        r#"{"prefixes": {"secret": {"test": "sk_test_", "live": "sk_"}}, "checksum": false}"#,
        r#"{"prefixes": {"secret": {"test": "sk_test_"}}}"#,
        r#"{"prefixes": {}}"#,
        "not json",
    ];
    for text in bad {
        let e = KeyFormat::parse_json(text).unwrap_err();
        assert_eq!((e.status(), e.code()), (500, "misconfigured"), "{text}");
        assert!(e.message().contains("KEY_FORMAT"), "{text}: {}", e.message());
    }
    // Where the longer prefix's extra characters cannot occur in a random part, longest wins.
    KeyFormat::parse_json(
        r#"{"prefixes": {"secret": {"test": "sk_t_", "live": "sk_"}}, "alphabet": "base58"}"#,
    )
    .unwrap();
}

#[test]
fn other_alphabets_carry_a_checksum_in_their_own_characters() {
    for (alphabet, checksum_len) in [("hex", 8), ("base58", 6)] {
        let text = format!(
            r#"{{"prefixes": {{"secret": {{"test": "tk_", "live": "lk_"}}}}, "alphabet": "{alphabet}", "random_length": 40}}"#
        );
        let f = KeyFormat::parse_json(&text).unwrap();
        let k = f.generate(KeyType::Secret, Mode::Live, &mut FixedRng::new(*b"alphabets!")).unwrap();
        assert_eq!(k.expose_secret().len(), 3 + 40 + checksum_len, "{alphabet}");
        assert!(k.expose_secret()[3..].bytes().all(|c| f.in_alphabet(c)));
        f.parse(k.expose_secret()).unwrap();
        // Every single substitution is caught by the checksum.
        let s = k.expose_secret();
        for i in 3..s.len() {
            for c in f.alphabet().chars().filter(|c| *c != s.as_bytes()[i] as char).take(3) {
                let mut t = s.to_owned();
                t.replace_range(i..=i, &c.to_string());
                assert!(f.parse(&t).is_err(), "{alphabet} {i}");
            }
        }
    }
}

#[test]
fn a_key_in_the_query_or_a_redaction_follows_the_format() {
    let f = KeyFormat::parse_json(MOMENT).unwrap();
    let e =
        keygate_core::policy::credential::check_query(&format!("token={}", old_live_key(1)), &f).unwrap_err();
    assert_eq!(e.code(), "api_key_in_query");
    keygate_core::policy::credential::check_query("sort=sk_", &f).unwrap();
    assert_eq!(f.redact(&old_live_key(1)), "sk_…Kh01");
    let (pattern, prefixes) = f.scanning_pattern();
    assert_eq!(pattern, "(?:sk_test_|sk_)[0-9A-Za-z]{20,38}");
    assert_eq!(prefixes, ["sk_test_", "sk_"]);
}

// ---- 2. Importing existing keys ------------------------------------------------------------

#[test]
fn imported_secrets_and_hashes_are_served_and_a_hash_upgrades_on_first_use() {
    let w = World::new();
    let keys = moment(PEPPER, None);
    let (a, b) = (old_live_key(0), old_live_key(1));
    let got = w.import(
        &keys,
        json!({"keys": [
            {"type": "secret", "mode": "live", "secret": a, "name": "from before", "created_at": T0 - 86_400,
             "metadata": {"plan": "pro"}, "allowed_ips": ["203.0.113.0/24"]},
            {"type": "secret", "mode": "live", "hash": {"algorithm": "sha256_hex", "value": sha256_hex(&b)},
             "prefix": "sk_", "last4": &b[b.len() - 4..]},
        ]}),
    );
    let (id_a, id_b) = (got[0].clone().unwrap(), got[1].clone().unwrap());
    // Nothing of either raw key is stored anywhere.
    for s in [&a, &b] {
        assert!(!w.state.mentions(s) && !w.kv.mentions(s));
    }
    let stored_a = block_on(w.authority().load(ACCT, &id_a)).unwrap();
    assert_eq!((stored_a.record.prefix.as_str(), stored_a.record.last4.as_str()), ("sk_", &a[a.len() - 4..]));
    assert_eq!(stored_a.record.created_at, T0 - 86_400);
    assert_eq!(stored_a.metadata["plan"], "pro");
    // The secret is found by its digest, in one read.
    let before = w.reads();
    let authn = w.present(&keys, &a, T0 + 1).unwrap();
    assert_eq!((authn.record.id.as_str(), authn.found.clone()), (id_a.as_str(), Found::Current));
    assert_eq!(w.reads() - before, 1);
    // Its restrictions hold: the record the edge reads carries them.
    assert_eq!(authn.record.restrictions.allowed_ips.as_deref(), Some(&["203.0.113.0/24".to_owned()][..]));
    // The hash is found by its SHA-256 after the digest misses: two reads.
    let hash_id = KeyDigest::sha256_of(&b);
    let before = w.reads();
    let authn = w.present(&keys, &b, T0 + 2).unwrap();
    assert_eq!(authn.found, Found::Hash(hash_id.clone()));
    assert_eq!(w.reads() - before, 2);
    let status = block_on(w.authority().migration_status(&keys, T0 + 2)).unwrap();
    assert_eq!((status.keys, status.imported, status.awaiting_first_use), (2, 2, 1));
    // The edge reports it (`Redigest`): the authority stores it under its digest. The hash's
    // entry stays beside it, kept in step, until its time is up.
    block_on(w.authority().redigest(ACCT, &id_b, &b, &keys, T0 + 3)).unwrap();
    let authn = w.present(&keys, &b, T0 + 4).unwrap();
    assert_eq!(authn.found, Found::Current);
    assert!(w.kv.record(Mode::Live, &hash_id).is_some());
    assert_eq!(block_on(w.authority().migration_status(&keys, T0 + 4)).unwrap().awaiting_first_use, 0);
    // A revocation meanwhile reaches both entries.
    block_on(w.authority().revoke(ACCT, &id_b, T0 + 5, &Principal::Operator)).unwrap();
    assert_eq!(w.kv.status(Mode::Live, &hash_id).map(|s| s.as_str()), Some("revoked"));
    // After the keep, the alarm deletes the hash's entry: no SHA-256 of the key is left in KV
    // or in the object's storage.
    let sha = sha256_hex(&b);
    assert!(w.state.mentions(&sha));
    block_on(w.authority().sync(T0 + 3 + 300)).unwrap();
    assert!(!w.kv.mentions(&sha), "the SHA-256 is gone from KV");
    assert!(!w.state.mentions(&sha), "the SHA-256 is gone from the object's storage");
    // The upgrade is in the audit log, without the hash.
    let events = block_on(w.authority().events(ACCT, &Page { limit: 10, starting_after: None })).unwrap();
    assert!(
        events
            .data
            .iter()
            .any(|e| e.kind == "key.redigested" && e.data["reason"] == "imported_hash_first_use")
    );
}

#[test]
fn a_redigest_that_does_not_prove_the_key_changes_nothing() {
    let w = World::new();
    let keys = moment(PEPPER, None);
    let b = old_live_key(2);
    let got = w.import(
        &keys,
        json!({"keys": [{"type": "secret", "mode": "live", "hash": {"algorithm": "sha256_base64",
            "value": base64_of_sha(&b)},
            "prefix": "sk_", "last4": &b[b.len() - 4..]}]}),
    );
    let id = got[0].clone().unwrap();
    let before = block_on(w.authority().load(ACCT, &id)).unwrap();
    // Another key's secret, a near miss: the stored hash is not theirs.
    for wrong in [old_live_key(3), format!("{b}x")] {
        block_on(w.authority().redigest(ACCT, &id, &wrong, &keys, T0 + 1)).unwrap();
        assert_eq!(block_on(w.authority().load(ACCT, &id)).unwrap(), before);
    }
    // Another account's key id: not found.
    assert_eq!(
        block_on(w.authority().redigest("acct_other", &id, &b, &keys, T0 + 1)).unwrap_err().code(),
        "resource_missing"
    );
}

fn base64_of_sha(s: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(s.as_bytes()))
}

#[test]
fn importing_the_same_key_twice_changes_nothing_and_names_the_first() {
    let w = World::new();
    let keys = moment(PEPPER, None);
    let (a, c) = (old_live_key(4), old_live_key(5));
    let hash_c = json!({"type": "secret", "mode": "live", "hash": {"algorithm": "sha256_hex",
        "value": sha256_hex(&c).to_uppercase()}, "prefix": "sk_", "last4": &c[c.len() - 4..]});
    let first = w.import(&keys, json!({"keys": [{"type": "secret", "mode": "live", "secret": a}, hash_c]}));
    let (id_a, id_c) = (first[0].clone().unwrap(), first[1].clone().unwrap());
    let events = |w: &World| {
        block_on(w.authority().events(ACCT, &Page { limit: 100, starting_after: None })).unwrap().data.len()
    };
    let logged = events(&w);
    // The same secret again, the same hash again, and the hashed key's secret (found by its
    // SHA-256).
    let again = w.import(
        &keys,
        json!({"keys": [
            {"type": "secret", "mode": "live", "secret": a},
            hash_c,
            {"type": "secret", "mode": "live", "secret": c},
        ]}),
    );
    for (i, (want, param)) in [(&id_a, "keys[0].secret"), (&id_c, "keys[1].hash"), (&id_c, "keys[2].secret")]
        .into_iter()
        .enumerate()
    {
        let e = again[i].clone().unwrap_err();
        assert_eq!((e.status(), e.code(), e.param()), (409, "key_already_exists", Some(param)), "{i}");
        assert!(matches!(&e, Error::KeyAlreadyExists { key_id, .. } if key_id == want), "{e:?}");
    }
    assert_eq!(events(&w), logged, "nothing was logged");
    // The same secret twice in one call: the second finds the first.
    let twice = w.import(
        &keys,
        json!({"keys": [{"type": "secret", "mode": "live", "secret": old_live_key(6)},
                        {"type": "secret", "mode": "live", "secret": old_live_key(6)}]}),
    );
    assert!(twice[0].is_ok());
    assert_eq!(twice[1].clone().unwrap_err().code(), "key_already_exists");
}

#[test]
fn one_bad_item_fails_alone_with_a_precise_param() {
    let w = World::new();
    let keys = moment(PEPPER, None);
    let good = old_live_key(7);
    let test_key = format!("sk_test_{}", "q".repeat(21));
    let cases = json!({"keys": [
        {"type": "secret", "mode": "live", "secret": good},
        {"type": "secret", "mode": "live", "secret": "sk_short"},
        {"type": "secret", "mode": "live", "secret": test_key},
        {"type": "publishable", "mode": "live", "secret": old_live_key(8)},
        {"type": "secret", "mode": "live", "secret": old_live_key(9), "hash": {"algorithm": "sha256_hex", "value": "00"}},
        {"type": "secret", "mode": "live"},
        {"type": "secret", "mode": "live", "hash": {"algorithm": "sha256_hex", "value": "ab"}, "prefix": "sk_", "last4": "abcd"},
        {"type": "secret", "mode": "live", "hash": {"algorithm": "sha256_hex", "value": "g".repeat(64)}, "prefix": "sk_", "last4": "abcd"},
        {"type": "secret", "mode": "live", "hash": {"algorithm": "sha256_hex", "value": format!("+{}", "f".repeat(63))}, "prefix": "sk_", "last4": "abcd"},
        {"type": "secret", "mode": "live", "hash": {"algorithm": "sha256_base64", "value": "not base64!"}, "prefix": "sk_", "last4": "abcd"},
        {"type": "secret", "mode": "live", "hash": {"algorithm": "md5", "value": "x"}, "prefix": "sk_", "last4": "abcd"},
        {"type": "secret", "mode": "live", "hash": {"algorithm": "sha256_hex", "value": "0".repeat(64), "salt": "x"}, "prefix": "sk_", "last4": "abcd"},
        {"type": "secret", "mode": "live", "hash": {"algorithm": "sha256_hex", "value": "0".repeat(64)}, "prefix": "sk_test_", "last4": "abcd"},
        {"type": "secret", "mode": "live", "hash": {"algorithm": "sha256_hex", "value": "0".repeat(64)}, "prefix": "sk_", "last4": "ab-d"},
        {"type": "secret", "mode": "live", "hash": {"algorithm": "sha256_hex", "value": "0".repeat(64)}, "last4": "abcd"},
        {"type": "secret", "mode": "live", "secret": old_live_key(10), "prefix": "sk_"},
        {"type": "secret", "mode": "live", "secret": old_live_key(11), "colour": "blue"},
        {"type": "secret", "mode": "live", "secret": old_live_key(12), "canary": true},
        {"type": "secret", "mode": "live", "secret": old_live_key(13), "created_at": T0 + 10},
        {"type": "secret", "mode": "live", "secret": old_live_key(14), "expires_at": T0 - 10},
        {"type": "restricted", "mode": "live", "secret": old_live_key(15)},
        {"type": "secret", "mode": "live", "secret": old_live_key(16), "metadata": {"k": 1}},
        "a string",
    ]});
    let got = w.import(&keys, cases);
    assert!(got[0].is_ok(), "the good item is imported");
    let want = [
        (1, "keys[1].secret"),
        (2, "keys[2].secret"),
        (3, "keys[3].secret"),
        (4, "keys[4].secret"),
        (5, "keys[5].secret"),
        (6, "keys[6].hash.value"),
        (7, "keys[7].hash.value"),
        (8, "keys[8].hash.value"),
        (9, "keys[9].hash.value"),
        (10, "keys[10].hash.algorithm"),
        (11, "keys[11].hash"),
        (12, "keys[12].prefix"),
        (13, "keys[13].last4"),
        (14, "keys[14].prefix"),
        (15, "keys[15].prefix"),
        (16, "keys[16]"),
        (17, "keys[17]"),
        (18, "keys[18].created_at"),
        (19, "keys[19].expires_at"),
        (20, "keys[20].type"),
        (21, "keys[21].metadata[k]"),
        (22, "keys[22]"),
    ];
    for (i, param) in want {
        let e = got[i].clone().unwrap_err();
        assert_eq!((e.status(), e.param()), (400, Some(param)), "item {i}: {e:?}");
        // No message repeats a secret.
        for n in 7..17 {
            assert!(!e.message().contains(&old_live_key(n)), "{i}");
        }
    }
    // Nothing of a failed item was stored: one key, one event.
    assert_eq!(block_on(w.authority().migration_status(&keys, T0)).unwrap().keys, 1);
}

#[test]
fn a_body_that_is_not_a_list_of_keys_is_one_error() {
    let keys = moment(PEPPER, None);
    let too_many: Vec<_> = (0..501).map(|_| json!({})).collect();
    for (body, param) in [
        (json!({"keys": too_many}), "keys"),
        (json!({"keys": []}), "keys"),
        (json!({"keys": {}}), "keys"),
        (json!({}), "keys"),
        (json!({"keys": [], "secret": "x"}), "body"),
        (json!([1]), "body"),
    ] {
        let e = parse_import(body.to_string().as_bytes(), &keys, T0).unwrap_err();
        assert_eq!((e.status(), e.param()), (400, Some(param)), "{body}");
    }
    let e = parse_import(&vec![b' '; 2 * 1024 * 1024], &keys, T0).unwrap_err();
    assert_eq!(e.code(), "body_too_large");
    // Hashes need a format that declares imported keys.
    let plain = Keyring::new(Pepper::new(PEPPER).unwrap());
    let items = parse_import(
        json!({"keys": [{"type": "secret", "mode": "live", "hash": {"algorithm": "sha256_hex", "value": "0".repeat(64)},
            "prefix": "sk_live_", "last4": "abcd"}]}).to_string().as_bytes(),
        &plain,
        T0,
    )
    .unwrap();
    assert_eq!(items[0].clone().unwrap_err().param(), Some("keys[0].hash"));
}

#[test]
fn an_import_stops_at_the_accounts_limit_item_by_item() {
    let w = World::new();
    let keys = moment(PEPPER, None);
    let a = Authority { state: &w.state, kv: &w.kv, limits: Limits { max_keys: 2, ..Limits::default() } };
    let items = parse_import(
        json!({"keys": (0..3).map(|i| json!({"type": "secret", "mode": "live", "secret": old_live_key(20 + i)})).collect::<Vec<_>>()})
            .to_string()
            .as_bytes(),
        &keys,
        T0,
    )
    .unwrap();
    let items: Vec<ImportKey> = items.into_iter().map(Result::unwrap).collect();
    let got =
        block_on(a.import(ACCT, &items, &keys, &mut FixedRng::new(*b"limit-rng!"), T0, &Actor::admin()))
            .unwrap();
    assert!(got[0].is_ok() && got[1].is_ok());
    assert_eq!(got[2].as_ref().unwrap_err().code(), "key_limit_reached");
}

#[test]
fn an_imported_key_is_stored_whole_when_kv_fails_and_rolls_to_a_keygate_key() {
    let w = World::new();
    let keys = moment(PEPPER, None);
    let a = old_live_key(30);
    // KV takes the write but the call fails: the key is stored, marked unsynced, and the alarm
    // writes it again.
    *w.kv.landed_but_failed.borrow_mut() = true;
    let id = w.import(&keys, json!({"keys": [{"type": "secret", "mode": "live", "secret": a}]}))[0]
        .clone()
        .unwrap();
    assert!(!block_on(w.authority().load(ACCT, &id)).unwrap().kv_synced);
    block_on(w.authority().sync(T0 + 1)).unwrap();
    assert!(block_on(w.authority().load(ACCT, &id)).unwrap().kv_synced);
    // KV down: the item still exists whole, and reaches KV when KV is back.
    *w.kv.failing.borrow_mut() = true;
    let b = old_live_key(31);
    let id_b = w.import(&keys, json!({"keys": [{"type": "secret", "mode": "live", "secret": b}]}))[0]
        .clone()
        .unwrap();
    assert!(w.present(&keys, &b, T0 + 2).is_err());
    *w.kv.failing.borrow_mut() = false;
    block_on(w.authority().sync(T0 + 3)).unwrap();
    assert_eq!(w.present(&keys, &b, T0 + 4).unwrap().record.id, id_b);
    // Roll: the successor is a keygate key of the configured format, with a checksum.
    let made = block_on(w.authority().roll(
        ACCT,
        &id,
        3600,
        &keys,
        &mut FixedRng::new(*b"roll-rng!!"),
        T0 + 5,
        &Principal::Operator,
    ))
    .unwrap();
    let successor = made.secret.expose_secret().to_owned();
    assert!(successor.starts_with("sk_") && successor.len() == 3 + 38);
    assert!(!keys.format.parse(&successor).unwrap().imported());
    assert_eq!(
        w.present(&keys, &successor, T0 + 6).unwrap().record.rolled_from.as_deref(),
        Some(id.as_str())
    );
    // The old one works through its grace period, then ends.
    w.present(&keys, &a, T0 + 6).unwrap();
    block_on(w.authority().sync(T0 + 5 + 3601)).unwrap();
    assert_eq!(w.present(&keys, &a, T0 + 5 + 3602).unwrap_err().code(), "api_key_expired");
}

// ---- 3. Rotating the pepper -----------------------------------------------------------------

#[test]
fn a_pepper_rotation_keeps_every_key_working_and_redigests_each_on_use() {
    let w = World::new();
    let old = moment(PEPPER, None);
    // Keys made under the first pepper: one of keygate's, one imported.
    let made = block_on(w.authority().create(
        ACCT,
        &common::plain_key(KeyType::Secret, Mode::Live),
        &old,
        &mut FixedRng::new(*b"rotate-rng"),
        T0,
        &Actor::admin(),
    ))
    .unwrap();
    let native = made.secret.expose_secret().to_owned();
    let imported = old_live_key(40);
    w.import(&old, json!({"keys": [{"type": "secret", "mode": "live", "secret": imported}]}))[0]
        .clone()
        .unwrap();
    // Rotation: KEY_PEPPER is the new one, KEY_PEPPER_PREVIOUS the old.
    let rotating = moment(PEPPER_2, Some(PEPPER));
    let status = block_on(w.authority().migration_status(&rotating, T0 + 1)).unwrap();
    assert_eq!(status.under_previous_pepper, 2);
    for secret in [&native, &imported] {
        let before = w.reads();
        let authn = w.present(&rotating, secret, T0 + 2).unwrap();
        assert!(matches!(authn.found, Found::Previous(_)), "{:?}", authn.found);
        assert_eq!(w.reads() - before, 2, "the current digest, then the previous one");
        block_on(w.authority().redigest(ACCT, &authn.record.id, secret, &rotating, T0 + 3)).unwrap();
        let before = w.reads();
        assert_eq!(w.present(&rotating, secret, T0 + 4).unwrap().found, Found::Current);
        assert_eq!(w.reads() - before, 1);
    }
    assert_eq!(block_on(w.authority().migration_status(&rotating, T0 + 4)).unwrap().under_previous_pepper, 0);
    // After the keep, the previous digests are gone, and the rotation can end: without the
    // previous pepper, every key still works.
    block_on(w.authority().sync(T0 + 3 + 300)).unwrap();
    let done = moment(PEPPER_2, None);
    for secret in [&native, &imported] {
        assert_eq!(w.present(&done, secret, T0 + 400).unwrap().found, Found::Current);
        assert!(w.kv.record(Mode::Live, &Pepper::new(PEPPER).unwrap().digest_str(secret)).is_none());
    }
    // A key found nowhere: one ordinary refusal, after one read per digest tried.
    let stranger = old_live_key(41);
    let before = w.reads();
    assert_eq!(w.present(&rotating, &stranger, T0 + 5).unwrap_err().code(), "api_key_invalid");
    assert_eq!(w.reads() - before, 3, "current, previous, and the SHA-256 of an imported form");
    let before = w.reads();
    assert_eq!(w.present(&done, &stranger, T0 + 5).unwrap_err().code(), "api_key_invalid");
    assert_eq!(w.reads() - before, 2, "no previous pepper: no second digest");
    // A keygate-format key that is unknown: one read without a rotation, none for garbage.
    let before = w.reads();
    let unknown =
        done.format.generate(KeyType::Secret, Mode::Live, &mut FixedRng::new(*b"unknown!!!")).unwrap();
    assert!(w.present(&done, unknown.expose_secret(), T0 + 5).is_err());
    assert!(w.present(&done, "sk_garbage!", T0 + 5).is_err());
    assert_eq!(w.reads() - before, 1);
}

#[test]
fn a_strict_key_and_self_service_are_confirmed_by_the_digest_the_edge_found() {
    let w = World::new();
    let keys = moment(PEPPER, None);
    let b = old_live_key(50);
    let id = w.import(&keys, json!({"keys": [{"type": "secret", "mode": "live", "strict": true,
        "hash": {"algorithm": "sha256_hex", "value": sha256_hex(&b)}, "prefix": "sk_", "last4": &b[b.len() - 4..]}]}))[0]
        .clone()
        .unwrap();
    let authn = w.present(&keys, &b, T0 + 1).unwrap();
    assert!(authn.record.strict);
    // Before the upgrade, by the hash; after it, by the hash (still kept) or the digest.
    block_on(w.authority().verify(ACCT, &id, authn.stored_digest())).unwrap();
    block_on(w.authority().redigest(ACCT, &id, &b, &keys, T0 + 2)).unwrap();
    block_on(w.authority().verify(ACCT, &id, authn.stored_digest())).unwrap();
    block_on(w.authority().verify(ACCT, &id, &keys.digest_str(&b))).unwrap();
    let by = Principal::Key { key_id: id.clone(), digest: authn.stored_digest().clone() };
    block_on(w.authority().load_in_scope(ACCT, &id, &by, T0 + 3)).unwrap();
    // Another key's digest is never accepted.
    assert!(block_on(w.authority().verify(ACCT, &id, &keys.digest_str(&old_live_key(51)))).is_err());
}

#[test]
fn leak_reports_find_imported_and_rotated_keys_as_the_edge_does() {
    let w = World::new();
    let keys = moment(PEPPER, None);
    let (a, b) = (old_live_key(60), old_live_key(61));
    w.import(&keys, json!({"keys": [
        {"type": "secret", "mode": "live", "secret": a},
        {"type": "secret", "mode": "live", "hash": {"algorithm": "sha256_hex", "value": sha256_hex(&b)}, "prefix": "sk_", "last4": &b[b.len() - 4..]},
    ]}));
    let rotating = moment(PEPPER_2, Some(PEPPER));
    let sightings: Vec<_> = [&a, &b, &old_live_key(62)]
        .iter()
        .map(|t| keygate_core::domain::leak::Sighting {
            token: (*t).clone(),
            token_type: String::new(),
            url: String::new(),
            source: None,
        })
        .collect();
    let t = block_on(keygate_core::commands::leaks::triage(
        &w.kv,
        rotating.lookup(),
        &sightings,
        "reported_leak",
    ))
    .unwrap();
    use keygate_core::domain::leak::Label;
    assert_eq!(t.labels, [Label::TruePositive, Label::TruePositive, Label::FalsePositive]);
}

// ---- Found in review: the attempts, written down ------------------------------------------

#[test]
fn a_rotation_right_after_an_upgrade_never_leaves_the_hash_behind() {
    let w = World::new();
    let p1 = moment(PEPPER, None);
    let key = old_live_key(70);
    let sha = sha256_hex(&key);
    let id = w.import(&p1, json!({"keys": [{"type": "secret", "mode": "live",
        "hash": {"algorithm": "sha256_hex", "value": sha}, "prefix": "sk_", "last4": &key[key.len() - 4..]}]}))[0]
        .clone()
        .unwrap();
    // First use: upgraded to its digest under the first pepper; the hash is kept for a while.
    block_on(w.authority().redigest(ACCT, &id, &key, &p1, T0 + 1)).unwrap();
    // The pepper rotates within that while: the key is found under the previous pepper, but its
    // re-digest waits until the hash's entry is gone, so that neither old entry is forgotten.
    let p2 = moment(PEPPER_2, Some(PEPPER));
    assert!(matches!(w.present(&p2, &key, T0 + 2).unwrap().found, Found::Previous(_)));
    block_on(w.authority().redigest(ACCT, &id, &key, &p2, T0 + 3)).unwrap();
    let held = block_on(w.authority().load(ACCT, &id)).unwrap();
    assert!(held.retired.as_ref().is_some_and(|r| r.digest.is_imported_hash()), "{held:?}");
    block_on(w.authority().sync(T0 + 1 + 300)).unwrap();
    assert!(!w.kv.mentions(&sha) && !w.state.mentions(&sha));
    block_on(w.authority().redigest(ACCT, &id, &key, &p2, T0 + 302)).unwrap();
    assert_eq!(w.present(&p2, &key, T0 + 303).unwrap().found, Found::Current);
    // Revoked, then removed after its retention: no entry of any kind brings it back.
    block_on(w.authority().revoke(ACCT, &id, T0 + 304, &Principal::Operator)).unwrap();
    block_on(w.authority().sync(T0 + 302 + 300)).unwrap();
    block_on(w.authority().sync(T0 + 304 + 31 * 86_400)).unwrap();
    assert!(w.kv.data.borrow().is_empty(), "{:?}", w.kv.data.borrow().keys().collect::<Vec<_>>());
    assert_eq!(w.present(&p2, &key, T0 + 305 + 31 * 86_400).unwrap_err().code(), "api_key_invalid");
    assert!(!w.state.mentions("lookup:"), "no lookup entry is left");
}

#[test]
fn a_key_imported_one_way_is_found_when_imported_the_other_way_or_under_the_previous_pepper() {
    let w = World::new();
    let p1 = moment(PEPPER, None);
    let (a, b) = (old_live_key(80), old_live_key(81));
    let hash = |k: &str| {
        json!({"type": "secret", "mode": "live", "hash": {"algorithm": "sha256_hex", "value": sha256_hex(k)},
        "prefix": "sk_", "last4": &k[k.len() - 4..]})
    };
    // A secret, then its hash in the same call; and the same across calls.
    let got = w.import(&p1, json!({"keys": [{"type": "secret", "mode": "live", "secret": a}, hash(&a)]}));
    let id_a = got[0].clone().unwrap();
    assert!(
        matches!(&got[1], Err(Error::KeyAlreadyExists { key_id, .. }) if *key_id == id_a),
        "{:?}",
        got[1]
    );
    w.import(&p1, json!({"keys": [{"type": "secret", "mode": "live", "secret": b}]}))[0].clone().unwrap();
    assert_eq!(
        w.import(&p1, json!({"keys": [hash(&b)]}))[0].clone().unwrap_err().code(),
        "key_already_exists"
    );
    // During a rotation, a key stored under the previous pepper is found again, both ways.
    let p2 = moment(PEPPER_2, Some(PEPPER));
    let again = w.import(&p2, json!({"keys": [{"type": "secret", "mode": "live", "secret": a}, hash(&a)]}));
    for r in &again {
        assert!(matches!(r, Err(Error::KeyAlreadyExists { key_id, .. }) if *key_id == id_a), "{r:?}");
    }
    // After its re-digest under the new pepper, its lookup entries follow it.
    block_on(w.authority().redigest(ACCT, &id_a, &a, &p2, T0 + 1)).unwrap();
    let p2_alone = moment(PEPPER_2, None);
    let after =
        w.import(&p2_alone, json!({"keys": [{"type": "secret", "mode": "live", "secret": a}, hash(&a)]}));
    for r in &after {
        assert!(matches!(r, Err(Error::KeyAlreadyExists { key_id, .. }) if *key_id == id_a), "{r:?}");
    }
}

#[test]
fn an_import_cut_short_between_its_writes_does_not_block_the_key_for_ever() {
    use keygate_core::commands::ports::StateStore;
    let w = World::new();
    let keys = moment(PEPPER, None);
    let a = old_live_key(90);
    // What a cut-short import leaves: a lookup entry, but no key.
    block_on(w.state.put(&format!("lookup:{}", keys.digest_str(&a).as_str()), "key_neverstored")).unwrap();
    let id = w.import(&keys, json!({"keys": [{"type": "secret", "mode": "live", "secret": a}]}))[0]
        .clone()
        .unwrap();
    assert_eq!(w.present(&keys, &a, T0 + 1).unwrap().record.id, id);
}

#[test]
fn prefixes_are_plain_characters_that_mean_nothing_in_a_url_or_a_credential() {
    for prefix in ["sk+live_", "sk:", "sk@", "sk/", "sk%", "sk ", "sk=", "ské"] {
        let text = format!(r#"{{"prefixes": {{"secret": {{"test": "tk_", "live": "{prefix}"}}}}}}"#);
        assert!(KeyFormat::parse_json(&text).is_err(), "{prefix:?}");
    }
    KeyFormat::parse_json(r#"{"prefixes": {"secret": {"test": "acme.test-", "live": "acme.live-"}}}"#)
        .unwrap();
}

#[test]
fn a_hash_imported_before_a_rotation_is_found_by_its_secret_after_it() {
    let w = World::new();
    let key = old_live_key(100);
    let hash = json!({"type": "secret", "mode": "live", "hash": {"algorithm": "sha256_hex", "value": sha256_hex(&key)},
        "prefix": "sk_", "last4": &key[key.len() - 4..]});
    let id = w.import(&moment(PEPPER, None), json!({"keys": [hash]}))[0].clone().unwrap();
    // The rotation is over (its alias was made with the first pepper); the hash was never used.
    let after = moment(PEPPER_2, None);
    let again = w.import(&after, json!({"keys": [{"type": "secret", "mode": "live", "secret": key}]}));
    assert!(
        matches!(&again[0], Err(Error::KeyAlreadyExists { key_id, .. }) if *key_id == id),
        "{:?}",
        again[0]
    );
}

#[test]
fn a_redigest_never_writes_over_another_keys_entry() {
    let w = World::new();
    let keys = moment(PEPPER, None);
    let key = old_live_key(110);
    let id = w.import(
        &keys,
        json!({"keys": [{"type": "secret", "mode": "live", "hash": {"algorithm": "sha256_hex",
        "value": sha256_hex(&key)}, "prefix": "sk_", "last4": &key[key.len() - 4..]}]}),
    )[0]
    .clone()
    .unwrap();
    // Another account's copy of the same key already holds its digest in KV.
    let digest = keys.digest_str(&key);
    let mut theirs = w.kv.record(Mode::Live, &KeyDigest::sha256_of(&key)).unwrap();
    theirs.id = "key_anotheraccountscopy00".into();
    theirs.account = "acct_other".into();
    w.kv.data.borrow_mut().insert((Mode::Live, digest.0.clone()), theirs.to_json());
    block_on(w.authority().redigest(ACCT, &id, &key, &keys, T0 + 1)).unwrap();
    assert_eq!(w.kv.record(Mode::Live, &digest).unwrap().id, "key_anotheraccountscopy00", "left as it was");
    assert!(block_on(w.authority().load(ACCT, &id)).unwrap().digest.is_imported_hash(), "not moved");
    // KV unreadable: nothing is moved either (the edge asks again later).
    w.kv.data.borrow_mut().remove(&(Mode::Live, digest.0.clone()));
    *w.kv.failing.borrow_mut() = true;
    block_on(w.authority().redigest(ACCT, &id, &key, &keys, T0 + 2)).unwrap();
    *w.kv.failing.borrow_mut() = false;
    assert!(block_on(w.authority().load(ACCT, &id)).unwrap().digest.is_imported_hash());
    // A lookup entry left by an import cut short does not block it.
    use keygate_core::commands::ports::StateStore;
    block_on(w.state.put(&format!("lookup:{}", digest.as_str()), "key_neverstored")).unwrap();
    block_on(w.authority().redigest(ACCT, &id, &key, &keys, T0 + 3)).unwrap();
    assert_eq!(block_on(w.authority().load(ACCT, &id)).unwrap().digest, digest);
}

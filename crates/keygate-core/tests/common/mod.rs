//! Known-answer checks shared by the native tests and the browser (wasm-bindgen-test) tests.
//! The vectors under `tests/data` come from `generate.py`, an independent implementation.
#![allow(dead_code)]

use keygate_core::domain::digest::Pepper;
use keygate_core::domain::key::{ApiKey, KeyType, Mode, checksum};
use keygate_core::policy::credential::Credential;
use serde_json::Value;

pub const CHECKSUMS: &str = include_str!("../data/checksum.json");
pub const DIGESTS: &str = include_str!("../data/digest.json");
pub const KEYS: &str = include_str!("../data/keys.json");
pub const CREDENTIALS: &str = include_str!("../data/credentials.json");

fn json(s: &str) -> Value {
    serde_json::from_str(s).expect("vector file is JSON")
}

/// Returns how many vectors were checked.
pub fn check_checksums() -> usize {
    let v = json(CHECKSUMS);
    let cases = v.as_array().unwrap();
    for c in cases {
        let payload = c["payload"].as_str().unwrap();
        assert_eq!(checksum(payload), c["checksum"].as_str().unwrap(), "payload {payload:?}");
    }
    cases.len()
}

pub fn check_digests() -> usize {
    let v = json(DIGESTS);
    let cases = v.as_array().unwrap();
    for c in cases {
        let pepper = Pepper::new(c["pepper"].as_str().unwrap()).unwrap();
        let key = c["key"].as_str().unwrap();
        assert_eq!(pepper.digest_str(key).as_str(), c["digest"].as_str().unwrap(), "key {key}");
        if let Ok(k) = ApiKey::parse(key) {
            assert_eq!(pepper.digest(&k).as_str(), c["digest"].as_str().unwrap());
        }
    }
    cases.len()
}

pub fn check_keys() -> usize {
    let v = json(KEYS);
    let mut n = 0;
    for c in v["valid"].as_array().unwrap() {
        let s = c["key"].as_str().unwrap();
        let k = ApiKey::parse(s).unwrap_or_else(|e| panic!("{s} should parse: {e}"));
        assert_eq!(k.key_type(), KeyType::from_name(c["type"].as_str().unwrap()).unwrap());
        assert_eq!(k.mode(), Mode::from_name(c["mode"].as_str().unwrap()).unwrap());
        assert_eq!(k.expose_secret(), s);
        assert_eq!(k.redacted(), format!("{}…{}", &s[..8], &s[s.len() - 4..]));
        n += 1;
    }
    for c in v["invalid"].as_array().unwrap() {
        let s = c["key"].as_str().unwrap();
        let err = ApiKey::parse(s).expect_err(c["why"].as_str().unwrap());
        assert_eq!(err.code(), "api_key_invalid", "{}", c["why"]);
        assert!(
            !err.message().contains(&s[..s.len().min(20)]) || s.len() < 9,
            "message must not echo the key"
        );
        n += 1;
    }
    n
}

pub fn check_credentials() -> usize {
    let v = json(CREDENTIALS);
    let cases = v.as_array().unwrap();
    for c in cases {
        let auth = c["authorization"].as_str();
        let query = c.get("query").and_then(Value::as_str);
        let got =
            Credential::from_request(auth, query, &keygate_core::domain::key_format::KeyFormat::default());
        match (c.get("ok").and_then(Value::as_str), got) {
            (Some(want), Ok(cred)) => assert_eq!(cred.expose_secret(), want, "{c}"),
            (None, Err(e)) => {
                assert_eq!(e.code(), c["code"].as_str().unwrap(), "{c}");
                if let Some(p) = c.get("param").and_then(Value::as_str) {
                    assert_eq!(e.param(), Some(p), "{c}");
                }
            }
            (want, got) => panic!("case {c}: wanted {want:?}, got {got:?}"),
        }
    }
    cases.len()
}

/// Run a future that completes without waiting (the in-memory fakes never pend).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("in-memory future pended"),
    }
}

/// A create body with nothing but a type and mode (no name, expiry, settings or controls).
pub fn plain_key(
    key_type: keygate_core::domain::key::KeyType,
    mode: Mode,
) -> keygate_core::domain::settings::CreateKey {
    keygate_core::domain::settings::CreateKey {
        key_type,
        mode,
        name: String::new(),
        expires_at: None,
        strict: false,
        permissions: None,
        restrictions: Default::default(),
        rate_limit: None,
        credits: None,
        metadata: Default::default(),
        canary: false,
    }
}

/// Keys made by an authority over in-memory storage and KV, with each record also put in the
/// edge's read store (as KV replicates it): for tests of what the edge, or a reader of KV, sees
/// of keys the authority made.
pub struct Replicated {
    pub state: keygate_core::commands::fakes::MemoryState,
    pub kv: keygate_core::commands::fakes::MemoryKv,
    pub store: keygate_core::store::MemoryStore,
    pub pepper: keygate_core::domain::key_format::Keyring,
}

impl Replicated {
    pub fn new(pepper: &str) -> Self {
        Replicated {
            state: Default::default(),
            kv: Default::default(),
            store: Default::default(),
            pepper: keygate_core::domain::key_format::Keyring::new(Pepper::new(pepper).unwrap()),
        }
    }

    pub fn authority(
        &self,
    ) -> keygate_core::commands::authority::Authority<
        '_,
        keygate_core::commands::fakes::MemoryState,
        keygate_core::commands::fakes::MemoryKv,
    > {
        keygate_core::commands::authority::Authority {
            state: &self.state,
            kv: &self.kv,
            limits: keygate_core::commands::authority::Limits::default(),
        }
    }

    /// Create a key of `account` with `params` at `now`; its record is put in the read store.
    /// Returns its id and its secret.
    pub fn key(
        &self,
        account: &str,
        params: &keygate_core::domain::settings::CreateKey,
        rng: &mut keygate_core::rng::FixedRng,
        now: i64,
    ) -> (String, String) {
        let admin = keygate_core::domain::event::Actor::admin();
        let c = block_on(self.authority().create(account, params, &self.pepper, rng, now, &admin)).unwrap();
        let secret = c.secret.expose_secret().to_owned();
        self.replicate(params.mode, &secret);
        (c.key.record.id.clone(), secret)
    }

    /// Copy the KV record of the key `secret` into the read store, as it is now.
    pub fn replicate(&self, mode: Mode, secret: &str) {
        let digest = self.pepper.digest_str(secret);
        let record = self.kv.record(mode, &digest).unwrap();
        self.store.put(mode, &digest, serde_json::to_string(&record).unwrap());
    }
}

/// keygate's own key format, for the lookups of tests.
pub static FORMAT: std::sync::LazyLock<keygate_core::domain::key_format::KeyFormat> =
    std::sync::LazyLock::new(keygate_core::domain::key_format::KeyFormat::default);

/// A lookup in keygate's own format with `pepper` alone (no rotation).
pub fn lookup(pepper: &Pepper) -> keygate_core::domain::key_format::KeyLookup<'_> {
    keygate_core::domain::key_format::KeyLookup { format: &FORMAT, pepper, previous: None }
}

/// A keyring in keygate's own format with `pepper` alone.
pub fn keyring(pepper: &Pepper) -> keygate_core::domain::key_format::Keyring {
    keygate_core::domain::key_format::Keyring::new(pepper.clone())
}

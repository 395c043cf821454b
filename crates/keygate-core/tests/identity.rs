//! Identity headers and the strip list.
use keygate_core::domain::key::{KeyType, Mode};
use keygate_core::domain::record::{KeyRecord, KeyStatus, RECORD_VERSION};
use keygate_core::domain::settings::Level;
use keygate_core::policy::identity::{Identity, must_strip};

#[test]
fn strip_list() {
    for name in [
        "Authorization",
        "authorization",
        "Keygate-Account",
        "keygate-account",
        "KEYGATE-MODE",
        "Keygate_Account",
        "keygate_key_id",
        "X-Keygate-Account",
        "x_keygate_mode",
        "Keygate-Signature",
        "Keygate-Anything",
        "Connection",
        "Keep-Alive",
        "Proxy-Authorization",
        "TE",
        "Upgrade",
        "Trailer",
    ] {
        assert!(must_strip(name), "{name}");
    }
    for name in ["Content-Type", "Accept", "X-Request-Id", "Keygate", "X-Keygatex", "Cookie", "User-Agent"] {
        assert!(!must_strip(name), "{name}");
    }
}

#[test]
fn identity_headers() {
    let r = KeyRecord {
        v: RECORD_VERSION,
        id: "key_1".into(),
        account: "acct_9".into(),
        mode: Mode::Live,
        key_type: KeyType::Restricted,
        status: KeyStatus::Active,
        name: String::new(),
        prefix: "rk_live_".into(),
        last4: "abcd".into(),
        created_at: 0,
        expires_at: None,
        rolled_from: None,
        rolled_at: None,
        strict: false,
        permissions: None,
        restrictions: Default::default(),
        rate_limit: None,
        credits: false,
        canary: false,
    };
    let mut r = r;
    r.permissions = Some(
        [("refunds", Level::Write), ("charges", Level::Read), ("disputes", Level::None)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    );
    let id = Identity::new(&r, "req_1", "kv;max-staleness=60");
    let h = id.headers();
    assert_eq!(
        h,
        [
            ("Keygate-Account", "acct_9"),
            ("Keygate-Key-Id", "key_1"),
            ("Keygate-Key-Type", "restricted"),
            ("Keygate-Mode", "live"),
            ("Keygate-Request-Id", "req_1"),
            ("Keygate-Verified", "kv;max-staleness=60"),
            ("Keygate-Permissions", "charges=read,refunds=write"),
        ]
    );
    for (name, _) in h {
        assert!(must_strip(name), "identity header {name} must be stripped from clients");
    }
}

//! Admin API validation: each defect is a 400 naming its parameter.
mod common;

use keygate_core::api::request::MAX_BODY;
use keygate_core::domain::ids::{parse_account, valid_account};
use keygate_core::domain::key::{KeyType, Mode};
use keygate_core::domain::settings::CreateKey;

#[test]
fn accounts() {
    for ok in ["acct_1", "acct_ABCxyz09", &format!("acct_{}", "a".repeat(64))] {
        assert!(valid_account(ok), "{ok}");
    }
    for bad in [
        "",
        "acct_",
        "acct",
        "acct_a-b",
        "acct_ä",
        "ACCT_1",
        &format!("acct_{}", "a".repeat(65)),
        "acct_1/keys",
    ] {
        assert!(!valid_account(bad), "{bad}");
        assert_eq!(parse_account(bad).unwrap_err().param(), Some("account"));
    }
}

#[test]
fn create_ok() {
    let c = CreateKey::from_json(br#"{"type":"secret","mode":"live","name":"prod"}"#, 0).unwrap();
    assert_eq!(c, CreateKey { name: "prod".into(), ..common::plain_key(KeyType::Secret, Mode::Live) });
    let c = CreateKey::from_json(br#"{"type":"restricted","mode":"test","expires_at":100}"#, 50).unwrap();
    assert_eq!(c.expires_at, Some(100));
    assert_eq!(c.name, "");
}

#[test]
fn create_errors_name_their_param() {
    let huge = format!(r#"{{"type":"secret","mode":"test","name":"{}"}}"#, "x".repeat(MAX_BODY));
    let deep = format!("{}{}", "[".repeat(1000), "]".repeat(1000));
    let cases: &[(&str, &str, &str)] = &[
        ("", "body_invalid", "body"),
        ("{", "body_invalid", "body"),
        ("[]", "body_invalid", "body"),
        ("\"secret\"", "body_invalid", "body"),
        (&deep, "body_invalid", "body"),
        (&huge, "body_too_large", "body"),
        (r#"{"mode":"test"}"#, "parameter_missing", "type"),
        (r#"{"type":"secret"}"#, "parameter_missing", "mode"),
        (r#"{"type":"admin","mode":"test"}"#, "parameter_invalid", "type"),
        (r#"{"type":"Secret","mode":"test"}"#, "parameter_invalid", "type"),
        (r#"{"type":1,"mode":"test"}"#, "parameter_invalid", "type"),
        (r#"{"type":"secret","mode":"prod"}"#, "parameter_invalid", "mode"),
        (r#"{"type":"secret","mode":["test"]}"#, "parameter_invalid", "mode"),
        (r#"{"type":"secret","mode":"test","name":5}"#, "parameter_invalid", "name"),
        (r#"{"type":"secret","mode":"test","name":"a\u0000b"}"#, "parameter_invalid", "name"),
        (r#"{"type":"secret","mode":"test","expires_at":10}"#, "parameter_invalid", "expires_at"),
        (r#"{"type":"secret","mode":"test","expires_at":"soon"}"#, "parameter_invalid", "expires_at"),
        (r#"{"type":"secret","mode":"test","expires_at":1.5e12}"#, "parameter_invalid", "expires_at"),
        (r#"{"type":"secret","mode":"test","admin":true}"#, "parameter_unknown", "admin"),
    ];
    for (body, code, param) in cases {
        let e = CreateKey::from_json(body.as_bytes(), 100).unwrap_err();
        assert_eq!((e.code(), e.param()), (*code, Some(*param)), "body {}", &body[..body.len().min(60)]);
        assert_eq!(e.status(), 400);
    }
}

#[test]
fn key_settings_validation() {
    use keygate_core::domain::settings::KeySettings;
    let ok = CreateKey::from_json(
        br#"{"type":"restricted","mode":"test","permissions":{"charges":"read"},"allowed_ips":["10.0.0.1"],"allowed_endpoints":["GET /v1/charges/{id}"]}"#,
        0,
    )
    .unwrap();
    assert_eq!(ok.restrictions.allowed_ips.as_deref(), Some(&["10.0.0.1/32".to_owned()][..]));
    assert!(ok.permissions.is_some());
    let pk = CreateKey::from_json(
        br#"{"type":"publishable","mode":"live","allowed_origins":["https://*.shop.com"]}"#,
        0,
    )
    .unwrap();
    assert_eq!(pk.restrictions.allowed_origins.as_deref(), Some(&["https://*.shop.com".to_owned()][..]));
    let cases: &[(&str, &str)] = &[
        (r#"{"type":"secret","mode":"test","permissions":{"charges":"read"}}"#, "permissions"),
        (r#"{"type":"restricted","mode":"test","permissions":{"charges":"admin"}}"#, "permissions"),
        (r#"{"type":"secret","mode":"test","allowed_origins":["https://a.com"]}"#, "allowed_origins"),
        (r#"{"type":"publishable","mode":"test","allowed_origins":["a.com"]}"#, "allowed_origins"),
        (r#"{"type":"secret","mode":"test","allowed_ips":["300.1.1.1"]}"#, "allowed_ips"),
        (r#"{"type":"secret","mode":"test","allowed_endpoints":["GET charges"]}"#, "allowed_endpoints"),
        (r#"{"type":"secret","mode":"test","allowed_endpoints":[]}"#, "allowed_endpoints"),
    ];
    for (body, param) in cases {
        let e = CreateKey::from_json(body.as_bytes(), 0).unwrap_err();
        assert_eq!((e.code(), e.param()), ("parameter_invalid", Some(*param)), "{body}");
    }
    let s = KeySettings::from_json(br#"{"allowed_ips":null,"permissions":{"refunds":"write"}}"#).unwrap();
    assert_eq!(s.allowed_ips, Some(None), "null clears");
    assert_eq!(s.allowed_endpoints, None, "absent leaves as is");
    assert_eq!(KeySettings::from_json(b"{}").unwrap_err().code(), "parameter_missing");
    // "null clears" and "absent leaves" survive serialisation (worker → Durable Object).
    let back: KeySettings = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
    assert_eq!(back, s);
    // A name is updatable (issue 15: operating many keys); a type or mode never is.
    assert_eq!(KeySettings::from_json(br#"{"name":"x"}"#).unwrap().name.as_deref(), Some("x"));
    assert_eq!(KeySettings::from_json(br#"{"type":"secret"}"#).unwrap_err().param(), Some("type"));
    assert_eq!(KeySettings::from_json(br#"{"mode":"live"}"#).unwrap_err().param(), Some("mode"));
}

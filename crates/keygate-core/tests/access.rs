//! Access rules, table by table: endpoint patterns, the permission lattice, CIDR v4/v6, origin
//! wildcards, mode pinning, validation, and precedence when several rules fail.
use keygate_core::api::settings::*;
use keygate_core::domain::key::{KeyType, Mode};
use keygate_core::domain::record::{KeyRecord, KeyStatus, RECORD_VERSION};
use keygate_core::domain::settings::*;
use keygate_core::policy::access::*;
use keygate_core::policy::pattern::*;
use keygate_core::policy::pins::*;
use serde_json::json;

#[test]
fn endpoint_patterns() {
    let table: &[(&str, &str, &str, bool)] = &[
        ("POST /v1/tokens", "POST", "/v1/tokens", true),
        ("POST /v1/tokens", "GET", "/v1/tokens", false),
        ("POST /v1/tokens", "POST", "/v1/tokens/tok_1", false),
        ("POST /v1/tokens", "POST", "/v1/token", false),
        ("POST /v1/tokens", "POST", "/v1/tokens/", false),
        ("POST /v1/payment_intents/{id}/confirm", "POST", "/v1/payment_intents/pi_1/confirm", true),
        ("POST /v1/payment_intents/{id}/confirm", "POST", "/v1/payment_intents//confirm", false),
        ("POST /v1/payment_intents/{id}/confirm", "POST", "/v1/payment_intents/pi_1/capture", false),
        ("GET /v1/charges/*", "GET", "/v1/charges/ch_1", true),
        ("GET /v1/charges/*", "GET", "/v1/charges", false),
        ("GET /v1/**", "GET", "/v1/charges/ch_1/refunds", true),
        ("GET /v1/**", "GET", "/v1", true),
        ("GET /v1/**", "GET", "/v2/charges", false),
        ("* /v1/customers", "DELETE", "/v1/customers", true),
        ("GET /", "GET", "/", true),
        ("GET /", "GET", "/x", false),
    ];
    for (pattern, method, path, want) in table {
        let p = EndpointPattern::parse(pattern).unwrap_or_else(|| panic!("{pattern}"));
        assert_eq!(p.matches(method, path), *want, "{pattern} vs {method} {path}");
    }
    for bad in [
        "",
        "post /v1",
        "POST",
        "POST v1/tokens",
        "POST /v1//x",
        "POST /v1/**/x",
        "GET /v1/{",
        "GET /v1/?q",
        "GET /{}",
    ] {
        assert!(EndpointPattern::parse(bad).is_none(), "{bad:?} should not parse");
    }
}

#[test]
fn permission_lattice() {
    // (have, method) → allowed
    let table = [
        (Level::None, "GET", false),
        (Level::None, "POST", false),
        (Level::Read, "GET", true),
        (Level::Read, "HEAD", true),
        (Level::Read, "POST", false),
        (Level::Read, "DELETE", false),
        (Level::Read, "PATCH", false),
        (Level::Write, "GET", true),
        (Level::Write, "POST", true),
        (Level::Write, "DELETE", true),
    ];
    for (have, method, want) in table {
        assert_eq!(have >= Level::required_for(method), want, "{have:?} {method}");
    }
}

#[test]
fn cidr_v4_and_v6() {
    let table: &[(&str, &str, bool)] = &[
        ("203.0.113.7", "203.0.113.7", true),
        ("203.0.113.7", "203.0.113.8", false),
        ("203.0.113.0/24", "203.0.113.255", true),
        ("203.0.113.0/24", "203.0.114.0", false),
        ("203.0.113.77/24", "203.0.113.1", true), // host bits are truncated
        ("0.0.0.0/0", "198.51.100.1", true),
        ("2001:db8::/32", "2001:db8:1234::1", true),
        ("2001:db8::/32", "2001:db9::1", false),
        ("2001:db8::1", "2001:db8::1", true),
        ("2001:db8::1", "2001:db8:0:0:0:0:0:1", true),
        ("::ffff:203.0.113.7", "203.0.113.7", false), // v4-mapped v6 is not the v4 address
        ("203.0.113.0/24", "2001:db8::1", false),
    ];
    for (net, ip, want) in table {
        let n = parse_net(net).unwrap_or_else(|| panic!("{net}"));
        assert_eq!(n.contains(&ip.parse::<std::net::IpAddr>().unwrap()), *want, "{net} ∋ {ip}");
    }
    for bad in ["", "203.0.113", "203.0.113.0/33", "2001:db8::/129", "localhost", "1.2.3.4/-1"] {
        assert!(parse_net(bad).is_none(), "{bad:?}");
    }
    assert_eq!(
        parse_allowed_ips(&json!(["203.0.113.77/24", "2001:db8::1"])).unwrap(),
        ["203.0.113.0/24", "2001:db8::1/128"]
    );
    for bad in [json!([]), json!("1.2.3.4"), json!(["nope"]), json!([1])] {
        assert_eq!(parse_allowed_ips(&bad).unwrap_err().param(), Some("allowed_ips"), "{bad}");
    }
}

#[test]
fn origin_wildcards() {
    let table: &[(&str, &str, bool)] = &[
        ("https://shop.example.com", "https://shop.example.com", true),
        ("https://shop.example.com", "https://SHOP.example.com", true),
        ("https://shop.example.com", "http://shop.example.com", false),
        ("https://shop.example.com", "https://shop.example.com:8443", false),
        ("https://shop.example.com", "https://evil-shop.example.com", false),
        ("https://*.example.com", "https://a.example.com", true),
        ("https://*.example.com", "https://a.b.example.com", true),
        ("https://*.example.com", "https://example.com", false),
        ("https://*.example.com", "https://evilexample.com", false),
        ("https://*.example.com", "https://example.com.evil.net", false),
        ("http://localhost:3000", "http://localhost:3000", true),
        ("http://localhost:3000", "http://localhost:3001", false),
    ];
    for (rule, origin, want) in table {
        let r = OriginRule::parse(rule).unwrap_or_else(|| panic!("{rule}"));
        assert_eq!(
            r.allows(&keygate_core::domain::web_url::WebOrigin::parse(origin).unwrap()),
            *want,
            "{rule} vs {origin}"
        );
    }
    for bad in [
        "example.com",
        "ftp://x.com",
        "https://x.com/path",
        "https://*.com",
        "https://user@x.com",
        "https://",
    ] {
        assert!(OriginRule::parse(bad).is_none(), "{bad:?}");
    }
}

#[test]
fn resource_mapping() {
    let d = ResourceMap::default();
    assert_eq!(d.resource_for("/v1/charges/ch_1").as_deref(), Some("charges"));
    assert_eq!(d.resource_for("/v1/refunds").as_deref(), Some("refunds"));
    assert_eq!(d.resource_for("/v2/charges"), None);
    assert_eq!(d.resource_for("/v1/"), None);
    assert_eq!(d.resource_for("/v1/Charges"), None);
    let m = ResourceMap::from_json(
        &json!({"prefix": "/api/", "routes": {"/api/checkout/sessions/**": "checkout_sessions"}}),
    )
    .unwrap();
    assert_eq!(m.resource_for("/api/checkout/sessions/cs_1").as_deref(), Some("checkout_sessions"));
    assert_eq!(m.resource_for("/api/checkout/other").as_deref(), Some("checkout"));
    assert!(ResourceMap::from_json(&json!({"prefix": "api"})).is_err());
    assert!(ResourceMap::from_json(&json!({"routes": {"/x": "Bad Name"}})).is_err());
}

#[test]
fn permissions_validation() {
    let p = parse_permissions(&json!({"charges": "read", "refunds": "write", "disputes": "none"})).unwrap();
    assert_eq!(permissions_header(&p), "charges=read,refunds=write");
    for bad in [
        json!({"charges": "admin"}),
        json!({"charges": 1}),
        json!({"Charges": "read"}),
        json!(["charges"]),
        json!({"": "read"}),
    ] {
        let e = parse_permissions(&bad).unwrap_err();
        assert_eq!((e.code(), e.param()), ("parameter_invalid", Some("permissions")), "{bad}");
    }
}

fn record(key_type: KeyType, r: Restrictions, permissions: Option<Permissions>) -> KeyRecord {
    KeyRecord {
        v: RECORD_VERSION,
        id: "key_1".into(),
        account: "acct_1".into(),
        mode: Mode::Live,
        key_type,
        status: KeyStatus::Active,
        name: String::new(),
        prefix: "xx_live_".into(),
        last4: "abcd".into(),
        created_at: 0,
        expires_at: None,
        rolled_from: None,
        rolled_at: None,
        strict: false,
        permissions,
        restrictions: r,
        rate_limit: None,
        credits: false,
        canary: false,
    }
}

fn policy() -> EdgePolicy {
    let allow = serde_json::from_str(DEFAULT_PUBLISHABLE_ALLOWLIST).unwrap();
    EdgePolicy {
        publishable_allowlist: EndpointList::from_json(&allow, "x").unwrap(),
        resources: ResourceMap::default(),
    }
}

fn facts<'a>(method: &'a str, path: &'a str) -> RequestFacts<'a> {
    RequestFacts { method, path, ..Default::default() }
}

fn code(r: Result<Grant, keygate_core::Error>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => e.code().to_owned(),
    }
}

#[test]
fn by_key_type() {
    let p = policy();
    let sk = record(KeyType::Secret, Restrictions::default(), None);
    let pk = record(KeyType::Publishable, Restrictions::default(), None);
    let perms = parse_permissions(&json!({"charges": "read", "refunds": "write"})).unwrap();
    let rk = record(KeyType::Restricted, Restrictions::default(), Some(perms));
    let table: &[(&KeyRecord, &str, &str, &str)] = &[
        (&sk, "GET", "/v1/charges", "ok"),
        (&sk, "DELETE", "/anything", "ok"),
        (&pk, "POST", "/v1/tokens", "ok"),
        (&pk, "POST", "/v1/payment_intents/pi_1/confirm", "ok"),
        (&pk, "GET", "/v1/tokens", "publishable_key_not_allowed"),
        (&pk, "GET", "/v1/charges/ch_1", "publishable_key_not_allowed"),
        (&rk, "GET", "/v1/charges/ch_1", "ok"),
        (&rk, "POST", "/v1/charges", "insufficient_permissions"),
        (&rk, "POST", "/v1/refunds", "ok"),
        (&rk, "GET", "/v1/refunds/re_1", "ok"),
        (&rk, "GET", "/v1/customers", "insufficient_permissions"),
        (&rk, "GET", "/other", "insufficient_permissions"),
    ];
    for (rec, method, path, want) in table {
        assert_eq!(
            code(authorize(rec, &facts(method, path), &p)),
            *want,
            "{:?} {method} {path}",
            rec.key_type
        );
    }
    let e = authorize(&rk, &facts("POST", "/v1/charges"), &p).unwrap_err();
    assert_eq!(
        keygate_core::api::error_body::ErrorBody::new(&e, "d").error.required_permission.as_deref(),
        Some("charges:write")
    );
    let none = record(KeyType::Restricted, Restrictions::default(), None);
    let e = authorize(&none, &facts("GET", "/v1/charges"), &p).unwrap_err();
    assert_eq!(
        keygate_core::api::error_body::ErrorBody::new(&e, "d").error.required_permission.as_deref(),
        Some("charges:read")
    );
}

#[test]
fn secret_keys_are_refused_from_browsers() {
    let p = policy();
    let sk = record(KeyType::Secret, Restrictions::default(), None);
    let rk = record(KeyType::Restricted, Restrictions::default(), Some(Permissions::new()));
    let from = |origin, mode| RequestFacts { origin, sec_fetch_mode: mode, ..facts("GET", "/v1/charges") };
    assert_eq!(code(authorize(&sk, &from(Some("https://a.com"), None), &p)), "secret_key_in_browser");
    assert_eq!(code(authorize(&sk, &from(None, Some("cors")), &p)), "secret_key_in_browser");
    // A top-level navigation (Basic credentials in the browser's prompt) is a browser too: only
    // browsers send Sec-Fetch-Mode, whatever its value.
    for mode in ["navigate", "no-cors", "same-origin", "websocket"] {
        assert_eq!(code(authorize(&sk, &from(None, Some(mode)), &p)), "secret_key_in_browser", "{mode}");
    }
    assert_eq!(code(authorize(&sk, &from(None, None), &p)), "ok");
    assert_eq!(code(authorize(&rk, &from(Some("https://a.com"), None), &p)), "insufficient_permissions");
}

#[test]
fn ip_origin_endpoint_restrictions() {
    let p = policy();
    let r = Restrictions {
        allowed_ips: Some(vec!["203.0.113.0/24".into(), "2001:db8::/32".into()]),
        allowed_origins: None,
        allowed_endpoints: Some(vec!["GET /v1/charges/{id}".into(), "POST /v1/refunds".into()]),
    };
    let sk = record(KeyType::Secret, r, None);
    let at = |ip, m, path| RequestFacts { client_ip: ip, ..facts(m, path) };
    assert_eq!(code(authorize(&sk, &at(Some("203.0.113.9"), "GET", "/v1/charges/ch_1"), &p)), "ok");
    assert_eq!(code(authorize(&sk, &at(Some("2001:db8::5"), "POST", "/v1/refunds"), &p)), "ok");
    assert_eq!(
        code(authorize(&sk, &at(Some("198.51.100.1"), "GET", "/v1/charges/ch_1"), &p)),
        "ip_not_allowed"
    );
    assert_eq!(code(authorize(&sk, &at(None, "GET", "/v1/charges/ch_1"), &p)), "ip_not_allowed");
    assert_eq!(code(authorize(&sk, &at(Some("garbage"), "GET", "/v1/charges/ch_1"), &p)), "ip_not_allowed");
    assert_eq!(
        code(authorize(&sk, &at(Some("203.0.113.9"), "GET", "/v1/charges"), &p)),
        "endpoint_not_allowed"
    );
    let e = authorize(&sk, &at(Some("198.51.100.1"), "GET", "/"), &p).unwrap_err();
    assert!(e.message().contains("198.51.100.1"), "names the address seen");

    let pk = record(
        KeyType::Publishable,
        Restrictions { allowed_origins: Some(vec!["https://*.shop.com".into()]), ..Default::default() },
        None,
    );
    let from = |origin, referer| RequestFacts { origin, referer, ..facts("POST", "/v1/tokens") };
    let g = authorize(&pk, &from(Some("https://eu.shop.com"), None), &p).unwrap();
    assert_eq!(g.cors_origin.as_deref(), Some("https://eu.shop.com"));
    assert_eq!(code(authorize(&pk, &from(None, Some("https://eu.shop.com/cart?x=1")), &p)), "ok");
    assert_eq!(code(authorize(&pk, &from(Some("https://evil.com"), None), &p)), "origin_not_allowed");
    assert_eq!(code(authorize(&pk, &from(None, Some("https://evil.com/")), &p)), "origin_not_allowed");
    assert_eq!(code(authorize(&pk, &from(None, None), &p)), "origin_not_allowed");
    assert_eq!(code(authorize(&pk, &from(Some("null"), None), &p)), "origin_not_allowed");
    // Without allowed_origins a publishable key works from any origin, and CORS echoes it.
    let open = record(KeyType::Publishable, Restrictions::default(), None);
    assert_eq!(
        authorize(&open, &from(Some("https://any.io"), None), &p).unwrap().cors_origin.as_deref(),
        Some("https://any.io")
    );
    assert_eq!(authorize(&open, &from(None, None), &p).unwrap().cors_origin, None);
}

#[test]
fn precedence_when_several_rules_fail() {
    let p = policy();
    let everything_wrong = Restrictions {
        allowed_ips: Some(vec!["203.0.113.0/24".into()]),
        allowed_origins: Some(vec!["https://shop.com".into()]),
        allowed_endpoints: Some(vec!["GET /v1/balance".into()]),
    };
    let bad = RequestFacts {
        method: "DELETE",
        path: "/v1/charges",
        origin: Some("https://evil.com"),
        referer: None,
        sec_fetch_mode: Some("cors"),
        client_ip: Some("198.51.100.1"),
    };
    // secret_key_in_browser > ip_not_allowed > origin_not_allowed > endpoint_not_allowed > type rule
    let sk =
        record(KeyType::Secret, Restrictions { allowed_origins: None, ..everything_wrong.clone() }, None);
    assert_eq!(code(authorize(&sk, &bad, &p)), "secret_key_in_browser");
    let pk = record(KeyType::Publishable, everything_wrong.clone(), None);
    assert_eq!(code(authorize(&pk, &bad, &p)), "ip_not_allowed");
    let good_ip = RequestFacts { client_ip: Some("203.0.113.1"), ..bad };
    assert_eq!(code(authorize(&pk, &good_ip, &p)), "origin_not_allowed");
    let good_origin = RequestFacts { origin: Some("https://shop.com"), ..good_ip };
    assert_eq!(code(authorize(&pk, &good_origin, &p)), "endpoint_not_allowed");
    let pk2 =
        record(KeyType::Publishable, Restrictions { allowed_endpoints: None, ..everything_wrong }, None);
    assert_eq!(code(authorize(&pk2, &good_origin, &p)), "publishable_key_not_allowed");
}

#[test]
fn mode_pinning() {
    let pins = HostPins::parse("api.example.com, API2.example.com", "sandbox.example.com");
    let table = [
        (Some("api.example.com"), Mode::Test, "test_key_on_live_host"),
        (Some("api2.example.com"), Mode::Test, "test_key_on_live_host"),
        (Some("api.example.com"), Mode::Live, "ok"),
        (Some("sandbox.example.com"), Mode::Live, "live_key_on_test_host"),
        (Some("sandbox.example.com"), Mode::Test, "ok"),
        (Some("other.example.com"), Mode::Test, "ok"),
        (None, Mode::Live, "ok"),
    ];
    for (host, mode, want) in table {
        let got = pins.check(host, mode).map_or_else(|e| e.code().to_owned(), |_| "ok".into());
        assert_eq!(got, want, "{host:?} {mode:?}");
    }
    assert_eq!(HostPins::default().check(Some("x"), Mode::Test), Ok(()));
}

#[test]
fn cors_preflight_methods() {
    let p = policy();
    assert_eq!(p.publishable_allowlist.methods_for("/v1/tokens"), Some(vec!["POST".to_owned()]));
    assert_eq!(p.publishable_allowlist.methods_for("/v1/charges"), None);
}

#[test]
fn internationalised_hosts_are_accepted_in_ascii_form_only() {
    // keygate is built with the ASCII-only IDNA back end (smaller wasm). Browsers send the
    // ASCII form in `Origin`, so a rule in that form matches; a Unicode rule is refused with a
    // message saying which form to use, never silently dropped.
    let rule = OriginRule::parse("https://xn--bcher-kva.example").unwrap();
    assert!(
        rule.allows(
            &keygate_core::domain::web_url::WebOrigin::parse("https://xn--bcher-kva.example").unwrap()
        )
    );
    assert!(OriginRule::parse("https://bücher.example").is_none());
    let e = parse_allowed_origins(&json!(["https://bücher.example"])).unwrap_err();
    assert_eq!(e.status(), 400);
    assert!(e.to_string().contains("xn--") || format!("{e:?}").contains("xn--"), "{e:?}");
}

#[test]
fn configuration_parses_from_text_as_from_json_values() {
    let allow = r#"["POST /v1/tokens", "* /v1/charges/{id}/**"]"#;
    let v: serde_json::Value = serde_json::from_str(allow).unwrap();
    assert_eq!(EndpointList::parse_json(allow, "x").unwrap(), EndpointList::from_json(&v, "x").unwrap());
    for bad in [r#"{"a":1}"#, r#"[1]"#, r#"["GET nope"]"#, "not json"] {
        assert!(EndpointList::parse_json(bad, "x").is_err(), "{bad}");
    }
    let map = r#"{"prefix": "/v2/", "routes": {"/v2/z/**": "zeta", "/v2/a/*/b": "alpha"}}"#;
    let v: serde_json::Value = serde_json::from_str(map).unwrap();
    assert_eq!(ResourceMap::parse_json(map).unwrap(), ResourceMap::from_json(&v).unwrap());
    for bad in
        [r#"{"prefix": "v2"}"#, r#"{"routes": {"/x": "Bad Resource"}}"#, r#"{"routes": {"/x": 1}}"#, "[]"]
    {
        assert!(ResourceMap::parse_json(bad).is_err(), "{bad}");
    }
}

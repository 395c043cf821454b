//! What reaches the origin is what was authorised: the request-shape rules and the resource map,
//! with a catalogue of paths an origin could read as another resource, for every key type.
use keygate_core::domain::key::{KeyType, Mode};
use keygate_core::domain::record::{KeyRecord, KeyStatus, RECORD_VERSION};
use keygate_core::domain::settings::{Level, Restrictions};
use keygate_core::policy::access::{EdgePolicy, RequestFacts, authorize};
use keygate_core::policy::pattern::{EndpointList, ResourceMap};
use keygate_core::policy::request_shape::{check_method, check_override, check_path};

/// Paths origins read differently (Tomcat/Jetty `;`, nginx `%2F` and `//`, double decoding,
/// backslashes, overlong UTF-8), each as the platform's URL parser leaves it.
const REFUSED: &[&str] = &[
    "/v1/charges/..;/customers",
    "/v1/charges/x%2F..%2F..%2Fcustomers",
    "/v1/charges/x%2f..%2f..%2fcustomers",
    "/v1/charges/..%5Ccustomers",
    "/v1/charges/%252e%252e/customers",
    "/v1/charges/%2e%2e/customers",
    "/v1/charges/%2E",
    "/v1/charges;jsessionid=1",
    "/v1/charges/ch_1;x=y",
    "/v1/charges/%3Bx",
    "/v1//customers",
    "/v1/charges//",
    "/v1/charges/%",
    "/v1/charges/%zz",
    "/v1/charges/%4",
    "/v1/charges/%00",
    "/v1/charges/%0A",
    "/v1/charges/%7F",
    "/v1/charges/%3F/../customers",
    "/v1/charges/%23",
    "/v1/charges/%C0%AE%C0%AE/customers",
    "/v1/charges/%FF",
    "/v1/charges/a\\b",
    "/v1/charges/..",
    "/v1/charges/.",
    "v1/charges",
];

const ALLOWED: &[&str] = &[
    "/",
    "/v1/charges",
    "/v1/charges/",
    "/v1/charges/ch_1",
    "/v1/files/report.pdf",
    "/v1/files/a..b",
    "/v1/customers/caf%C3%A9",
    "/v1/search/hello%20world",
    "/v1/charges/ch_1:capture",
    "/_keygate/v1/keys",
];

#[test]
fn paths_an_origin_could_read_as_another_resource_are_refused() {
    for p in REFUSED {
        let e = check_path(p).expect_err(p);
        assert_eq!(e.code(), "path_not_canonical", "{p}");
        assert_eq!(e.status(), 400);
        assert!(e.message().contains("refused because"), "{p}: {}", e.message());
    }
    for p in ALLOWED {
        check_path(p).unwrap_or_else(|e| panic!("{p}: {e}"));
    }
}

fn record(key_type: KeyType, restrictions: Restrictions) -> KeyRecord {
    KeyRecord {
        v: RECORD_VERSION,
        id: "key_1".into(),
        account: "acct_1".into(),
        mode: Mode::Test,
        key_type,
        status: KeyStatus::Active,
        name: String::new(),
        prefix: "sk_test_".into(),
        last4: "abcd".into(),
        created_at: 1,
        expires_at: None,
        rolled_from: None,
        rolled_at: None,
        strict: false,
        permissions: (key_type == KeyType::Restricted)
            .then(|| [("charges".to_owned(), Level::Write)].into_iter().collect()),
        restrictions,
        rate_limit: None,
        credits: false,
        canary: false,
    }
}

/// Without the path rule, each key type is fooled by these paths: a restricted key holding only
/// `charges`, a key whose endpoints allow only `/v1/charges/{id}`, and a publishable key through
/// the allowlist's `{id}` segment. The rule refuses them all before any key is looked at; the
/// access decision itself would allow them, which is why the rule must come first.
#[test]
fn every_key_type_is_fooled_by_the_catalogue_without_the_path_rule() {
    let policy = EdgePolicy {
        publishable_allowlist: EndpointList::from_json(
            &serde_json::json!(["POST /v1/payment_intents/{id}/confirm"]),
            "allowlist",
        )
        .unwrap(),
        resources: ResourceMap::default(),
    };
    let rk = record(KeyType::Restricted, Restrictions::default());
    let sk = record(
        KeyType::Secret,
        Restrictions { allowed_endpoints: Some(vec!["GET /v1/charges/{id}".into()]), ..Default::default() },
    );
    let pk = record(KeyType::Publishable, Restrictions::default());
    let facts = |method, path| RequestFacts { method, path, ..Default::default() };
    for (key, method, path) in [
        (&rk, "GET", "/v1/charges/..;"),
        (&rk, "GET", "/v1/charges/x%2F..%2F..%2Fcustomers"),
        (&sk, "GET", "/v1/charges/..%5Ccustomers"),
        (&sk, "GET", "/v1/charges/%252e%252e"),
        (&pk, "POST", "/v1/payment_intents/x%2F..%2F..%2Fcustomers/confirm"),
        (&pk, "POST", "/v1/payment_intents/..;/confirm"),
    ] {
        assert!(authorize(key, &facts(method, path), &policy).is_ok(), "{path}");
        assert_eq!(check_path(path).unwrap_err().code(), "path_not_canonical", "{path}");
    }
}

#[test]
fn nested_paths_map_to_the_resource_they_act_on_or_to_none() {
    let d = ResourceMap::default();
    assert_eq!(d.resource_for("/v1/charges").as_deref(), Some("charges"));
    assert_eq!(d.resource_for("/v1/charges/").as_deref(), Some("charges"));
    assert_eq!(d.resource_for("/v1/charges/ch_1").as_deref(), Some("charges"));
    assert_eq!(d.resource_for("/v1/charges/ch_1/").as_deref(), Some("charges"));
    assert_eq!(d.resource_for("/v1/charges/ch_1/refunds"), None);
    assert_eq!(d.resource_for("/v1/charges/ch_1/refunds/re_1"), None);
    let mapped = ResourceMap::from_json(&serde_json::json!({
        "routes": {"/v1/charges/*/refunds/**": "refunds"}
    }))
    .unwrap();
    assert_eq!(mapped.resource_for("/v1/charges/ch_1/refunds").as_deref(), Some("refunds"));
    // The reproduced escape: `charges: write` made a refund.
    let rk = record(KeyType::Restricted, Restrictions::default());
    let facts = RequestFacts { method: "POST", path: "/v1/charges/ch_1/refunds", ..Default::default() };
    let e = authorize(&rk, &facts, &EdgePolicy::default()).unwrap_err();
    assert_eq!(e.code(), "insufficient_permissions");
    assert!(e.message().contains("RESOURCE_MAP"));
    let policy = EdgePolicy { resources: mapped, ..Default::default() };
    let e = authorize(&rk, &facts, &policy).unwrap_err();
    assert_eq!(
        e.to_string(),
        keygate_core::Error::InsufficientPermissions { required: Some("refunds:write".into()) }.to_string()
    );
}

#[test]
fn only_methods_every_origin_reads_alike_are_forwarded() {
    for m in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
        check_method(m).unwrap();
    }
    for m in ["PROPFIND", "PURGE", "TRACE", "CONNECT", "REPORT", "get", "patch", "MOVE", ""] {
        let e = check_method(m).unwrap_err();
        assert_eq!((e.status(), e.code()), (405, "method_not_allowed"), "{m}");
    }
}

#[test]
fn method_overrides_are_refused_in_every_spelling() {
    // Each header in the spellings servers fold together (case, `_` for `-`, with or without X-).
    for h in [
        "x-http-method-override",
        "X-HTTP-Method-Override",
        "X_HTTP_METHOD_OVERRIDE",
        "x_method_override",
        "X-Method-Override",
        "x-http-method",
        "X_HTTP_Method",
        "x-original-method",
        "HTTP-Method-Override",
    ] {
        let e = check_override([h], None).unwrap_err();
        assert_eq!((e.status(), e.code()), (400, "method_override_not_allowed"), "{h}");
        assert_eq!(e.param(), Some(h.to_ascii_lowercase().as_str()));
    }
    // `_method` in the query, and the names PHP folds into it (Laravel, Symfony).
    for q in [
        "_method=DELETE",
        "a=1&_method=PUT",
        "_METHOD=delete",
        "_method",
        ".method=DELETE",
        "[method=DELETE",
        "+_method=DELETE",
        "%20_method=DELETE",
        "%5Fmethod=DELETE",
        "_method[]=DELETE",
        "_method[x]=DELETE",
        " .method=PATCH",
    ] {
        let e = check_override([], Some(q)).unwrap_err();
        assert_eq!(e.param(), Some("_method"), "{q}");
    }
    check_override(
        ["content-type", "x-request-id", "x-http-methodology"],
        Some("method=x&_methods=y&a.method=1"),
    )
    .unwrap();
    check_override([], None).unwrap();
}

#[test]
fn url_rewrite_headers_are_refused() {
    for h in ["X-Original-URL", "x-rewrite-url", "X_Original_Url", "Original-URL"] {
        let e = check_override([h], None).unwrap_err();
        assert_eq!((e.status(), e.code()), (400, "path_not_canonical"), "{h}");
    }
}

#[test]
fn unicode_look_alikes_and_windows_trimming_are_refused() {
    for p in [
        "/v1/charges/%EF%BC%8E%EF%BC%8E%EF%BC%8Fcustomers", // fullwidth ．．／
        "/v1/charges/%E2%80%A5%EF%BC%8Fcustomers",          // ‥／
        "/v1/charges/%EF%BC%BCcustomers",                   // fullwidth ＼
        "/v1/charges/ch_1%EF%BC%9Bx",                       // fullwidth ；
        "/v1/charges/%E2%88%95customers",                   // division slash
        "/v1/charges/%CD%BE",                               // Greek question mark, NFKC `;`
        "/v1/charges/..%20/customers",                      // Windows trims to `..`
        "/v1/charges/...",
        "/v1/charges/ch_1.",
        "/v1/charges/%C2%A0../customers", // no-break space
        "/v1/payment_intents/pi_1%EF%BC%8F..%EF%BC%8F..%EF%BC%8Fcustomers/confirm",
    ] {
        assert_eq!(check_path(p).unwrap_err().code(), "path_not_canonical", "{p}");
    }
    for p in ["/v1/files/caf%C3%A9", "/v1/search/hello%20world", "/v1/files/report.pdf", "/v1/%E2%9C%93"] {
        check_path(p).unwrap_or_else(|e| panic!("{p}: {e}"));
    }
}

#[test]
fn management_applies_the_calling_keys_own_rules_first() {
    use keygate_core::policy::access::authorize_management;
    let at = |ip: &str, method: &'static str, path: &'static str| RequestFacts {
        method,
        path,
        client_ip: Some(Box::leak(ip.to_owned().into_boxed_str())),
        ..Default::default()
    };
    let sk = record(
        KeyType::Secret,
        Restrictions {
            allowed_ips: Some(vec!["203.0.113.0/24".into()]),
            allowed_endpoints: Some(vec!["GET /v1/**".into(), "GET /_keygate/v1/keys".into()]),
            ..Default::default()
        },
    );
    let code = |r: Result<(), keygate_core::Error>| r.map_or_else(|e| e.code().to_owned(), |_| "ok".into());
    assert_eq!(
        code(authorize_management(&sk, &at("198.51.100.1", "PATCH", "/_keygate/v1/keys/key_2"))),
        "ip_not_allowed"
    );
    assert_eq!(
        code(authorize_management(&sk, &at("203.0.113.9", "PATCH", "/_keygate/v1/keys/key_2"))),
        "endpoint_not_allowed"
    );
    assert_eq!(code(authorize_management(&sk, &at("203.0.113.9", "GET", "/_keygate/v1/keys"))), "ok");
    let browser = RequestFacts {
        origin: Some("https://evil.example"),
        ..at("203.0.113.9", "GET", "/_keygate/v1/keys")
    };
    assert_eq!(code(authorize_management(&sk, &browser)), "secret_key_in_browser");
    let rk = record(KeyType::Restricted, Restrictions::default());
    assert_eq!(
        code(authorize_management(&rk, &at("203.0.113.9", "GET", "/_keygate/v1/keys"))),
        "secret_key_required"
    );
}

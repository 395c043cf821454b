//! The upstream request's header plan: what the origin gets, and what the client gets back.

#[test]
fn the_upstream_header_plan() {
    use keygate_core::policy::decision::Deprecation;
    use keygate_core::policy::identity::Identity;
    use keygate_core::policy::upstream::plan;
    let identity = Identity {
        account: "acct_1",
        key_id: "key_1",
        key_type: "publishable",
        mode: "test",
        request_id: "req_1",
        verified: "kv;max-staleness=120",
        permissions: None,
    };
    let names = [
        "host",
        "authorization",
        "x-keygate-mode",
        "keygate_account",
        "x-forwarded-host",
        "content-type",
        "te",
    ];
    let p = plan(
        names,
        &identity,
        "t=1,v2=ab".into(),
        Some("https://shop.example"),
        Some(Deprecation { rolled_at: 10, sunset: 0 }),
    );
    assert_eq!(
        p.drop,
        ["host", "authorization", "x-keygate-mode", "keygate_account", "x-forwarded-host", "te"]
    );
    let set: Vec<&str> = p.set.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        set,
        [
            "Keygate-Account",
            "Keygate-Key-Id",
            "Keygate-Key-Type",
            "Keygate-Mode",
            "Keygate-Request-Id",
            "Keygate-Verified",
            "Cache-Control",
            "Keygate-Signature"
        ]
    );
    assert!(p.set.contains(&("Cache-Control", "no-store".into())));
    assert_eq!(p.answer_drop_prefix, "access-control-");
    assert!(p.answer_set.contains(&("Keygate-Request-Id", "req_1".into())));
    assert!(p.answer_set.contains(&("Access-Control-Allow-Origin", "https://shop.example".into())));
    assert!(p.answer_set.contains(&("Deprecation", "@10".into())));
    assert!(p.answer_set.contains(&("Sunset", "Thu, 01 Jan 1970 00:00:00 GMT".into())));
    assert_eq!(p.answer_append, [("Vary", "Origin")]);
    let quiet = plan(["content-type"], &identity, "s".into(), None, None);
    assert!(quiet.drop.is_empty() && quiet.answer_append.is_empty());
    assert_eq!(quiet.answer_set.len(), 1);
}

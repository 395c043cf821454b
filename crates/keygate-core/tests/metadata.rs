//! Operating many keys: metadata (Stripe's rules), renaming, the operator's lookup of a raw key,
//! and the admin token's rotation.
use keygate_core::api::request::{parse_lookup, parse_metadata};
use keygate_core::domain::digest::{OperatorTokens, Pepper, WhichToken};
use keygate_core::domain::key::{ApiKey, KeyType, Mode};
use keygate_core::domain::keystate::{self, StoredKey};
use keygate_core::domain::settings::{CreateKey, KeySettings, Metadata};
use keygate_core::policy::delegation;
use keygate_core::rng::FixedRng;
use serde_json::json;

fn create(body: serde_json::Value) -> Result<CreateKey, keygate_core::Error> {
    CreateKey::from_json(body.to_string().as_bytes(), 100)
}

fn patch(body: serde_json::Value) -> Result<KeySettings, keygate_core::Error> {
    KeySettings::from_json(body.to_string().as_bytes())
}

fn param(e: keygate_core::Error) -> String {
    assert_eq!(e.status(), 400, "{e:?}");
    e.param().unwrap_or_default().to_owned()
}

fn stored(body: serde_json::Value) -> StoredKey {
    let params = create(body).unwrap();
    let pepper = Pepper::new("test-pepper-test-pepper-test-pepper").unwrap();
    keystate::create(
        "acct_1",
        &params,
        &keygate_core::domain::key_format::Keyring::new(pepper.clone()),
        &mut FixedRng::new(*b"0123456789"),
        100,
    )
    .unwrap()
    .stored
}

fn meta(pairs: &[(&str, &str)]) -> Metadata {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn metadata_at_creation_follows_stripes_rules() {
    let c = create(json!({"type": "secret", "mode": "test", "metadata": {"customer": "cus_1", "plan": "pro", "gone": ""}}))
        .unwrap();
    assert_eq!(c.metadata, meta(&[("customer", "cus_1"), ("plan", "pro")]), "an empty value sets nothing");
    let fifty: serde_json::Map<String, serde_json::Value> =
        (0..50).map(|i| (format!("k{i}"), json!("v"))).collect();
    assert_eq!(
        create(json!({"type": "secret", "mode": "test", "metadata": fifty})).unwrap().metadata.len(),
        50
    );
    let fifty_one: serde_json::Map<String, serde_json::Value> =
        (0..51).map(|i| (format!("k{i}"), json!("v"))).collect();
    let bad = [
        (json!(fifty_one), "metadata"),
        (json!({"a": 1}), "metadata[a]"),
        (json!({"a": true}), "metadata[a]"),
        (json!({"a": {"b": "c"}}), "metadata[a]"),
        (json!({"a": "x".repeat(501)}), "metadata[a]"),
        (json!({"": "x"}), "metadata[]"),
        (json!({"k".repeat(41): "x"}), &*Box::leak(format!("metadata[{}]", "k".repeat(41)).into_boxed_str())),
        (json!({"a[b]": "x"}), "metadata[a[b]]"),
        (json!({"a\nb": "x"}), "metadata[a\nb]"),
        (json!(["a"]), "metadata"),
        (json!(7), "metadata"),
        (json!("x"), "metadata"),
    ];
    for (m, p) in bad {
        let e = create(json!({"type": "secret", "mode": "test", "metadata": m})).unwrap_err();
        assert_eq!(param(e), p, "{m}");
    }
    // At the limits: 40-character keys, 500-character values, in characters, not bytes.
    let c = create(json!({"type": "secret", "mode": "test", "metadata": {"é".repeat(40): "ü".repeat(500)}}))
        .unwrap();
    assert_eq!(c.metadata.len(), 1);
}

#[test]
fn patching_metadata_merges_unsets_and_clears() {
    let key = stored(json!({"type": "secret", "mode": "test", "metadata": {"a": "1", "b": "2"}}));
    assert_eq!(key.metadata, meta(&[("a", "1"), ("b", "2")]));
    let merged =
        keystate::update(&key, &patch(json!({"metadata": {"b": "3", "c": "4"}})).unwrap(), 200).unwrap();
    assert_eq!(merged.metadata, meta(&[("a", "1"), ("b", "3"), ("c", "4")]));
    let unset =
        keystate::update(&merged, &patch(json!({"metadata": {"a": "", "c": null}})).unwrap(), 200).unwrap();
    assert_eq!(unset.metadata, meta(&[("b", "3")]));
    for clear in [json!(null), json!("")] {
        let cleared = keystate::update(&merged, &patch(json!({"metadata": clear})).unwrap(), 200).unwrap();
        assert!(cleared.metadata.is_empty(), "{clear}");
    }
    // Metadata is the authority's alone: the record the edge reads does not change.
    assert_eq!(merged.record, key.record);
    assert!(!serde_json::to_string(&merged.record).unwrap().contains("metadata"));
    // A merge that would leave more than 50 keys is refused, naming `metadata`.
    let fifty: serde_json::Map<String, serde_json::Value> =
        (0..50).map(|i| (format!("k{i}"), json!("v"))).collect();
    let e = keystate::update(&key, &patch(json!({"metadata": fifty})).unwrap(), 200).unwrap_err();
    assert_eq!(param(e), "metadata", "2 kept + 50 new");
    let at_fifty =
        keystate::update(&key, &patch(json!({"metadata": {"a": "", "b": ""}})).unwrap(), 200).unwrap();
    let fifty: serde_json::Map<String, serde_json::Value> =
        (0..50).map(|i| (format!("k{i}"), json!("v"))).collect();
    let at_fifty = keystate::update(&at_fifty, &patch(json!({"metadata": fifty})).unwrap(), 200).unwrap();
    let e = keystate::update(&at_fifty, &patch(json!({"metadata": {"one_more": "v"}})).unwrap(), 200)
        .unwrap_err();
    assert_eq!(param(e), "metadata");
    // Metadata and the name are kept across a roll.
    let named = keystate::update(&merged, &patch(json!({"name": "renamed"})).unwrap(), 200).unwrap();
    let pepper = Pepper::new("test-pepper-test-pepper-test-pepper").unwrap();
    let (_, successor) = keystate::roll(
        &named,
        60,
        &keygate_core::domain::key_format::Keyring::new(pepper.clone()),
        &mut FixedRng::new(*b"abcdefghij"),
        300,
    )
    .unwrap();
    assert_eq!(successor.stored.metadata, merged.metadata);
    assert_eq!(successor.stored.record.name, "renamed");
}

#[test]
fn a_patch_renames_and_names_its_defects() {
    let key = stored(json!({"type": "secret", "mode": "test", "name": "old"}));
    let renamed = keystate::update(&key, &patch(json!({"name": "new name"})).unwrap(), 200).unwrap();
    assert_eq!(renamed.record.name, "new name");
    assert!(!renamed.kv_synced, "the name is in the edge's record: it is written again");
    for (body, p) in [
        (json!({"name": null}), "name"),
        (json!({"name": 5}), "name"),
        (json!({"name": "x".repeat(201)}), "name"),
        (json!({"name": "a\u{0}b"}), "name"),
        (json!({"type": "publishable"}), "type"),
        (json!({"label": "x"}), "label"),
    ] {
        assert_eq!(param(patch(body.clone()).unwrap_err()), p, "{body}");
    }
    let e = patch(json!({"nope": 1})).unwrap_err();
    assert!(e.message().contains("name") && e.message().contains("metadata"), "{}", e.message());
}

#[test]
fn self_service_may_rename_but_never_touch_metadata() {
    let key = stored(json!({"type": "secret", "mode": "test", "metadata": {"plan": "free"}}));
    delegation::check_narrowing(&key.record, &patch(json!({"name": "mine"})).unwrap()).unwrap();
    for body in [
        json!({"metadata": {"plan": "enterprise"}}),
        json!({"metadata": null}),
        json!({"metadata": {"plan": ""}}),
    ] {
        let e = delegation::check_narrowing(&key.record, &patch(body.clone()).unwrap()).unwrap_err();
        assert_eq!((e.code(), e.param()), ("widening_not_allowed", Some("metadata")), "{body}");
    }
}

#[test]
fn a_lookup_takes_exactly_one_well_formed_key_and_never_repeats_it() {
    let mut rng = FixedRng::new(*b"lookup-key");
    let key = ApiKey::generate(KeyType::Restricted, Mode::Live, &mut rng).unwrap();
    let body = json!({"secret": key.expose_secret()}).to_string();
    assert_eq!(
        parse_lookup(body.as_bytes(), &keygate_core::domain::key_format::KeyFormat::default())
            .unwrap()
            .expose_secret(),
        key.expose_secret()
    );
    let bad_checksum = format!("{}A", &key.expose_secret()[..key.expose_secret().len() - 1]);
    let bad_checksum = if bad_checksum == key.expose_secret() {
        format!("{}B", &key.expose_secret()[..key.expose_secret().len() - 1])
    } else {
        bad_checksum
    };
    for (body, p) in [
        (json!({}), "secret"),
        (json!({"secret": 1}), "secret"),
        (json!({"secret": "sk_test_short"}), "secret"),
        (json!({"secret": bad_checksum.clone()}), "secret"),
        (json!({"secret": format!("x{}", key.expose_secret())}), "secret"),
        (json!({"secret": key.expose_secret(), "account": "acct_1"}), "body"),
        (json!({"secret": key.expose_secret(), key.expose_secret(): 1}), "body"),
    ] {
        let e = parse_lookup(
            body.to_string().as_bytes(),
            &keygate_core::domain::key_format::KeyFormat::default(),
        )
        .unwrap_err();
        assert!(!e.message().contains(&bad_checksum[8..]), "the key is never repeated: {}", e.message());
        assert!(
            !e.param().unwrap_or_default().contains(&key.expose_secret()[8..]),
            "nor named as a parameter"
        );
        assert_eq!(param(e), p, "{body}");
    }
    assert_eq!(
        param(
            parse_lookup(b"not json", &keygate_core::domain::key_format::KeyFormat::default()).unwrap_err()
        ),
        "body"
    );
    // A pasted line's whitespace is not part of the key.
    let pasted = json!({"secret": format!(" {}\n", key.expose_secret())}).to_string();
    assert_eq!(
        parse_lookup(pasted.as_bytes(), &keygate_core::domain::key_format::KeyFormat::default())
            .unwrap()
            .expose_secret(),
        key.expose_secret()
    );
}

#[test]
fn metadata_changes_parse_on_their_own() {
    let c = parse_metadata(&json!({"a": "1", "b": null})).unwrap();
    assert!(!c.clear);
    assert_eq!(c.set.get("a"), Some(&Some("1".to_owned())));
    assert_eq!(c.set.get("b"), Some(&None));
    assert!(parse_metadata(&json!(null)).unwrap().clear);
}

#[test]
fn the_previous_admin_token_is_accepted_beside_the_current_one_and_said_so() {
    let current = "adm_current_current_current_current_0001";
    let previous = "adm_previous_previous_previous_previous_01";
    let only = OperatorTokens::new(Some(current), None).unwrap();
    assert_eq!(only.verify(current), Some(WhichToken::Current));
    assert_eq!(only.verify(previous), None);
    let both = OperatorTokens::new(Some(current), Some(previous)).unwrap();
    assert_eq!(both.verify(current), Some(WhichToken::Current));
    assert_eq!(both.verify(previous), Some(WhichToken::Previous));
    for wrong in ["", "adm_", &current[..current.len() - 1], &format!("{current}x"), &previous.to_uppercase()]
    {
        assert_eq!(both.verify(wrong), None, "{wrong}");
    }
    // Misconfigured, naming the secret at fault: never a fallback to the other.
    let what = |r: Result<OperatorTokens, keygate_core::Error>| match r.unwrap_err() {
        keygate_core::Error::Misconfigured { what } => what,
        e => panic!("{e:?}"),
    };
    assert_eq!(what(OperatorTokens::new(None, Some(previous))), "ADMIN_TOKEN");
    assert_eq!(what(OperatorTokens::new(Some("short"), None)), "ADMIN_TOKEN");
    assert_eq!(what(OperatorTokens::new(Some(current), Some("short"))), "ADMIN_TOKEN_PREVIOUS");
    // Redacted.
    assert!(!format!("{both:?}").contains("adm_"));
}

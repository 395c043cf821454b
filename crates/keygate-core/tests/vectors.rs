//! Known-answer tests against the vectors in `tests/data` (computed by an independent Python
//! implementation).
mod common;

#[test]
fn checksum_vectors() {
    assert!(common::check_checksums() >= 12);
}

#[test]
fn digest_vectors() {
    assert!(common::check_digests() >= 8);
}

#[test]
fn key_vectors() {
    assert!(common::check_keys() >= 20);
}

#[test]
fn credential_vectors() {
    assert!(common::check_credentials() >= 30);
}

#[test]
fn date_vectors() {
    let v: serde_json::Value = serde_json::from_str(include_str!("data/dates.json")).unwrap();
    for c in v.as_array().unwrap() {
        let t = c["t"].as_i64().unwrap();
        assert_eq!(keygate_core::time::http_date(t), c["http_date"].as_str().unwrap(), "t={t}");
        assert_eq!(keygate_core::time::day(t), c["day"].as_str().unwrap(), "t={t}");
    }
}

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

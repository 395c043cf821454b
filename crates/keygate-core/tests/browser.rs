//! The core in a real browser (wasm-bindgen-test in headless Chromium and Firefox): key
//! generation through getrandom's Web Crypto backend, digests and parsing, against the same
//! known-answer vectors as the native tests.
#![cfg(target_arch = "wasm32")]

mod common;

use keygate_core::domain::digest::Pepper;
use keygate_core::domain::key::{ApiKey, KeyType, Mode};
use keygate_core::rng::SystemRng;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn vectors_hold_in_wasm() {
    assert!(common::check_checksums() >= 12);
    assert!(common::check_digests() >= 8);
    assert!(common::check_keys() >= 20);
    assert!(common::check_credentials() >= 30);
}

#[wasm_bindgen_test]
fn keygen_uses_web_crypto() {
    let mut rng = SystemRng;
    let a = ApiKey::generate(KeyType::Secret, Mode::Live, &mut rng).unwrap();
    let b = ApiKey::generate(KeyType::Secret, Mode::Live, &mut rng).unwrap();
    assert_ne!(a.expose_secret(), b.expose_secret());
    let parsed = ApiKey::parse(a.expose_secret()).unwrap();
    assert_eq!(parsed.mode(), Mode::Live);
    let pepper = Pepper::new("0123456789abcdef0123456789abcdef").unwrap();
    assert!(pepper.digest(&a).as_str().starts_with("v1:"));
    assert_ne!(pepper.digest(&a), pepper.digest(&b));
}

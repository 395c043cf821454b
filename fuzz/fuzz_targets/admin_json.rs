//! Admin request bodies (create, update, roll) and edge-policy JSON: never panic on any bytes.
#![no_main]
use keygate_core::policy::pattern::{EndpointList, ResourceMap};
use keygate_core::api::request::parse_roll;
use keygate_core::domain::settings::{CreateKey, KeySettings};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = CreateKey::from_json(data, 1_000_000);
    let _ = KeySettings::from_json(data);
    let _ = parse_roll(data);
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = EndpointList::from_json(&v, "fuzz");
        let _ = ResourceMap::from_json(&v);
    }
});

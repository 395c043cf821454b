//! Signature header parsing and verification on arbitrary headers: never panics, and arbitrary
//! input never verifies.
#![no_main]
use keygate_verify::{Signed, Verifier, canonical, parse_header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: (&str, [&str; 10], i64)| {
    let (header, f, t) = data;
    let _ = parse_header(header);
    let s = Signed {
        method: f[0],
        host: f[1],
        path: f[2],
        account: f[3],
        key_id: f[4],
        mode: f[5],
        key_type: f[6],
        permissions: f[7],
        request_id: f[8],
        verified: f[9],
    };
    let _ = canonical(t, &s);
    let lookup = |name: &str| match name {
        "keygate-signature" => Some(header),
        "keygate-account" => Some(f[3]),
        "keygate-key-id" => Some(f[4]),
        "keygate-mode" => Some(f[5]),
        "keygate-key-type" => Some(f[6]),
        "keygate-permissions" => Some(f[7]),
        "keygate-request-id" => Some(f[8]),
        "keygate-verified" => Some(f[9]),
        _ => None,
    };
    let v = Verifier::new(&[b"fuzz-secret-fuzz-secret-fuzz-secret!"]);
    assert!(v.verify(lookup, f[0], f[1], f[2], t).is_err());
});

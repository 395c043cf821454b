//! The cost of one request's decision, against its physical floor: a bare HMAC-SHA256 of one key.
//!
//! * `floor/hmac_sha256`: HMAC-SHA256 of a key, the pepper's key schedule included (what any
//!   digest-based authenticator must at least do per request);
//! * `verify/full_path`: credential parsing, format and checksum, digest (with the pepper's state
//!   precomputed once per isolate), in-memory store lookup, the record (parsed once, then
//!   remembered per isolate while its text is unchanged, as the worker does), policy decision,
//!   access rules, identity and its `Keygate-Signature`;
//! * `verify/decision_only`: the same without the identity and its signature;
//! * `reject/malformed_key`: a key with a wrong checksum, refused before any digest or read;
//! * `part/sha256_block`: one SHA-256 compression, the unit of the hash work above.
//!
//! `npm run bench` turns the estimates into ratios in bench/RESULTS.md.
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use hmac::{Hmac, Mac};
use keygate_core::domain::digest::Pepper;
use keygate_core::domain::key::{KeyType, Mode};
use keygate_core::domain::keystate;
use keygate_core::domain::settings::CreateKey;
use keygate_core::policy::access::{EdgePolicy, RequestFacts};
use keygate_core::policy::gate::{ParsedRecords, Presented, authenticate};
use keygate_core::policy::identity::{Identity, Target};
use keygate_core::policy::pattern::{DEFAULT_PUBLISHABLE_ALLOWLIST, EndpointList, ResourceMap};
use keygate_core::policy::pins::HostPins;
use keygate_core::rng::FixedRng;
use keygate_core::store::MemoryStore;
use sha2::Sha256;

const PEPPER: &str = "bench-pepper-bench-pepper-bench-pepper-0123456789";

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => unreachable!("the in-memory store never pends"),
    }
}

fn benches(c: &mut Criterion) {
    let pepper = Pepper::new(PEPPER).unwrap();
    let params = CreateKey {
        key_type: KeyType::Secret,
        mode: Mode::Live,
        name: "bench".into(),
        expires_at: None,
        strict: false,
        permissions: None,
        restrictions: Default::default(),
        rate_limit: None,
        credits: None,
        metadata: Default::default(),
        canary: false,
    };
    let keyring = keygate_core::domain::key_format::Keyring::new(pepper.clone());
    let lookup = keyring.lookup();
    let new =
        keystate::create("acct_bench", &params, &keyring, &mut FixedRng::new(*b"bench-seed"), 1).unwrap();
    let store = MemoryStore::new();
    store.put(Mode::Live, &new.stored.digest, new.stored.record.to_json());
    let secret = new.key.expose_secret().to_owned();
    let header = format!("Bearer {secret}");
    let mut bad = secret.clone();
    bad.pop();
    bad.push(if secret.ends_with('A') { 'B' } else { 'A' });
    let bad_header = format!("Bearer {bad}");
    let allow = serde_json::from_str(DEFAULT_PUBLISHABLE_ALLOWLIST).unwrap();
    let policy = EdgePolicy {
        publishable_allowlist: EndpointList::from_json(&allow, "x").unwrap(),
        resources: ResourceMap::default(),
    };
    let pins = HostPins::default();
    let records = ParsedRecords::new(1024);
    let known = keygate_core::policy::throttle::KnownGood::new(1024);
    let throttle = keygate_core::policy::throttle::Throttle { known: &known, blocked_for: None };
    let signing = [keygate_verify::Secret::new(b"bench-signing-secret-bench-signing-secret")];

    c.bench_function("floor/hmac_sha256", |b| {
        b.iter(|| {
            let mut m = <Hmac<Sha256> as Mac>::new_from_slice(black_box(PEPPER.as_bytes())).unwrap();
            m.update(black_box(secret.as_bytes()));
            black_box(m.finalize().into_bytes())
        })
    });

    c.bench_function("verify/full_path", |b| {
        b.iter(|| {
            let presented =
                Presented { authorization: Some(black_box(&header)), query: Some("limit=3"), host: None };
            let authn =
                block_on(authenticate(presented, &pins, &store, lookup, &records, throttle, 2)).unwrap();
            let facts = RequestFacts { method: "GET", path: "/v1/charges", ..Default::default() };
            keygate_core::policy::access::authorize(&authn.record, &facts, &policy).unwrap();
            let id = Identity::new(&authn.record, "req_bench", "kv;max-staleness=120");
            let target = Target { method: "GET", host: "origin.internal", path: "/v1/charges?limit=3" };
            black_box(id.signature(&signing, 1_795_331_173, target))
        })
    });

    // The same decision without building the signed identity: what issue 5's signature costs.
    c.bench_function("verify/decision_only", |b| {
        b.iter(|| {
            let presented =
                Presented { authorization: Some(black_box(&header)), query: Some("limit=3"), host: None };
            let authn =
                block_on(authenticate(presented, &pins, &store, lookup, &records, throttle, 2)).unwrap();
            let facts = RequestFacts { method: "GET", path: "/v1/charges", ..Default::default() };
            black_box(keygate_core::policy::access::authorize(&authn.record, &facts, &policy).unwrap());
            black_box(authn)
        })
    });

    // Where the time goes, phase by phase.
    c.bench_function("part/credential_and_key", |b| {
        b.iter(|| {
            let c = keygate_core::policy::credential::Credential::from_request(
                Some(black_box(&header)),
                Some("limit=3"),
                &keyring.format,
            )
            .unwrap();
            black_box(keyring.format.parse(c.expose_secret()).unwrap())
        })
    });
    let key = keygate_core::domain::key::ApiKey::parse(&secret).unwrap();
    c.bench_function("part/digest", |b| b.iter(|| black_box(pepper.digest(black_box(&key)))));
    let json = new.stored.record.to_json();
    c.bench_function("part/record_parse", |b| {
        b.iter(|| black_box(keygate_core::domain::record::KeyRecord::from_json(black_box(&json)).unwrap()))
    });
    let record = new.stored.record.clone();
    c.bench_function("part/identity_and_signature", |b| {
        b.iter(|| {
            let id = Identity::new(black_box(&record), "req_bench", "kv;max-staleness=120");
            let target = Target { method: "GET", host: "origin.internal", path: "/v1/charges?limit=3" };
            black_box(id.signature(&signing, 1_795_331_173, target))
        })
    });

    c.bench_function("part/sha256_block", |b| {
        b.iter(|| black_box(<Sha256 as sha2::Digest>::digest(black_box([7u8; 55]))))
    });

    c.bench_function("reject/malformed_key", |b| {
        b.iter(|| {
            let presented =
                Presented { authorization: Some(black_box(&bad_header)), query: None, host: None };
            black_box(
                block_on(authenticate(presented, &pins, &store, lookup, &records, throttle, 2)).unwrap_err(),
            )
        })
    });
}

criterion_group!(verify, benches);
criterion_main!(verify);

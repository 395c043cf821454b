//! Property tests of the signature: the canonical encoding is injective, sign/verify round-trip,
//! and the header parser never panics.
use keygate_verify::*;
use proptest::prelude::*;

/// method, host, path, account, key_id, mode, key_type, permissions, request_id, verified.
fn fields() -> impl Strategy<Value = (i64, [String; 10])> {
    (0i64..4_000_000_000, proptest::array::uniform10(".{0,12}"))
}

fn signed(f: &[String; 10]) -> Signed<'_> {
    Signed {
        method: &f[0],
        host: &f[1],
        path: &f[2],
        account: &f[3],
        key_id: &f[4],
        mode: &f[5],
        key_type: &f[6],
        permissions: &f[7],
        request_id: &f[8],
        verified: &f[9],
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn canonical_is_injective((t1, a) in fields(), (t2, b) in fields()) {
        prop_assume!((t1, &a) != (t2, &b));
        prop_assert_ne!(canonical(t1, &signed(&a)), canonical(t2, &signed(&b)));
    }

    #[test]
    fn moving_a_boundary_changes_the_message((t, f) in fields(), i in 0usize..9) {
        // Shift one character from field i to field i+1: naive concatenation would not notice.
        // (Field 7, the permissions, is hashed: moving into or out of it changes its digest.)
        let mut g = f.clone();
        prop_assume!(!g[i].is_empty());
        let c = g[i].pop().unwrap();
        g[i + 1].insert(0, c);
        prop_assert_ne!(canonical(t, &signed(&f)), canonical(t, &signed(&g)));
    }

    #[test]
    fn sign_then_verify((t, f) in fields(), secret in proptest::collection::vec(any::<u8>(), 1..64)) {
        let s = signed(&f);
        let header = sign(&[Secret::new(&secret)], t, &s);
        let h = headers(&header, &s);
        let lookup = |n: &str| h.iter().find(|(k, _)| *k == n).map(|(_, v)| *v);
        let id = Verifier::new(&[&secret]).verify(lookup, s.method, s.host, s.path, t).unwrap();
        prop_assert_eq!(id.account.as_str(), s.account);
        prop_assert_eq!(id.request_id.as_str(), s.request_id);
        prop_assert_eq!(id.verified.as_str(), s.verified);
    }

    #[test]
    fn changing_the_request_id_or_verified_breaks_the_signature(
        (t, f) in fields(),
        which in 8usize..10,
        other in ".{0,12}",
        secret in proptest::collection::vec(any::<u8>(), 1..64),
    ) {
        prop_assume!(f[which] != other);
        let header = sign(&[Secret::new(&secret)], t, &signed(&f));
        let mut g = f.clone();
        g[which] = other;
        let s = signed(&g);
        let h = headers(&header, &s);
        let lookup = |n: &str| h.iter().find(|(k, _)| *k == n).map(|(_, v)| *v);
        prop_assert_eq!(
            Verifier::new(&[&secret]).verify(lookup, s.method, s.host, s.path, t),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn header_parser_never_panics(s in any::<String>()) {
        let _ = parse_header(&s);
    }
}

/// The headers an origin receives with `header` as the signature of `s`.
fn headers<'a>(header: &'a str, s: &Signed<'a>) -> Vec<(&'static str, &'a str)> {
    let mut h = vec![
        ("keygate-signature", header),
        ("keygate-account", s.account),
        ("keygate-key-id", s.key_id),
        ("keygate-mode", s.mode),
        ("keygate-key-type", s.key_type),
        ("keygate-request-id", s.request_id),
        ("keygate-verified", s.verified),
    ];
    if !s.permissions.is_empty() {
        h.push(("keygate-permissions", s.permissions));
    }
    h
}

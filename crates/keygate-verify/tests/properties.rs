//! Property tests of the signature: the canonical encoding is injective, sign/verify round-trip,
//! and the header parser never panics.
use keygate_verify::*;
use proptest::prelude::*;

fn fields() -> impl Strategy<Value = (i64, [String; 8])> {
    (0i64..4_000_000_000, proptest::array::uniform8(".{0,12}"))
}

fn signed(f: &[String; 8]) -> Signed<'_> {
    Signed {
        method: &f[0],
        host: &f[1],
        path: &f[2],
        account: &f[3],
        key_id: &f[4],
        mode: &f[5],
        key_type: &f[6],
        permissions: &f[7],
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
    fn moving_a_boundary_changes_the_message((t, f) in fields(), i in 0usize..7) {
        // Shift one character from field i to field i+1: naive concatenation would not notice.
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
        let mut h = vec![
            ("keygate-signature", header.as_str()),
            ("keygate-account", s.account),
            ("keygate-key-id", s.key_id),
            ("keygate-mode", s.mode),
            ("keygate-key-type", s.key_type),
        ];
        if !s.permissions.is_empty() {
            h.push(("keygate-permissions", s.permissions));
        }
        let lookup = |n: &str| h.iter().find(|(k, _)| *k == n).map(|(_, v)| *v);
        let id = Verifier::new(&[&secret]).verify(lookup, s.method, s.host, s.path, t).unwrap();
        prop_assert_eq!(id.account.as_str(), s.account);
    }

    #[test]
    fn header_parser_never_panics(s in any::<String>()) {
        let _ = parse_header(&s);
    }
}

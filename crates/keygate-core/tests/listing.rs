//! Key lists a page at a time (issue 15, operating thousands of keys): Stripe's cursor and
//! filters, from an index, so that one page of a 5000-key account reads a page, not the account.
mod common;

use common::block_on;
use keygate_core::commands::authority::{Authority, Limits, Principal};
use keygate_core::commands::fakes::{MemoryKv, MemoryState};
use keygate_core::commands::ports::StateStore;
use keygate_core::domain::digest::Pepper;
use keygate_core::domain::event::Actor;
use keygate_core::domain::key::{KeyType, Mode};
use keygate_core::domain::keystate::StoredKey;
use keygate_core::domain::listing::{KeyQuery, Position};
use keygate_core::domain::record::KeyStatus;
use keygate_core::domain::settings::CreateKey;
use keygate_core::rng::FixedRng;

const T0: i64 = 2_000_000_000;
const ACCT: &str = "acct_1";

fn pepper() -> keygate_core::domain::key_format::Keyring {
    keygate_core::domain::key_format::Keyring::new(
        Pepper::new("listing-pepper-listing-pepper-listing").unwrap(),
    )
}

fn params(key_type: KeyType) -> CreateKey {
    common::plain_key(key_type, Mode::Test)
}

/// `n` keys, one per second from T0 (a few sharing a second), types in turn.
fn account_with(a: &Authority<'_, MemoryState, MemoryKv>, n: usize) -> Vec<StoredKey> {
    let types = [KeyType::Secret, KeyType::Publishable, KeyType::Restricted];
    (0..n)
        .map(|i| {
            // Seeds that differ per key in every window the generator reads: distinct ids.
            let mut rng = FixedRng::new(format!("{i:05}{}{i:05}", i * 7919 % 1000).into_bytes());
            let now = T0 + (i as i64) - (i as i64 % 7 == 3) as i64;
            let mut p = params(types[i % 3]);
            if p.key_type == KeyType::Restricted {
                p.permissions = Some(Default::default());
            }
            block_on(a.create(ACCT, &p, &pepper(), &mut rng, now, &Actor::admin())).unwrap().key
        })
        .collect::<Vec<StoredKey>>()
}

/// Every key made is stored under its own id.
fn distinct(keys: &[StoredKey]) {
    let ids: std::collections::HashSet<&str> = keys.iter().map(|k| k.record.id.as_str()).collect();
    assert_eq!(ids.len(), keys.len(), "the test's keys must have distinct ids");
}

fn after(k: &StoredKey) -> Option<Position> {
    Some(Position { created_at: k.record.created_at, id: k.record.id.clone() })
}

fn page(a: &Authority<'_, MemoryState, MemoryKv>, q: &KeyQuery) -> (Vec<StoredKey>, bool) {
    block_on(a.list_page(ACCT, &Principal::Operator, q, T0 + 100_000)).unwrap()
}

/// Every page, as a client follows `has_more` and `starting_after`.
fn all_pages(a: &Authority<'_, MemoryState, MemoryKv>, mut q: KeyQuery) -> Vec<String> {
    let mut ids = Vec::new();
    loop {
        let (keys, more) = page(a, &q);
        assert!(keys.len() <= q.limit);
        if more {
            assert_eq!(keys.len(), q.limit, "a page with more after it is full");
        }
        ids.extend(keys.iter().map(|k| k.record.id.clone()));
        assert!(ids.len() <= 10_000, "pages never end");
        q.after = keys.last().and_then(after);
        if !more {
            return ids;
        }
    }
}

#[test]
fn pages_are_newest_first_complete_and_disjoint_with_filters() {
    let (state, kv) = (MemoryState::new(), MemoryKv::default());
    let a = Authority { state: &state, kv: &kv, limits: Limits { max_keys: 1000, ..Limits::default() } };
    let keys = account_with(&a, 250);
    distinct(&keys);
    let mut expected: Vec<&StoredKey> = keys.iter().collect();
    expected.sort_by(|x, y| keygate_core::domain::listing::newest_first(&x.record, &y.record));
    let expected_ids: Vec<String> = expected.iter().map(|k| k.record.id.clone()).collect();
    for limit in [1, 7, 10, 100] {
        assert_eq!(all_pages(&a, KeyQuery { limit, ..Default::default() }), expected_ids, "limit {limit}");
    }
    // Revoke some: a status filter decides on the key as it is now.
    for k in keys.iter().step_by(5) {
        block_on(a.revoke(ACCT, &k.record.id, T0 + 1000, &Principal::Operator)).unwrap();
    }
    let revoked =
        all_pages(&a, KeyQuery { limit: 13, status: Some(KeyStatus::Revoked), ..Default::default() });
    assert_eq!(revoked.len(), 50);
    let active = all_pages(&a, KeyQuery { limit: 13, status: Some(KeyStatus::Active), ..Default::default() });
    assert_eq!(active.len(), 200);
    let restricted =
        all_pages(&a, KeyQuery { limit: 9, key_type: Some(KeyType::Restricted), ..Default::default() });
    let want: Vec<String> = expected
        .iter()
        .filter(|k| k.record.key_type == KeyType::Restricted)
        .map(|k| k.record.id.clone())
        .collect();
    assert_eq!(restricted, want);
    let one = &keys[42];
    let by_last4 =
        all_pages(&a, KeyQuery { limit: 10, last4: Some(one.record.last4.clone()), ..Default::default() });
    assert!(by_last4.contains(&one.record.id));
    assert!(by_last4.len() < 5, "{}", by_last4.len());
    // A cursor is a position: a page after a key that was removed meanwhile still continues
    // from where it was.
    let (first, _) = page(&a, &KeyQuery { limit: 3, ..Default::default() });
    let (second, _) = page(&a, &KeyQuery { limit: 3, after: after(&first[2]), ..Default::default() });
    assert_eq!(second[0].record.id, expected_ids[3]);
}

#[test]
fn one_page_of_a_5000_key_account_reads_a_page_not_the_account() {
    let (state, kv) = (MemoryState::new(), MemoryKv::default());
    let a = Authority { state: &state, kv: &kv, limits: Limits { max_keys: 10_000, ..Limits::default() } };
    let keys = account_with(&a, 5000);
    distinct(&keys);
    let oldest_first = &keys;
    // The first page, and one from the middle.
    let reads = |q: &KeyQuery| {
        let before = *state.values_read.borrow();
        let (got, more) = page(&a, q);
        (got, more, *state.values_read.borrow() - before)
    };
    let (got, more, first_cost) = reads(&KeyQuery { limit: 10, ..Default::default() });
    let cost = first_cost;
    assert_eq!((got.len(), more), (10, true));
    assert_eq!(got[0].record.id, oldest_first[4999].record.id);
    // One chunk of the index (128 entries), the marker, the caller and 11 keys (10, and the
    // 11th that says there is more): far from the account's 5000.
    assert!(cost <= 128 + 1 + 11 + 2, "{cost} values read for a page of 10");
    let middle = &oldest_first[2500];
    let (got, _, cost) = reads(&KeyQuery { limit: 100, after: after(middle), ..Default::default() });
    assert_eq!(got[0].record.id, oldest_first[2499].record.id);
    assert!(cost <= 128 + 1 + 101 + 2, "{cost} values read for a page of 100");
    println!("of 5000 keys, a page of 10 read {first_cost} stored values; a page of 100, {cost}");
    // A filter that matches rarely reads the index through, and only the keys that may match.
    let rare = &oldest_first[17];
    let (got, more, cost) =
        reads(&KeyQuery { limit: 10, last4: Some(rare.record.last4.clone()), ..Default::default() });
    assert!(got.iter().any(|k| k.record.id == rare.record.id) && !more);
    assert!(cost < 5000 + 50, "{cost}: the index (5000 small entries) and a few keys, not 5000 keys too");
}

#[test]
fn a_deployment_that_upgraded_indexes_its_keys_once() {
    let (state, kv) = (MemoryState::new(), MemoryKv::default());
    let a = Authority { state: &state, kv: &kv, limits: Limits::default() };
    let keys = account_with(&a, 30);
    distinct(&keys);
    // As stored by a version without the index: drop every entry and the mark.
    for (name, _) in block_on(state.list("idx:", None, false, None)).unwrap() {
        block_on(state.delete(&name)).unwrap();
    }
    block_on(state.delete("meta:index")).unwrap();
    let all = all_pages(&a, KeyQuery { limit: 7, ..Default::default() });
    assert_eq!(all.len(), 30);
    assert_eq!(block_on(state.list("idx:", None, false, None)).unwrap().len(), 30);
    // A key removed after it ended leaves no entry behind.
    let gone = &keys[0];
    block_on(a.revoke(ACCT, &gone.record.id, T0 + 100, &Principal::Operator)).unwrap();
    block_on(a.sync(T0 + 100 + keygate_core::domain::keystate::ENDED_RETENTION + 1)).unwrap();
    assert_eq!(block_on(state.list("idx:", None, false, None)).unwrap().len(), 29);
    assert!(!all_pages(&a, KeyQuery::default()).contains(&gone.record.id));
    // Keys made by an older version after the index was built (a rollback, then forward again)
    // have no entry: the next create, or the alarm, completes the index.
    // (As an older version would have stored them: no entries, and the mark not counting them.)
    let entries = || block_on(state.list("idx:", None, false, None)).unwrap();
    let made_by_older_version = |n: usize| {
        for (name, _) in entries().into_iter().take(n) {
            block_on(state.delete(&name)).unwrap();
        }
        let count: usize = block_on(state.get("meta:index")).unwrap().unwrap().parse().unwrap();
        block_on(state.put("meta:index", &(count - n).to_string())).unwrap();
    };
    made_by_older_version(3);
    assert_eq!(all_pages(&a, KeyQuery::default()).len(), 26, "missing until completed");
    let mut rng = FixedRng::new(*b"one-more-key-after-rollback");
    block_on(a.create(ACCT, &params(KeyType::Secret), &pepper(), &mut rng, T0 + 500, &Actor::admin()))
        .unwrap();
    assert_eq!(all_pages(&a, KeyQuery::default()).len(), 30);
    made_by_older_version(2);
    block_on(a.sync(T0 + 600)).unwrap();
    assert_eq!(all_pages(&a, KeyQuery::default()).len(), 30, "the alarm completes it too");
    // An entry whose key is missing (a create that failed after indexing) is skipped.
    block_on(state.put(&keygate_core::domain::listing::index_name(T0 + 50, "key_missing"), "secret:AAAA"))
        .unwrap();
    assert_eq!(all_pages(&a, KeyQuery::default()).len(), 30);
}

//! A leak report's triage: which reported tokens are keys of this deployment, found the way the
//! edge finds a key (its format first, then its digest in KV), and which authority each belongs
//! to. What is then done to them is the authority's ([`crate::commands::authority::Authority::leaked`]).
//!
//! Cost, for a report of n tokens: nothing is read for a token that is not a well-formed key
//! (the deployment's key format); the others are read from KV in bulk reads of up to
//! [`MAX_BULK`] digests per mode (at most ⌈n / 100⌉ + 1 operations), and each (mode, account)
//! with a leaked key gets one command.

use std::collections::BTreeMap;

use crate::Error;
use crate::domain::digest::KeyDigest;
use crate::domain::key::{KeyType, Mode};
use crate::domain::key_format::KeyLookup;
use crate::domain::leak::{Label, Leak, Sighting};
use crate::domain::record::KeyRecord;
use crate::store::{MAX_BULK, RecordStore};

/// What a report comes to.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Triage {
    /// One label per reported token, in the report's order.
    pub labels: Vec<Label>,
    /// The leaked keys of each (mode, account), each key once (its first sighting).
    pub leaks: BTreeMap<(Mode, String), Vec<Leak>>,
}

/// Triage `sightings` reported for `reason`, reading records from `store`. Each token is found
/// the way the edge finds a key: by its digest, during a pepper rotation also by its previous
/// digest, and for a key of an imported form also by its SHA-256 (an imported hash).
pub async fn triage<S: RecordStore>(
    store: &S,
    keys: KeyLookup<'_>,
    sightings: &[Sighting],
    reason: &str,
) -> Result<Triage, Error> {
    // Each well-formed token's mode and the ids it may be stored under, in the edge's order;
    // every distinct id is read once.
    let candidates: Vec<Option<(Mode, Vec<KeyDigest>)>> = sightings
        .iter()
        .map(|s| {
            let key = keys.format.parse(&s.token).ok()?;
            let mut ids = vec![keys.pepper.digest(&key)];
            ids.extend(keys.previous.map(|p| p.digest(&key)));
            if key.imported() {
                ids.push(KeyDigest::sha256_of(key.expose_secret()));
            }
            Some((key.mode(), ids))
        })
        .collect();
    let mut records: BTreeMap<(Mode, String), Option<KeyRecord>> = BTreeMap::new();
    for mode in Mode::ALL {
        let mut wanted: Vec<KeyDigest> = candidates
            .iter()
            .flatten()
            .filter(|(m, _)| *m == mode)
            .flat_map(|(_, ids)| ids.iter().cloned())
            .collect();
        wanted.sort_by(|a, b| a.0.cmp(&b.0));
        wanted.dedup();
        for chunk in wanted.chunks(MAX_BULK) {
            let found = store.get_many(mode, chunk).await?;
            for (digest, raw) in chunk.iter().zip(found) {
                let record = raw.map(|r| KeyRecord::from_json(&r)).transpose()?;
                records.insert((mode, digest.0.clone()), record);
            }
        }
    }
    let mut triage = Triage::default();
    for (sighting, candidate) in sightings.iter().zip(&candidates) {
        let record = candidate
            .as_ref()
            .and_then(|(mode, ids)| {
                ids.iter().find_map(|id| records.get(&(*mode, id.0.clone())).and_then(Option::as_ref))
            })
            // Publishable keys are public by design: one found in public is not a leak.
            .filter(|r| r.key_type != KeyType::Publishable);
        let Some(record) = record else {
            triage.labels.push(Label::FalsePositive);
            continue;
        };
        triage.labels.push(Label::TruePositive);
        let keys = triage.leaks.entry((record.mode, record.account.clone())).or_default();
        if !keys.iter().any(|l| l.key_id == record.id) {
            keys.push(Leak {
                key_id: record.id.clone(),
                reason: reason.to_owned(),
                url: sighting.url.clone(),
                source: sighting.source.clone(),
            });
        }
    }
    Ok(triage)
}

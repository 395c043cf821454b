//! Phase 4c of the edge path: the key's usage controls (rate limit, credits), after every other
//! check, so that a refused request spends nothing. Spent from blocks this isolate leased from
//! the authority (`keygate_core::policy::quota`); the authority is asked only when a block runs
//! out, never on every request.

use keygate_core::Error;
use keygate_core::domain::quota::LeaseGrant;
use keygate_core::domain::record::KeyRecord;
use keygate_core::policy::quota::{self, Controls, Leases, Spend};
use worker::{Context, Env};

use crate::keystore::{self, EdgeCommand};

/// Keys whose blocks one isolate holds at most.
const MAX_TRACKED: usize = 10_000;
/// Asks of the authority for one request at most (other requests of this isolate may spend a
/// block between its grant and this request's turn); then the request is refused, never let
/// through unaccounted.
const MAX_ASKS: usize = 3;

thread_local! {
    static LEASES: Leases = Leases::new(MAX_TRACKED);
}

/// Spend one of each of `record`'s controls. `Ok` with the headers to send (none for a key
/// without controls); `Err` with the refusal and its headers.
pub async fn spend(
    ctx: &Context,
    env: &Env,
    record: &KeyRecord,
    now: i64,
) -> Result<Vec<(&'static str, String)>, (Error, Vec<(&'static str, String)>)> {
    let controls = Controls { rate_limit: record.rate_limit.as_ref(), credits: record.credits };
    if !controls.any() {
        return Ok(Vec::new());
    }
    let refuse = |e: Error| {
        if matches!(e, Error::RateLimitExceeded { .. } | Error::CreditsExhausted { .. }) {
            crate::usage::note_refused(ctx, env, record, now);
        }
        let headers = quota::refused_headers(controls, &e);
        Err((e, headers))
    };
    for _ in 0..MAX_ASKS {
        let ask = match LEASES.with(|l| l.spend(&record.id, controls, now)) {
            Spend::Spent(told) => return Ok(quota::told_headers(&told)),
            Spend::Refused(e) => return refuse(e),
            Spend::Ask(ask) => ask,
        };
        let command = EdgeCommand::Lease { account: &record.account, key_id: &record.id, ask };
        let grant = match keystore::call::<LeaseGrant>(env, record.mode, &record.account, &command).await {
            Ok(g) => g,
            // The key is gone from the authority (revoked and removed meanwhile).
            Err(Error::Relayed { status: 404, .. }) => {
                return Err((Error::ApiKeyInvalid { redacted: record.redacted() }, Vec::new()));
            }
            Err(e) => return Err((e, Vec::new())),
        };
        if let Err(e) = LEASES.with(|l| l.granted(&record.id, &ask, &grant, now)) {
            return refuse(e);
        }
    }
    refuse(Error::RateLimitExceeded { retry_after: 1 })
}

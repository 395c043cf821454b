//! The edge path, as phases: credential → key → record → decision (in the core's
//! [`gate::authenticate`]) → upstream request. The HTTPS check runs before, in `lib.rs`.

use keygate_core::Error;
use keygate_core::gate::{self, Presented};
use keygate_core::identity::Identity;
use worker::{Env, Request, Response, Url};

use crate::kv::KvRecords;
use crate::platform::WorkerClock;
use crate::{config, proxy};
use keygate_core::clock::Clock;

/// Authenticate `req` and, if it may pass, forward it to its mode's origin.
pub async fn handle(req: Request, url: &Url, env: &Env, request_id: &str) -> Result<Response, Error> {
    // Secrets first: without a pepper nothing can be decided, so refuse.
    let pepper = config::pepper(env)?;
    let authorization = req.headers().get("authorization").ok().flatten();
    let presented = Presented { authorization: authorization.as_deref(), query: url.query() };

    // Phases 1–4: credential, key, record, decision.
    let authn = gate::authenticate(presented, &KvRecords { env }, &pepper, WorkerClock.now()).await?;

    // Phase 5: the upstream request, to the key's own mode's origin.
    let origin = config::origin(env, authn.record.mode)?;
    let identity = Identity::new(&authn.record, request_id.to_owned());
    proxy::forward(req, url, &origin, &identity).await
}

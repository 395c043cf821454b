//! Webhook delivery from a `KeyStore` object's alarm, in the full worker: the provider's endpoint
//! (`WEBHOOK_URL`) reached with the platform's fetch. What is due, the signature and the retries
//! are the core's (`keygate_core::api::webhook::deliver_due`); here is only the HTTP call.

use std::time::Duration;

use futures_util::future::{Either, select};
use keygate_core::commands::ports::WebhookSender;
use keygate_core::domain::webhook::AttemptOutcome;
use worker::{Delay, Fetch, Headers, Method, Request, RequestInit, RequestRedirect, Url};

/// The longest an attempt may take before it counts as failed (and is retried).
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// The most deliveries one alarm sends (more are left for the next, set at once).
pub const PER_ALARM: usize = 25;

/// The provider's endpoint.
pub struct Endpoint(pub Url);

impl WebhookSender for Endpoint {
    async fn send(&self, body: &[u8], signature: &str) -> AttemptOutcome {
        let headers = Headers::new();
        let _ = headers.set("Content-Type", "application/json");
        let _ = headers.set(keygate_verify::webhook::HEADER, signature);
        let _ = headers.set("User-Agent", "keygate-webhooks/1");
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            // A redirect is an answer (3xx, retried), never followed to another host.
            .with_redirect(RequestRedirect::Manual)
            .with_body(Some(worker::js_sys::Uint8Array::from(body).into()));
        let request = match Request::new_with_init(self.0.as_str(), &init) {
            Ok(r) => r,
            Err(_) => return AttemptOutcome::Failed("the request could not be built".into()),
        };
        let fetch = Fetch::Request(request);
        let call = std::pin::pin!(fetch.send());
        match select(call, Delay::from(TIMEOUT)).await {
            Either::Left((Ok(resp), _)) => AttemptOutcome::Answered(resp.status_code()),
            Either::Left((Err(_), _)) => AttemptOutcome::Failed("the endpoint could not be reached".into()),
            Either::Right(_) => AttemptOutcome::Failed(format!("no answer within {} s", TIMEOUT.as_secs())),
        }
    }
}

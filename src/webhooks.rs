//! Webhook delivery from a `KeyStore` object's alarm, in the full worker: the provider's endpoint
//! (`WEBHOOK_URL`) reached with the platform's fetch. What is due, the signature and the retries
//! are the core's (`keygate_core::api::webhook::deliver_due`); here is only the HTTP call.

use std::time::Duration;

use futures_util::future::{Either, select};
use keygate_core::commands::ports::WebhookSender;
use keygate_core::domain::webhook::AttemptOutcome;
use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit, RequestRedirect, Url};

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
        // On a timeout the request is aborted, not left open: an open connection would count
        // against the platform's limit of six and hold up the next attempts.
        let controller = AbortController::default();
        let fetch = Fetch::Request(request);
        let signal = controller.signal();
        let call = std::pin::pin!(fetch.send_with_signal(&signal));
        match select(call, Delay::from(TIMEOUT)).await {
            Either::Left((Ok(resp), _)) => {
                let status = resp.status_code();
                // The answer's body is not wanted: cancelled, not left on the connection.
                let resp: web_sys::Response = resp.into();
                if let Some(body) = resp.body() {
                    let _ = body.cancel();
                }
                AttemptOutcome::Answered(status)
            }
            Either::Left((Err(_), _)) => AttemptOutcome::Failed("the endpoint could not be reached".into()),
            Either::Right(_) => {
                controller.abort();
                AttemptOutcome::Failed(format!("no answer within {} s", TIMEOUT.as_secs()))
            }
        }
    }
}

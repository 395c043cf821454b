//! (e) A bare pass-through worker in Rust: the request, as it came, to `ORIGIN` with the same
//! path and query, and the origin's answer back. No authentication at all.
use worker::{Context, Env, Fetch, Request, RequestInit, Response, Result, event};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let origin = env.var("ORIGIN")?.to_string();
    let url = req.url()?;
    let target = match url.query() {
        Some(q) => format!("{}{}?{q}", origin.trim_end_matches('/'), url.path()),
        None => format!("{}{}", origin.trim_end_matches('/'), url.path()),
    };
    let mut init = RequestInit::new();
    init.with_method(req.method()).with_headers(req.headers().clone());
    if let Some(body) = req.inner().body() {
        init.with_body(Some(body.into()));
    }
    Fetch::Request(Request::new_with_init(&target, &init)?).send().await
}

//! The upstream call in one crossing into JavaScript: copy the request's headers with keygate's
//! edits, fetch the origin, copy the answer's headers with keygate's edits, and return it. Done
//! from wasm, each header name, `set`, `delete`, property of the request's init and of the
//! response, and each conversion between workers-rs's types and the platform's, is a call across
//! the boundary with its strings copied each way; on the request path these crossings, not
//! keygate's own logic, were most of the wasm's share of a request. What to drop and what to set
//! is still decided in Rust ([`Edits`]).
//!
//! Names and values cross as one `\n`-separated string. Neither a header name nor a header value
//! can contain `\n` or `\r` (the platform refuses them in `Headers.set`), and [`Edits`] refuses
//! them too, so the separator cannot be forged.

use keygate_core::Error;
use wasm_bindgen::prelude::*;
use worker::js_sys;
use worker::wasm_bindgen_futures::JsFuture;

#[wasm_bindgen(inline_js = r#"
export function header_names(h) {
  let s = "";
  for (const name of h.keys()) s += name + "\n";
  return s;
}
function edit(h, drop, dropPrefix, ops) {
  for (const name of drop.split("\n")) if (name) h.delete(name);
  if (dropPrefix) for (const name of [...h.keys()]) if (name.startsWith(dropPrefix)) h.delete(name);
  const o = ops.split("\n");
  for (let i = 0; i + 2 < o.length; i += 3) {
    if (o[i] === "a") h.append(o[i + 1], o[i + 2]);
    else h.set(o[i + 1], o[i + 2]);
  }
}
export async function forward(req, url, method, withBody, drop, ops, answerDropPrefix, answerOps) {
  // Each side's headers are copied once, by the platform, and edited in place. The credential
  // is gone from the copy, so no cache may answer or keep it: one account's answer must never
  // be served to another (cache: "no-store" bypasses the platform's cache).
  const upstream = new Request(url, { method, headers: req.headers, body: withBody ? req.body : null, redirect: "manual", cache: "no-store" });
  edit(upstream.headers, drop, "", ops);
  let answer;
  try {
    answer = await fetch(upstream);
  } catch {
    return null;
  }
  const out = new Response(answer.body, answer);
  edit(out.headers, "", answerDropPrefix, answerOps);
  return out;
}
"#)]
extern "C" {
    /// Every name in `h` (lower-case, as the platform keeps them), each followed by `\n`.
    fn header_names(h: &web_sys::Headers) -> String;
    /// `fetch(url)` with `req`'s method, body (if `with_body`) and headers, edited; resolves to
    /// the origin's answer, with its headers edited, or `null` if the origin could not be
    /// reached. Rejects if an edit is refused.
    fn forward(
        req: &web_sys::Request,
        url: &str,
        method: &str,
        with_body: bool,
        dropped: &str,
        ops: &str,
        answer_dropped_prefix: &str,
        answer_ops: &str,
    ) -> js_sys::Promise;
}

/// The names of the headers in `h`, lower-case, each followed by `\n`: split on `\n`, skipping
/// the empty last part.
pub fn names(h: &web_sys::Headers) -> String {
    header_names(h)
}

/// Edits to make to a copy of a `Headers`: names to drop, then values to set or append.
#[derive(Debug, Default)]
pub struct Edits {
    drop: String,
    drop_prefix: &'static str,
    ops: String,
}

impl Edits {
    /// Drop `name`.
    pub fn drop(&mut self, name: &str) -> Result<(), Error> {
        Self::check(name)?;
        self.drop.push_str(name);
        self.drop.push('\n');
        Ok(())
    }

    /// Drop every header whose lower-case name starts with `prefix` (lower-case).
    pub fn drop_prefix(&mut self, prefix: &'static str) {
        self.drop_prefix = prefix;
    }

    /// Set `name` to `value`, replacing what it had.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), Error> {
        self.op("s", name, value)
    }

    /// Add `value` to `name`, keeping what it had.
    pub fn append(&mut self, name: &str, value: &str) -> Result<(), Error> {
        self.op("a", name, value)
    }

    fn op(&mut self, op: &str, name: &str, value: &str) -> Result<(), Error> {
        Self::check(name)?;
        Self::check(value)?;
        for part in [op, name, value] {
            self.ops.push_str(part);
            self.ops.push('\n');
        }
        Ok(())
    }

    fn check(s: &str) -> Result<(), Error> {
        if s.bytes().any(|b| b == b'\n' || b == b'\r') {
            return Err(Error::Internal { what: "a header name or value with a line break" });
        }
        Ok(())
    }
}

/// Send `req` (whose method is `method`) to `url` with its headers edited by `request`, and return
/// the origin's answer with its headers edited by `answer`: one call into JavaScript.
pub async fn send(
    req: &web_sys::Request,
    method: &str,
    url: &str,
    request: &Edits,
    answer: &Edits,
) -> Result<web_sys::Response, Error> {
    // The body stream is handed on as it is: never buffered.
    let with_body = !matches!(method, "GET" | "HEAD");
    let answered = JsFuture::from(forward(
        req,
        url,
        method,
        with_body,
        &request.drop,
        &request.ops,
        answer.drop_prefix,
        &answer.ops,
    ))
    .await
    .map_err(|_| Error::Internal { what: FORWARDING })?;
    if answered.is_null() {
        return Err(Error::OriginUnavailable);
    }
    answered.dyn_into().map_err(|_| Error::Internal { what: FORWARDING })
}

/// What was being done when the platform refused an edit or the answer.
const FORWARDING: &str = "forwarding to the origin";

//! Header edits in one call into JavaScript each, instead of one call (and one string copy each
//! way) per header name, per `set` and per `delete`: on the request path these crossings, not
//! keygate's own logic, were most of the wasm's share of a request.
//!
//! Names and values cross as one `\n`-separated string. Neither a header name nor a header value
//! can contain `\n` or `\r` (the platform refuses them in `Headers.set`), and [`Edits`] refuses
//! them too, so the separator cannot be forged.

use keygate_core::Error;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(inline_js = r#"
export function header_names(h) {
  let s = "";
  for (const name of h.keys()) s += name + "\n";
  return s;
}
export function edited_headers(src, drop, dropPrefix, ops) {
  const h = new Headers(src);
  for (const name of drop.split("\n")) if (name) h.delete(name);
  if (dropPrefix) for (const name of [...h.keys()]) if (name.startsWith(dropPrefix)) h.delete(name);
  const o = ops.split("\n");
  for (let i = 0; i + 2 < o.length; i += 3) {
    if (o[i] === "a") h.append(o[i + 1], o[i + 2]);
    else h.set(o[i + 1], o[i + 2]);
  }
  return h;
}
"#)]
extern "C" {
    /// Every name in `h` (lower-case, as the platform keeps them), each followed by `\n`.
    fn header_names(h: &web_sys::Headers) -> String;
    /// A mutable copy of `src` without the names in `dropped` and those starting with
    /// `dropped_prefix` (when not empty), then with `ops` applied in order.
    #[wasm_bindgen(catch)]
    fn edited_headers(
        src: &web_sys::Headers,
        dropped: &str,
        dropped_prefix: &str,
        ops: &str,
    ) -> Result<web_sys::Headers, JsValue>;
}

/// The names of the headers in `h`, lower-case.
pub fn names(h: &worker::Headers) -> Vec<String> {
    header_names(&h.0).split('\n').filter(|n| !n.is_empty()).map(str::to_owned).collect()
}

/// Edits to make to a copy of a `Headers`: names to drop, then values to set or append.
#[derive(Debug, Default)]
pub struct Edits {
    drop: String,
    drop_prefix: &'static str,
    ops: String,
    what: &'static str,
}

impl Edits {
    /// No edits yet; `what` names the headers in errors ("the request's headers").
    pub fn new(what: &'static str) -> Self {
        Edits { what, ..Default::default() }
    }

    /// Drop `name`.
    pub fn drop(&mut self, name: &str) -> Result<(), Error> {
        self.check(name)?;
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
        self.check(name)?;
        self.check(value)?;
        for part in [op, name, value] {
            self.ops.push_str(part);
            self.ops.push('\n');
        }
        Ok(())
    }

    fn check(&self, s: &str) -> Result<(), Error> {
        if s.bytes().any(|b| b == b'\n' || b == b'\r') {
            return Err(Error::Internal { what: self.what });
        }
        Ok(())
    }

    /// A mutable copy of `src` with these edits: one call into JavaScript.
    pub fn apply(&self, src: &worker::Headers) -> Result<worker::Headers, Error> {
        edited_headers(&src.0, &self.drop, self.drop_prefix, &self.ops)
            .map(worker::Headers)
            .map_err(|_| Error::Internal { what: self.what })
    }
}

//! What a request must look like before any key is looked at: a method every origin reads the
//! same way, no method override, and a path that no origin can read as another resource.
//!
//! keygate decides on the path exactly as the platform's URL parser left it (dot segments
//! resolved, `\` read as `/`) and forwards exactly that path. Origins then decode and normalise it
//! in their own ways: Tomcat and Jetty drop `;…` from a segment, nginx decodes `%2F` and merges
//! `//`, some frameworks decode twice. A path on which they could disagree with keygate is
//! refused, with `400 path_not_canonical`, rather than guessed at:
//!
//! * a `;` anywhere in the path (matrix parameters), raw or encoded;
//! * an empty segment (`//`), except a single trailing `/`;
//! * a `%` not followed by two hex digits;
//! * an escape that decodes to `/`, `\`, `.`, `%`, `;`, `?`, `#`, or a control byte;
//! * a segment whose escapes decode to bytes that are not UTF-8 (`%C0%AE`, an overlong `.`).
//!
//! Any other escape (`%20`, `%C3%A9`) reads the same at every origin and is allowed.

use crate::Error;

/// The methods keygate forwards. Anything else (`PROPFIND`, `PURGE`, `TRACE`, `CONNECT`) is
/// answered `405` at the edge: the platform would otherwise hand some of them on as `GET`.
pub const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// The `Allow` header for a method outside [`METHODS`].
pub const ALLOW: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

/// Request headers that ask an origin to treat the request as another method. Express
/// (`method-override`), Rails, Laravel and Symfony honour one or more of them.
pub const OVERRIDE_HEADERS: [&str; 3] = ["x-http-method-override", "x-method-override", "x-http-method"];

/// The query parameter that asks the same (Rails, Laravel, Symfony, Express).
pub const OVERRIDE_PARAM: &str = "_method";

/// Refuse a method outside [`METHODS`], exactly as the client spelled it.
pub fn check_method(method: &str) -> Result<(), Error> {
    if METHODS.contains(&method) { Ok(()) } else { Err(Error::MethodNotAllowed { allowed: ALLOW }) }
}

/// Refuse a method override: `has_header` tells whether the request has a header (by
/// lower-case name), `query` is the raw query string.
pub fn check_override(has_header: impl Fn(&str) -> bool, query: Option<&str>) -> Result<(), Error> {
    for name in OVERRIDE_HEADERS {
        if has_header(name) {
            return Err(Error::MethodOverride { param: name.to_owned() });
        }
    }
    if let Some(q) = query {
        for (k, _) in form_urlencoded::parse(q.as_bytes()) {
            if k.eq_ignore_ascii_case(OVERRIDE_PARAM) {
                return Err(Error::MethodOverride { param: OVERRIDE_PARAM.to_owned() });
            }
        }
    }
    Ok(())
}

/// Refuse a path that an origin could read as a different resource (see the module docs).
/// `path` is the path as the platform parsed it, without the query.
pub fn check_path(path: &str) -> Result<(), Error> {
    let refuse = |reason: &'static str| Err(Error::PathNotCanonical { reason });
    let Some(rest) = path.strip_prefix('/') else { return refuse("it does not start with /") };
    if rest.is_empty() {
        return Ok(());
    }
    let segments: Vec<&str> = rest.split('/').collect();
    let last = segments.len() - 1;
    for (i, segment) in segments.iter().enumerate() {
        if segment.is_empty() && i != last {
            return refuse("it has an empty segment (//)");
        }
        if *segment == "." || *segment == ".." {
            return refuse("it has a dot segment");
        }
        let bytes = segment.as_bytes();
        let mut decoded = Vec::with_capacity(bytes.len());
        let mut j = 0;
        while j < bytes.len() {
            match bytes[j] {
                b';' => return refuse("it has a `;` (matrix parameters)"),
                b'\\' => return refuse("it has a `\\`"),
                b'%' => {
                    let hex = |k: usize| bytes.get(k).and_then(|b| (*b as char).to_digit(16));
                    let (Some(hi), Some(lo)) = (hex(j + 1), hex(j + 2)) else {
                        return refuse("it has a `%` that is not followed by two hex digits");
                    };
                    let b = (hi * 16 + lo) as u8;
                    match b {
                        b'/' => return refuse("it has an encoded `/` (%2F)"),
                        b'\\' => return refuse("it has an encoded `\\` (%5C)"),
                        b'.' => return refuse("it has an encoded `.` (%2E)"),
                        b'%' => {
                            return refuse("it has an encoded `%` (%25), which some origins decode twice");
                        }
                        b';' => return refuse("it has an encoded `;` (%3B)"),
                        b'?' | b'#' => return refuse("it has an encoded `?` or `#`"),
                        0..=0x1f | 0x7f => return refuse("it has an encoded control character"),
                        _ => decoded.push(b),
                    }
                    j += 3;
                }
                b => {
                    decoded.push(b);
                    j += 1;
                }
            }
        }
        if std::str::from_utf8(&decoded).is_err() {
            return refuse("an escape in it decodes to bytes that are not UTF-8");
        }
    }
    Ok(())
}

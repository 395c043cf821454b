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
//! * a segment whose escapes decode to bytes that are not UTF-8 (`%C0%AE`, an overlong `.`);
//! * a Unicode look-alike of `.`, `/`, `\`, `;`, `%`, `?` or `#` (fullwidth forms, dot leaders,
//!   division and fraction slashes, …), which an origin applying NFKC normalisation or Windows'
//!   best-fit mapping reads as the ASCII character;
//! * a segment that ends in `.` or in whitespace, or starts with whitespace (Windows trims them:
//!   `..%20` is `..` there).
//!
//! Any other escape (`%20` inside a segment, `%C3%A9`) reads the same at every origin and is
//! allowed.
//!
//! Besides the path, a request must not carry what makes an origin run another method or route
//! to another path than the one decided on: method overrides (headers in any spelling, with `_`
//! for `-`; a `_method` query parameter however PHP would fold its name) and URL-rewrite headers
//! (`X-Original-URL`, `X-Rewrite-URL`).

use crate::Error;

/// The methods keygate forwards. Anything else (`PROPFIND`, `PURGE`, `TRACE`, `CONNECT`) is
/// answered `405` at the edge: the platform would otherwise hand some of them on as `GET`.
pub const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// The `Allow` header for a method outside [`METHODS`].
pub const ALLOW: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

/// Request headers that ask an origin to treat the request as another method (Express's
/// `method-override`, Rails, Laravel, Symfony, IIS), matched after folding case and `_` to `-`,
/// with or without the `X-` prefix.
pub const OVERRIDE_HEADERS: [&str; 4] =
    ["x-http-method-override", "x-method-override", "x-http-method", "x-original-method"];

/// Request headers that ask an origin to route on another URL than the request's (Symfony,
/// Zend, IIS's URL Rewrite), matched the same way.
pub const REWRITE_HEADERS: [&str; 2] = ["x-original-url", "x-rewrite-url"];

/// The query parameter that asks the same (Rails, Laravel, Symfony, Express).
pub const OVERRIDE_PARAM: &str = "_method";

/// Refuse a method outside [`METHODS`], exactly as the client spelled it.
pub fn check_method(method: &str) -> Result<(), Error> {
    if METHODS.contains(&method) { Ok(()) } else { Err(Error::MethodNotAllowed { allowed: ALLOW }) }
}

/// A header name as servers that map headers to variables see it: lower-case, `_` read as `-`,
/// without an `X-` prefix.
fn folded_header(name: &str) -> String {
    let lower = name.to_ascii_lowercase().replace('_', "-");
    lower.strip_prefix("x-").map(str::to_owned).unwrap_or(lower)
}

/// A query parameter's name as PHP (Laravel, Symfony) reads it: leading spaces dropped, `.`,
/// space and `[` folded to `_`, and an array suffix (`name[…]`) dropped.
fn folded_param(name: &str) -> String {
    let name = name.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let base = match name.find('[') {
        Some(i) if name[i..].contains(']') => &name[..i],
        _ => name,
    };
    base.chars()
        .map(|c| if matches!(c, '.' | ' ' | '[') { '_' } else { c })
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Refuse what would make an origin run another method or route to another path than the one
/// decided on: `names` are the request's header names, `query` its raw query string.
pub fn check_override<'a>(
    names: impl IntoIterator<Item = &'a str>,
    query: Option<&str>,
) -> Result<(), Error> {
    for name in names {
        let folded = folded_header(name);
        if OVERRIDE_HEADERS.iter().any(|h| h[2..] == folded) {
            return Err(Error::MethodOverride { param: name.to_ascii_lowercase() });
        }
        if REWRITE_HEADERS.iter().any(|h| h[2..] == folded) {
            return Err(Error::PathNotCanonical {
                reason: "it carries a URL-rewrite header (X-Original-URL, X-Rewrite-URL)",
            });
        }
    }
    if let Some(q) = query {
        for (k, _) in form_urlencoded::parse(q.as_bytes()) {
            if folded_param(&k) == OVERRIDE_PARAM {
                return Err(Error::MethodOverride { param: OVERRIDE_PARAM.to_owned() });
            }
        }
    }
    Ok(())
}

/// Characters that NFKC normalisation or Windows' best-fit mapping turns into `.`, `/`, `\`,
/// `;`, `%`, `?` or `#` (or a run of them).
const LOOK_ALIKES: &[char] = &[
    '\u{2024}', '\u{2025}', '\u{2026}', '\u{FE52}',
    '\u{FF0E}', // one/two dot leader, ellipsis, small and fullwidth full stop
    '\u{2044}', '\u{2215}', '\u{29F8}',
    '\u{FF0F}', // fraction slash, division slash, big solidus, fullwidth solidus
    '\u{2216}', '\u{29F5}', '\u{29F9}', '\u{FE68}',
    '\u{FF3C}', // set minus, reverse solidus operator, big reverse solidus, small and fullwidth reverse solidus
    '\u{037E}', '\u{FE54}',
    '\u{FF1B}', // Greek question mark (NFKC: `;`), small and fullwidth semicolon
    '\u{FE6A}', '\u{FF05}', '\u{FE56}', '\u{FF1F}', '\u{FE5F}',
    '\u{FF03}', // percent, question mark, number sign forms
];

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
        let Ok(text) = std::str::from_utf8(&decoded) else {
            return refuse("an escape in it decodes to bytes that are not UTF-8");
        };
        if text.chars().any(|c| LOOK_ALIKES.contains(&c)) {
            return refuse("it has a Unicode look-alike of `.`, `/`, `\\`, `;`, `%`, `?` or `#`");
        }
        if text.ends_with('.') || text.ends_with(char::is_whitespace) || text.starts_with(char::is_whitespace)
        {
            return refuse(
                "a segment ends in `.` or whitespace, or starts with whitespace (Windows trims them)",
            );
        }
    }
    Ok(())
}

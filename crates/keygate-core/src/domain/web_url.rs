//! The URLs the edge meets, read without the `url` crate: with its IDNA code it was about 44 KB
//! of the lean edge's 200 KB budget, and parsing each request's URL twice with it cost CPU on
//! every request.
//!
//! * [`RequestUrl`]: a request's URL as the runtime hands it over, already serialised by the
//!   WHATWG URL parser (absolute, percent-encoded, host in ASCII); only split here.
//! * [`WebOrigin`]: the scheme, host and port of an `Origin` or `Referer` header or of an origin
//!   rule, for origin restrictions. Browsers send both headers serialised in ASCII; anything a
//!   browser never sends (user info, a percent-encoded or non-ASCII host, a number-like host
//!   that is not a dotted IPv4 address) is refused, which can only deny, never allow.
//! * [`BaseUrl`]: `ORIGIN_TEST`/`ORIGIN_LIVE`, and the upstream URL of a request.
//!
//! `tests/properties.rs` checks each against the `url` crate on generated inputs: whatever is
//! accepted here reads the same there.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;

/// A request's absolute URL, split into its parts. `Clone` keeps the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestUrl {
    text: String,
    scheme: Range<usize>,
    host: Range<usize>,
    path: Range<usize>,
    query: Option<Range<usize>>,
}

impl RequestUrl {
    /// Split `text` (`scheme://[userinfo@]host[:port]/path[?query][#fragment]`); `None` when it
    /// is not an absolute URL with an authority.
    pub fn parse(text: String) -> Option<RequestUrl> {
        let colon = text.find(':')?;
        let scheme = 0..colon;
        let scheme_ok = text[scheme.clone()].bytes().enumerate().all(|(i, b)| {
            b.is_ascii_alphabetic() || (i > 0 && (b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.')))
        });
        if colon == 0 || !scheme_ok || !text[colon + 1..].starts_with("//") {
            return None;
        }
        let start = colon + 3;
        let end = text.find('#').unwrap_or(text.len());
        if end < start {
            return None;
        }
        let authority_end = text[start..end].find(['/', '?']).map_or(end, |i| start + i);
        let authority = &text[start..authority_end];
        let host_start = authority.rfind('@').map_or(start, |i| start + i + 1);
        let host_end = host_start + host_len(&text[host_start..authority_end]);
        let (path, query) = match text[authority_end..end].find('?') {
            Some(i) => (authority_end..authority_end + i, Some(authority_end + i + 1..end)),
            None => (authority_end..end, None),
        };
        Some(RequestUrl { scheme, host: host_start..host_end, path, query, text })
    }

    /// The scheme, as serialised (lower case).
    pub fn scheme(&self) -> &str {
        &self.text[self.scheme.clone()]
    }

    /// The host without its port (an IPv6 address in brackets), if there is one.
    pub fn host_str(&self) -> Option<&str> {
        Some(&self.text[self.host.clone()]).filter(|h| !h.is_empty())
    }

    /// The path (`/` when the URL has none).
    pub fn path(&self) -> &str {
        if self.path.is_empty() { "/" } else { &self.text[self.path.clone()] }
    }

    /// The query, without `?` (`Some("")` for a bare `?`).
    pub fn query(&self) -> Option<&str> {
        self.query.clone().map(|q| &self.text[q])
    }

    /// The whole URL.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// The length of the host at the start of `hostport` (`host[:port]`, an IPv6 host in brackets).
fn host_len(hostport: &str) -> usize {
    if hostport.starts_with('[') {
        return hostport.find(']').map_or(hostport.len(), |i| i + 1);
    }
    hostport.find(':').unwrap_or(hostport.len())
}

/// A web origin: `http` or `https`, a host in canonical ASCII form, and a port unless it is the
/// scheme's default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebOrigin {
    /// `http` or `https`.
    pub scheme: &'static str,
    /// Lower case; an IPv4 address dotted, an IPv6 address in brackets in its canonical form.
    pub host: String,
    /// The port, `None` for the scheme's default.
    pub port: Option<u16>,
}

impl WebOrigin {
    /// The origin of `s`, an origin (`https://shop.example.com:8443`) or a URL (a `Referer`):
    /// everything after the authority is ignored. `None` for anything else.
    pub fn parse(s: &str) -> Option<WebOrigin> {
        let (origin, _) = WebOrigin::parse_with_rest(s)?;
        Some(origin)
    }

    /// [`WebOrigin::parse`], and what follows the authority (path, query, fragment).
    fn parse_with_rest(s: &str) -> Option<(WebOrigin, &str)> {
        let (scheme, rest) = s.split_once("://")?;
        let scheme = if scheme.eq_ignore_ascii_case("https") {
            "https"
        } else if scheme.eq_ignore_ascii_case("http") {
            "http"
        } else {
            return None;
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (hostport, tail) = rest.split_at(end);
        let split = host_len(hostport);
        let (host, port) = hostport.split_at(split);
        let host = canonical_host(host)?;
        let port = match port.strip_prefix(':') {
            None if port.is_empty() => None,
            None => return None,
            Some("") => None,
            Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => {
                let p: u16 = p.parse().ok()?;
                let default = if scheme == "https" { 443 } else { 80 };
                (p != default).then_some(p)
            }
            Some(_) => return None,
        };
        Some((WebOrigin { scheme, host, port }, tail))
    }

    /// `scheme://host[:port]`, as browsers serialise an origin.
    pub fn serialize(&self) -> String {
        match self.port {
            Some(p) => format!("{}://{}:{p}", self.scheme, self.host),
            None => format!("{}://{}", self.scheme, self.host),
        }
    }

    /// `host[:port]`, as a `Host` header names it.
    pub fn host_and_port(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        }
    }
}

/// The canonical form of a host as a browser serialises it: a DNS name in lower case, a dotted
/// IPv4 address, or an IPv6 address in brackets (canonical, RFC 5952). `None` for an empty or
/// non-ASCII host, a percent-encoded one, forbidden characters, or a name whose last label is
/// numeric but is not a dotted IPv4 address (the URL standard would read it as a number).
pub fn canonical_host(host: &str) -> Option<String> {
    if let Some(inner) = host.strip_prefix('[') {
        let ip: Ipv6Addr = inner.strip_suffix(']')?.parse().ok()?;
        return Some(ipv6_serialized(ip));
    }
    let ok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_');
    if host.is_empty() || !host.bytes().all(ok) {
        return None;
    }
    let host = host.to_ascii_lowercase();
    let last = host.strip_suffix('.').unwrap_or(&host).rsplit('.').next().unwrap_or("");
    let numeric = !last.is_empty()
        && (last.bytes().all(|b| b.is_ascii_digit())
            || last.strip_prefix("0x").is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit())));
    if numeric {
        // Only a plain dotted quad, which every parser reads alike.
        let ip: Ipv4Addr = host.parse().ok()?;
        return (ip.to_string() == host).then_some(host);
    }
    Some(host)
}

/// An IPv6 address in brackets as the URL standard serialises it: lower-case hex groups, the
/// first longest run of two or more zero groups as `::`. (Rust's own form differs for an
/// IPv4-mapped address, `::ffff:127.0.0.1` where a browser and `fetch` write `::ffff:7f00:1`.)
fn ipv6_serialized(ip: Ipv6Addr) -> String {
    use std::fmt::Write;
    let groups = ip.segments();
    let (mut run_at, mut run_len, mut i) = (None, 1, 0);
    while i < 8 {
        let start = i;
        while i < 8 && groups[i] == 0 {
            i += 1;
        }
        if i - start > run_len {
            (run_at, run_len) = (Some(start), i - start);
        }
        i = i.max(start + 1);
    }
    let mut out = String::from("[");
    let mut j = 0;
    while j < 8 {
        if run_at == Some(j) {
            out.push_str("::");
            j += run_len;
            continue;
        }
        if j > 0 && !out.ends_with(':') {
            out.push(':');
        }
        let _ = write!(out, "{:x}", groups[j]);
        j += 1;
    }
    out.push(']');
    out
}

/// An origin server's base URL (`ORIGIN_TEST`, `ORIGIN_LIVE`): `http(s)://host[:port]` and an
/// optional base path, with no user info, query or fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    origin: WebOrigin,
    /// The base path, without a trailing `/` (empty for none).
    path: String,
}

impl BaseUrl {
    /// Parse a configured base URL; `None` when it is not one.
    pub fn parse(s: &str) -> Option<BaseUrl> {
        let (origin, rest) = WebOrigin::parse_with_rest(s)?;
        let path = rest.trim_end_matches('/');
        // RFC 3986's path characters, without `%`: what `fetch` sends exactly as written, so that
        // the path signed is the path sent.
        let pchar = |b: u8| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b);
        let segment_ok = |seg: &str| seg != "." && seg != ".." && !seg.is_empty() && seg.bytes().all(pchar);
        let path_ok = path.is_empty() || (path.starts_with('/') && path[1..].split('/').all(segment_ok));
        if !path_ok {
            return None;
        }
        Some(BaseUrl { origin, path: path.to_owned() })
    }

    /// `host[:port]` of the origin server.
    pub fn host_and_port(&self) -> String {
        self.origin.host_and_port()
    }

    /// The upstream URL for a request to `path` with `query`, and its path and query (what the
    /// identity's signature covers): the base path, then the request's path and query.
    pub fn target(&self, path: &str, query: Option<&str>) -> (String, String) {
        let mut path_and_query =
            String::with_capacity(self.path.len() + path.len() + 1 + query.map_or(0, str::len));
        path_and_query.push_str(&self.path);
        path_and_query.push_str(path);
        if let Some(q) = query {
            path_and_query.push('?');
            path_and_query.push_str(q);
        }
        let url = format!("{}://{}{path_and_query}", self.origin.scheme, self.origin.host_and_port());
        (url, path_and_query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_url_parts() {
        let u = RequestUrl::parse("https://api.example.com:8443/v1/charges?limit=3#frag".into()).unwrap();
        assert_eq!(u.scheme(), "https");
        assert_eq!(u.host_str(), Some("api.example.com"));
        assert_eq!(u.path(), "/v1/charges");
        assert_eq!(u.query(), Some("limit=3"));
        let u = RequestUrl::parse("http://[::1]:8787/?".into()).unwrap();
        assert_eq!((u.scheme(), u.host_str(), u.path(), u.query()), ("http", Some("[::1]"), "/", Some("")));
        let u = RequestUrl::parse("https://u:p@h.example?q".into()).unwrap();
        assert_eq!((u.host_str(), u.path(), u.query()), (Some("h.example"), "/", Some("q")));
        for bad in ["", "/v1/x", "https:/x", "1ttp://x/", "://x/"] {
            assert!(RequestUrl::parse(bad.into()).is_none(), "{bad}");
        }
    }

    #[test]
    fn origins() {
        let o = WebOrigin::parse("HTTPS://Shop.Example.com:443/page?x").unwrap();
        assert_eq!(o.serialize(), "https://shop.example.com");
        assert_eq!(WebOrigin::parse("http://localhost:3000").unwrap().port, Some(3000));
        assert_eq!(WebOrigin::parse("http://[0:0::1]:80").unwrap().serialize(), "http://[::1]");
        // As a browser and `fetch` write it, not as Rust does.
        assert_eq!(WebOrigin::parse("http://[::ffff:127.0.0.1]").unwrap().host, "[::ffff:7f00:1]");
        assert_eq!(WebOrigin::parse("http://[1:0:0:1:0:0:0:1]").unwrap().host, "[1:0:0:1::1]");
        assert_eq!(WebOrigin::parse("http://[1:0:1:0:1:0:1:0]").unwrap().host, "[1:0:1:0:1:0:1:0]");
        assert_eq!(WebOrigin::parse("http://[::]").unwrap().host, "[::]");
        for bad in [
            "https://user@shop.example.com",
            "https://shop.example.com@evil.example",
            "https://%73hop.example.com",
            "https://bücher.example",
            "https://127.1",
            "https://0x7f.0.0.1",
            "https://1.2.3.4.5",
            "https://x:99999",
            "https://x:8a",
            "ftp://x",
            "https://",
            "null",
        ] {
            assert!(WebOrigin::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn base_urls() {
        let b = BaseUrl::parse("https://Origin.example:443/api/").unwrap();
        assert_eq!(b.host_and_port(), "origin.example");
        assert_eq!(
            b.target("/v1/x", Some("a=1")),
            ("https://origin.example/api/v1/x?a=1".into(), "/api/v1/x?a=1".into())
        );
        let b = BaseUrl::parse("http://127.0.0.1:9000").unwrap();
        assert_eq!(b.target("/", None), ("http://127.0.0.1:9000/".into(), "/".into()));
        for bad in [
            "https://o.example/a/../b",
            "https://o.example?x",
            "https://o.example#f",
            "https://o.example/a b",
            "https://o.example/a\"b",
            "https://o.example/{a}",
            "https://o.example/a%20b",
            "o.example",
        ] {
            assert!(BaseUrl::parse(bad).is_none(), "{bad}");
        }
    }
}

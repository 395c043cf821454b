//! Where keygate itself sends requests (GitHub's signing keys, the provider's webhook endpoint):
//! only over TLS, except to this machine during local development.

/// Whether keygate may fetch from (or send to) `url`: `https`, or `http` to a loopback host
/// (local development). Anything else could send a request in clear text over a network.
pub fn outbound_url_allowed(url: &url::Url) -> bool {
    match url.scheme() {
        "https" => url.host().is_some(),
        "http" => match url.host() {
            Some(url::Host::Domain(d)) => d == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbound_urls_are_https_or_loopback() {
        let ok = |u: &str| outbound_url_allowed(&url::Url::parse(u).unwrap());
        assert!(ok("https://api.github.com/meta/public_keys/secret_scanning"));
        assert!(ok("http://127.0.0.1:8787/keys") && ok("http://localhost/keys") && ok("http://[::1]:9/k"));
        assert!(!ok("http://api.github.com/keys") && !ok("http://10.0.0.1/k") && !ok("ftp://localhost/k"));
        assert!(!ok("http://localhost.evil.example/k") && !ok("file:///etc/passwd"));
    }
}

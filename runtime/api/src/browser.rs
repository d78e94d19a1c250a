//! What a server without tokens refuses, so that a web page cannot use it through the
//! browser of someone who runs it (`./dev serve` on their own machine).
//!
//! Without tokens, anything that can reach the port is trusted, and a browser reaches
//! loopback on behalf of every page it shows. Three doors are closed:
//! - **DNS rebinding**: a page's own host name, made to resolve to 127.0.0.1, is
//!   same-origin with it, so the page could read every answer. A server that listens on
//!   loopback only accepts a loopback `Host` (`localhost`, `127.x.x.x`, `[::1]`).
//! - **Cross-origin requests**: browsers send `Origin` with every request that is not a
//!   GET or HEAD, and with every WebSocket handshake; one that is not this server's own
//!   origin is refused (a page on another site could otherwise store and start workflows,
//!   and read a WebSocket's events).
//! - **Requests a browser sends without asking**: a cross-site form or `fetch` may only
//!   send `text/plain`, `application/x-www-form-urlencoded` and `multipart/form-data`
//!   bodies without a preflight. The workflow routes do not take `text/plain`; a plugin
//!   upload may be multipart, and a browser's would carry a foreign `Origin`.
//!
//! With tokens none of this applies: a browser never adds a bearer token on its own.

use axum::http::{HeaderMap, StatusCode, Uri, header};

use super::ApiError;

/// Whether an anonymous request may go on; `loopback_only` when the server listens on a
/// loopback address (with `--insecure` on another address, any host name is the server's).
pub(super) fn check(headers: &HeaderMap, uri: &Uri, loopback_only: bool) -> Result<(), ApiError> {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).or_else(|| uri.authority().map(|a| a.as_str()));
    if loopback_only
        && let Some(host) = host
        && !is_loopback_name(host)
    {
        let message = format!(
            "Host {host:?} is not a loopback name: this server has no API tokens, so it answers only to \
             localhost, 127.0.0.1 and [::1] (create a token to serve other names)"
        );
        return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden_host", message));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("(not text)");
        let own = host.is_some_and(|host| origin_host(origin).is_some_and(|o| o.eq_ignore_ascii_case(host)));
        if !own {
            let message = format!(
                "requests from the web page at {origin} are refused: this server has no API tokens, so it \
                 only serves its own origin and clients that are not browsers"
            );
            return Err(ApiError::new(StatusCode::FORBIDDEN, "cross_origin", message));
        }
    }
    Ok(())
}

/// `host[:port]` of `scheme://host[:port]`; None for `null` and anything else.
fn origin_host(origin: &str) -> Option<&str> {
    let (scheme, rest) = origin.split_once("://")?;
    (matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.contains('/')).then_some(rest)
}

/// `localhost`, an IPv4 loopback address or `[::1]`, with or without a port.
fn is_loopback_name(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host
            .rsplit_once(':')
            .map_or(host, |(name, port)| if port.bytes().all(|b| b.is_ascii_digit()) { name } else { host }),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_with_and_without_ports() {
        for host in ["localhost", "LOCALHOST:8080", "127.0.0.1", "127.0.0.1:8080", "127.9.9.9:1", "[::1]", "[::1]:8080"]
        {
            assert!(is_loopback_name(host), "{host}");
        }
        for host in [
            "example.com",
            "evil.localhost.example.com:8080",
            "10.0.0.1:8080",
            "0.0.0.0",
            "[::2]:80",
            "localhost.evil:80",
            "",
        ] {
            assert!(!is_loopback_name(host), "{host}");
        }
    }

    #[test]
    fn only_the_servers_own_origin_passes() {
        let uri: Uri = "/api/v1/workflows".parse().unwrap();
        let headers = |pairs: &[(header::HeaderName, &str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(name.clone(), value.parse().unwrap());
            }
            map
        };
        let ok = |h: HeaderMap| check(&h, &uri, true).is_ok();
        assert!(ok(headers(&[(header::HOST, "127.0.0.1:8080")])));
        assert!(ok(headers(&[(header::HOST, "127.0.0.1:8080"), (header::ORIGIN, "http://127.0.0.1:8080")])));
        assert!(!ok(headers(&[(header::HOST, "127.0.0.1:8080"), (header::ORIGIN, "http://127.0.0.1:9090")])));
        assert!(!ok(headers(&[(header::HOST, "127.0.0.1:8080"), (header::ORIGIN, "https://evil.example")])));
        assert!(!ok(headers(&[(header::HOST, "127.0.0.1:8080"), (header::ORIGIN, "null")])));
        assert!(!ok(headers(&[(header::HOST, "rebound.evil.example:8080")])));
        // Listening elsewhere with --insecure: any host name, still only its own origin.
        assert!(check(&headers(&[(header::HOST, "build.internal:8080")]), &uri, false).is_ok());
        let foreign = headers(&[(header::HOST, "build.internal:8080"), (header::ORIGIN, "http://evil.example")]);
        assert!(check(&foreign, &uri, false).is_err());
    }
}

//! Just enough URL parsing for a request line: scheme, authority, host, path and query.

/// An absolute `http` or `https` URL, split the way `wasi:http` wants it.
#[derive(Debug, PartialEq, Eq)]
pub struct Url {
    /// `true` for `https`.
    pub https: bool,
    /// `host[:port]`, as written.
    pub authority: String,
    /// The host alone, without port or IPv6 brackets; what the manifest's allow-list names.
    pub host: String,
    /// The path and query, at least `/`; a fragment is dropped.
    pub path_with_query: String,
}

impl Url {
    /// Parses `text`, or says what is wrong with it.
    pub fn parse(text: &str) -> Result<Url, String> {
        let text = text.trim();
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("it contains whitespace or control characters".into());
        }
        let (scheme, rest) = text.split_once("://").ok_or("it is not absolute (no `scheme://`)")?;
        let https = match scheme.to_ascii_lowercase().as_str() {
            "http" => false,
            "https" => true,
            other => return Err(format!("scheme `{other}` is not supported (http or https)")),
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if authority.contains('@') {
            return Err("user info in the url is not supported; send an Authorization header".into());
        }
        let host = host_of(authority)?;
        let tail = tail.split('#').next().unwrap_or("");
        let path_with_query = if tail.starts_with('/') { tail.to_owned() } else { format!("/{tail}") };
        Ok(Url { https, authority: authority.to_owned(), host, path_with_query })
    }
}

fn host_of(authority: &str) -> Result<String, String> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or("unclosed `[` in the host")?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("it has no host".into());
    }
    if let Some(port) = port {
        if port.parse::<u16>().is_err() {
            return Err(format!("port `{port}` is not a number from 0 to 65535"));
        }
    }
    Ok(host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(https: bool, authority: &str, host: &str, path: &str) -> Url {
        Url { https, authority: authority.into(), host: host.into(), path_with_query: path.into() }
    }

    #[test]
    fn parses_the_usual_shapes() {
        assert_eq!(Url::parse("https://Example.com").unwrap(), url(true, "Example.com", "example.com", "/"));
        assert_eq!(Url::parse("http://h:8080/a/b?x=1#frag").unwrap(), url(false, "h:8080", "h", "/a/b?x=1"));
        assert_eq!(Url::parse("http://h?q").unwrap(), url(false, "h", "h", "/?q"));
        assert_eq!(Url::parse("HTTP://[::1]:9/p").unwrap(), url(false, "[::1]:9", "::1", "/p"));
    }

    #[test]
    fn rejects_what_it_cannot_send() {
        for bad in [
            "example.com/x",
            "ftp://h/",
            "http:///x",
            "http://h:99999/",
            "http://u:p@h/",
            "http://h/a b",
            "http://[::1/",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }
}

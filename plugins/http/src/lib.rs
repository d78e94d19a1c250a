//! `http`: outgoing HTTP requests through `wasi:http/outgoing-handler`.
//!
//! The host decides which hosts the plugin may reach (its manifest); a denied request is a
//! fatal error with code `forbidden`. Connection failures and timeouts are retryable. Any
//! response, whatever its status, is a result, unless `error_for_status` asks for 429 and
//! 5xx to be retryable errors and other 4xx fatal ones.

use std::collections::BTreeMap;
use std::time::Duration;

use harmonia_sdk::prelude::*;

mod url;
mod wasi_http;

/// The plugin.
pub struct Http;

impl Plugin for Http {
    fn info() -> PluginInfo {
        PluginInfo::new("http", env!("CARGO_PKG_VERSION"), "Makes outgoing HTTP requests").capability("http")
    }

    fn actions() -> Actions {
        Actions::new()
            .action("request", "Sends an HTTP request and returns {status, headers, body}", request)
            .input_schema(json!({
                "type": "object",
                "required": ["url"],
                "properties": {
                    "method": { "type": "string", "default": "GET" },
                    "url": { "type": "string" },
                    "headers": { "type": "object", "additionalProperties": { "type": "string" } },
                    "body": { "type": "string" },
                    "timeout_ms": { "type": "integer", "minimum": 1 },
                    "error_for_status": { "type": "boolean", "default": false }
                }
            }))
            .output_schema(json!({
                "type": "object",
                "properties": {
                    "status": { "type": "integer" },
                    "headers": { "type": "object", "additionalProperties": { "type": "string" } },
                    "body": { "type": "string" },
                    "body_encoding": { "enum": ["utf-8", "base64"] }
                }
            }))
    }
}

harmonia_sdk::export!(Http);

/// Input of `request`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// `GET` unless given; any method token is accepted.
    #[serde(default = "get")]
    pub method: String,
    /// An absolute `http://` or `https://` URL.
    pub url: String,
    /// Request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The request body, sent as UTF-8.
    pub body: Option<String>,
    /// Bounds the whole exchange: connecting, waiting for the response and reading its
    /// body. The task's deadline bounds it too. A timeout is a retryable error (`timeout`).
    pub timeout_ms: Option<u64>,
    /// Turn 429 and 5xx answers into retryable errors, other 4xx into fatal ones.
    #[serde(default)]
    pub error_for_status: bool,
}

fn get() -> String {
    "GET".to_owned()
}

/// Output of `request`.
#[derive(Debug, Serialize)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Headers by lower-case name; repeated headers are joined with `, `.
    pub headers: BTreeMap<String, String>,
    /// The body: as text when it is UTF-8, else base64 (see `body_encoding`).
    pub body: String,
    /// `utf-8` or `base64`.
    pub body_encoding: &'static str,
}

fn request(ctx: &Context, input: Request) -> Result<Response, TaskError> {
    let url = url::Url::parse(&input.url).map_err(|e| {
        TaskError::invalid_input(format_args!("invalid url `{}`: {e}", input.url)).with_code("invalid-url")
    })?;
    let timeout = effective_timeout(input.timeout_ms.map(Duration::from_millis), ctx.remaining())?;
    ctx.debug(format!("{} {}", input.method, input.url));
    let headers = with_default_headers(input.headers, input.body.as_deref());
    let raw = wasi_http::send(&input.method, &url, &headers, input.body.as_deref().unwrap_or(""), timeout)?;
    let response = into_response(raw);
    if input.error_for_status {
        check_status(&response, &url.authority)?;
    }
    Ok(response)
}

/// Adds `content-length` when there is a body (a streamed, chunked request body is
/// refused by many servers) and a `user-agent`, unless the caller set them.
fn with_default_headers(mut headers: BTreeMap<String, String>, body: Option<&str>) -> BTreeMap<String, String> {
    let has = |headers: &BTreeMap<String, String>, name: &str| headers.keys().any(|k| k.eq_ignore_ascii_case(name));
    if let Some(body) = body {
        if !has(&headers, "content-length") {
            headers.insert("content-length".to_owned(), body.len().to_string());
        }
    }
    if !has(&headers, "user-agent") {
        headers.insert("user-agent".to_owned(), concat!("harmonia-http/", env!("CARGO_PKG_VERSION")).to_owned());
    }
    headers
}

/// The tighter of the asked timeout and the time left before the task's deadline.
fn effective_timeout(asked: Option<Duration>, remaining: Option<Duration>) -> Result<Option<Duration>, TaskError> {
    let timeout = match (asked, remaining) {
        (Some(a), Some(r)) => Some(a.min(r)),
        (a, r) => a.or(r),
    };
    if timeout == Some(Duration::ZERO) {
        return Err(TaskError::retryable("the task's deadline passed before the request was sent").with_code("timeout"));
    }
    Ok(timeout)
}

fn into_response(raw: wasi_http::RawResponse) -> Response {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in raw.headers {
        let value = String::from_utf8_lossy(&value).into_owned();
        headers
            .entry(name.to_ascii_lowercase())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let (body, body_encoding) = match String::from_utf8(raw.body) {
        Ok(text) => (text, "utf-8"),
        Err(e) => (base64(e.as_bytes()), "base64"),
    };
    Response { status: raw.status, headers, body, body_encoding }
}

fn check_status(response: &Response, host: &str) -> Result<(), TaskError> {
    let status = response.status;
    if status < 400 {
        return Ok(());
    }
    let message = format!("{host} answered HTTP {status}");
    let mut body = response.body.clone();
    if body.len() > 4096 {
        let mut end = 4096;
        while !body.is_char_boundary(end) {
            end -= 1;
        }
        body.truncate(end);
    }
    let details = json!({ "status": status, "headers": response.headers, "body": body });
    let code = format!("http-{status}");
    if status == 429 || status >= 500 {
        let mut err = TaskError::retryable(message).with_code(code).with_details(details);
        // Only the delta-seconds form of Retry-After; an HTTP date is left to the engine's backoff.
        if let Some(secs) = response.headers.get("retry-after").and_then(|v| v.trim().parse::<u64>().ok()) {
            err = err.with_retry_after(Duration::from_secs(secs));
        }
        Err(err)
    } else {
        Err(TaskError::fatal(message).with_code(code).with_details(details))
    }
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
        assert_eq!(base64(&[0xff, 0xfe, 0x00]), "//4A");
    }

    #[test]
    fn response_headers_are_lowercased_and_joined() {
        let raw = wasi_http::RawResponse {
            status: 200,
            headers: vec![
                ("Set-Cookie".into(), b"a=1".to_vec()),
                ("set-cookie".into(), b"b=2".to_vec()),
                ("X-A".into(), b"v".to_vec()),
            ],
            body: vec![0xff, 0x00],
        };
        let r = into_response(raw);
        assert_eq!(r.headers["set-cookie"], "a=1, b=2");
        assert_eq!(r.headers["x-a"], "v");
        assert_eq!((r.body.as_str(), r.body_encoding), ("/wA=", "base64"));
    }

    #[test]
    fn status_errors_when_asked() {
        let response = |status: u16, headers: &[(&str, &str)]| Response {
            status,
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: "oops".into(),
            body_encoding: "utf-8",
        };
        assert!(check_status(&response(204, &[]), "h").is_ok());
        let err = check_status(&response(503, &[("retry-after", "7")]), "h").unwrap_err();
        assert_eq!(
            (err.kind(), err.code(), err.retry_after()),
            (ErrorKind::Retryable, Some("http-503"), Some(Duration::from_secs(7)))
        );
        assert_eq!(err.details().unwrap()["body"], "oops");
        let err = check_status(&response(404, &[]), "example.com").unwrap_err();
        assert_eq!((err.kind(), err.code()), (ErrorKind::Fatal, Some("http-404")));
        assert!(err.message().contains("example.com"));
    }

    #[test]
    fn default_headers_fill_gaps_only() {
        let set = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let h = with_default_headers(BTreeMap::new(), Some("héllo"));
        assert_eq!(h["content-length"], "6");
        assert!(h["user-agent"].starts_with("harmonia-http/"));
        let h = with_default_headers(set(&[("Content-Length", "6"), ("User-Agent", "me")]), Some("héllo"));
        assert_eq!(h.len(), 2);
        assert_eq!(h["User-Agent"], "me");
        assert!(!with_default_headers(BTreeMap::new(), None).contains_key("content-length"));
    }

    #[test]
    fn timeouts_combine_with_the_deadline() {
        let s = Duration::from_secs;
        assert_eq!(effective_timeout(None, None).unwrap(), None);
        assert_eq!(effective_timeout(Some(s(5)), None).unwrap(), Some(s(5)));
        assert_eq!(effective_timeout(Some(s(5)), Some(s(2))).unwrap(), Some(s(2)));
        assert_eq!(effective_timeout(None, Some(s(3))).unwrap(), Some(s(3)));
        assert_eq!(effective_timeout(Some(s(1)), Some(Duration::ZERO)).unwrap_err().code(), Some("timeout"));
    }
}

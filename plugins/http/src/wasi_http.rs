//! The request itself, through `wasi:http/outgoing-handler` (the `wasip2` crate's bindings).
//!
//! Child resources (a pollable, a body stream) must be dropped before their parents, or the
//! host traps; the explicit `drop`s and scopes below keep that order.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use harmonia_sdk::TaskError;
use wasip2::clocks::monotonic_clock;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    http_error_code, ErrorCode, Fields, HeaderError, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use wasip2::io::poll::{poll, Pollable};
use wasip2::io::streams::StreamError;

use crate::url::Url;

/// Responses larger than this are refused rather than held in the instance's memory.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
/// `blocking-write-and-flush` takes at most this many bytes per call.
const WRITE_CHUNK: usize = 4096;
const READ_CHUNK: u64 = 64 * 1024;

/// A response as received: raw headers and body bytes.
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

/// Sends one request; `timeout` bounds the whole exchange, body included.
pub fn send(
    method: &str,
    url: &Url,
    headers: &BTreeMap<String, String>,
    body: &str,
    timeout: Option<Duration>,
) -> Result<RawResponse, TaskError> {
    let started = Instant::now();
    let left = || timeout.map(|t| t.saturating_sub(started.elapsed()));
    // Messages name host and port, as the manifest's allow-list does.
    let host = url.authority.as_str();

    let fields = Fields::new();
    for (name, value) in headers {
        fields.append(name, value.as_bytes()).map_err(|e| header_error(name, e))?;
    }
    let request = OutgoingRequest::new(fields);
    let scheme = if url.https { Scheme::Https } else { Scheme::Http };
    request.set_method(&method_of(method)?).map_err(|()| invalid(format!("method `{method}` is not valid")))?;
    request.set_scheme(Some(&scheme)).map_err(|()| invalid("the scheme is not valid".into()))?;
    request
        .set_authority(Some(&url.authority))
        .map_err(|()| invalid(format!("host `{}` is not valid", url.authority)))?;
    request
        .set_path_with_query(Some(&url.path_with_query))
        .map_err(|()| invalid(format!("path `{}` is not valid", url.path_with_query)))?;
    let outgoing_body = request.body().map_err(|()| fatal_internal("the request body was already taken"))?;

    let options = RequestOptions::new();
    if let Some(t) = timeout {
        // A host that does not support one of these says so with an error; the overall
        // timeout below still holds.
        let _ = options.set_connect_timeout(Some(nanos(t)));
        let _ = options.set_first_byte_timeout(Some(nanos(t)));
        let _ = options.set_between_bytes_timeout(Some(nanos(t)));
    }
    let future = outgoing_handler::handle(request, Some(options)).map_err(|code| from_code(code, host))?;

    // A failed write (the host refused the request, the server closed early) shows up as
    // the response's error, or does not matter if a response came anyway.
    let _ = write_body(outgoing_body, body.as_bytes());

    {
        let ready = future.subscribe();
        if !wait(&ready, left()) {
            return Err(timed_out(host));
        }
    }
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Err(from_code(code, host)),
        Some(Err(())) => return Err(fatal_internal("the response was already taken")),
        None => return Err(timed_out(host)),
    };
    drop(future);

    let status = response.status();
    let headers = {
        let fields = response.headers();
        fields.entries()
    };
    let incoming = response.consume().map_err(|()| fatal_internal("the response body was already taken"))?;
    let mut body = Vec::new();
    {
        let stream = incoming.stream().map_err(|()| fatal_internal("the response body stream was already taken"))?;
        let readable = stream.subscribe();
        loop {
            match stream.read(READ_CHUNK) {
                Ok(chunk) if chunk.is_empty() => {
                    if !wait(&readable, left()) {
                        return Err(timed_out(host));
                    }
                }
                Ok(chunk) => {
                    body.extend_from_slice(&chunk);
                    if body.len() > MAX_BODY_BYTES {
                        return Err(TaskError::fatal(format_args!(
                            "the response from {host} is larger than {MAX_BODY_BYTES} bytes"
                        ))
                        .with_code("too-large"));
                    }
                }
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(match http_error_code(&e) {
                        Some(code) => from_code(code, host),
                        None => TaskError::retryable(format_args!(
                            "reading the response from {host} failed: {}",
                            e.to_debug_string()
                        ))
                        .with_code("connection-terminated"),
                    });
                }
            }
        }
    }
    drop(incoming);
    drop(response);
    Ok(RawResponse { status, headers, body })
}

fn write_body(outgoing_body: OutgoingBody, bytes: &[u8]) -> Result<(), String> {
    {
        let stream = outgoing_body.write().map_err(|()| "the body stream was already taken".to_owned())?;
        for chunk in bytes.chunks(WRITE_CHUNK) {
            stream.blocking_write_and_flush(chunk).map_err(|e| format!("{e:?}"))?;
        }
    }
    OutgoingBody::finish(outgoing_body, None).map_err(|e| format!("{e:?}"))
}

/// Waits until `ready` is ready, or `left` has passed; false on timeout.
fn wait(ready: &Pollable, left: Option<Duration>) -> bool {
    match left {
        None => {
            ready.block();
            true
        }
        Some(left) => {
            let timer = monotonic_clock::subscribe_duration(nanos(left));
            poll(&[ready, &timer]).contains(&0)
        }
    }
}

fn method_of(method: &str) -> Result<Method, TaskError> {
    let upper = method.to_ascii_uppercase();
    Ok(match upper.as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "CONNECT" => Method::Connect,
        "OPTIONS" => Method::Options,
        "TRACE" => Method::Trace,
        "PATCH" => Method::Patch,
        _ if !method.is_empty()
            && method.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)) =>
        {
            Method::Other(method.to_owned())
        }
        _ => return Err(invalid(format!("method `{method}` is not an HTTP method token"))),
    })
}

/// Maps a `wasi:http` error: a denial is fatal (`forbidden`), a bad request is invalid
/// input, TLS and policy failures are fatal, and the rest (DNS, connection, timeouts,
/// protocol hiccups) retryable. The code is the WIT case name, e.g. `connection-refused`.
fn from_code(code: ErrorCode, host: &str) -> TaskError {
    let name = case_name(&code);
    match code {
        ErrorCode::HttpRequestDenied => TaskError::fatal(format_args!(
            "request to `{host}` denied: it is not among the hosts the http plugin's manifest allows"
        ))
        .with_code("forbidden"),
        ErrorCode::HttpRequestUriInvalid
        | ErrorCode::HttpRequestUriTooLong
        | ErrorCode::HttpRequestMethodInvalid
        | ErrorCode::HttpRequestLengthRequired
        | ErrorCode::HttpRequestBodySize(_)
        | ErrorCode::HttpRequestHeaderSectionSize(_)
        | ErrorCode::HttpRequestHeaderSize(_)
        | ErrorCode::HttpRequestTrailerSectionSize(_)
        | ErrorCode::HttpRequestTrailerSize(_) => {
            TaskError::invalid_input(format_args!("the request to {host} is not valid: {code:?}")).with_code(name)
        }
        ErrorCode::TlsCertificateError
        | ErrorCode::TlsAlertReceived(_)
        | ErrorCode::DestinationIpProhibited
        | ErrorCode::ConfigurationError
        | ErrorCode::LoopDetected => {
            TaskError::fatal(format_args!("the request to {host} failed: {code:?}")).with_code(name)
        }
        ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout
        | ErrorCode::HttpResponseTimeout
        | ErrorCode::DnsTimeout => {
            TaskError::retryable(format_args!("the request to {host} timed out: {code:?}")).with_code(name)
        }
        _ => TaskError::retryable(format_args!("the request to {host} failed: {code:?}")).with_code(name),
    }
}

/// `ErrorCode::ConnectionRefused` → `connection-refused`, as the case is named in WIT.
fn case_name(code: &ErrorCode) -> String {
    let debug = format!("{code:?}");
    let variant = debug.trim_start_matches("ErrorCode::");
    let variant = variant.split('(').next().unwrap_or(variant);
    let mut name = String::new();
    for (i, c) in variant.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                name.push('-');
            }
            name.push(c.to_ascii_lowercase());
        } else {
            name.push(c);
        }
    }
    name
}

fn header_error(name: &str, err: HeaderError) -> TaskError {
    let why = match err {
        HeaderError::InvalidSyntax => "is not valid",
        HeaderError::Forbidden => "may not be set by plugins",
        HeaderError::Immutable => "cannot be changed",
    };
    invalid(format!("header `{name}` {why}")).with_code("invalid-header")
}

fn timed_out(host: &str) -> TaskError {
    TaskError::retryable(format_args!("the request to {host} timed out")).with_code("timeout")
}

fn invalid(message: String) -> TaskError {
    TaskError::invalid_input(message)
}

fn fatal_internal(message: &str) -> TaskError {
    TaskError::fatal(message).with_code("internal")
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_names_follow_wit() {
        assert_eq!(case_name(&ErrorCode::ConnectionRefused), "connection-refused");
        assert_eq!(case_name(&ErrorCode::HttpResponseBodySize(Some(3))), "http-response-body-size");
        assert_eq!(case_name(&ErrorCode::DnsTimeout), "dns-timeout");
    }

    #[test]
    fn errors_are_classified() {
        let err = from_code(ErrorCode::HttpRequestDenied, "evil.example");
        assert_eq!((err.kind(), err.code()), (harmonia_sdk::ErrorKind::Fatal, Some("forbidden")));
        assert!(err.message().contains("evil.example"));
        assert!(from_code(ErrorCode::ConnectionRefused, "h").is_retryable());
        assert!(from_code(ErrorCode::ConnectionTimeout, "h").is_retryable());
        assert_eq!(from_code(ErrorCode::HttpRequestUriInvalid, "h").kind(), harmonia_sdk::ErrorKind::InvalidInput);
    }

    #[test]
    fn methods() {
        assert!(matches!(method_of("post").unwrap(), Method::Post));
        assert!(matches!(method_of("PURGE").unwrap(), Method::Other(m) if m == "PURGE"));
        assert!(method_of("GE T").is_err());
        assert!(method_of("").is_err());
    }
}

//! Connections a client holds open: a slow sender of headers and an idle keep-alive
//! connection are closed after the header timeout, and no more than the connection cap
//! are served at once; a request that is not valid HTTP gets the JSON error. Raw TCP
//! against a real `harmonia serve`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Launch, Server, repo};

fn serve(env: &[(&str, &str)]) -> (Server, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let server = Server::launch(Launch { env, ..Launch::new(data.path(), &repo().join("workflows")) });
    (server, data)
}

fn connect(server: &Server) -> TcpStream {
    let stream = TcpStream::connect(server.base().trim_start_matches("http://")).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    stream
}

/// Reads until the server closes the connection; how long that took.
fn until_closed(stream: &mut TcpStream) -> Duration {
    let started = Instant::now();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return started.elapsed(),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return started.elapsed(),
            Err(e) => panic!("the server kept the connection open: {e}"),
        }
    }
}

const HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

#[test]
fn slow_headers_and_idle_connections_are_closed_after_the_header_timeout() {
    let (server, _data) = serve(&[("HARMONIA_HEADER_TIMEOUT", "1s")]);
    // Half a request's headers, then nothing (a slowloris): it used to be held for good.
    let mut slow = connect(&server);
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n").unwrap();
    // A full request, answered, then the connection left idle.
    let mut idle = connect(&server);
    idle.write_all(HEALTH).unwrap();
    let mut answer = [0u8; 12];
    idle.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200");
    let slow_closed = until_closed(&mut slow);
    let idle_closed = until_closed(&mut idle);
    eprintln!("slow headers closed after {slow_closed:?}, idle after another {idle_closed:?}");
    // A client that keeps up is served as before.
    let mut fresh = connect(&server);
    fresh.write_all(HEALTH).unwrap();
    fresh.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200");
}

#[test]
fn connections_over_the_cap_wait_until_one_closes() {
    let (server, _data) = serve(&[("HARMONIA_MAX_CONNECTIONS", "2")]);
    let mut held: Vec<TcpStream> = (0..2).map(|_| connect(&server)).collect();
    for stream in &mut held {
        stream.write_all(HEALTH).unwrap();
        let mut answer = [0u8; 12];
        stream.read_exact(&mut answer).unwrap();
    }
    // The third connects (the listen queue) but is not served while two are open.
    let mut third = connect(&server);
    third.write_all(HEALTH).unwrap();
    third.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let mut answer = [0u8; 12];
    assert!(third.read(&mut answer).is_err(), "a third connection was served over a cap of 2");
    // One of the two goes: the third is served.
    drop(held.pop());
    third.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    third.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200");
}

/// What the server sends back on `stream` until it closes the connection.
fn read_to_close(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("reading the answer: {e}"),
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// The requests hyper refuses before the router sees them (it answered them with a bare
/// status and an empty body) carry the JSON error too, and the connection is closed.
#[test]
fn requests_hyper_cannot_parse_get_the_json_error() {
    let (server, _data) = serve(&[]);
    let many_headers: String = (0..200).map(|i| format!("X-Header-{i}: a\r\n")).collect();
    let cases = [
        (
            "a header line without a colon",
            "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nNo colon here\r\n\r\n".to_string(),
            400,
            "bad_request",
        ),
        (
            "a NUL in a header value",
            "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Nul: a\0b\r\n\r\n".to_string(),
            400,
            "bad_request",
        ),
        (
            "200 headers",
            format!("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n{many_headers}\r\n"),
            431,
            "headers_too_large",
        ),
        (
            "a header of 500 kB",
            format!("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {}\r\n\r\n", "a".repeat(500_000)),
            431,
            "headers_too_large",
        ),
        (
            "a URI of 100 kB",
            format!("GET /{} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "a".repeat(100_000)),
            414,
            "uri_too_long",
        ),
    ];
    for (what, request, status, code) in cases {
        let mut stream = connect(&server);
        stream.write_all(request.as_bytes()).unwrap();
        let answer = read_to_close(&mut stream);
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or_else(|| panic!("{what}: {answer:?}"));
        assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{what}: {head}");
        assert!(
            head.contains("content-type: application/json")
                && head.contains(&format!("content-length: {}", body.len())),
            "{what}: {head}"
        );
        let body: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{what}: {e}: {body:?}"));
        assert_eq!(body["error"]["code"], code, "{what}: {body}");
        assert!(!body["error"]["message"].as_str().unwrap_or_default().is_empty(), "{what}: {body}");
    }
    // After a request answered on the same connection (pipelined): that answer is whole,
    // then the JSON error.
    let mut stream = connect(&server);
    stream.write_all(&[HEALTH, b"GET /health HTTP/1.1\r\nBad header\r\n\r\n"].concat()).unwrap();
    let answer = read_to_close(&mut stream);
    let (first, second) = answer.split_once("{\"status\":\"ok\"}").unwrap_or_else(|| panic!("{answer:?}"));
    assert!(first.starts_with("HTTP/1.1 200 "), "{answer:?}");
    assert!(second.starts_with("HTTP/1.1 400 ") && second.ends_with("}}"), "{answer:?}");
    assert!(second.contains("\"code\":\"bad_request\""), "{answer:?}");
}

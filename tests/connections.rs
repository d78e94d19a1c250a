//! Connections a client holds open: a slow sender of headers and an idle keep-alive
//! connection are closed after the header timeout, and no more than the connection cap
//! are served at once. Raw TCP against a real `harmonia serve`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

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

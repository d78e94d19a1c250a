//! `harmonia serve --tls-cert --tls-key` end to end: a self-signed certificate made here,
//! HTTPS clients that trust it (or not), the CLI with `--ca-cert`, bad files refused before
//! listening, the clear-text warning, and a clean stop on SIGTERM.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use serde_json::{Value, json};

use crate::support::{Launch, Server, create_token, harmonia};

/// A certificate for `localhost` and 127.0.0.1 and its key, as PEM files in a temp dir.
struct Certificate {
    dir: tempfile::TempDir,
    der: CertificateDer<'static>,
}

impl Certificate {
    fn new() -> Certificate {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cert.pem"), made.cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), made.signing_key.serialize_pem()).unwrap();
        Certificate { dir, der: made.cert.der().clone() }
    }

    fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    fn key(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }

    /// A client trusting this certificate only.
    fn client(&self, alpn: &[&[u8]]) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.der.clone()).unwrap();
        client_config(roots, alpn)
    }
}

fn client_config(roots: RootCertStore, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// A workflows directory with `say`, which echoes `text` as its output.
fn workflows() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let say = "name: say\nversion: \"1\"\ninput:\n  text: { type: string }\n\
               tasks:\n  say: { component: core, action: echo, input: { text: \"${input.text}\" } }\n\
               output: \"${tasks.say.output.text}\"\n";
    std::fs::write(dir.path().join("say.yaml"), say).unwrap();
    dir
}

/// `harmonia serve` over HTTPS with `cert`, on a fresh data directory.
fn serve_tls(cert: &Certificate, data: &Path, workflows: &Path) -> Server {
    let (cert, key) = (cert.cert(), cert.key());
    let args = ["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()];
    Server::launch(Launch { args: &args, ..Launch::new(data, workflows) })
}

fn port(server: &Server) -> u16 {
    server.base().rsplit(':').next().unwrap().parse().unwrap()
}

/// A TLS connection to 127.0.0.1:`port` for `localhost`, its handshake done.
fn tls_connect(config: Arc<ClientConfig>, port: u16) -> std::io::Result<StreamOwned<ClientConnection, TcpStream>> {
    let tcp = TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_read_timeout(Some(Duration::from_secs(20)))?;
    let connection =
        ClientConnection::new(config, ServerName::try_from("localhost").unwrap()).map_err(std::io::Error::other)?;
    let mut stream = StreamOwned::new(connection, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    Ok(stream)
}

/// An HTTP/1.1 request over TLS: the status and the body.
fn https(
    config: Arc<ClientConfig>,
    port: u16,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> std::io::Result<(u16, String)> {
    let mut stream = tls_connect(config, port)?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    let mut raw = Vec::new();
    // The server closes after its answer (connection: close).
    match stream.read_to_end(&mut raw) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(e),
    }
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
    Ok((status, if chunked { dechunk(body) } else { body.to_string() }))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").unwrap();
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Runs a command that must end by itself within 30 s.
fn finish(command: &mut Command) -> Output {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("still running after 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn over_https_a_trusting_client_gets_health_runs_a_workflow_and_follows_events() {
    let cert = Certificate::new();
    let (data, flows) = (tempfile::tempdir().unwrap(), workflows());
    let server = serve_tls(&cert, data.path(), flows.path());
    assert!(server.base().starts_with("https://127.0.0.1:"), "{}", server.base());
    let (port, trusting) = (port(&server), cert.client(&[b"http/1.1"]));

    let (status, body) = https(trusting.clone(), port, "GET", "/health", None).unwrap();
    assert_eq!((status, json(&body)["status"].clone()), (200, json!("ok")), "{body}");

    // The event stream, subscribed before the execution starts, carries its events over TLS.
    let mut events = tls_connect(trusting.clone(), port).unwrap();
    events.write_all(b"GET /api/v1/events/stream?workflow=say HTTP/1.1\r\nhost: localhost\r\n\r\n").unwrap();
    let mut seen = String::new();
    let mut buffer = [0u8; 4096];
    while !seen.contains("\r\n\r\n") {
        let n = events.read(&mut buffer).unwrap();
        assert!(n > 0, "the stream closed: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buffer[..n]));
    }
    assert!(seen.starts_with("HTTP/1.1 200") && seen.contains("text/event-stream"), "{seen}");

    let input = json!({"input": {"text": "hello over TLS"}});
    let (status, body) =
        https(trusting.clone(), port, "POST", "/api/v1/workflows/say/executions?wait=10s", Some(&input)).unwrap();
    let done = json(&body);
    assert_eq!(status, 200, "{body}");
    assert_eq!((&done["status"], &done["output"]), (&json!("completed"), &json!("hello over TLS")), "{done}");

    let id = done["id"].as_str().unwrap();
    while !(seen.contains("event: completed") && seen.contains(id)) {
        let n = events.read(&mut buffer).expect("the completed event within 20 s");
        assert!(n > 0, "the stream closed: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buffer[..n]));
    }
}

#[test]
fn the_websocket_works_over_tls_and_http2_is_offered_by_alpn() {
    use tungstenite::Message;
    let cert = Certificate::new();
    let (data, flows) = (tempfile::tempdir().unwrap(), workflows());
    let server = serve_tls(&cert, data.path(), flows.path());
    let port = port(&server);

    let stream = tls_connect(cert.client(&[b"http/1.1"]), port).unwrap();
    let (mut socket, _) = tungstenite::client::client(format!("wss://localhost:{port}/api/v1/ws"), stream).unwrap();
    socket.send(Message::Text(json!({"op": "subscribe", "id": "s1", "workflow": "say"}).to_string().into())).unwrap();
    let answer = loop {
        if let Message::Text(text) = socket.read().unwrap() {
            break json(&text);
        }
    };
    assert_eq!(answer, json!({"op": "subscribed", "id": "s1"}));

    // A client offering only h2 gets it, and the server's first frame is its SETTINGS.
    let mut h2 = tls_connect(cert.client(&[b"h2"]), port).unwrap();
    assert_eq!(h2.conn.alpn_protocol(), Some(&b"h2"[..]));
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00").unwrap();
    let mut frame = [0u8; 9];
    h2.read_exact(&mut frame).unwrap();
    assert_eq!(frame[3], 0x4, "a SETTINGS frame: {frame:?}");
    let http1 = tls_connect(cert.client(&[b"http/1.1"]), port).unwrap();
    assert_eq!(http1.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
}

#[test]
fn plain_http_and_clients_that_do_not_trust_the_certificate_are_refused() {
    let cert = Certificate::new();
    let (data, flows) = (tempfile::tempdir().unwrap(), workflows());
    let server = serve_tls(&cert, data.path(), flows.path());
    let port = port(&server);

    // Plain HTTP on the HTTPS port: an error that says so, never the API.
    let plain = reqwest::blocking::get(format!("http://127.0.0.1:{port}/health")).unwrap();
    assert_eq!(plain.status(), 400);
    assert_eq!(plain.json::<Value>().unwrap()["error"]["code"], "https_required");

    // No roots at all, or a different self-signed certificate: the handshake fails.
    let error = tls_connect(client_config(RootCertStore::empty(), &[]), port).expect_err("no trusted root");
    assert!(error.to_string().contains("UnknownIssuer"), "{error}");
    let other = Certificate::new();
    let error = https(other.client(&[]), port, "GET", "/health", None).expect_err("another certificate");
    assert!(error.to_string().contains("invalid peer certificate"), "{error}");
    // The server still serves a client that trusts it.
    assert_eq!(https(cert.client(&[]), port, "GET", "/health", None).unwrap().0, 200);
}

#[test]
fn the_cli_needs_ca_cert_for_a_self_signed_server() {
    let cert = Certificate::new();
    let (data, flows) = (tempfile::tempdir().unwrap(), workflows());
    let server = serve_tls(&cert, data.path(), flows.path());
    let client_data = tempfile::tempdir().unwrap();
    let cli = |url: &str, extra: &[&str]| {
        let mut args = vec!["exec", "start", "say", "--input", "text=from the CLI", "--wait", "--server", url];
        args.extend_from_slice(extra);
        let mut command = harmonia(&args, client_data.path());
        finish(command.env_remove("HARMONIA_CA_CERT").env_remove("HARMONIA_TOKEN"))
    };

    let ca = cert.cert();
    let trusted = cli(server.base(), &["--ca-cert", ca.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&trusted.stdout);
    assert!(trusted.status.success(), "{stdout}{}", String::from_utf8_lossy(&trusted.stderr));
    let done = json(&stdout);
    assert_eq!((&done["status"], &done["output"]), (&json!("completed"), &json!("from the CLI")), "{done}");

    let untrusted = cli(server.base(), &[]);
    let stderr = String::from_utf8_lossy(&untrusted.stderr);
    assert!(!untrusted.status.success() && untrusted.stdout.is_empty(), "{stderr}");
    assert!(stderr.contains("certificate is refused") && stderr.contains("--ca-cert"), "{stderr}");

    // http:// for the HTTPS server: the server's answer says what to do.
    let plain = cli(&server.base().replace("https://", "http://"), &[]);
    let stderr = String::from_utf8_lossy(&plain.stderr);
    assert!(!plain.status.success() && plain.stdout.is_empty(), "{stderr}");
    assert!(stderr.contains("https_required") && stderr.contains("https://"), "{stderr}");
}

#[test]
fn bad_certificate_or_key_files_stop_serve_before_it_listens() {
    let cert = Certificate::new();
    let other = Certificate::new();
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, [0x30u8, 0x82, 0x01, 0x0a, 0xff, 0x00, 0x42]).unwrap();
    let truncated = dir.path().join("truncated.pem");
    std::fs::write(&truncated, "-----BEGIN CERTIFICATE-----\nMIIB\n").unwrap();
    let missing = dir.path().join("missing.pem");
    let (good_cert, good_key) = (cert.cert(), cert.key());
    let cases: [(&Path, &Path, &Path, &str); 6] = [
        (&junk, &good_key, &junk, "no certificate found"),
        (&truncated, &good_key, &truncated, "END CERTIFICATE"),
        (&good_key, &good_key, &good_key, "no certificate found"),
        (&good_cert, &good_cert, &good_cert, "no private key found"),
        (&missing, &good_key, &missing, "cannot read"),
        (&good_cert, &other.key(), &other.key(), "is not the private key of the certificate"),
    ];
    for (tls_cert, tls_key, named, what) in cases {
        let data = tempfile::tempdir().unwrap();
        let mut command =
            harmonia(&["serve", "--listen", "127.0.0.1:0", "--tls-cert", tls_cert.to_str().unwrap()], data.path());
        let out = finish(command.arg("--tls-key").arg(tls_key));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{tls_cert:?} {tls_key:?}: {stderr}");
        assert!(out.stdout.is_empty(), "it never listened: {}", String::from_utf8_lossy(&out.stdout));
        assert!(stderr.contains(named.to_str().unwrap()) && stderr.contains(what), "{what}: {stderr}");
    }
}

#[test]
fn a_certificate_without_a_key_or_a_key_without_a_certificate_is_refused() {
    let cert = Certificate::new();
    let data = tempfile::tempdir().unwrap();
    let mut command =
        harmonia(&["serve", "--listen", "127.0.0.1:0", "--tls-cert", cert.cert().to_str().unwrap()], data.path());
    let out = finish(command.env_remove("HARMONIA_TLS_KEY"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && out.stdout.is_empty(), "{stderr}");
    assert!(stderr.contains("--tls-cert needs --tls-key"), "{stderr}");

    // The same from the environment, the other way round.
    let mut command = harmonia(&["serve", "--listen", "127.0.0.1:0"], data.path());
    let out = finish(command.env("HARMONIA_TLS_KEY", cert.key()).env_remove("HARMONIA_TLS_CERT"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && out.stdout.is_empty(), "{stderr}");
    assert!(stderr.contains("--tls-key needs --tls-cert"), "{stderr}");
}

#[test]
fn tokens_on_a_public_address_without_tls_draw_a_clear_text_warning() {
    let cert = Certificate::new();
    let (data, flows) = (tempfile::tempdir().unwrap(), workflows());
    create_token(data.path(), "admin", "ops");

    let plain = Server::launch(Launch { listen: "0.0.0.0:0", ..Launch::new(data.path(), flows.path()) });
    let warned = plain.stderr();
    assert!(warned.contains("warning") && warned.contains("clear text"), "{warned}");
    plain.stop();

    // With TLS on the same address, or without TLS on loopback: no warning.
    let (cert_path, key_path) = (cert.cert(), cert.key());
    let args = ["--tls-cert", cert_path.to_str().unwrap(), "--tls-key", key_path.to_str().unwrap()];
    let tls = Server::launch(Launch { listen: "0.0.0.0:0", args: &args, ..Launch::new(data.path(), flows.path()) });
    assert!(tls.base().starts_with("https://"), "{}", tls.base());
    assert!(!tls.stderr().contains("clear text"), "{}", tls.stderr());
    tls.stop();
    let local = Server::launch(Launch::new(data.path(), flows.path()));
    assert!(!local.stderr().contains("clear text"), "{}", local.stderr());
}

#[test]
fn harmonia_toml_turns_tls_on_and_sigterm_stops_the_server_with_a_stream_open() {
    let cert = Certificate::new();
    let (data, flows) = (tempfile::tempdir().unwrap(), workflows());
    let config = data.path().join("harmonia.toml");
    let text =
        format!("tls_cert = {:?}\ntls_key = {:?}\n", cert.cert().to_str().unwrap(), cert.key().to_str().unwrap());
    std::fs::write(&config, text).unwrap();
    let args = ["--config", config.to_str().unwrap()];
    let server = Server::launch(Launch { args: &args, ..Launch::new(data.path(), flows.path()) });
    assert!(server.base().starts_with("https://"), "{}", server.base());
    let port = port(&server);

    // An event stream never ends by itself: the grace period closes it.
    let mut events = tls_connect(cert.client(&[b"http/1.1"]), port).unwrap();
    events.write_all(b"GET /api/v1/events/stream HTTP/1.1\r\nhost: localhost\r\n\r\n").unwrap();
    let mut head = [0u8; 12];
    events.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");

    let (took, status) = server.terminate();
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "the port is closed");
}

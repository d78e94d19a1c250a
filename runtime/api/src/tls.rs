//! TLS for `harmonia serve` and the CLI client: the server's certificate and key read from
//! PEM files, and a listener that hands axum only connections whose TLS handshake is done.
//! rustls with the `ring` provider throughout (aws-lc-rs would need cmake and a long build).

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// A certificate or key file that cannot be used, named with what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{}: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
    #[error("{} is not the private key of the certificate in {}", key.display(), cert.display())]
    KeyMismatch { cert: PathBuf, key: PathBuf },
}

/// The crypto provider of every TLS connection Harmonia makes or accepts.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The CLI's TLS settings: the system's CA certificates, and those of `ca_cert` (a PEM
/// file, such as a self-signed server certificate). HTTP/1.1 only, which is what it speaks.
pub fn client_config(ca_cert: Option<&Path>) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    if let Some(path) = ca_cert {
        for cert in read_certificates(path)? {
            roots.add(cert).map_err(|e| invalid(path, format!("not a usable CA certificate: {e}")))?;
        }
    }
    // Unreadable system certificates are skipped: a server they would have vouched for is
    // then refused, and the error suggests --ca-cert.
    let system = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(system.certs);
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The server's TLS settings from a PEM certificate chain and a PEM private key, checked to
/// belong together. HTTP/2 and HTTP/1.1 are offered by ALPN.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = read_certificates(cert)?;
    let private_key = read_private_key(key)?;
    let provider = provider();
    // Parsed here first so that a key rustls cannot use is blamed on the key file.
    provider
        .key_provider
        .load_private_key(private_key.clone_key())
        .map_err(|e| invalid(key, format!("unusable private key: {e}")))?;
    let builder = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions");
    let mut config = builder.with_no_client_auth().with_single_cert(chain, private_key).map_err(|e| match e {
        rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
            TlsError::KeyMismatch { cert: cert.to_path_buf(), key: key.to_path_buf() }
        }
        // Its own words ("invalid peer certificate") are for a peer's.
        rustls::Error::InvalidCertificate(e) => invalid(cert, format!("not a usable certificate: {e}")),
        e => invalid(cert, format!("not a usable certificate: {e}")),
    })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn invalid(path: &Path, reason: String) -> TlsError {
    TlsError::Invalid { path: path.to_path_buf(), reason }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { path: path.to_path_buf(), source })
}

/// Every `CERTIFICATE` block of a PEM file, the server's own first.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(path)?;
    let chain =
        CertificateDer::pem_slice_iter(&bytes).collect::<Result<Vec<_>, _>>().map_err(|e| invalid(path, not_pem(e)))?;
    if chain.is_empty() {
        return Err(invalid(path, "no certificate found: expected PEM `-----BEGIN CERTIFICATE-----` blocks".into()));
    }
    Ok(chain)
}

/// The first private key of a PEM file (PKCS#8, PKCS#1 RSA or SEC1 EC).
fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        pem::Error::NoItemsFound => invalid(
            path,
            "no private key found: expected a PEM `-----BEGIN PRIVATE KEY-----` (or RSA / EC PRIVATE KEY) block".into(),
        ),
        e => invalid(path, not_pem(e)),
    })
}

fn not_pem(error: pem::Error) -> String {
    match error {
        pem::Error::MissingSectionEnd { end_marker } => {
            format!("not a valid PEM file: `-----END {}-----` is missing", String::from_utf8_lossy(&end_marker))
        }
        pem::Error::IllegalSectionStart { line } => {
            format!("not a valid PEM file: bad section start {:?}", String::from_utf8_lossy(&line))
        }
        e => format!("not a valid PEM file: {e}"),
    }
}

/// How long a client gets to complete its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A TCP listener whose connections come out with their TLS handshake done, for
/// `axum::serve`: so the plain and the TLS server share one serving and shutdown path.
/// Handshakes run in tasks of their own, so that a slow or silent client delays no other.
pub struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    /// Starts accepting on `tcp`. Accepting stops (and the port is closed) when the
    /// listener is dropped, as `axum::serve` does when it shuts down.
    pub fn new(tcp: TcpListener, config: Arc<ServerConfig>) -> io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let (done, ready) = mpsc::channel(32);
        tokio::spawn(accept_loop(tcp, TlsAcceptor::from(config), done));
        Ok(TlsListener { local, ready })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accept loop ends only once this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

type Ready = mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>;

async fn accept_loop(mut tcp: TcpListener, acceptor: TlsAcceptor, done: Ready) {
    loop {
        let (stream, peer) = tokio::select! {
            // axum's accept: it retries after transient errors (such as too many open files).
            accepted = axum::serve::Listener::accept(&mut tcp) => accepted,
            _ = done.closed() => return,
        };
        tokio::spawn(handshake(acceptor.clone(), stream, peer, done.clone()));
    }
}

async fn handshake(acceptor: TlsAcceptor, stream: TcpStream, peer: SocketAddr, done: Ready) {
    let outcome = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
        if speaks_plain_http(&stream).await? {
            refuse_plain_http(stream).await;
            return Ok(None);
        }
        acceptor.accept(stream).await.map(Some)
    })
    .await;
    match outcome {
        Ok(Ok(Some(tls))) => {
            let _ = done.send((tls, peer)).await;
        }
        Ok(Ok(None)) => tracing::debug!(%peer, "plain HTTP on the HTTPS port: refused"),
        // Scanners and clients that do not trust the certificate end here: not worth a warning.
        Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
    }
}

/// A TLS connection opens with a handshake record (0x16); an HTTP request with a method
/// name in capitals.
async fn speaks_plain_http(stream: &TcpStream) -> io::Result<bool> {
    let mut first = [0u8; 1];
    let n = stream.peek(&mut first).await?;
    Ok(n == 1 && first[0].is_ascii_uppercase())
}

/// Answers a plain HTTP request with a 400 in the API's error format, so that a client
/// given `http://` for an HTTPS server says why instead of reporting a broken connection.
async fn refuse_plain_http(mut stream: TcpStream) {
    let body = r#"{"error":{"code":"https_required","message":"this server accepts HTTPS only: use an https:// URL"}}"#;
    let response = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    // Read the request head first: closing with unread data makes the kernel reset the
    // connection, and the client may then lose the answer.
    let mut head = Vec::new();
    let mut buffer = [0u8; 2048];
    while head.len() < 16 * 1024 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
    }
    if stream.write_all(response.as_bytes()).await.is_err() || stream.shutdown().await.is_err() {
        return;
    }
    // Linger (bounded by the handshake timeout) until the client closes, for the same reason:
    // a request body may still be arriving.
    while let Ok(n) = stream.read(&mut buffer).await {
        if n == 0 {
            break;
        }
    }
}

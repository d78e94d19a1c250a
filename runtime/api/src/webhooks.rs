//! Outgoing webhooks: what sends a subscription's events to an HTTP receiver. Each attempt
//! is one HTTP/1.1 POST on a connection of its own (over rustls for `https://`, trusting
//! the system's CAs), of the event in structured JSON (`application/cloudevents+json`),
//! with:
//! - `X-Harmonia-Signature: sha256=<hex HMAC-SHA256 of the body>`, when the subscription
//!   has a secret: the format incoming hooks check, so one Harmonia can feed another;
//! - `X-Harmonia-Delivery: <subscription>/<position>`, the same for every attempt of one
//!   event (a receiver's key to drop repeats), and `X-Harmonia-Attempt: <n>`.
//!
//! Any 2xx answer is a delivery; anything else, a failed attempt.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use harmonia_runner::events::deliveries::{WebhookRequest, WebhookSender};
use http::{Method, Request, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The most of a receiver's answer that is read (and thrown away).
const MAX_ANSWER: usize = 64 * 1024;

/// Sends webhooks over HTTP and HTTPS.
pub struct HttpWebhooks {
    tls: Arc<ClientConfig>,
}

impl HttpWebhooks {
    pub fn new() -> Result<HttpWebhooks, crate::tls::TlsError> {
        Ok(HttpWebhooks { tls: crate::tls::client_config(None)? })
    }
}

impl WebhookSender for HttpWebhooks {
    fn send(&self, request: WebhookRequest) -> Pin<Box<dyn Future<Output = Result<u16, String>> + Send>> {
        let tls = self.tls.clone();
        Box::pin(async move {
            let timeout = request.timeout;
            match tokio::time::timeout(timeout, post(tls, request)).await {
                Ok(result) => result,
                Err(_) => Err(format!("no answer within {timeout:?}")),
            }
        })
    }
}

async fn post(tls: Arc<ClientConfig>, request: WebhookRequest) -> Result<u16, String> {
    let uri: Uri = request.url.parse().map_err(|e| format!("{:?} is not a URL: {e}", request.url))?;
    let https = uri.scheme_str() == Some("https");
    let host = uri.host().ok_or_else(|| format!("{:?} has no host", request.url))?.to_string();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    // Without the user information of a `user:password@host` URL, which is no header's.
    let authority =
        uri.authority().map_or(host.clone(), |a| a.as_str().rsplit('@').next().unwrap_or_default().to_string());
    let target = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let mut http = Request::builder()
        .method(Method::POST)
        .uri(target)
        .header(header::HOST, authority)
        .header(header::CONTENT_TYPE, "application/cloudevents+json")
        .header(header::USER_AGENT, concat!("harmonia/", env!("CARGO_PKG_VERSION")))
        .header("x-harmonia-delivery", &request.delivery)
        .header("x-harmonia-attempt", request.attempt.to_string());
    if let Some(secret) = &request.secret {
        http = http.header("x-harmonia-signature", crate::hooks::sign(secret, &request.body));
    }
    let http = http.body(Full::new(Bytes::from(request.body))).map_err(|e| e.to_string())?;
    // The host of a bracketed IPv6 address comes with its brackets.
    let tcp = TcpStream::connect((host.trim_start_matches('[').trim_end_matches(']'), port))
        .await
        .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let status = if https {
        let name = ServerName::try_from(host.trim_start_matches('[').trim_end_matches(']').to_string())
            .map_err(|e| format!("{host:?} is not a server name: {e}"))?;
        let stream =
            TlsConnector::from(tls).connect(name, tcp).await.map_err(|e| format!("TLS with {host} failed: {e}"))?;
        exchange(stream, http).await?
    } else {
        exchange(tcp, http).await?
    };
    Ok(status)
}

/// Sends `request` on `stream`; the answer's status, once its body was read (up to a
/// limit), so that the receiver is not cut off mid-answer.
async fn exchange<S>(stream: S, request: Request<Full<Bytes>>) -> Result<u16, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = connection.await; // ends with the exchange; its errors come through the request
    });
    let response = sender.send_request(request).await.map_err(|e| format!("the request failed: {e}"))?;
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut read = 0;
    while read < MAX_ANSWER {
        match body.frame().await {
            Some(Ok(frame)) => read += frame.data_ref().map_or(0, |d| d.len()),
            _ => break,
        }
    }
    Ok(status)
}

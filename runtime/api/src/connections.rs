//! Serving the router on a listener (plain TCP, or TLS): HTTP/1.1 and HTTP/2 by hyper, with
//! what `axum::serve` does not bound. A connection that sends its request headers too
//! slowly, or sits idle between requests, is closed after [`ConnectionLimits::header_timeout`]
//! (so that held-open connections cannot pile up), and at most
//! [`ConnectionLimits::max_connections`] are served at once (more wait in the listen
//! queue). On shutdown no connection is accepted and those open finish their requests.
//!
//! A request hyper cannot parse (a malformed request line or header, headers over its limits,
//! a URI too long) is answered by hyper itself, before the router sees it, with a bare status
//! and no body; [`JsonErrors`] gives those answers the API's JSON error body.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::serve::Listener;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Semaphore, watch};

/// How long a client may take, and how many may be connected.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// To send a request's headers, counted from the end of the previous response on a
    /// kept-alive connection: an idle connection is closed after this long too.
    pub header_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> ConnectionLimits {
        ConnectionLimits { header_timeout: Duration::from_secs(30), max_connections: 512 }
    }
}

/// Serves `app` on `listener` until `stop` turns true, then waits for the requests in
/// progress (WebSockets and event streams do not end by themselves: the caller bounds the
/// wait).
pub async fn serve<L: Listener>(
    mut listener: L,
    app: Router,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    // One buffer per write (no vectored writes), so that JsonErrors sees each answer whole.
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).writev(false);
    // HTTP/2 has no header timeout: pings find peers that are gone.
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.header_timeout)
        .keep_alive_timeout(Duration::from_secs(10));
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let accepted = tokio::select! {
            accepted = async {
                let slot = slots.clone().acquire_owned().await.expect("never closed");
                (slot, listener.accept().await)
            } => accepted,
            _ = stop.wait_for(|stop| *stop) => break,
        };
        let (slot, (io, _peer)) = accepted;
        let service = TowerToHyperService::new(app.clone());
        let connection =
            builder.serve_connection_with_upgrades(TokioIo::new(JsonErrors::new(io)), service).into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // Errors are the client's: a reset, a timeout, a malformed request.
            if let Err(e) = connection.await {
                tracing::debug!("connection ended: {e}");
            }
            drop(slot);
        });
    }
    drop(listener); // the port closes: nothing new is accepted
    graceful.shutdown().await;
}

/// A connection's I/O that gives hyper's own error answers the API's JSON error body.
///
/// hyper 1.12 answers a request it cannot parse by itself (`proto/h1/role.rs`, `on_error`: 400
/// for a malformed method, URI, version or header, 431 for headers over its limits, 414 for a
/// URI too long) with a bare head and no body, and offers no hook to change it: the router
/// never sees the request. That answer is the last thing written on the connection (hyper
/// closes it after), and looks like no answer of the router: a 4xx head of exactly
/// `connection: close`, `content-length: 0` and `date`, where every 4xx of the router is JSON
/// with a `content-type`. Here it is recognised where hyper writes it, at the end of a write,
/// and written with a JSON body instead; everything else passes through untouched. (A body
/// cannot end like it either: no body of the API holds raw CR LF.)
pub(crate) struct JsonErrors<I> {
    inner: I,
    /// The JSON answer written in place of hyper's, and how much of it is written.
    pending: Vec<u8>,
    written: usize,
}

impl<I> JsonErrors<I> {
    pub(crate) fn new(inner: I) -> JsonErrors<I> {
        JsonErrors { inner, pending: Vec::new(), written: 0 }
    }
}

impl<I: AsyncWrite + Unpin> JsonErrors<I> {
    /// Writes what is left of a JSON answer.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for JsonErrors<I> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for JsonErrors<I> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        match bare_error(buf) {
            None => Pin::new(&mut self.inner).poll_write(cx, buf),
            // What comes before it first (an answer to an earlier pipelined request).
            Some((start, _)) if start > 0 => Pin::new(&mut self.inner).poll_write(cx, &buf[..start]),
            Some((_, status)) => {
                self.pending = json_answer(buf, status);
                // hyper's head counts as written: the JSON answer goes out in its place, here
                // or on the next write, flush or shutdown.
                if let Poll::Ready(Err(e)) = self.poll_pending(cx) {
                    return Poll::Ready(Err(e));
                }
                Poll::Ready(Ok(buf.len()))
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Where hyper's bare error answer starts in `buf`, and its status: a head that ends `buf`,
/// `HTTP/1.1 4xx`, with `connection: close`, `content-length: 0` and perhaps `date`, nothing
/// else.
fn bare_error(buf: &[u8]) -> Option<(usize, u16)> {
    const START: &[u8] = b"HTTP/1.1 4";
    if !buf.ends_with(b"\r\n\r\n") {
        return None;
    }
    // hyper's head is about 100 bytes.
    let tail = buf.len().saturating_sub(256);
    let start = tail + buf[tail..].windows(START.len()).rposition(|w| w == START)?;
    let head = std::str::from_utf8(&buf[start..buf.len() - 4]).ok()?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.get(9..12)?.parse().ok()?;
    let (mut close, mut empty) = (false, false);
    for line in lines {
        let (name, value) = line.split_once(':')?;
        match (name.to_ascii_lowercase().as_str(), value.trim()) {
            ("connection", "close") => close = true,
            ("content-length", "0") => empty = true,
            ("date", _) => {}
            _ => return None,
        }
    }
    (close && empty).then_some((start, status))
}

/// The JSON answer that replaces hyper's bare `head` with `status`: its status line and date,
/// a JSON error body (what hyper found is not said, only the kind its status tells).
fn json_answer(head: &[u8], status: u16) -> Vec<u8> {
    let head = String::from_utf8_lossy(head);
    let status_line = head.split("\r\n").next().unwrap_or_default();
    let date = head.split("\r\n").find(|line| line.to_ascii_lowercase().starts_with("date:"));
    let (code, message) = match status {
        431 => ("headers_too_large", "the request's headers are larger than the server accepts"),
        414 => ("uri_too_long", "the request's URI is longer than the server accepts"),
        _ => (
            "bad_request",
            "the request is not valid HTTP/1.1: a malformed request line or header (a header name or value with a character not allowed there)",
        ),
    };
    let body = serde_json::json!({ "error": { "code": code, "message": message } }).to_string();
    let mut answer = format!(
        "{status_line}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    if let Some(date) = date {
        answer.push_str(date);
        answer.push_str("\r\n");
    }
    answer.push_str("\r\n");
    answer.push_str(&body);
    answer.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BARE: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\ndate: Sat, 05 Dec 2026 00:35:05 GMT\r\n\r\n";

    #[test]
    fn only_hypers_bare_error_answers_are_recognised() {
        assert_eq!(bare_error(BARE), Some((0, 431)));
        // After the answer to an earlier pipelined request.
        let pipelined = [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}".as_slice(), BARE].concat();
        assert_eq!(bare_error(&pipelined), Some((40, 431)));
        // The router's own answers: JSON, or not at the end, or not an error.
        let json = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
        assert_eq!(bare_error(json), None);
        assert_eq!(bare_error(&[BARE, b"x".as_slice()].concat()), None);
        assert_eq!(bare_error(b"HTTP/1.1 204 No Content\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"), None);
    }

    #[test]
    fn the_json_answer_keeps_the_status_and_the_date() {
        let answer = String::from_utf8(json_answer(BARE, 431)).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "{head}");
        assert!(
            head.contains("\r\ncontent-type: application/json\r\n") && head.contains("\r\nconnection: close\r\n"),
            "{head}"
        );
        assert!(head.contains(&format!("\r\ncontent-length: {}\r\n", body.len())), "{head}");
        assert!(head.contains("\r\ndate: Sat, 05 Dec 2026 00:35:05 GMT"), "{head}");
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["error"]["code"], "headers_too_large");
    }
}

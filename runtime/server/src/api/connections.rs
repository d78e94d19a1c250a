//! Serving the router on a listener (plain TCP, or TLS): HTTP/1.1 and HTTP/2 by hyper, with
//! what `axum::serve` does not bound. A connection that sends its request headers too
//! slowly, or sits idle between requests, is closed after [`ConnectionLimits::header_timeout`]
//! (so that held-open connections cannot pile up), and at most
//! [`ConnectionLimits::max_connections`] are served at once (more wait in the listen
//! queue). On shutdown no connection is accepted and those open finish their requests.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::serve::Listener;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
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
pub async fn serve<L: Listener>(mut listener: L, app: Router, limits: ConnectionLimits, mut stop: watch::Receiver<bool>) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    // HTTP/2 has no header timeout: pings find peers that are gone.
    builder.http2().timer(TokioTimer::new()).keep_alive_interval(limits.header_timeout).keep_alive_timeout(Duration::from_secs(10));
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
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(io), service).into_owned();
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

//! A guest's stdout or stderr: an in-memory pipe that the host drains after every call, so
//! that a warm instance reused for many calls logs each line once and never fills up.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

/// Shared by the WASI context (which writes) and the host (which drains).
#[derive(Clone)]
pub(crate) struct LogPipe {
    /// Most bytes kept between two drains; writes beyond it are refused (stream closed).
    capacity: usize,
    buffer: Arc<Mutex<BytesMut>>,
}

impl LogPipe {
    pub fn new(capacity: usize) -> LogPipe {
        LogPipe { capacity, buffer: Arc::default() }
    }

    /// Takes what was written since the last drain.
    pub fn drain(&self) -> Bytes {
        self.buffer.lock().expect("pipe lock").split().freeze()
    }

    fn room(&self, buffer: &BytesMut) -> usize {
        self.capacity.saturating_sub(buffer.len())
    }
}

impl OutputStream for LogPipe {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        let mut buffer = self.buffer.lock().expect("pipe lock");
        if bytes.len() > self.room(&buffer) {
            return Err(StreamError::Trap(wasmtime::format_err!("write beyond the capacity of the log pipe")));
        }
        buffer.extend_from_slice(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        let buffer = self.buffer.lock().expect("pipe lock");
        match self.room(&buffer) {
            0 => Err(StreamError::Closed),
            room => Ok(room),
        }
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogPipe {
    async fn ready(&mut self) {}
}

impl AsyncWrite for LogPipe {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let mut buffer = self.buffer.lock().expect("pipe lock");
        let amount = buf.len().min(self.room(&buffer));
        buffer.extend_from_slice(&buf[..amount]);
        Poll::Ready(Ok(amount))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for LogPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

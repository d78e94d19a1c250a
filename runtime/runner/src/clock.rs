//! Time for the executor. The engine itself never reads a clock: the executor stamps
//! each input event with this clock's time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub type BoxFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// Completes at `due` (milliseconds since the Unix epoch).
    fn sleep_until(&self, due: u64) -> BoxFuture;
}

/// The real clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
    }

    fn sleep_until(&self, due: u64) -> BoxFuture {
        let wait = due.saturating_sub(self.now_ms());
        Box::pin(tokio::time::sleep(Duration::from_millis(wait)))
    }
}

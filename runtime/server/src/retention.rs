//! Retention: finished executions older than a configured age are deleted with their
//! history and checkpoints. Off unless asked for (`--retention`).

use std::time::Duration;

use harmonia_store::{Space, Store, StoreError, scan_pages};

use crate::Runner;
use crate::records;

/// Deletes the executions that finished before `cutoff` (milliseconds since the epoch);
/// returns how many. Unfinished ones, and records that do not decode, are left alone.
pub fn sweep(store: &dyn Store, cutoff: u64) -> Result<usize, StoreError> {
    let mut deleted = 0;
    scan_pages(store, Space::Executions, b"", None, 256, |key, value| {
        let Some(record) = records::decode_record(&key, &value) else { return Ok::<_, StoreError>(true) };
        let ended = record.state.as_ref().and_then(|s| s.finished_at).unwrap_or(record.updated_at);
        if record.status.is_finished() && ended < cutoff {
            store.commit(records::delete_batch(&String::from_utf8_lossy(&key))?)?;
            deleted += 1;
        }
        Ok(true)
    })?;
    Ok(deleted)
}

/// Sweeps now and then (a tenth of `age`, at least every second and at most every hour).
pub async fn sweep_every(runner: Runner, age: Duration) {
    let period = (age / 10).clamp(Duration::from_secs(1), Duration::from_secs(3600));
    loop {
        let cutoff = runner.now().saturating_sub(age.as_millis() as u64);
        let store = runner.store().clone();
        match tokio::task::spawn_blocking(move || sweep(&*store, cutoff)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!("retention: deleted {n} executions that finished over {age:?} ago"),
            Ok(Err(e)) => tracing::error!("retention sweep failed: {e}"),
            Err(e) => tracing::error!("retention sweep panicked: {e}"),
        }
        tokio::time::sleep(period).await;
    }
}

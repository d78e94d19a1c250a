//! Retention: finished executions older than a configured age are deleted with their
//! history and checkpoints. Off unless asked for (`--retention`).

use std::time::Duration;

use harmonia_store::{Space, Store, StoreError, split_versioned};

use crate::Runner;
use crate::records::{self, ExecRecord};

/// Deletes the executions that finished before `cutoff` (milliseconds since the epoch);
/// returns how many. Unfinished ones, and records that do not decode, are left alone.
pub fn sweep(store: &dyn Store, cutoff: u64) -> Result<usize, StoreError> {
    let mut deleted = 0;
    let mut after: Option<Vec<u8>> = None;
    loop {
        let page = store.scan_prefix(Space::Executions, b"", after.as_deref(), 256)?;
        let Some((last, _)) = page.last() else { return Ok(deleted) };
        after = Some(last.clone());
        for (key, value) in page {
            let Ok((_, payload)) = split_versioned(Space::Executions, &key, &value) else { continue };
            let Ok(record) = serde_json::from_slice::<ExecRecord>(payload) else { continue };
            let ended = record.state.as_ref().and_then(|s| s.finished_at).unwrap_or(record.updated_at);
            if record.status.is_finished() && ended < cutoff {
                let id = String::from_utf8_lossy(&key).into_owned();
                store.commit(records::delete_batch(&id)?)?;
                deleted += 1;
            }
        }
    }
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

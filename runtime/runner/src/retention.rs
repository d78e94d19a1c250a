//! Retention: finished executions older than a configured age are deleted with their
//! history and checkpoints. Off unless asked for (`--retention`).

use std::sync::mpsc;
use std::time::Duration;

use harmonia_store::keys::exec_index;
use harmonia_store::{Batch, Space, Store, StoreError, scan_pages};

use crate::Runner;
use crate::records::{self, ExecRecord};

/// Deletes the executions that finished before `cutoff` (milliseconds since the epoch);
/// returns how many. Unfinished ones, and records that do not decode, are left alone.
/// Reads the index of finished executions up to the cutoff, so a sweep costs what it
/// deletes; before the index is built, it scans every record.
pub fn sweep(store: &dyn Store, cutoff: u64) -> Result<usize, StoreError> {
    if records::index_ready(store)? { sweep_indexed(store, cutoff) } else { sweep_scanned(store, cutoff) }
}

fn sweep_indexed(store: &dyn Store, cutoff: u64) -> Result<usize, StoreError> {
    let mut deletes = Deletes::new(store, cutoff);
    scan_pages(store, Space::ExecIndex, exec_index::FINISHED, None, PAGE, |key, _| {
        let Some((at, id)) = exec_index::split_finished(&key) else { return Ok::<_, StoreError>(true) };
        if at >= cutoff {
            return Ok(false); // the rest finished later
        }
        let id = String::from_utf8_lossy(id);
        match records::get_record(store, &id)? {
            Some((version, record)) => deletes.add(&id, version, &record)?,
            // The record went without its index key (no writer does that): drop the key,
            // or every sweep would stop by it.
            None if store.get(Space::Executions, id.as_bytes())?.is_none() => {
                let mut batch = Batch::new();
                batch.delete(Space::ExecIndex, key);
                store.commit(batch)?;
            }
            None => {} // a record that does not decode: left alone
        }
        Ok(true)
    })?;
    deletes.finish()
}

fn sweep_scanned(store: &dyn Store, cutoff: u64) -> Result<usize, StoreError> {
    let mut deletes = Deletes::new(store, cutoff);
    scan_pages(store, Space::Executions, b"", None, PAGE, |key, value| {
        if let Some((version, record)) = records::decode_versioned(&key, &value) {
            deletes.add(&String::from_utf8_lossy(&key), version, &record)?;
        }
        Ok::<_, StoreError>(true)
    })?;
    deletes.finish()
}

/// Executions read at a time, and deleted together.
const PAGE: usize = 256;

/// The deletions of a sweep, committed a page at a time: each its own guarded batch, all
/// handed to the store at once so that they share its disk writes (group commit) instead
/// of waiting for one sync each.
struct Deletes<'a> {
    store: &'a dyn Store,
    cutoff: u64,
    pending: Vec<Batch>,
    deleted: usize,
}

impl<'a> Deletes<'a> {
    fn new(store: &'a dyn Store, cutoff: u64) -> Deletes<'a> {
        Deletes { store, cutoff, pending: Vec::new(), deleted: 0 }
    }

    /// Deletes execution `id` (its `record` read at `version`) if it finished before the
    /// cutoff.
    fn add(&mut self, id: &str, version: u64, record: &ExecRecord) -> Result<(), StoreError> {
        if record.finished_at().is_some_and(|at| at < self.cutoff) {
            self.pending.push(records::delete_batch(id, version, record)?);
        }
        if self.pending.len() >= PAGE {
            self.commit()?;
        }
        Ok(())
    }

    /// Commits what is pending. An execution that changed since it was read (a restore
    /// brought it back) is not deleted: its guard fails, and it is not counted.
    fn commit(&mut self) -> Result<(), StoreError> {
        let (done, results) = mpsc::channel();
        let count = self.pending.len();
        for batch in self.pending.drain(..) {
            let done = done.clone();
            self.store.commit_then(batch, Box::new(move |result| drop(done.send(result))));
        }
        let mut failure = None;
        for result in results.iter().take(count) {
            match result {
                Ok(()) => self.deleted += 1,
                Err(StoreError::Conflict { .. }) => {}
                Err(e) => failure = failure.or(Some(e)),
            }
        }
        failure.map_or(Ok(()), Err)
    }

    fn finish(mut self) -> Result<usize, StoreError> {
        self.commit()?;
        Ok(self.deleted)
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

//! A RocksDB store for tests on a simulated clock, and waiting on a runner's state.

use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Duration;

use harmonia_engine::Execution;
use harmonia_runner::Runner;
use harmonia_store::{Batch, Space, Store, StoreError};
use harmonia_store_rocksdb::{RocksStore, StoreOptions};

/// A RocksDB store whose commits hold the simulated clock until they are done. RocksDB
/// commits on its writer thread; while a driver awaits that, every task of the test's
/// runtime may be waiting, and tokio's paused clock would jump to the next timer (a call's
/// sleep would end during a commit). A blocking task that waits for the commit keeps the
/// clock still: tokio never advances paused time while one runs.
pub struct Held(RocksStore);

impl Store for Held {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.get(space, key)
    }

    fn scan_prefix(
        &self,
        space: Space,
        prefix: &[u8],
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        self.0.scan_prefix(space, prefix, start_after, limit)
    }

    fn last(&self, space: Space, prefix: &[u8]) -> Result<Option<(Vec<u8>, Vec<u8>)>, StoreError> {
        self.0.last(space, prefix)
    }

    fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        self.0.commit(batch)
    }

    fn commit_then(&self, batch: Batch, done: Box<dyn FnOnce(Result<(), StoreError>) + Send>) {
        let (committed, wait) = std::sync::mpsc::channel::<()>();
        // Held from before the batch is handed over until after `done` ran (or was dropped).
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            drop(runtime.spawn_blocking(move || wait.recv()));
        }
        self.0.commit_then(
            batch,
            Box::new(move |result| {
                done(result);
                drop(committed);
            }),
        );
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.0.flush()
    }

    fn get_versioned(&self, space: Space, key: &[u8]) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        self.0.get_versioned(space, key)
    }
}

pub fn rocks(dir: &Path) -> Arc<dyn Store> {
    rocks_with(dir, StoreOptions::default())
}

pub fn rocks_with(dir: &Path, options: StoreOptions) -> Arc<dyn Store> {
    Arc::new(Held(RocksStore::open(dir, options).unwrap()))
}

/// Waits (on simulated time) until nothing holds `store` any more, so that its database is
/// closed and its directory can be opened again: the tasks of a stopped runner's drivers and
/// calls let go of it as they end.
pub async fn closed(store: Weak<dyn Store>) {
    for _ in 0..1000 {
        if store.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the store is still held by {} after 10 s of simulated time", store.strong_count());
}

/// Waits until the execution's state satisfies `ready` (the driver works asynchronously):
/// looks again after each event committed, for at most an hour of simulated time.
pub async fn until(runner: &Runner, id: &str, ready: impl Fn(&Execution) -> bool) -> Execution {
    use tokio::sync::broadcast::error::RecvError;
    let mut committed = runner.subscribe();
    let reached = tokio::time::timeout(Duration::from_secs(3600), async {
        loop {
            let exec = runner.get(id).await.unwrap();
            if ready(&exec) {
                return exec;
            }
            // The next event committed, of any execution (or some were missed: look again).
            if let Err(RecvError::Closed) = committed.recv().await {
                panic!("the runner's event log closed");
            }
        }
    })
    .await;
    match reached {
        Ok(exec) => exec,
        Err(_) => panic!("execution {id} never got there: {:#?}", runner.get(id).await.unwrap()),
    }
}

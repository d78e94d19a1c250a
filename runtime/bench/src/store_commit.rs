//! `store-commit`: how many engine-step-sized commits per second the RocksDB store takes,
//! with group commit, for each sync mode. Each commit is what one engine step writes: the
//! execution's state under a version guard, and two history events, from one of many
//! threads each advancing its own executions (as many concurrent executions would).

use std::sync::Arc;
use std::time::{Duration, Instant};

use harmonia_store::{Batch, Space, Store, keys};
use harmonia_store_rocksdb::{RocksStore, StoreOptions, SyncMode};

use crate::report;

const SCENARIO: &str = "store-commit";
/// Committing threads: stand-ins for the executions advancing at once.
const THREADS: usize = 64;

pub fn run(quick: bool) -> anyhow::Result<()> {
    let window = if quick { Duration::from_secs(2) } else { Duration::from_secs(5) };
    for (sync, name) in [(SyncMode::Always, "always"), (SyncMode::None, "none")] {
        let dir = tempfile::tempdir()?;
        let store = Arc::new(RocksStore::open(dir.path(), StoreOptions { sync, ..StoreOptions::default() })?);
        let started = Instant::now();
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let store = store.clone();
                std::thread::spawn(move || advance_until(&*store, t, started + window))
            })
            .collect();
        let mut commits = 0;
        for thread in threads {
            commits += thread.join().expect("committing thread")?;
        }
        let seconds = started.elapsed().as_secs_f64();
        let stats = store.stats();
        report(SCENARIO, &format!("commits_per_s_sync_{name}"), commits as f64 / seconds, "commits/s");
        report(
            SCENARIO,
            &format!("batches_per_group_sync_{name}"),
            stats.batches as f64 / stats.groups.max(1) as f64,
            "batches",
        );
    }
    Ok(())
}

/// Advances executions `t-0`, `t-1`, ... step by step until `deadline`; returns the commits.
fn advance_until(store: &dyn Store, t: usize, deadline: Instant) -> anyhow::Result<u64> {
    let state = vec![b'x'; 600];
    let event = vec![b'e'; 200];
    let mut commits = 0;
    let mut execution = 0;
    while Instant::now() < deadline {
        let id = format!("{t}-{execution}");
        for version in 0..10u64 {
            let key = keys::execution_key(&id)?;
            let mut batch = Batch::new();
            let expected = (version > 0).then_some(version);
            batch
                .expect_version(Space::Executions, key.clone(), expected)
                .put_versioned(Space::Executions, key, version + 1, &state)
                .put(Space::History, keys::history_key(&id, version * 2)?, event.clone())
                .put(Space::History, keys::history_key(&id, version * 2 + 1)?, event.clone());
            store.commit(batch)?;
            commits += 1;
        }
        execution += 1;
    }
    Ok(commits)
}

//! `recovery`: how long a restart takes to resume 10,000 unfinished executions.
//!
//! Phase 1 starts the executions against a RocksDB store, with a first task (`core`/
//! `sleep`, a minute) that is still running when everything stops: the runtime is shut
//! down (drivers and calls dropped mid-flight, as a killed process would leave them) and
//! the store closed. Phase 2 is the restart, timed: open the store, `Runner::recover`, and
//! wait until every execution has resumed: its driver committed the `Recovered` step and
//! started the interrupted call again (its attempt 2 is in flight). The plugin host is
//! loaded before the clock starts: it does not depend on the executions.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use harmonia_engine::{CallId, ExecStatus, Execution, Plan};
use harmonia_runner::{Runner, SystemClock, WorkflowDirs};
use harmonia_store_rocksdb::{RocksStore, StoreOptions};
use serde_json::json;

use crate::durable::core_host;
use crate::report;

const SCENARIO: &str = "recovery";
/// Tasks starting (phase 1) or checking (phase 2) executions at once.
const CLIENTS: usize = 64;

const SLEEPY: &str = r#"
name: sleepy
version: 1
input: { ms: { type: integer }, n: { type: integer } }
tasks:
  nap: { component: core, action: sleep, input: { ms: "${input.ms}" } }
  after: { component: core, action: echo, depends_on: [nap], input: { n: "${input.n}" } }
output: { n: "${tasks.after.output.n}" }
"#;

/// How long the interrupted call sleeps: far longer than either phase.
const NAP_MS: u64 = 60_000;

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn workflows() -> Arc<WorkflowDirs> {
    let workflow = harmonia_model::parse_workflow(SLEEPY, None).expect("benchmark workflow parses");
    let mut dirs = WorkflowDirs::default();
    dirs.insert(workflow);
    Arc::new(dirs)
}

fn nap() -> CallId {
    CallId { task: "nap".into(), item: None }
}

pub fn run(plugins: &Path, quick: bool) -> anyhow::Result<()> {
    let count = if quick { 1_000 } else { 10_000 };
    let dir = tempfile::tempdir()?;
    let plan = crate::engine::plan(SLEEPY);
    let stopped_at = interrupt(plugins, dir.path(), &plan, count)?;

    // Phase 2: the restart, in a fresh runtime, as a new process would be.
    let runtime = runtime()?;
    let host = runtime.block_on(core_host(plugins))?;
    let ids: Vec<String> = stopped_at.keys().cloned().collect();
    let result = runtime.block_on(async {
        let started = Instant::now();
        let store = Arc::new(RocksStore::open(dir.path(), StoreOptions::default())?);
        let opened = started.elapsed().as_secs_f64();
        let runner = Runner::new(host, workflows(), Arc::new(SystemClock)).with_store(store.clone());
        let recovery = runner.recover()?;
        let recovered = started.elapsed().as_secs_f64();
        // A snapshot is answered once the driver's round holding it is committed, and the
        // first input of a recovered driver is its `Recovered` event: so a snapshot shows
        // the resumed state only once that step is stored and its calls were started.
        let states = snapshots(&runner, &ids).await?;
        let resume_s = started.elapsed().as_secs_f64();
        anyhow::ensure!(
            recovery.failed.is_empty(),
            "{} executions failed to resume: {:?}",
            recovery.failed.len(),
            recovery.failed.first()
        );
        let mut resumed = 0;
        for (id, exec) in &states {
            let before = stopped_at[id];
            anyhow::ensure!(
                exec.status == ExecStatus::Running,
                "{id} is {:?} after recovery: {:?}",
                exec.status,
                exec.error
            );
            anyhow::ensure!(exec.seq > before, "{id} is at event {} after recovery, as before ({before})", exec.seq);
            let in_flight: Vec<_> = exec.in_flight.iter().collect();
            anyhow::ensure!(in_flight == [(&nap(), &2)], "{id}: in flight after recovery: {in_flight:?}");
            resumed += 1;
        }
        // And the step is in the store, not only in the drivers.
        for id in stopped_at.keys().take(100) {
            let history = runner.history(id, 0, usize::MAX).await?;
            let recovered = history.iter().any(|e| matches!(e, harmonia_engine::Event::Recovered { .. }));
            anyhow::ensure!(recovered, "{id}: no Recovered event stored");
        }
        anyhow::ensure!(recovery.resumed == count, "recover() resumed {} of {count}", recovery.resumed);
        anyhow::ensure!(resumed == count, "{resumed} of {count} executions resumed");
        report(SCENARIO, "executions", count as f64, "executions");
        report(SCENARIO, "open_s", opened, "s");
        report(SCENARIO, "recover_call_s", recovered - opened, "s");
        report(SCENARIO, "resume_s", resume_s, "s");
        report(SCENARIO, "resumed", resumed as f64, "executions");
        anyhow::Ok(())
    });
    // The re-run naps are still sleeping: drop them with the runtime.
    runtime.shutdown_timeout(Duration::from_secs(5));
    result
}

/// Phase 1: starts `count` executions whose first call sleeps, then stops everything
/// while those calls run. Returns each execution's last event number when it stopped.
fn interrupt(plugins: &Path, dir: &Path, plan: &Arc<Plan>, count: usize) -> anyhow::Result<HashMap<String, u64>> {
    let runtime = runtime()?;
    let store = Arc::new(RocksStore::open(dir, StoreOptions::default())?);
    let stopped_at = runtime.block_on(async {
        let host = core_host(plugins).await?;
        let runner = Runner::new(host, workflows(), Arc::new(SystemClock)).with_store(store.clone());
        let ids: Vec<String> = (0..count).map(|i| format!("r{i:05}")).collect();
        let chunks: Vec<Vec<String>> = ids.chunks(count.div_ceil(CLIENTS)).map(<[String]>::to_vec).collect();
        let tasks: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let (runner, plan) = (runner.clone(), plan.clone());
                tokio::spawn(async move {
                    for (i, id) in chunk.iter().enumerate() {
                        // `start` returns once the execution is stored with `nap` started.
                        runner.start(plan.clone(), id, json!({ "ms": NAP_MS, "n": i })).await?;
                    }
                    anyhow::Ok(())
                })
            })
            .collect();
        for task in tasks {
            task.await??;
        }
        let states = snapshots(&runner, &ids).await?;
        let mut stopped_at = HashMap::new();
        for (id, exec) in states {
            let in_flight: Vec<_> = exec.in_flight.iter().collect();
            anyhow::ensure!(in_flight == [(&nap(), &1)], "{id}: in flight before the stop: {in_flight:?}");
            stopped_at.insert(id, exec.seq);
        }
        anyhow::Ok(stopped_at)
    })?;
    // The stop: every driver and call is dropped mid-flight, with the runner clones they
    // held; then the store, which must be the last reference (it closes and unlocks).
    runtime.shutdown_timeout(Duration::from_secs(5));
    let store =
        Arc::into_inner(store).ok_or_else(|| anyhow::anyhow!("the store is still referenced after the stop"))?;
    drop(store);
    Ok(stopped_at)
}

/// The current state of each execution, from its driver, asked by many tasks at once.
async fn snapshots(runner: &Runner, ids: &[String]) -> anyhow::Result<Vec<(String, Execution)>> {
    let tasks: Vec<_> = ids
        .chunks(ids.len().div_ceil(CLIENTS).max(1))
        .map(|chunk| {
            let (runner, chunk) = (runner.clone(), chunk.to_vec());
            tokio::spawn(async move {
                let mut states = Vec::with_capacity(chunk.len());
                for id in chunk {
                    let exec = runner.get(&id).await?;
                    states.push((id, exec));
                }
                anyhow::Ok(states)
            })
        })
        .collect();
    let mut states = Vec::with_capacity(ids.len());
    for task in tasks {
        states.extend(task.await??);
    }
    Ok(states)
}

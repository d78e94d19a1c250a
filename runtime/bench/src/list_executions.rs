//! `list-executions`: what listing executions and the retention sweep cost once many
//! executions were run. 100,000 executions (10,000 with `--quick`) of a one-task `core`
//! workflow run through the runner into RocksDB (sync=none, to fill it fast): two
//! workflows, `common` (99%) and `rare` (1%), and 1% of each failed (a version of the
//! workflow whose task fails). Then, timed: the first page of 100 as
//! `GET /api/v1/executions` reads it (`records::list_records`) with no filter, with
//! `workflow=rare`, `status=failed` and both; the counts by status of all and of `rare`
//! (`records::count_records`, `GET /api/v1/executions/counts`); and `retention::sweep` deleting the oldest
//! 1% of the finished executions, several times over. Medians of several repeats.
//!
//! Measured both ways: as a store from before the indexes (`_scan`: the index marker
//! removed, so listings and sweeps scan every record), and through the indexes, after the
//! one-time build such a store gets at start (`index_build_s`).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use harmonia_engine::{ExecStatus, Millis, Plan};
use harmonia_runner::records::{self, RecordFilter};
use harmonia_runner::{Runner, SystemClock, WorkflowDirs, retention};
use harmonia_store::keys::exec_index;
use harmonia_store::{Batch, Space, Store};
use harmonia_store_rocksdb::{RocksStore, StoreOptions, SyncMode};
use serde_json::json;

use crate::durable::core_host;
use crate::{closed_loop, quantile, report};

const SCENARIO: &str = "list-executions";
/// Executions kept in flight while filling the store.
const IN_FLIGHT: usize = 256;
/// Timed repeats of each page, and sweeps.
const REPEATS: usize = 9;
const SWEEPS: usize = 5;
/// The API's default page size.
const PAGE: usize = 100;

/// One task: an echo (version 1) or, for the executions that fail, a fatal failure
/// (version `fails`). Listing filters by the workflow's name, whatever its version.
fn workflow(name: &str, fails: bool) -> String {
    let (version, task) = match fails {
        false => ("1", r#"{ component: core, action: echo, input: { n: "${input.n}" } }"#),
        true => ("fails", r#"{ component: core, action: fail, input: { kind: fatal } }"#),
    };
    format!("name: {name}\nversion: {version}\ninput: {{ n: {{ type: integer }} }}\ntasks:\n  only: {task}\n")
}

/// Which plan execution `i` runs: every 100th is `rare`, every 97th fails (so a few are
/// both), spread evenly over time.
fn pick(i: usize) -> (bool, bool) {
    (i % 100 == 50, i % 97 == 13)
}

struct Plans {
    /// By (rare, fails).
    plans: [[Arc<Plan>; 2]; 2],
}

impl Plans {
    fn new() -> Plans {
        let plan = |name, fails| crate::engine::plan(&workflow(name, fails));
        Plans { plans: [[plan("common", false), plan("common", true)], [plan("rare", false), plan("rare", true)]] }
    }

    fn get(&self, (rare, fails): (bool, bool)) -> Arc<Plan> {
        self.plans[rare as usize][fails as usize].clone()
    }
}

pub fn run(plugins: &Path, quick: bool) -> anyhow::Result<()> {
    let count = if quick { 10_000 } else { 100_000 };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let dir = tempfile::tempdir()?;
    let store =
        Arc::new(RocksStore::open(dir.path(), StoreOptions { sync: SyncMode::None, ..StoreOptions::default() })?);
    let started = Instant::now();
    let mut finished = runtime.block_on(fill(plugins, store.clone(), count))?;
    report(SCENARIO, "executions", count as f64, "executions");
    report(SCENARIO, "fill_s", started.elapsed().as_secs_f64(), "s");
    runtime.shutdown_timeout(Duration::from_secs(5));
    finished.sort_unstable();
    let mut sweeps = Sweeps { finished, count, done: 0 };

    // As a store from before the indexes: without the marker, readers scan the records.
    unmark(&*store)?;
    pages(&*store, count, "_scan")?;
    // The one-time build such a store gets at start (it clears the space first).
    let began = Instant::now();
    let indexed = records::build_index(&*store)?;
    report(SCENARIO, "index_build_s", began.elapsed().as_secs_f64(), "s");
    anyhow::ensure!(indexed == Some(count), "the build indexed {indexed:?} of {count}");
    pages(&*store, count, "")?;

    // Sweeps last, as they delete: through the index, then scanning (a few percent fewer
    // records left to scan by then).
    sweeps.measure(&*store, "")?;
    unmark(&*store)?;
    sweeps.measure(&*store, "_scan")?;
    Ok(())
}

/// Removes the marker saying the indexes are complete: readers scan the records again.
fn unmark(store: &dyn Store) -> anyhow::Result<()> {
    let mut batch = Batch::new();
    batch.delete(Space::ExecIndex, exec_index::BUILT);
    Ok(store.commit(batch)?)
}

/// Times the first page of each filter; `suffix` names how the store lists them.
fn pages(store: &dyn Store, count: usize, suffix: &str) -> anyhow::Result<()> {
    let rare = (0..count).filter(|i| pick(*i).0).count();
    let failed = (0..count).filter(|i| pick(*i).1).count();
    let both = (0..count).filter(|i| pick(*i) == (true, true)).count();
    let cases = [
        ("page_ms_no_filter", None, None, count),
        ("page_ms_workflow", Some("rare"), None, rare),
        ("page_ms_status", None, Some(ExecStatus::Failed), failed),
        ("page_ms_workflow_and_status", Some("rare"), Some(ExecStatus::Failed), both),
    ];
    for (metric, workflow, status, matching) in cases {
        let filter = RecordFilter { workflow, status };
        let mut samples = Vec::with_capacity(REPEATS);
        for _ in 0..REPEATS {
            let began = Instant::now();
            let (found, _) = records::list_records(store, filter, None, PAGE)?;
            samples.push(began.elapsed().as_secs_f64() * 1e3);
            anyhow::ensure!(
                found.len() == matching.min(PAGE),
                "{metric}: {} of {} found",
                found.len(),
                matching.min(PAGE)
            );
            let wrong = found.iter().find(|(_, r)| !filter.accepts(r));
            anyhow::ensure!(wrong.is_none(), "{metric}: {wrong:?} does not match");
        }
        report(SCENARIO, &format!("{metric}{suffix}"), median(samples), "ms");
    }
    if suffix.is_empty() {
        report(SCENARIO, "rare_and_failed", both as f64, "executions");
    }
    counts(store, count, rare, suffix)
}

/// Times the counts by status (`GET /api/v1/executions/counts`), of all and of `rare`.
fn counts(store: &dyn Store, count: usize, rare: usize, suffix: &str) -> anyhow::Result<()> {
    for (metric, workflow, matching) in [("counts_ms_all", None, count), ("counts_ms_workflow", Some("rare"), rare)] {
        let mut samples = Vec::with_capacity(REPEATS);
        for _ in 0..REPEATS {
            let began = Instant::now();
            let counts = records::count_records(store, workflow)?;
            samples.push(began.elapsed().as_secs_f64() * 1e3);
            let total: u64 = counts.iter().map(|(_, n)| n).sum();
            anyhow::ensure!(total == matching as u64, "{metric}: counted {total} of {matching}");
        }
        report(SCENARIO, &format!("{metric}{suffix}"), median(samples), "ms");
    }
    Ok(())
}

/// Retention sweeps, each deleting the next 1% of the executions by when they finished.
struct Sweeps {
    /// When each execution finished, sorted.
    finished: Vec<Millis>,
    count: usize,
    done: usize,
}

impl Sweeps {
    fn measure(&mut self, store: &dyn Store, suffix: &str) -> anyhow::Result<()> {
        let mut samples = Vec::with_capacity(SWEEPS);
        for _ in 0..SWEEPS {
            self.done += 1;
            let n = self.done;
            let (from, cutoff) = (self.finished[(n - 1) * self.count / 100], self.finished[n * self.count / 100]);
            let expected = self.finished.iter().filter(|t| **t >= from && **t < cutoff).count();
            let began = Instant::now();
            let deleted = retention::sweep(store, cutoff)?;
            samples.push(began.elapsed().as_secs_f64() * 1e3);
            anyhow::ensure!(deleted == expected, "sweep {n} deleted {deleted}, expected {expected}");
        }
        report(SCENARIO, &format!("sweep_ms_1_percent{suffix}"), median(samples), "ms");
        Ok(())
    }
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    quantile(&samples, 0.5)
}

/// Runs `count` executions, `IN_FLIGHT` at a time, each checked to end as planned; returns
/// when each finished.
async fn fill(plugins: &Path, store: Arc<RocksStore>, count: usize) -> anyhow::Result<Vec<Millis>> {
    let host = core_host(plugins).await?;
    let runner = Runner::new(host, Arc::new(WorkflowDirs::default()), Arc::new(SystemClock)).with_store(store);
    let plans = Arc::new(Plans::new());
    let run = closed_loop::run(vec![runner; IN_FLIGHT], count, move |runner: Runner, i| {
        let plans = plans.clone();
        async move {
            // Ids start with their start time, as the server makes them.
            let id = harmonia_runner::new_execution_id();
            let exec = runner.run(plans.get(pick(i)), &id, json!({ "n": i })).await?;
            let expected = if pick(i).1 { ExecStatus::Failed } else { ExecStatus::Completed };
            anyhow::ensure!(exec.status == expected, "{id} ended {:?}: {:?}", exec.status, exec.error);
            exec.finished_at.ok_or_else(|| anyhow::anyhow!("{id} has no finish time"))
        }
    })
    .await?;
    Ok(run.outputs)
}

//! `durable-3step`: whole workflows through the runner with a real RocksDB store: a chain
//! of three `core`/`echo` tasks (a -> b -> c), many executions at once, each step committed
//! (group commit) before its calls run. Throughput for each sync mode, per-workflow latency
//! and how many commits shared each disk write.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use harmonia_engine::{ExecStatus, Plan};
use harmonia_host::{Host, HostConfig};
use harmonia_runner::{Runner, SystemClock, WorkflowDirs};
use harmonia_store_rocksdb::{RocksStore, StoreOptions, SyncMode, WriteStats};
use serde_json::{Value, json};

use crate::{closed_loop, quantile, report};

const SCENARIO: &str = "durable-3step";
/// Executions kept in flight: each of this many clients starts the next workflow as soon
/// as its previous one ends (a closed loop).
const IN_FLIGHT: usize = 256;

/// Each task transforms the previous output, so the final output proves all three ran,
/// in order, on each other's results: v = (n + 1) * 2 + 3.
pub(crate) const THREE_STEPS: &str = r#"
name: three-steps
version: 1
input: { n: { type: integer } }
tasks:
  a: { component: core, action: echo, input: { v: "${input.n + 1}" } }
  b: { component: core, action: echo, depends_on: [a], input: { v: "${tasks.a.output.v * 2}" } }
  c: { component: core, action: echo, depends_on: [b], input: { v: "${tasks.b.output.v + 3}" } }
output: { v: "${tasks.c.output.v}", from: "${input.n}" }
"#;

pub(crate) fn expected(n: i64) -> Value {
    json!({ "v": (n + 1) * 2 + 3, "from": n })
}

/// The host over the plugins directory, with `core` loaded.
pub async fn core_host(plugins: &Path) -> anyhow::Result<Host> {
    let host = Host::new(HostConfig::new(plugins))?;
    host.load_all().await?;
    host.plugin("core")
        .with_context(|| format!("plugin core not found in {} (run plugins/build.sh)", plugins.display()))?;
    Ok(host)
}

/// What one measured batch of workflows gave: the run, and the store's commit groups.
struct Batch {
    run: closed_loop::Run,
    writes: WriteStats,
}

impl Batch {
    fn workflows(&self) -> f64 {
        self.run.latencies_ms.len() as f64
    }
}

pub async fn run(plugins: &Path, quick: bool) -> anyhow::Result<()> {
    let host = core_host(plugins).await?;
    let plan = crate::engine::plan(THREE_STEPS);
    let workflows = if quick { 2_000 } else { 20_000 };
    let warmup = if quick { 512 } else { 2_048 };
    let mut always = None;
    for (sync, name) in [(SyncMode::Always, "always"), (SyncMode::None, "none")] {
        let dir = tempfile::tempdir()?;
        let store = Arc::new(RocksStore::open(dir.path(), StoreOptions { sync, ..StoreOptions::default() })?);
        let runner = Runner::new(host.clone(), Arc::new(WorkflowDirs::default()), Arc::new(SystemClock))
            .with_store(store.clone());
        // Warm up (instance pool, page cache, RocksDB's memtables), then measure.
        drive(&runner, &store, &plan, "warm", warmup, IN_FLIGHT).await?;
        let batch = drive(&runner, &store, &plan, "w", workflows, IN_FLIGHT).await?;
        report(SCENARIO, &format!("wf_per_s_sync_{name}"), batch.workflows() / batch.run.seconds, "workflows/s");
        if sync == SyncMode::Always {
            always = Some(batch);
        }
    }
    let always = always.expect("sync=always was measured");
    // Latency under the same load as `wf_per_s_sync_always` (IN_FLIGHT executions at
    // once, sync=always): from `run` called to the final state, so it includes waiting
    // behind the other executions for a commit group, the CPU and instance slots.
    report(SCENARIO, "p50_ms", quantile(&always.run.latencies_ms, 0.5), "ms");
    report(SCENARIO, "p99_ms", quantile(&always.run.latencies_ms, 0.99), "ms");
    let (groups, batches) = (always.writes.groups.max(1) as f64, always.writes.batches as f64);
    report(SCENARIO, "commits_per_group", batches / groups, "commits");
    report(SCENARIO, "commits_per_wf", batches / always.workflows(), "commits");

    // For comparison, one client alone (sync=always): a workflow's own latency, its four
    // commits each waiting for a disk sync.
    let dir = tempfile::tempdir()?;
    let store = Arc::new(RocksStore::open(dir.path(), StoreOptions::default())?);
    let runner =
        Runner::new(host.clone(), Arc::new(WorkflowDirs::default()), Arc::new(SystemClock)).with_store(store.clone());
    drive(&runner, &store, &plan, "warm", 50, 1).await?;
    let alone = drive(&runner, &store, &plan, "w", if quick { 100 } else { 500 }, 1).await?;
    report(SCENARIO, "p50_ms_one_client", quantile(&alone.run.latencies_ms, 0.5), "ms");
    report(SCENARIO, "p99_ms_one_client", quantile(&alone.run.latencies_ms, 0.99), "ms");
    Ok(())
}

/// Runs `count` workflows, `clients` at a time, each checked; ids are `{prefix}{i}`.
async fn drive(
    runner: &Runner,
    store: &RocksStore,
    plan: &Arc<Plan>,
    prefix: &str,
    count: usize,
    clients: usize,
) -> anyhow::Result<Batch> {
    let before = store.stats();
    let (plan, id_prefix) = (plan.clone(), prefix.to_string());
    let run = closed_loop::run(vec![runner.clone(); clients], count, move |runner: Runner, i| {
        let (plan, id) = (plan.clone(), format!("{id_prefix}{i}"));
        async move {
            let n = i as i64;
            let exec = runner.run(plan, &id, json!({ "n": n })).await?;
            anyhow::ensure!(exec.status == ExecStatus::Completed, "{id} ended {:?}: {:?}", exec.status, exec.error);
            anyhow::ensure!(exec.output == Some(expected(n)), "{id}: output {:?}", exec.output);
            Ok(())
        }
    })
    .await?;
    let after = store.stats();
    let writes = WriteStats { groups: after.groups - before.groups, batches: after.batches - before.batches };
    // Every workflow is kept: its final state reads back from the store.
    for i in [0, count / 2, count - 1] {
        let id = format!("{prefix}{i}");
        let stored = runner.wait(&id).await?;
        anyhow::ensure!(stored.output == Some(expected(i as i64)), "{id} as stored: {:?}", stored.output);
    }
    Ok(Batch { run, writes })
}

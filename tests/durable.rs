//! Durable executions through the library: the runner over a real RocksDB store and the
//! real plugin host (core.wasm): checkpoints, rollback, export and import, recovery of a
//! paused execution, conflicts between two writers, a corrupt record, retention.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use harmonia::records::{self, ReadError};
use harmonia::{RunError, Runner, RunnerSettings, SystemClock, WorkflowDirs};
use harmonia_engine::{Event, ExecStatus, Plan};
use harmonia_host::{Host, HostConfig};
use harmonia_store::{Batch, MemStore, RocksStore, Space, Store, StoreOptions, keys};
use serde_json::json;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

const CHAIN: &str = r#"
name: chain
version: "1"
input:
  n: { type: integer }
  wait_ms: { type: integer, default: 0 }
tasks:
  a: { component: core, action: sleep, input: { ms: "${input.wait_ms}" } }
  b: { component: core, action: echo, input: { n: "${input.n + 1}" }, depends_on: [a] }
  c: { component: core, action: echo, input: { n: "${tasks.b.output.n + 1}" }, depends_on: [b] }
output: "${tasks.c.output.n}"
"#;

struct Env {
    _plugins: tempfile::TempDir,
    host: Host,
    plan: Arc<Plan>,
}

/// A host with only `core` (compiled once into the repository's cache).
async fn env() -> Env {
    let plugins = tempfile::tempdir().unwrap();
    std::fs::copy(repo().join("plugins/core.wasm"), plugins.path().join("core.wasm")).unwrap();
    let mut config = HostConfig::new(plugins.path());
    config.cache_dir = Some(repo().join("plugins/.cache"));
    let host = Host::new(config).unwrap();
    host.load_all().await.unwrap();
    let workflow = harmonia_model::parse_workflow(CHAIN, None).unwrap();
    Env { _plugins: plugins, host, plan: Arc::new(Plan::new(Arc::new(workflow))) }
}

impl Env {
    fn runner(&self, store: Arc<dyn Store>) -> Runner {
        let mut dirs = WorkflowDirs::default();
        dirs.insert(self.plan.workflow.as_ref().clone());
        Runner::new(self.host.clone(), Arc::new(dirs), Arc::new(SystemClock))
            .with_store(store)
            .with_settings(RunnerSettings { checkpoint_every: 0, ..RunnerSettings::default() })
    }
}

fn rocks(dir: &Path) -> Arc<RocksStore> {
    Arc::new(RocksStore::open(dir, StoreOptions::default()).unwrap())
}

/// Waits until the execution's state satisfies `ready` (the driver works asynchronously).
async fn until(runner: &Runner, id: &str, ready: impl Fn(&harmonia_engine::Execution) -> bool) -> harmonia_engine::Execution {
    for _ in 0..500 {
        let exec = runner.get(id).await.unwrap();
        if ready(&exec) {
            return exec;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("execution {id} never got there: {:#?}", runner.get(id).await.unwrap());
}

fn kinds(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| serde_json::to_value(e).unwrap()["type"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_is_taken_listed_restored_and_the_execution_runs_on_from_it() {
    let env = env().await;
    let dir = tempfile::tempdir().unwrap();
    let runner = env.runner(rocks(dir.path()));
    runner.start(env.plan.clone(), "cp", json!({ "n": 1, "wait_ms": 200 })).await.unwrap();
    runner.pause("cp").unwrap();
    // a finishes while paused; b waits in the queue.
    let paused = until(&runner, "cp", |e| e.tasks["a"].status == harmonia_engine::TaskStatus::Succeeded).await;
    assert_eq!(paused.status, ExecStatus::Paused);
    let checkpoint = runner.checkpoint("cp", Some("after a".into())).await.unwrap();
    assert_eq!((checkpoint.seq, checkpoint.auto, checkpoint.label.as_deref()), (paused.seq, false, Some("after a")));
    runner.resume("cp").unwrap();
    let done = runner.wait("cp").await.unwrap();
    assert_eq!(done.output, Some(json!(3)));

    let listed = runner.checkpoints("cp").unwrap();
    assert_eq!(listed, std::slice::from_ref(&checkpoint), "listed with its step and time");
    assert!(listed[0].at > 0);

    runner.restore("cp", checkpoint.seq).await.unwrap();
    let restored = runner.get("cp").await.unwrap();
    assert_eq!(restored.status, ExecStatus::Paused, "as it was at the checkpoint");
    assert_eq!(restored.output, None);
    assert_eq!(restored.tasks["c"].status, harmonia_engine::TaskStatus::Pending);
    runner.resume("cp").unwrap();
    let again = runner.wait("cp").await.unwrap();
    assert_eq!((again.status, again.output.clone()), (ExecStatus::Completed, Some(json!(3))));
    let history = runner.history("cp").unwrap();
    let kinds = kinds(&history);
    let restored = kinds.iter().position(|k| k == "restored").expect("the rollback is in the history");
    assert_eq!(kinds.iter().filter(|k| *k == "completed").count(), 2, "{kinds:?}");
    assert!(restored > kinds.iter().position(|k| k == "completed").unwrap());
    // b ran again after the rollback (it was queued at the checkpoint), a did not.
    let after: Vec<&String> = kinds[restored..].iter().collect();
    assert!(after.contains(&&"task_succeeded".to_string()), "{kinds:?}");
    let a_runs = history.iter().filter(|e| matches!(e, Event::CallStarted { call, .. } if call.task == "a")).count();
    assert_eq!(a_runs, 1);
    assert_eq!(runner.get("cp").await.unwrap().seq, history.len() as u64);

    let missing = runner.restore("cp", 999).await.unwrap_err();
    assert!(matches!(missing, RunError::NoCheckpoint { seq: 999, .. }), "{missing}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_checkpoints_come_every_n_steps_and_only_the_newest_are_kept() {
    let env = env().await;
    let store: Arc<dyn Store> = Arc::new(MemStore::new());
    let runner = env.runner(store.clone()).with_settings(RunnerSettings { checkpoint_every: 1, keep_checkpoints: 2 });
    let done = runner.run(env.plan.clone(), "auto", json!({ "n": 5, "wait_ms": 0 })).await.unwrap();
    assert_eq!(done.output, Some(json!(7)), "{done:#?}");
    let checkpoints = runner.checkpoints("auto").unwrap();
    assert_eq!(checkpoints.len(), 2, "{checkpoints:?}");
    assert!(checkpoints.iter().all(|c| c.auto));
    assert!(checkpoints[0].seq < checkpoints[1].seq);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_exported_and_imported_elsewhere_is_the_same_and_a_paused_one_runs_on_there() {
    let env = env().await;
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = env.runner(rocks(one.path()));
    let finished = first.run(env.plan.clone(), "done", json!({ "n": 10, "wait_ms": 0 })).await.unwrap();
    first.start(env.plan.clone(), "held", json!({ "n": 20, "wait_ms": 100 })).await.unwrap();
    first.pause("held").unwrap();
    until(&first, "held", |e| e.tasks["a"].status == harmonia_engine::TaskStatus::Succeeded).await;
    let exports = ["done", "held"].map(|id| records::export(&**first.store(), id).unwrap());
    // Through JSON text, as a file would carry it.
    let exports = exports.map(|e| serde_json::from_str::<records::ExecExport>(&serde_json::to_string(&e).unwrap()).unwrap());

    let second = env.runner(rocks(two.path()));
    for export in &exports {
        second.import(export).unwrap();
    }
    assert_eq!(second.get("done").await.unwrap(), finished);
    assert_eq!(second.history("done").unwrap(), first.history("done").unwrap());
    assert!(matches!(second.import(&exports[0]), Err(RunError::Exists(_))), "an import never overwrites");

    let held = second.get("held").await.unwrap();
    assert_eq!(held.status, ExecStatus::Paused, "it stays paused where it was imported");
    second.resume("held").unwrap();
    assert_eq!(second.wait("held").await.unwrap().output, Some(json!(22)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_a_paused_execution_stays_paused_and_finished_ones_are_not_run_again() {
    let env = env().await;
    let dir = tempfile::tempdir().unwrap();
    {
        let runner = env.runner(rocks(dir.path()));
        runner.run(env.plan.clone(), "finished", json!({ "n": 1, "wait_ms": 0 })).await.unwrap();
        runner.start(env.plan.clone(), "paused", json!({ "n": 2, "wait_ms": 50 })).await.unwrap();
        runner.pause("paused").unwrap();
        until(&runner, "paused", |e| e.tasks["a"].status == harmonia_engine::TaskStatus::Succeeded).await;
        runner.start(env.plan.clone(), "cut", json!({ "n": 3, "wait_ms": 60_000 })).await.unwrap();
        until(&runner, "cut", |e| e.in_flight.len() == 1).await;
        runner.stop().await;
    } // the runner, its drivers and the store go away, as in a stop
    tokio::time::sleep(Duration::from_millis(100)).await; // drivers notice their channels closed
    let runner = env.runner(rocks(dir.path()));
    let recovery = runner.recover().unwrap();
    assert_eq!((recovery.resumed, recovery.failed.len()), (2, 0), "{recovery:?}");
    let paused = runner.get("paused").await.unwrap();
    assert_eq!(paused.status, ExecStatus::Paused);
    assert!(paused.in_flight.is_empty());
    // The cut call runs again with its next attempt.
    let cut = until(&runner, "cut", |e| e.tasks["a"].attempt == 2).await;
    assert_eq!(cut.in_flight.values().copied().collect::<Vec<_>>(), [2]);
    runner.cancel("cut", "enough").unwrap();
    runner.resume("paused").unwrap();
    assert_eq!(runner.wait("paused").await.unwrap().output, Some(json!(4)));
    let history = runner.history("finished").unwrap();
    assert!(!kinds(&history).contains(&"recovered".to_string()), "a finished execution is left alone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_writer_of_one_execution_gets_a_conflict_and_the_first_steps_again_from_fresh_state() {
    let env = env().await;
    let store: Arc<dyn Store> = Arc::new(MemStore::new());
    let first = env.runner(store.clone());
    first.start(env.plan.clone(), "race", json!({ "n": 1, "wait_ms": 300 })).await.unwrap();
    // A second runner on the same store takes the execution over (as after a failover):
    // it re-runs `a` as attempt 2. When the first runner's attempt 1 ends, its commit is
    // refused (stale version); it reloads, and the stale result is ignored.
    let second = env.runner(store.clone());
    assert_eq!(second.recover().unwrap().resumed, 1);
    let done = second.wait("race").await.unwrap();
    assert_eq!(done.output, Some(json!(3)));
    tokio::time::sleep(Duration::from_millis(400)).await; // the first runner's call ends
    let history = second.history("race").unwrap();
    let a_done = history.iter().filter(|e| matches!(e, Event::CallSucceeded { call, .. } if call.task == "a")).count();
    assert_eq!(a_done, 1, "only one writer's result of a was committed: {:?}", kinds(&history));
    assert_eq!(kinds(&history).iter().filter(|k| *k == "completed").count(), 1);
    let (version, _) = records::read_record(&*store, "race").unwrap();
    assert_eq!(version, history.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_record_fails_that_execution_only_and_names_it() {
    let env = env().await;
    let dir = tempfile::tempdir().unwrap();
    {
        let runner = env.runner(rocks(dir.path()));
        for id in ["good", "bad"] {
            runner.start(env.plan.clone(), id, json!({ "n": 1, "wait_ms": 60_000 })).await.unwrap();
        }
        let mut batch = Batch::new();
        batch.put(Space::History, keys::history_key("bad", 2).unwrap(), b"{not json".to_vec());
        runner.store().commit(batch).unwrap();
        runner.cancel("good", "stop").ok();
        runner.start(env.plan.clone(), "also-good", json!({ "n": 7, "wait_ms": 60_000 })).await.unwrap();
        runner.stop().await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let runner = env.runner(rocks(dir.path()));
    let recovery = runner.recover().unwrap();
    assert_eq!(recovery.failed.len(), 1, "{recovery:?}");
    let (id, reason) = &recovery.failed[0];
    assert_eq!(id, "bad");
    assert!(reason.contains("execution bad is corrupt") && reason.contains("history event 2"), "{reason}");
    assert_eq!(recovery.resumed, 1, "the others go on");
    let err = runner.get("bad").await.unwrap_err();
    assert!(matches!(err, RunError::Read(ReadError::Corrupt { .. })), "{err}");
    until(&runner, "also-good", |e| e.tasks["a"].attempt == 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_finished_executions_with_their_history_and_keeps_the_rest() {
    let env = env().await;
    let store: Arc<dyn Store> = Arc::new(MemStore::new());
    let runner = env.runner(store.clone());
    runner.run(env.plan.clone(), "old", json!({ "n": 1, "wait_ms": 0 })).await.unwrap();
    runner.start(env.plan.clone(), "running", json!({ "n": 1, "wait_ms": 60_000 })).await.unwrap();
    assert_eq!(harmonia::retention::sweep(&*store, 0).unwrap(), 0, "nothing finished before the epoch");
    let later = runner.now() + 1;
    assert_eq!(harmonia::retention::sweep(&*store, later).unwrap(), 1);
    assert!(matches!(runner.get("old").await, Err(RunError::Read(ReadError::NotFound(_)))));
    let prefix = keys::execution_prefix("old").unwrap();
    assert!(store.scan_prefix(Space::History, &prefix, None, 10).unwrap().is_empty(), "its history went with it");
    assert_eq!(runner.get("running").await.unwrap().status, ExecStatus::Running);
}

/// A small filesystem of its own, unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// `None` where mounting is not allowed (not root, or in a restricted container).
    fn mount(megabytes: u32) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let size = format!("size={megabytes}m");
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &size, "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then_some(SmallDisk { dir })
    }

    /// Writes a file until the disk is full.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.dir.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while file.write_all(&chunk).is_ok() {}
        while file.write_all(&chunk[..512]).is_ok() {}
        let _ = file.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_the_write_keeps_the_last_committed_state_and_is_reported() {
    let Some(disk) = SmallDisk::mount(32) else {
        eprintln!("SKIPPED: cannot mount a small tmpfs here (needs root)");
        return;
    };
    let env = env().await;
    let options = StoreOptions { min_free_bytes: 1 << 20, ..StoreOptions::default() };
    let store = Arc::new(RocksStore::open(disk.dir.path().join("state"), options).unwrap());
    let runner = env.runner(store.clone());
    runner.start(env.plan.clone(), "before", json!({ "n": 1, "wait_ms": 300 })).await.unwrap();
    let filler = disk.fill();
    // `a` ends while the disk is full: its step cannot be committed.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (version, _) = records::read_record(&*store, "before").unwrap();
    let stored = records::load_state(&*store, &env.plan, "before").unwrap().2;
    assert_eq!(stored.seq, version);
    assert_eq!(stored.tasks["a"].status, harmonia_engine::TaskStatus::Running, "the last committed state is kept");
    let refused = runner.start(env.plan.clone(), "during", json!({ "n": 1, "wait_ms": 0 })).await.unwrap_err();
    assert!(refused.to_string().contains("is full"), "a new execution is refused, saying why: {refused}");

    std::fs::remove_file(filler).unwrap();
    let done = tokio::time::timeout(Duration::from_secs(20), runner.wait("before")).await.expect("it goes on once there is space");
    assert_eq!(done.unwrap().output, Some(json!(3)));
    runner.run(env.plan.clone(), "after", json!({ "n": 10, "wait_ms": 0 })).await.unwrap();
    runner.stop().await;
}

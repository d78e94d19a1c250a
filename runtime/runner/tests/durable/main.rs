//! Durable executions through the runner, in-process: the test task runner (the component
//! `test`, see `support`) on a simulated clock, over RocksDB and a MemStore: checkpoints,
//! rollback, export and import, recovery of a paused execution, conflicts between two
//! writers, a corrupt record, retention, a full disk, and the indexes of executions (by
//! workflow, status and finish time) through all of them.
//!
//! Calls sleep in simulated time, so that a call "still running" is one whose timer has not
//! fired yet, whatever the machine's load: the tests wait on the runner's state (its
//! committed events) or on simulated time, never on the wall clock.

mod locks;
mod rocks;
#[path = "../support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use harmonia_engine::{Event, ExecStatus, Execution, Plan, TaskStatus};
use harmonia_runner::records::{self, ExecRecord, ReadError, RecordFilter, StepWrite};
use harmonia_runner::{RunError, Runner, RunnerSettings, WorkflowDirs};
use harmonia_store::keys::exec_index;
use harmonia_store::{Batch, MemStore, Space, Store, StoreError, keys};
use harmonia_store_rocksdb::{RocksStore, StoreOptions};
use rocks::{closed, rocks, rocks_with, until};
use serde_json::json;
use support::{SimClock, TestTasks, plan_of};

const CHAIN: &str = r#"
name: chain
version: "1"
input:
  n: { type: integer }
  wait_ms: { type: integer, default: 0 }
tasks:
  a: { component: test, action: sleep, input: { ms: "${input.wait_ms}" } }
  b: { component: test, action: echo, input: { n: "${input.n + 1}" }, depends_on: [a] }
  c: { component: test, action: echo, input: { n: "${tasks.b.output.n + 1}" }, depends_on: [b] }
output: "${tasks.c.output.n}"
"#;

/// Fails its first call (counted by the test task runner, by the task's idempotency key),
/// then succeeds: a retry completes it.
const FLAKY: &str = r#"
name: flaky
version: "1"
tasks:
  f: { component: test, action: fail, input: { kind: fatal, times: 1 } }
"#;

/// One task runner and one clock for every runner of a test (as one host served them).
struct Env {
    tasks: TestTasks,
    clock: Arc<SimClock>,
    plan: Arc<Plan>,
    flaky: Arc<Plan>,
}

/// Within the test's runtime (the clock starts at its paused time).
fn env() -> Env {
    Env { tasks: TestTasks::default(), clock: SimClock::new(), plan: plan_of(CHAIN), flaky: plan_of(FLAKY) }
}

impl Env {
    fn runner(&self, store: Arc<dyn Store>) -> Runner {
        let mut dirs = WorkflowDirs::default();
        dirs.insert(self.plan.workflow.as_ref().clone());
        dirs.insert(self.flaky.workflow.as_ref().clone());
        Runner::new(self.tasks.clone(), Arc::new(dirs), self.clock.clone())
            .with_store(store)
            .with_settings(RunnerSettings { checkpoint_every: 0, ..RunnerSettings::default() })
    }
}

fn kinds(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| serde_json::to_value(e).unwrap()["type"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(start_paused = true)]
async fn a_checkpoint_is_taken_listed_restored_and_the_execution_runs_on_from_it() {
    let env = env();
    let dir = tempfile::tempdir().unwrap();
    let runner = env.runner(rocks(dir.path()));
    runner.start(env.plan.clone(), "cp", json!({ "n": 1, "wait_ms": 200 })).await.unwrap();
    runner.pause("cp").unwrap();
    // a finishes while paused; b waits in the queue.
    let paused = until(&runner, "cp", |e| e.tasks["a"].status == TaskStatus::Succeeded).await;
    assert_eq!(paused.status, ExecStatus::Paused);
    let checkpoint = runner.checkpoint("cp", Some("after a".into())).await.unwrap();
    assert_eq!((checkpoint.seq, checkpoint.auto, checkpoint.label.as_deref()), (paused.seq, false, Some("after a")));
    runner.resume("cp").unwrap();
    let done = runner.wait("cp").await.unwrap();
    assert_eq!(done.output, Some(json!(3)));

    let listed = runner.checkpoints("cp").await.unwrap();
    assert_eq!(listed, std::slice::from_ref(&checkpoint), "listed with its step and time");
    assert!(listed[0].at > 0);

    runner.restore("cp", checkpoint.seq).await.unwrap();
    let restored = runner.get("cp").await.unwrap();
    assert_eq!(restored.status, ExecStatus::Paused, "as it was at the checkpoint");
    assert_eq!(restored.output, None);
    assert_eq!(restored.tasks["c"].status, TaskStatus::Pending);
    runner.resume("cp").unwrap();
    let again = runner.wait("cp").await.unwrap();
    assert_eq!((again.status, again.output.clone()), (ExecStatus::Completed, Some(json!(3))));
    let history = runner.history("cp", 0, usize::MAX).await.unwrap();
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

#[tokio::test(start_paused = true)]
async fn automatic_checkpoints_come_every_n_steps_and_only_the_newest_are_kept() {
    let env = env();
    let store: Arc<dyn Store> = Arc::new(MemStore::new());
    let runner = env.runner(store.clone()).with_settings(RunnerSettings {
        checkpoint_every: 1,
        keep_checkpoints: 2,
        ..RunnerSettings::default()
    });
    let done = runner.run(env.plan.clone(), "auto", json!({ "n": 5, "wait_ms": 0 })).await.unwrap();
    assert_eq!(done.output, Some(json!(7)), "{done:#?}");
    let checkpoints = runner.checkpoints("auto").await.unwrap();
    assert_eq!(checkpoints.len(), 2, "{checkpoints:?}");
    assert!(checkpoints.iter().all(|c| c.auto));
    assert!(checkpoints[0].seq < checkpoints[1].seq);
}

#[tokio::test(start_paused = true)]
async fn an_execution_exported_and_imported_elsewhere_is_the_same_and_a_paused_one_runs_on_there() {
    let env = env();
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = env.runner(rocks(one.path()));
    let finished = first.run(env.plan.clone(), "done", json!({ "n": 10, "wait_ms": 0 })).await.unwrap();
    first.start(env.plan.clone(), "held", json!({ "n": 20, "wait_ms": 100 })).await.unwrap();
    first.pause("held").unwrap();
    until(&first, "held", |e| e.tasks["a"].status == TaskStatus::Succeeded).await;
    let exports = ["done", "held"].map(|id| records::export(&**first.store(), id).unwrap());
    // Through JSON text, as a file would carry it.
    let exports =
        exports.map(|e| serde_json::from_str::<records::ExecExport>(&serde_json::to_string(&e).unwrap()).unwrap());

    let second = env.runner(rocks(two.path()));
    for export in &exports {
        second.import(export).unwrap();
    }
    assert_eq!(second.get("done").await.unwrap(), finished);
    assert_eq!(
        second.history("done", 0, usize::MAX).await.unwrap(),
        first.history("done", 0, usize::MAX).await.unwrap()
    );
    // The import indexed them as the runs did where they ran.
    let (second_store, first_store) = (&**second.store(), &**first.store());
    assert_eq!(index_of(second_store, "done"), expected_keys("done", "chain", "completed", finished.finished_at));
    assert_eq!(index_of(second_store, "held"), expected_keys("held", "chain", "paused", None));
    assert_eq!(index(second_store), index(first_store));
    assert!(matches!(second.import(&exports[0]), Err(RunError::Exists(_))), "an import never overwrites");

    let held = second.get("held").await.unwrap();
    assert_eq!(held.status, ExecStatus::Paused, "it stays paused where it was imported");
    second.resume("held").unwrap();
    assert_eq!(second.wait("held").await.unwrap().output, Some(json!(22)));
    assert_eq!(env.tasks.attempts_in("held", "a"), [1], "a ran where it was exported, not again");
}

#[tokio::test(start_paused = true)]
async fn after_a_restart_a_paused_execution_stays_paused_and_finished_ones_are_not_run_again() {
    let env = env();
    let dir = tempfile::tempdir().unwrap();
    let store = rocks(dir.path());
    let held = Arc::downgrade(&store);
    {
        let runner = env.runner(store);
        runner.run(env.plan.clone(), "finished", json!({ "n": 1, "wait_ms": 0 })).await.unwrap();
        runner.start(env.plan.clone(), "paused", json!({ "n": 2, "wait_ms": 50 })).await.unwrap();
        runner.pause("paused").unwrap();
        until(&runner, "paused", |e| e.tasks["a"].status == TaskStatus::Succeeded).await;
        runner.start(env.plan.clone(), "cut", json!({ "n": 3, "wait_ms": 60_000 })).await.unwrap();
        until(&runner, "cut", |e| e.in_flight.len() == 1).await;
        runner.stop().await;
    } // the runner, its drivers and the store go away, as in a stop
    closed(held).await;
    let runner = env.runner(rocks(dir.path()));
    let recovery = runner.recover().unwrap();
    assert_eq!((recovery.resumed, recovery.failed.len()), (2, 0), "{recovery:?}");
    let paused = runner.get("paused").await.unwrap();
    assert_eq!(paused.status, ExecStatus::Paused);
    assert!(paused.in_flight.is_empty());
    // The cut call runs again with its next attempt.
    let cut = until(&runner, "cut", |e| e.tasks["a"].attempt == 2).await;
    assert_eq!(cut.in_flight.values().copied().collect::<Vec<_>>(), [2]);
    assert_eq!(env.tasks.attempts_in("cut", "a"), [1, 2], "the cut call was carried out again");
    assert_eq!(env.tasks.attempts_in("paused", "b"), Vec::<u32>::new(), "nothing of the paused one ran");
    runner.cancel("cut", "enough").unwrap();
    runner.resume("paused").unwrap();
    assert_eq!(runner.wait("paused").await.unwrap().output, Some(json!(4)));
    assert_eq!(env.tasks.attempts_in("paused", "a"), [1], "the call finished before the restart ran once");
    assert_eq!(env.tasks.attempts_in("finished", "c"), [1]);
    let history = runner.history("finished", 0, usize::MAX).await.unwrap();
    assert!(!kinds(&history).contains(&"recovered".to_string()), "a finished execution is left alone");
}

#[tokio::test(start_paused = true)]
async fn a_second_writer_of_one_execution_gets_a_conflict_and_the_first_steps_again_from_fresh_state() {
    let env = env();
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
    assert_eq!(env.tasks.attempts_in("race", "a"), [1, 2], "both writers ran a");
    let history = second.history("race", 0, usize::MAX).await.unwrap();
    let a_done = history.iter().filter(|e| matches!(e, Event::CallSucceeded { call, .. } if call.task == "a")).count();
    assert_eq!(a_done, 1, "only one writer's result of a was committed: {:?}", kinds(&history));
    assert_eq!(kinds(&history).iter().filter(|k| *k == "completed").count(), 1);
    let (version, _) = records::read_record(&*store, "race").unwrap();
    assert_eq!(version, history.len() as u64);
    assert_eq!(index_of(&*store, "race"), expected_keys("race", "chain", "completed", done.finished_at));
}

#[tokio::test(start_paused = true)]
async fn a_corrupt_record_fails_that_execution_only_and_names_it() {
    let env = env();
    let dir = tempfile::tempdir().unwrap();
    let store = rocks(dir.path());
    let held = Arc::downgrade(&store);
    {
        let runner = env.runner(store);
        for id in ["good", "bad"] {
            runner.start(env.plan.clone(), id, json!({ "n": 1, "wait_ms": 60_000 })).await.unwrap();
        }
        // Once its driver has committed event 2 (its first call), so that the garbage is
        // not overwritten by the real event.
        until(&runner, "bad", |e| e.seq >= 2).await;
        let second = keys::history_key("bad", 2).unwrap();
        assert!(runner.store().get(Space::History, &second).unwrap().is_some());
        let mut batch = Batch::new();
        batch.put(Space::History, second, b"{not json".to_vec());
        runner.store().commit(batch).unwrap();
        runner.cancel("good", "stop").ok();
        runner.start(env.plan.clone(), "also-good", json!({ "n": 7, "wait_ms": 60_000 })).await.unwrap();
        runner.stop().await;
    }
    closed(held).await;
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

#[tokio::test(start_paused = true)]
async fn retention_deletes_finished_executions_with_their_history_and_keeps_the_rest() {
    let env = env();
    let store: Arc<dyn Store> = Arc::new(MemStore::new());
    let runner = env.runner(store.clone());
    runner.run(env.plan.clone(), "old", json!({ "n": 1, "wait_ms": 0 })).await.unwrap();
    runner.start(env.plan.clone(), "running", json!({ "n": 1, "wait_ms": 60_000 })).await.unwrap();
    assert_eq!(harmonia_runner::retention::sweep(&*store, 0).unwrap(), 0, "nothing finished before the epoch");
    let later = runner.now() + 1;
    assert_eq!(harmonia_runner::retention::sweep(&*store, later).unwrap(), 1);
    assert!(matches!(runner.get("old").await, Err(RunError::Read(ReadError::NotFound(_)))));
    let prefix = keys::execution_prefix("old").unwrap();
    assert!(store.scan_prefix(Space::History, &prefix, None, 10).unwrap().is_empty(), "its history went with it");
    assert_eq!(index_of(&*store, "old"), Vec::<String>::new(), "and its index keys");
    assert_eq!(runner.get("running").await.unwrap().status, ExecStatus::Running);
    assert_eq!(index_of(&*store, "running"), expected_keys("running", "chain", "running", None));
}

#[tokio::test(start_paused = true)]
async fn retention_on_rocksdb_deletes_only_what_finished_before_the_cutoff_and_its_index_keys() {
    let env = env();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = rocks(dir.path());
    let runner = env.runner(store.clone());
    let mut ended = Vec::new();
    for id in ["e1", "e2", "e3"] {
        ended.push(
            runner.run(env.plan.clone(), id, json!({ "n": 1, "wait_ms": 0 })).await.unwrap().finished_at.unwrap(),
        );
        tokio::time::sleep(Duration::from_millis(3)).await; // each in a millisecond of its own
    }
    let failed = runner.run(env.flaky.clone(), "f1", json!({})).await.unwrap();
    assert_eq!(failed.status, ExecStatus::Failed);
    runner.start(env.plan.clone(), "live", json!({ "n": 1, "wait_ms": 60_000 })).await.unwrap();

    // Up to (not including) e2's finish time: e1 only.
    assert_eq!(harmonia_runner::retention::sweep(&*store, ended[1]).unwrap(), 1);
    assert!(matches!(records::read_record(&*store, "e1"), Err(ReadError::NotFound(_))));
    assert_eq!(index_of(&*store, "e1"), Vec::<String>::new());
    assert_eq!(listed(&*store, Some("chain"), Some(ExecStatus::Completed)), ["e2", "e3"]);
    // Then everything finished: the failed one too, never the running one.
    assert_eq!(harmonia_runner::retention::sweep(&*store, runner.now() + 1).unwrap(), 3);
    assert_eq!(index(&*store), expected_keys("live", "chain", "running", None), "no index key left behind");
    assert_eq!(harmonia_runner::retention::sweep(&*store, runner.now() + 1).unwrap(), 0);
}

// ---- The indexes of executions ----

/// Every index key, readable: `s STATUS ID`, `w WORKFLOW ID`, `ws WORKFLOW STATUS ID`,
/// `f FINISHED_AT ID` (the marker left out).
fn index(store: &dyn Store) -> Vec<String> {
    let entries = store.scan_prefix(Space::ExecIndex, b"", None, 100_000).unwrap();
    let keys = entries.into_iter().map(|(key, _)| key).filter(|key| key != exec_index::BUILT);
    keys.map(|key| match exec_index::split_finished(&key) {
        Some((at, id)) => format!("f {at} {}", String::from_utf8_lossy(id)),
        None => String::from_utf8_lossy(&key).replace('\0', " "),
    })
    .collect()
}

/// The index keys of execution `id`.
fn index_of(store: &dyn Store, id: &str) -> Vec<String> {
    index(store).into_iter().filter(|key| key.ends_with(&format!(" {id}"))).collect()
}

/// The index keys of an execution of `workflow` in `status`, finished at `at`, in key order.
fn expected_keys(id: &str, workflow: &str, status: &str, at: Option<u64>) -> Vec<String> {
    if status == "running" || status == "paused" {
        // Listed by the unfinished executions: only the workflow's key.
        return vec![format!("w {workflow} {id}")];
    }
    let finished = at.map(|at| format!("f {at} {id}"));
    let keys = [format!("s {status} {id}"), format!("w {workflow} {id}"), format!("ws {workflow} {status} {id}")];
    finished.into_iter().chain(keys).collect()
}

/// The ids `list_records` lists for a filter, one page of up to 1000.
fn listed(store: &dyn Store, workflow: Option<&str>, status: Option<ExecStatus>) -> Vec<String> {
    let (page, _) = records::list_records(store, RecordFilter { workflow, status }, None, 1000).unwrap();
    page.into_iter().map(|(id, _)| id).collect()
}

/// A MemStore, and a RocksDB store in a temporary directory (kept with it).
fn both_stores() -> Vec<(Arc<dyn Store>, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    vec![(Arc::new(MemStore::new()), None), (rocks(dir.path()), Some(dir))]
}

#[tokio::test(start_paused = true)]
async fn the_indexes_follow_an_execution_paused_resumed_and_completed() {
    let env = env();
    for (store, _dir) in both_stores() {
        let runner = env.runner(store.clone());
        let store = &*store;
        runner.start(env.plan.clone(), "p", json!({ "n": 1, "wait_ms": 1_000 })).await.unwrap();
        assert_eq!(index_of(store, "p"), expected_keys("p", "chain", "running", None));
        assert_eq!(listed(store, None, Some(ExecStatus::Running)), ["p"]);

        runner.pause("p").unwrap();
        until(&runner, "p", |e| e.status == ExecStatus::Paused).await;
        assert_eq!(index_of(store, "p"), expected_keys("p", "chain", "paused", None));
        assert_eq!(listed(store, Some("chain"), Some(ExecStatus::Paused)), ["p"]);
        assert_eq!(listed(store, None, Some(ExecStatus::Running)), Vec::<String>::new());

        runner.resume("p").unwrap();
        let resumed = until(&runner, "p", |e| e.status == ExecStatus::Running).await;
        assert_eq!(resumed.tasks["a"].status, TaskStatus::Running, "`a` still sleeps");
        assert_eq!(index_of(store, "p"), expected_keys("p", "chain", "running", None));

        let done = runner.wait("p").await.unwrap();
        assert_eq!(done.status, ExecStatus::Completed);
        assert_eq!(index_of(store, "p"), expected_keys("p", "chain", "completed", done.finished_at));
        assert_eq!(listed(store, Some("chain"), None), ["p"]);
        assert_eq!(listed(store, Some("chain"), Some(ExecStatus::Completed)), ["p"]);
        assert_eq!(listed(store, Some("flaky"), None), Vec::<String>::new());
        assert_eq!(listed(store, None, Some(ExecStatus::Paused)), Vec::<String>::new());
    }
}

#[tokio::test(start_paused = true)]
async fn the_indexes_follow_a_failed_execution_retried_to_completion() {
    let env = env();
    for (n, (store, _dir)) in both_stores().into_iter().enumerate() {
        let runner = env.runner(store.clone());
        let store = &*store;
        // Its own id on each store: the failure counter is the test task runner's (shared by
        // both runners, as a host's would be), keyed by the task's idempotency key, which
        // names the execution.
        let id = format!("fl{n}");
        let failed = runner.run(env.flaky.clone(), &id, json!({})).await.unwrap();
        assert_eq!(failed.status, ExecStatus::Failed, "{failed:#?}");
        assert_eq!(index_of(store, &id), expected_keys(&id, "flaky", "failed", failed.finished_at));
        assert_eq!(listed(store, None, Some(ExecStatus::Failed)), [id.as_str()]);

        tokio::time::sleep(Duration::from_millis(5)).await; // it finishes again at another time
        runner.retry(&id).await.unwrap();
        let done = runner.wait(&id).await.unwrap();
        assert_eq!(done.status, ExecStatus::Completed, "{done:#?}");
        assert_ne!(done.finished_at, failed.finished_at);
        // The failed keys (its first finish time with them) are gone.
        assert_eq!(index_of(store, &id), expected_keys(&id, "flaky", "completed", done.finished_at));
        assert_eq!(listed(store, None, Some(ExecStatus::Failed)), Vec::<String>::new());
        assert_eq!(listed(store, Some("flaky"), Some(ExecStatus::Completed)), [id.as_str()]);
    }
}

#[tokio::test(start_paused = true)]
async fn the_indexes_follow_an_execution_restored_from_a_checkpoint() {
    let env = env();
    for (store, _dir) in both_stores() {
        let runner = env.runner(store.clone());
        let store = &*store;
        runner.start(env.plan.clone(), "cp", json!({ "n": 1, "wait_ms": 100 })).await.unwrap();
        runner.pause("cp").unwrap();
        until(&runner, "cp", |e| e.tasks["a"].status == TaskStatus::Succeeded).await;
        let checkpoint = runner.checkpoint("cp", None).await.unwrap();
        runner.resume("cp").unwrap();
        let first = runner.wait("cp").await.unwrap();
        assert_eq!(index_of(store, "cp"), expected_keys("cp", "chain", "completed", first.finished_at));

        // Rolled back to where it was paused: paused again, finished no more.
        runner.restore("cp", checkpoint.seq).await.unwrap();
        assert_eq!(runner.get("cp").await.unwrap().status, ExecStatus::Paused);
        assert_eq!(index_of(store, "cp"), expected_keys("cp", "chain", "paused", None));
        assert_eq!(listed(store, None, Some(ExecStatus::Completed)), Vec::<String>::new());

        tokio::time::sleep(Duration::from_millis(5)).await;
        runner.resume("cp").unwrap();
        let again = runner.wait("cp").await.unwrap();
        assert_ne!(again.finished_at, first.finished_at);
        assert_eq!(index_of(store, "cp"), expected_keys("cp", "chain", "completed", again.finished_at));
    }
}

#[tokio::test(start_paused = true)]
async fn a_data_directory_without_the_indexes_is_listed_by_scanning_then_indexed_once_at_start() {
    let env = env();
    let dir = tempfile::tempdir().unwrap();
    let store = rocks(dir.path());
    let held = Arc::downgrade(&store);
    let before = {
        let runner = env.runner(store.clone());
        runner.run(env.plan.clone(), "done", json!({ "n": 1, "wait_ms": 0 })).await.unwrap();
        runner.run(env.flaky.clone(), "bad", json!({})).await.unwrap();
        runner.start(env.plan.clone(), "held", json!({ "n": 2, "wait_ms": 60_000 })).await.unwrap();
        runner.cancel("held", "enough").unwrap();
        runner.wait("held").await.unwrap();
        let before = index(&*store);
        assert_eq!(before.len(), 3 * 4, "{before:?}");
        // As a directory from before the indexes: no marker, no key but a stale one (as a
        // run without the marker may leave: its execution deleted by an older version).
        let mut clear = Batch::new();
        clear.delete_prefix(Space::ExecIndex, Vec::new());
        clear.put(
            Space::ExecIndex,
            exec_index::entry(&exec_index::by_status("running").unwrap(), "ghost").unwrap(),
            Vec::new(),
        );
        store.commit(clear).unwrap();
        before
    };
    drop(store);
    closed(held).await; // the drivers let go of the store

    // Read-only (the offline CLI): nothing is built; filtered listings scan the records.
    let reader = RocksStore::open_read_only(dir.path()).unwrap();
    assert!(!records::index_ready(&reader).unwrap());
    assert_eq!(listed(&reader, Some("chain"), None), ["done", "held"]);
    assert_eq!(listed(&reader, None, Some(ExecStatus::Failed)), ["bad"]);
    assert_eq!(listed(&reader, Some("chain"), Some(ExecStatus::Cancelled)), ["held"]);
    assert_eq!(listed(&reader, None, Some(ExecStatus::Running)), Vec::<String>::new());
    assert_eq!(
        harmonia_runner::retention::sweep(&reader, 0).unwrap(),
        0,
        "the scan finds nothing finished before the epoch"
    );
    drop(reader);

    // The next start builds them, exactly as the runs had written them, once; with
    // nothing to resume, recovery does it itself.
    let store = rocks(dir.path());
    let runner = env.runner(store.clone());
    assert_eq!(runner.recover().unwrap().resumed, 0);
    assert!(records::index_ready(&*store).unwrap());
    assert_eq!(index(&*store), before);
    assert_eq!(records::build_index(&*store).unwrap(), None, "built once");
    assert_eq!(listed(&*store, Some("chain"), Some(ExecStatus::Cancelled)), ["held"]);
    assert_eq!(listed(&*store, Some("flaky"), None), ["bad"]);
    assert_eq!(listed(&*store, None, Some(ExecStatus::Running)), Vec::<String>::new());
}

/// An execution written step by step as the driver writes it, without running anything:
/// for the store-level tests.
struct ByHand {
    id: String,
    version: Option<u64>,
    record: ExecRecord,
    exec: Execution,
}

impl ByHand {
    fn new(plan: &Plan, id: &str) -> ByHand {
        let exec = Execution::new(id, &plan.workflow, &plan.fallbacks);
        ByHand { id: id.to_string(), version: None, record: ExecRecord::new(&exec, 1, None, 0), exec }
    }

    /// Commits a step leaving the execution in `status` at time `at`.
    fn step(&mut self, store: &dyn Store, status: ExecStatus, at: u64) -> &mut Self {
        let before = self.version.map(|_| self.record.indexed());
        self.exec.status = status;
        self.exec.seq += 1;
        self.exec.finished_at = status.is_finished().then_some(at);
        self.record.status = status;
        self.record.updated_at = at;
        self.record.state = status.is_finished().then(|| Box::new(self.exec.clone()));
        let write = StepWrite {
            id: &self.id,
            from: self.version,
            before,
            events: &[],
            record: &self.record,
            exec: &self.exec,
            checkpoint: None,
            forget: &[],
        };
        store.commit(write.batch().unwrap()).unwrap();
        self.version = Some(self.exec.seq);
        self
    }
}

fn named(name: &str) -> Arc<Plan> {
    plan_of(&CHAIN.replace("name: chain", &format!("name: {name}")))
}

#[test]
fn a_step_that_changes_nothing_indexed_writes_no_index_key() {
    for (store, _dir) in both_stores() {
        let store = &*store;
        let mut run = ByHand::new(&named("w"), "x");
        run.step(store, ExecStatus::Running, 10);
        assert_eq!(index(store), expected_keys("x", "w", "running", None));
        let mut clear = Batch::new();
        clear.delete_prefix(Space::ExecIndex, Vec::new());
        store.commit(clear).unwrap();
        run.step(store, ExecStatus::Running, 20).step(store, ExecStatus::Running, 30);
        assert_eq!(index(store), Vec::<String>::new(), "ordinary steps write no index key");
        // A change writes the keys of the new state (and deletes those of the old).
        run.step(store, ExecStatus::Completed, 40);
        assert_eq!(index(store), ["f 40 x", "s completed x", "ws w completed x"]);
    }
}

#[test]
fn imports_are_indexed_and_a_deletion_takes_every_index_key_unless_the_execution_changed() {
    for (store, _dir) in both_stores() {
        let store = &*store;
        let mut run = ByHand::new(&named("w"), "x");
        run.step(store, ExecStatus::Running, 10).step(store, ExecStatus::Failed, 20);
        // Its copy as an export under another id (no events: they were not written).
        let mut export = records::export(store, "x").unwrap();
        (export.id, export.version) = ("y".into(), 0);
        records::import(store, &export).unwrap();
        assert_eq!(index_of(store, "y"), expected_keys("y", "w", "failed", Some(20)));

        // A deletion computed from a stale version is refused and changes nothing.
        let (version, record) = records::read_record(store, "x").unwrap();
        let stale = records::delete_batch("x", version - 1, &record).unwrap();
        assert!(matches!(store.commit(stale), Err(StoreError::Conflict { .. })));
        assert_eq!(index_of(store, "x"), expected_keys("x", "w", "failed", Some(20)));
        store.commit(records::delete_batch("x", version, &record).unwrap()).unwrap();
        assert_eq!(index(store), expected_keys("y", "w", "failed", Some(20)), "x left no key behind");
    }
}

/// Pages through every execution a filter accepts, `limit` at a time, checking each page
/// but the last is full and ends with its `next`.
fn all_pages(store: &dyn Store, filter: RecordFilter<'_>, limit: usize) -> Vec<String> {
    let (mut ids, mut after) = (Vec::new(), None::<String>);
    loop {
        let (page, next) = records::list_records(store, filter, after.as_deref(), limit).unwrap();
        ids.extend(page.iter().map(|(id, _)| id.clone()));
        match next {
            Some(next) => {
                assert_eq!((page.len(), page.last().map(|(id, _)| id)), (limit, Some(&next)));
                assert!(after.as_ref().is_none_or(|after| next > *after), "the pages move on: {after:?} then {next}");
                after = Some(next);
            }
            None => return ids,
        }
    }
}

#[test]
fn indexed_listings_page_exactly_as_scans_do() {
    for (store, _dir) in both_stores() {
        let store = &*store;
        let plans = [named("a"), named("ab"), named("b")];
        let statuses =
            [ExecStatus::Running, ExecStatus::Paused, ExecStatus::Completed, ExecStatus::Failed, ExecStatus::Cancelled];
        let mut made = Vec::new();
        // Ids in id order unlike the order they are written in, spread over workflows and
        // statuses unevenly.
        for i in 0..150u64 {
            let n = (i * 37) % 150;
            let (plan, status) = (&plans[(n % 3) as usize], statuses[(n % 7 % 5) as usize]);
            let id = format!("{n:04}");
            let mut run = ByHand::new(plan, &id);
            run.step(store, ExecStatus::Running, 1);
            if status != ExecStatus::Running {
                run.step(store, status, 100 + n);
            }
            made.push((id, plan.workflow.name.clone(), status));
        }
        made.sort_by(|x, y| x.0.cmp(&y.0));
        records::build_index(store).unwrap(); // the marker (the keys were written with the steps)
        assert!(records::index_ready(store).unwrap());
        let workflows = [None, Some("a"), Some("ab"), Some("b"), Some("c")];
        let mut filters = Vec::new();
        for workflow in workflows {
            for status in [None].into_iter().chain(statuses.map(Some)) {
                filters.push(RecordFilter { workflow, status });
            }
        }
        let indexed: Vec<Vec<String>> = filters.iter().map(|f| all_pages(store, *f, 7)).collect();
        for (filter, ids) in filters.iter().zip(&indexed) {
            let expected: Vec<&String> = made
                .iter()
                .filter(|(_, w, s)| filter.workflow.is_none_or(|f| f == w) && filter.status.is_none_or(|f| f == *s))
                .map(|(id, _, _)| id)
                .collect();
            assert_eq!(ids.iter().collect::<Vec<_>>(), expected, "{filter:?}");
        }
        assert_eq!(all_pages(store, RecordFilter { workflow: Some("a"), ..Default::default() }, 1000).len(), 50);

        // The same pages from a scan (no marker).
        let mut unmark = Batch::new();
        unmark.delete(Space::ExecIndex, exec_index::BUILT);
        store.commit(unmark).unwrap();
        let scanned: Vec<Vec<String>> = filters.iter().map(|f| all_pages(store, *f, 7)).collect();
        assert_eq!(scanned, indexed);
    }
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

#[tokio::test(start_paused = true)]
async fn a_full_disk_fails_the_write_keeps_the_last_committed_state_and_is_reported() {
    let Some(disk) = SmallDisk::mount(32) else {
        eprintln!("SKIPPED: cannot mount a small tmpfs here (needs root)");
        return;
    };
    let env = env();
    let options = StoreOptions { min_free_bytes: 1 << 20, ..StoreOptions::default() };
    let store = rocks_with(&disk.dir.path().join("state"), options);
    let runner = env.runner(store.clone());
    runner.start(env.plan.clone(), "before", json!({ "n": 1, "wait_ms": 300 })).await.unwrap();
    let filler = disk.fill();
    // `a` ends (at 300 ms) while the disk is full: its step cannot be committed, and is
    // tried again after 50, 100, 200 ms...
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (version, _) = records::read_record(&*store, "before").unwrap();
    let stored = records::load_state(&*store, &env.plan, "before").unwrap().2;
    assert_eq!(stored.seq, version);
    assert_eq!(stored.tasks["a"].status, TaskStatus::Running, "the last committed state is kept");
    // A read answers from the stored state, with the retry, instead of waiting for space
    // (the timeout, in simulated time, only keeps a hang from stalling the suite).
    let read = tokio::time::timeout(Duration::from_secs(10), runner.get("before"))
        .await
        .expect("a read does not wait for the disk");
    assert_eq!(read.unwrap(), stored);
    let retry = runner.commit_retry("before").expect("the retry is visible");
    assert!(retry.attempts >= 1 && retry.error.contains("is full"), "{retry:?}");
    let refused = runner.start(env.plan.clone(), "during", json!({ "n": 1, "wait_ms": 0 })).await.unwrap_err();
    assert!(refused.to_string().contains("is full"), "a new execution is refused, saying why: {refused}");

    std::fs::remove_file(filler).unwrap();
    let done = tokio::time::timeout(Duration::from_secs(20), runner.wait("before"))
        .await
        .expect("it goes on once there is space");
    assert_eq!(done.unwrap().output, Some(json!(3)));
    assert!(runner.commit_retry("before").is_none());
    runner.run(env.plan.clone(), "after", json!({ "n": 10, "wait_ms": 0 })).await.unwrap();
    runner.stop().await;
}

//! Mutexes across executions (`mutex:`), kept in RocksDB: two executions contend for one
//! key across a restart, and the queue's order holds.

use std::sync::Arc;

use harmonia_engine::{ExecStatus, TaskStatus};
use harmonia_runner::{Runner, RunnerSettings, WorkflowDirs};
use harmonia_store::Store;
use serde_json::json;

use super::rocks::{closed, rocks, until};
use super::support::{SimClock, TestTasks, plan_of};

const BILLING: &str = r#"
name: billing
version: "1"
input: { ms: { type: integer } }
tasks:
  bill: { component: test, action: sleep, input: { ms: "${input.ms}" }, mutex: invoices }
"#;

fn runner(tasks: &TestTasks, clock: &Arc<SimClock>, store: Arc<dyn Store>) -> Runner {
    let mut dirs = WorkflowDirs::default();
    dirs.insert(plan_of(BILLING).workflow.as_ref().clone());
    Runner::new(tasks.clone(), Arc::new(dirs), clock.clone())
        .with_store(store)
        .with_settings(RunnerSettings { checkpoint_every: 0, ..RunnerSettings::default() })
}

fn bills(tasks: &TestTasks) -> Vec<(String, u32)> {
    tasks.calls().into_iter().filter(|c| c.task == "bill").map(|c| (c.execution, c.attempt)).collect()
}

#[tokio::test(start_paused = true)]
async fn two_executions_contending_for_a_mutex_take_turns_across_a_restart() {
    let (tasks, clock) = (TestTasks::default(), SimClock::new());
    let plan = plan_of(BILLING);
    let dir = tempfile::tempdir().unwrap();
    let store = rocks(dir.path());
    let held = Arc::downgrade(&store);
    {
        let runner = runner(&tasks, &clock, store);
        runner.start(plan.clone(), "first", json!({ "ms": 60_000 })).await.unwrap();
        until(&runner, "first", |e| e.in_flight.len() == 1).await;
        runner.start(plan.clone(), "second", json!({ "ms": 10 })).await.unwrap();
        let second = until(&runner, "second", |e| e.tasks["bill"].lock.is_some()).await;
        assert_eq!(second.tasks["bill"].status, TaskStatus::Waiting, "first holds the key");
        assert!(!second.tasks["bill"].lock.as_ref().unwrap().held);
        runner.stop().await;
    }
    closed(held).await;
    assert_eq!(bills(&tasks), [("first".to_string(), 1)]);

    let runner = runner(&tasks, &clock, rocks(dir.path()));
    runner.load_locks().unwrap();
    let recovery = runner.recover().unwrap();
    assert_eq!(recovery.resumed, 2, "{recovery:?}");
    // Asked after the restart: it queues behind both.
    runner.start(plan.clone(), "third", json!({ "ms": 10 })).await.unwrap();
    until(&runner, "first", |e| e.tasks["bill"].attempt == 2).await;
    let second = runner.get("second").await.unwrap();
    assert!(second.in_flight.is_empty(), "second still waits: first kept the key across the restart");
    for id in ["first", "second", "third"] {
        assert_eq!(runner.wait(id).await.unwrap().status, ExecStatus::Completed, "{id}");
    }
    // One at a time, in the order they asked.
    assert_eq!(
        bills(&tasks),
        [("first".to_string(), 1), ("first".to_string(), 2), ("second".to_string(), 1), ("third".to_string(), 1)]
    );
    let first = runner.get("first").await.unwrap();
    let second = runner.get("second").await.unwrap();
    assert!(second.tasks["bill"].started_at >= first.tasks["bill"].finished_at, "second started after first ended");
    assert!(first.tasks["bill"].lock.is_none() && second.tasks["bill"].lock.is_none(), "slots given back");
}

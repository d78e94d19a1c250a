//! The runner on its own: executions driven through a test task runner (a few actions
//! written in Rust) on a simulated clock, so that retries with delays of seconds, timeouts
//! of an hour and restarts take milliseconds of wall time. The clock is tokio's paused time:
//! it jumps to the next timer whenever every task waits.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use harmonia_engine::{Event, ExecStatus, Execution, Plan};
use harmonia_runner::{Clock, RunError, RunObserver, Runner, WorkflowDirs};
use harmonia_store::{MemStore, Store};
use serde_json::json;
use support::{SimClock, TestTasks, plan_of};

fn runner(tasks: &TestTasks, clock: &Arc<SimClock>, store: Arc<dyn Store>, plans: &[&Arc<Plan>]) -> Runner {
    let mut dirs = WorkflowDirs::default();
    for plan in plans {
        dirs.insert(plan.workflow.as_ref().clone());
    }
    Runner::new(tasks.clone(), Arc::new(dirs), clock.clone()).with_store(store)
}

/// When each event of the history happened, in simulated milliseconds since the start.
async fn times(runner: &Runner, id: &str, epoch: u64) -> Vec<(String, u64)> {
    let history = runner.history(id, 0, usize::MAX).await.unwrap();
    history
        .iter()
        .map(|event| {
            let value = serde_json::to_value(event).unwrap();
            (value["type"].as_str().unwrap().to_string(), value["at"].as_u64().unwrap_or(0).saturating_sub(epoch))
        })
        .collect()
}

const RETRIES: &str = r#"
name: retries
version: "1"
tasks:
  first: { component: test, action: echo, input: { n: 1 } }
  flaky:
    component: test
    action: flaky
    input: { succeed_on: 3 }
    retry: { max_attempts: 4, delay: 10s, backoff: exponential, factor: 2 }
    depends_on: [first]
output: "${tasks.flaky.output.attempt}"
"#;

#[tokio::test(start_paused = true)]
async fn retries_wait_their_delays_on_the_simulated_clock() {
    let (tasks, clock, plan) = (TestTasks::default(), SimClock::new(), plan_of(RETRIES));
    let runner = runner(&tasks, &clock, Arc::new(MemStore::new()), &[&plan]);
    let wall = std::time::Instant::now();
    let exec = runner.run(plan, "r1", json!({})).await.unwrap();
    assert_eq!(exec.status, ExecStatus::Completed, "{exec:#?}");
    assert_eq!(exec.output, Some(json!(3)), "the third attempt succeeded");
    assert_eq!(tasks.attempts_of("flaky"), [1, 2, 3]);
    // The failures were retried after 10 s, then 20 s (exponential), in simulated time: the
    // attempts' results came at those times.
    let results: Vec<u64> = times(&runner, "r1", clock.epoch_ms)
        .await
        .into_iter()
        .filter(|(kind, _)| kind == "call_failed" || kind == "call_succeeded")
        .map(|(_, at)| at)
        .collect();
    assert_eq!(results.len(), 4, "first, and flaky's three attempts: {results:?}");
    assert_eq!(results[2] - results[1], 10_000, "{results:?}");
    assert_eq!(results[3] - results[2], 20_000, "{results:?}");
    eprintln!("30 s of retries ran in {:?} of wall time", wall.elapsed());
}

const SLOW: &str = r#"
name: slow
version: "1"
timeout: 1h
tasks:
  nap: { component: test, action: sleep, input: { ms: 7200000 }, timeout: 3h }
"#;

#[tokio::test(start_paused = true)]
async fn an_execution_timeout_fires_on_its_timer_and_cancels_the_call() {
    let (tasks, clock, plan) = (TestTasks::default(), SimClock::new(), plan_of(SLOW));
    let runner = runner(&tasks, &clock, Arc::new(MemStore::new()), &[&plan]);
    let exec = runner.run(plan, "t1", json!({})).await.unwrap();
    assert_eq!(exec.status, ExecStatus::Failed, "{exec:#?}");
    assert_eq!(exec.error.as_ref().unwrap().kind, "timeout", "{:?}", exec.error);
    let ended = clock.now_ms() - clock.epoch_ms;
    assert_eq!(ended, 3_600_000, "the execution ended at its 1 h timeout, not when the 2 h call would have");
}

const TWO_STEPS: &str = r#"
name: two_steps
version: "1"
tasks:
  nap: { component: test, action: sleep, input: { ms: 60000 } }
  after: { component: test, action: echo, input: { slept: "${tasks.nap.output.slept}" }, depends_on: [nap] }
output: "${tasks.after.output.slept}"
"#;

#[tokio::test(start_paused = true)]
async fn an_unfinished_execution_resumes_from_the_store_after_a_restart() {
    let (tasks, clock, plan) = (TestTasks::default(), SimClock::new(), plan_of(TWO_STEPS));
    let store: Arc<dyn Store> = Arc::new(MemStore::new());
    let first = runner(&tasks, &clock, store.clone(), &[&plan]);
    first.start(plan.clone(), "s1", json!({})).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await; // the nap is running
    first.stop().await;
    drop(first);

    let second = runner(&tasks, &clock, store, &[&plan]);
    let recovery = second.recover().unwrap();
    assert_eq!((recovery.resumed, recovery.failed.len()), (1, 0));
    let exec = second.wait("s1").await.unwrap();
    assert_eq!(exec.status, ExecStatus::Completed, "{exec:#?}");
    assert_eq!(exec.output, Some(json!(60000)));
    assert_eq!(tasks.attempts_of("nap"), [1, 2], "the interrupted call ran again, with the next attempt number");
    assert_eq!(tasks.attempts_of("after"), [1]);
    let kinds: Vec<String> = times(&second, "s1", 0).await.into_iter().map(|(kind, _)| kind).collect();
    assert!(kinds.contains(&"recovered".to_string()), "{kinds:?}");
}

/// Panics in the driver when it sees a successful call, `times` times at most.
struct PanicOnSuccess {
    left: AtomicU32,
    panicked: AtomicBool,
}

impl RunObserver for PanicOnSuccess {
    fn event(&self, _exec: &Execution, event: &Event) {
        if matches!(event, Event::CallSucceeded { .. })
            && self.left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
        {
            self.panicked.store(true, Ordering::SeqCst);
            panic!("an observer's bug");
        }
    }
}

fn panicking(times: u32) -> Arc<PanicOnSuccess> {
    Arc::new(PanicOnSuccess { left: AtomicU32::new(times), panicked: AtomicBool::new(false) })
}

#[tokio::test(start_paused = true)]
async fn a_driver_that_panics_once_is_restarted_and_the_execution_completes() {
    let (tasks, clock, plan) = (TestTasks::default(), SimClock::new(), plan_of(TWO_STEPS));
    let observer = panicking(1);
    let runner = runner(&tasks, &clock, Arc::new(MemStore::new()), &[&plan]).with_observer(observer.clone());
    let exec = runner.run(plan, "p1", json!({})).await.unwrap();
    assert!(observer.panicked.load(Ordering::SeqCst));
    assert_eq!(exec.status, ExecStatus::Completed, "{exec:#?}");
    assert_eq!(exec.output, Some(json!(60000)));
    assert_eq!(tasks.attempts_of("nap"), [1], "the committed result was kept: the call did not run again");
}

const THREE_STEPS: &str = r#"
name: three_steps
version: "1"
tasks:
  nap: { component: test, action: sleep, input: { ms: 60000 } }
  after: { component: test, action: echo, input: { n: 2 }, depends_on: [nap] }
  last: { component: test, action: echo, input: { n: 3 }, depends_on: [after] }
output: "${tasks.last.output.n}"
"#;

#[tokio::test(start_paused = true)]
async fn a_driver_that_panics_again_fails_its_execution_instead_of_wedging_it() {
    let (tasks, clock, plan) = (TestTasks::default(), SimClock::new(), plan_of(THREE_STEPS));
    let runner = runner(&tasks, &clock, Arc::new(MemStore::new()), &[&plan]).with_observer(panicking(2));
    let exec = runner.run(plan, "p2", json!({})).await.unwrap();
    assert_eq!(exec.status, ExecStatus::Failed, "{exec:#?}");
    let error = exec.error.unwrap();
    assert_eq!(error.kind, "internal");
    assert!(error.message.contains("an observer's bug"), "{}", error.message);
    // And a user can run it again from its failed task.
    runner.retry("p2").await.unwrap();
    let retried = runner.wait("p2").await.unwrap();
    assert_eq!((retried.status, retried.output), (ExecStatus::Completed, Some(json!(3))));
}

#[tokio::test(start_paused = true)]
async fn a_workflow_naming_an_action_the_task_runner_lacks_is_refused() {
    let workflow = harmonia_model::parse_workflow(
        "name: w\nversion: \"1\"\ntasks:\n  a: { component: test, action: nope }\n",
        None,
    )
    .unwrap();
    let refused = harmonia_model::check_plugins(&workflow, &TestTasks::default()).unwrap_err();
    assert!(refused.to_string().contains("no test.nope"), "{refused}");
    // And the runner reports an execution it does not have as such.
    let runner = runner(&TestTasks::default(), &SimClock::new(), Arc::new(MemStore::new()), &[]);
    assert!(matches!(runner.get("absent").await, Err(RunError::Read(_))));
}

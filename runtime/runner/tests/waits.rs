//! Waiting tasks through the runner, on the test task runner and the simulated clock:
//! correlated events, timeouts, an event that came early, a restart while waiting with the
//! event sent meanwhile, a deferred choice, and signals.

mod support;

use std::sync::Arc;
use std::time::Duration;

use harmonia_engine::{ExecStatus, Execution, Plan, TaskStatus};
use harmonia_runner::events::lifecycle::Lifecycle;
use harmonia_runner::{Clock, CloudEvent, Runner, RunnerSettings, WorkflowDirs};
use harmonia_store::{MemStore, Store};
use serde_json::{Value, json};
use support::{SimClock, TestTasks, plan_of};

fn runner(tasks: &TestTasks, clock: &Arc<SimClock>, store: Arc<dyn Store>, plans: &[&Arc<Plan>]) -> Runner {
    let mut dirs = WorkflowDirs::default();
    for plan in plans {
        dirs.insert(plan.workflow.as_ref().clone());
    }
    let runner = Runner::new(tasks.clone(), Arc::new(dirs), clock.clone()).with_store(store);
    runner.follow_waits();
    runner
}

fn event(id: &str, kind: &str, correlation: Option<&str>, data: Value) -> CloudEvent {
    let mut event = CloudEvent::new(id, "/shop", kind);
    event.data = Some(data);
    if let Some(c) = correlation {
        event.extensions.insert("correlationid".into(), json!(c));
    }
    event
}

/// Waits (in simulated time) until `id` has a task in `status`.
async fn until_task(runner: &Runner, id: &str, task: &str, status: TaskStatus) -> Execution {
    for _ in 0..1000 {
        let exec = runner.get(id).await.unwrap();
        if exec.tasks[task].status == status {
            return exec;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{id}: task {task} never became {status:?}: {:#?}", runner.get(id).await.unwrap());
}

const ORDER: &str = r#"
name: order
version: "1"
input: { order: { type: string } }
tasks:
  paid:
    wait_for: { event: order.paid, correlate: "${input.order}" }
  ship: { component: test, action: echo, input: { amount: "${tasks.paid.output.data.amount}" }, depends_on: [paid] }
output: "${tasks.ship.output.amount}"
"#;

#[tokio::test(start_paused = true)]
async fn two_executions_waiting_on_one_type_each_get_their_own_event() {
    let (tasks, clock, plan) = (TestTasks::default(), SimClock::new(), plan_of(ORDER));
    let runner = runner(&tasks, &clock, Arc::new(MemStore::new()), &[&plan]);
    runner.start(plan.clone(), "o1", json!({ "order": "A" })).await.unwrap();
    runner.start(plan.clone(), "o2", json!({ "order": "B" })).await.unwrap();
    until_task(&runner, "o2", "paid", TaskStatus::Running).await;
    let accepted = runner
        .accept(vec![
            event("p1", "order.paid", Some("B"), json!({ "amount": 20 })),
            event("p2", "order.refunded", Some("A"), json!({ "amount": 99 })),
            event("p3", "order.paid", Some("A"), json!({ "amount": 10 })),
        ])
        .await
        .unwrap();
    assert_eq!(accepted.len(), 3);
    let (o1, o2) = (runner.wait("o1").await.unwrap(), runner.wait("o2").await.unwrap());
    assert_eq!((o1.status, o1.output), (ExecStatus::Completed, Some(json!(10))));
    assert_eq!((o2.status, o2.output), (ExecStatus::Completed, Some(json!(20))));
    // The task's output is the event, as accepted.
    assert_eq!(o1.tasks["paid"].output.as_ref().unwrap()["id"], "p3");
}

const TIMED: &str = r#"
name: timed
version: "1"
tasks:
  hard:
    wait_for: { event: never.comes }
    timeout: 1h
"#;

const LENIENT: &str = r#"
name: lenient
version: "1"
tasks:
  soft:
    wait_for: { event: never.comes, on_timeout: continue, default: { approved: false } }
    timeout: 30m
output: "${tasks.soft.output}"
"#;

#[tokio::test(start_paused = true)]
async fn a_wait_times_out_at_its_deadline_failing_or_going_on_with_its_default() {
    let (tasks, clock) = (TestTasks::default(), SimClock::new());
    let (timed, lenient) = (plan_of(TIMED), plan_of(LENIENT));
    let runner = runner(&tasks, &clock, Arc::new(MemStore::new()), &[&timed, &lenient]);
    let failed = runner.run(timed, "t1", json!({})).await.unwrap();
    assert_eq!(failed.status, ExecStatus::Failed);
    assert_eq!(failed.error.as_ref().unwrap().kind, "timeout", "{:?}", failed.error);
    assert_eq!(clock.now_ms() - clock.epoch_ms, 3_600_000, "failed at the 1 h deadline");
    let went_on = runner.run(lenient, "t2", json!({})).await.unwrap();
    assert_eq!((went_on.status, went_on.output), (ExecStatus::Completed, Some(json!({ "approved": false }))));
}

#[tokio::test(start_paused = true)]
async fn an_event_that_came_before_the_wait_is_found_in_the_log_within_the_look_back() {
    let (tasks, clock, plan) = (TestTasks::default(), SimClock::new(), plan_of(ORDER));
    let runner = runner(&tasks, &clock, Arc::new(MemStore::new()), &[&plan]);
    runner.accept(vec![event("old", "order.paid", Some("C"), json!({ "amount": 1 }))]).await.unwrap();
    tokio::time::sleep(Duration::from_secs(600)).await; // past the 5 min look-back
    runner.accept(vec![event("early", "order.paid", Some("C"), json!({ "amount": 7 }))]).await.unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;
    let exec = runner.run(plan, "o3", json!({ "order": "C" })).await.unwrap();
    assert_eq!(exec.output, Some(json!(7)), "the event a minute before the wait, not the one ten minutes before");
}

#[tokio::test(start_paused = true)]
async fn a_wait_survives_a_restart_and_gets_the_event_sent_while_the_server_was_down() {
    let (tasks, clock, plan) = (TestTasks::default(), SimClock::new(), plan_of(ORDER));
    let store: Arc<dyn Store> = Arc::new(MemStore::new());
    let first = runner(&tasks, &clock, store.clone(), &[&plan]);
    first.start(plan.clone(), "o4", json!({ "order": "D" })).await.unwrap();
    until_task(&first, "o4", "paid", TaskStatus::Running).await;
    first.stop().await;
    drop(first);
    // Down for an hour; the event arrives meanwhile (`harmonia event send --data`).
    tokio::time::sleep(Duration::from_secs(3600)).await;
    let now = clock.now_ms();
    harmonia_runner::events::append_offline(
        &store,
        vec![event("late", "order.paid", Some("D"), json!({ "amount": 5 }))],
        now,
    )
    .unwrap();
    let second = runner(&tasks, &clock, store, &[&plan]);
    assert_eq!(second.recover().unwrap().resumed, 1);
    let exec = second.wait("o4").await.unwrap();
    assert_eq!((exec.status, exec.output), (ExecStatus::Completed, Some(json!(5))));
}

const CHOICE: &str = r#"
name: choice
version: "1"
tasks:
  accepted: { wait_for: { event: offer.accepted } }
  declined: { wait_for: { event: offer.declined } }
  decide:
    component: test
    action: echo
    input: { accepted: "${tasks.accepted.status == 'succeeded'}" }
    depends_on: [accepted, declined]
    join: one
output: "${tasks.decide.output.accepted}"
"#;

#[tokio::test(start_paused = true)]
async fn a_deferred_choice_takes_the_first_event_and_withdraws_the_other_wait() {
    let (tasks, clock, plan) = (TestTasks::default(), SimClock::new(), plan_of(CHOICE));
    let runner = runner(&tasks, &clock, Arc::new(MemStore::new()), &[&plan]);
    runner.start(plan.clone(), "c1", json!({})).await.unwrap();
    until_task(&runner, "c1", "declined", TaskStatus::Running).await;
    runner.accept(vec![event("d", "offer.declined", None, json!({}))]).await.unwrap();
    let exec = runner.wait("c1").await.unwrap();
    assert_eq!((exec.status, exec.output.clone()), (ExecStatus::Completed, Some(json!(false))), "{exec:#?}");
    assert_eq!(exec.tasks["accepted"].status, TaskStatus::Cancelled, "the other wait was withdrawn");
    // An event for the withdrawn wait changes nothing now.
    runner.accept(vec![event("a", "offer.accepted", None, json!({}))]).await.unwrap();
    assert_eq!(runner.get("c1").await.unwrap(), exec);
}

const APPROVAL: &str = r#"
name: approval
version: "1"
tasks:
  approve: { wait_for: { signal: approve } }
  act: { component: test, action: echo, input: { by: "${tasks.approve.output.sender}", ok: "${tasks.approve.output.data.ok}" }, depends_on: [approve] }
output: "${tasks.act.output}"
"#;

#[tokio::test(start_paused = true)]
async fn a_signal_goes_to_its_execution_only() {
    let (tasks, clock, plan) = (TestTasks::default(), SimClock::new(), plan_of(APPROVAL));
    let runner = runner(&tasks, &clock, Arc::new(MemStore::new()), &[&plan]);
    runner.start(plan.clone(), "s1", json!({})).await.unwrap();
    runner.start(plan.clone(), "s2", json!({})).await.unwrap();
    until_task(&runner, "s2", "approve", TaskStatus::Running).await;
    let mut signal = CloudEvent::new("sig-1", "/api", harmonia_model::SIGNAL_TYPE);
    signal.subject = Some("approve".into());
    signal.data = Some(json!({ "ok": true }));
    signal.extensions.insert("executionid".into(), json!("s2"));
    signal.extensions.insert("sender".into(), json!("alice"));
    runner.accept(vec![signal]).await.unwrap();
    let s2 = runner.wait("s2").await.unwrap();
    assert_eq!(s2.output, Some(json!({ "by": "alice", "ok": true })));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(runner.get("s1").await.unwrap().tasks["approve"].status, TaskStatus::Running, "s1 still waits");
}

const SHIPPER: &str = r#"
name: shipper
version: "1"
input: { order: { type: string } }
tasks:
  ship:
    emit: { type: order.shipped, subject: "${input.order}", correlationid: "${input.order}", data: { carrier: post } }
output: "${tasks.ship.output}"
"#;

const CUSTOMER: &str = r#"
name: customer
version: "1"
input: { order: { type: string } }
tasks:
  shipped: { wait_for: { event: order.shipped, correlate: "${input.order}" } }
output: "${tasks.shipped.output.data.carrier}"
"#;

#[tokio::test(start_paused = true)]
async fn an_emit_task_puts_an_event_in_the_log_once_that_another_execution_waits_for() {
    let (tasks, clock) = (TestTasks::default(), SimClock::new());
    let (shipper, customer) = (plan_of(SHIPPER), plan_of(CUSTOMER));
    let store: Arc<dyn Store> = Arc::new(MemStore::new());
    let runner = runner(&tasks, &clock, store.clone(), &[&shipper, &customer]);
    runner.start(customer.clone(), "c", json!({ "order": "X-9" })).await.unwrap();
    until_task(&runner, "c", "shipped", TaskStatus::Running).await;
    let shipped = runner.run(shipper, "s", json!({ "order": "X-9" })).await.unwrap();
    assert_eq!(shipped.status, ExecStatus::Completed, "{shipped:#?}");
    assert_eq!(shipped.output.as_ref().unwrap()["duplicate"], false);
    let waited = runner.wait("c").await.unwrap();
    assert_eq!((waited.status, waited.output), (ExecStatus::Completed, Some(json!("post"))));
    let log = harmonia_runner::events::read_after(&*store, 0, 100).unwrap();
    let log: Vec<_> = log.into_iter().filter(|a| a.event.event_type == "order.shipped").collect();
    assert_eq!(log.len(), 1);
    let event = &log[0].event;
    assert_eq!((event.id.as_str(), event.source.as_str()), ("s/ship", "harmonia/workflows/shipper"));
    assert_eq!(event.subject.as_deref(), Some("X-9"));
    assert_eq!(event.execution_id().as_deref(), Some("s"));
}

#[tokio::test(start_paused = true)]
async fn lifecycle_events_go_into_the_log_with_the_steps_they_report() {
    let (tasks, clock, plan) = (TestTasks::default(), SimClock::new(), plan_of(ORDER));
    let store: Arc<dyn Store> = Arc::new(MemStore::new());
    let mut dirs = WorkflowDirs::default();
    dirs.insert(plan.workflow.as_ref().clone());
    let all = RunnerSettings { lifecycle_events: Lifecycle::All, ..RunnerSettings::default() };
    let runner = Runner::new(tasks.clone(), Arc::new(dirs), clock.clone()).with_store(store.clone()).with_settings(all);
    runner.follow_waits();
    runner.start(plan.clone(), "l1", json!({ "order": "L" })).await.unwrap();
    until_task(&runner, "l1", "paid", TaskStatus::Running).await;
    runner.accept(vec![event("pay", "order.paid", Some("L"), json!({ "amount": 3 }))]).await.unwrap();
    runner.wait("l1").await.unwrap();
    let log = harmonia_runner::events::read_after(&*store, 0, 100).unwrap();
    let kinds: Vec<(String, Option<String>)> = log
        .iter()
        .filter(|a| a.event.execution_id().as_deref() == Some("l1") && a.event.event_type.starts_with("harmonia."))
        .map(|a| (a.event.event_type.clone(), a.event.subject.clone()))
        .collect();
    let task = |kind: &str, task: &str| (kind.to_string(), Some(task.to_string()));
    assert_eq!(
        kinds,
        [
            ("harmonia.execution.started".to_string(), None),
            task("harmonia.task.started", "paid"),
            task("harmonia.task.completed", "paid"),
            task("harmonia.task.started", "ship"),
            task("harmonia.task.completed", "ship"),
            ("harmonia.execution.completed".to_string(), None),
        ]
    );
    // In order, after the event that ended the wait.
    let positions: Vec<u64> = log.iter().map(|a| a.seq).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
}

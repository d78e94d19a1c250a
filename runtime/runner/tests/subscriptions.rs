//! Subscriptions through the runner, on the test task runner and the simulated clock:
//! retries on the runner's clock with a growing wait, a dead letter for a failure that
//! retrying cannot mend (and the next event still delivered), a replaced subscription that
//! goes on where it was, and a restart that delivers what came meanwhile, once.

mod support;

use std::sync::Arc;
use std::time::Duration;

use harmonia_runner::events::deliveries::SubscriptionStatus;
use harmonia_runner::events::subscriptions::{self, Subscription};
use harmonia_runner::{CloudEvent, Runner, WorkflowDirs};
use harmonia_store::{MemStore, Store};
use serde_json::{Value, json};
use support::{SimClock, TestTasks};

async fn runner(tasks: &TestTasks, clock: &Arc<SimClock>, store: Arc<dyn Store>) -> Runner {
    let runner = Runner::new(tasks.clone(), Arc::new(WorkflowDirs::default()), clock.clone()).with_store(store);
    runner.follow_subscriptions(None).await.unwrap();
    runner
}

fn subscription(name: &str, definition: Value) -> Subscription {
    let mut definition = definition;
    definition["name"] = json!(name);
    serde_json::from_value(definition).unwrap()
}

fn event(id: &str, kind: &str, data: Value) -> CloudEvent {
    let mut event = CloudEvent::new(id, "/shop", kind);
    event.data = Some(data);
    event
}

/// The subscription's state once `done` holds of it (in simulated time).
async fn until(runner: &Runner, name: &str, done: impl Fn(&SubscriptionStatus) -> bool) -> SubscriptionStatus {
    for _ in 0..10_000 {
        let status = runner.subscription_status(name).await.unwrap();
        if done(&status) {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("subscription {name} is still {:?}", runner.subscription_status(name).await.unwrap());
}

#[tokio::test(start_paused = true)]
async fn a_failed_delivery_is_tried_again_after_growing_waits_on_the_runner_clock() {
    let (tasks, clock) = (TestTasks::default(), SimClock::new());
    let runner = runner(&tasks, &clock, Arc::new(MemStore::new())).await;
    let definition = json!({ "types": ["order.*"], "destination": { "plugin": { "plugin": "test", "action": "flaky" } },
        "retry": { "max_attempts": 5, "delay": "1s", "factor": 2 } });
    runner.put_subscription(subscription("bus", definition)).await.unwrap();
    runner.accept(vec![event("o-1", "order.created", json!({ "succeed_on": 3 }))]).await.unwrap();

    let status = until(&runner, "bus", |s| s.state.delivered == 1).await;
    let last = status.state.last.unwrap();
    let at: Vec<u64> = last.attempts.iter().map(|a| a.at).collect();
    assert_eq!((at[1] - at[0], at[2] - at[1]), (1000, 2000), "waits of 1 s, then 2 s: {at:?}");
    assert_eq!(last.attempts.iter().filter(|a| a.error.is_some()).count(), 2);
    assert_eq!(tasks.attempts_of("subscription:bus"), [1, 2, 3]);
    assert!(status.retrying.is_none());
}

#[tokio::test(start_paused = true)]
async fn a_failure_retrying_cannot_mend_is_a_dead_letter_at_once_and_the_next_event_still_goes() {
    let (tasks, clock) = (TestTasks::default(), SimClock::new());
    let store: Arc<dyn Store> = Arc::new(MemStore::new());
    let runner = runner(&tasks, &clock, store.clone()).await;
    let definition = json!({ "types": ["order.*"], "filter": "${event.data.action != 'skip'}",
        "destination": { "plugin": { "plugin": "test", "action": "fatal" } } });
    runner.put_subscription(subscription("strict", definition)).await.unwrap();
    runner.accept(vec![event("o-1", "order.created", json!({ "action": "fatal" }))]).await.unwrap();
    let status = until(&runner, "strict", |s| s.state.dead_letters == 1).await;
    let last = status.state.last.unwrap();
    assert_eq!(last.attempts.len(), 1, "a fatal failure is not retried");
    assert_eq!(last.attempts[0].error.as_deref(), Some("fatal: this action always fails"));
    let dead = subscriptions::dead_letters(&*store, "strict", 0, 10).unwrap();
    assert_eq!((dead.len(), dead[0].event.id.as_str()), (1, "o-1"));

    // Replaced by one that calls an action that works: it goes on after the dead letter.
    let definition = json!({ "types": ["order.*"], "filter": "${event.data.action != 'skip'}",
        "destination": { "plugin": { "plugin": "test", "action": "echo" } } });
    runner.put_subscription(subscription("strict", definition)).await.unwrap();
    runner
        .accept(vec![
            event("o-2", "order.created", json!({ "action": "skip" })),
            event("o-3", "order.created", json!({ "action": "echo" })),
        ])
        .await
        .unwrap();
    let status = until(&runner, "strict", |s| s.state.delivered == 1).await;
    assert_eq!((status.state.after, status.state.dead_letters), (3, 1));
    let echoed: Vec<String> = tasks.calls().into_iter().map(|c| c.action).collect();
    assert_eq!(echoed, ["fatal", "echo"], "o-1 once, o-2 filtered out, o-3 delivered");
}

#[tokio::test(start_paused = true)]
async fn after_a_restart_a_subscription_delivers_what_came_meanwhile_once() {
    let (tasks, clock) = (TestTasks::default(), SimClock::new());
    let store: Arc<dyn Store> = Arc::new(MemStore::new());
    let first = runner(&tasks, &clock, store.clone()).await;
    let definition = json!({ "destination": { "plugin": { "plugin": "test", "action": "echo" } } });
    first.put_subscription(subscription("copy", definition)).await.unwrap();
    first.accept(vec![event("a", "t", json!(1))]).await.unwrap();
    until(&first, "copy", |s| s.state.delivered == 1).await;
    first.stop().await;

    // Events accepted while nothing delivers (the server was down).
    harmonia_runner::events::append_offline(&store, vec![event("b", "t", json!(2)), event("c", "t", json!(3))], 0)
        .unwrap();
    let second = runner(&tasks, &clock, store.clone()).await;
    let status = until(&second, "copy", |s| s.state.delivered == 3).await;
    assert_eq!(status.state.after, 3);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(tasks.calls().len(), 3, "each event once: {:?}", tasks.calls());
}

const ONE_STEP: &str = r#"
name: one
version: "1"
tasks:
  echo: { component: test, action: echo, input: { x: 1 } }
"#;

#[tokio::test(start_paused = true)]
async fn by_default_lifecycle_events_are_written_only_once_a_subscription_wants_them() {
    let (tasks, clock) = (TestTasks::default(), SimClock::new());
    let store: Arc<dyn Store> = Arc::new(MemStore::new());
    let runner = runner(&tasks, &clock, store.clone()).await;
    let plan = support::plan_of(ONE_STEP);
    runner.run(plan.clone(), "before", json!({})).await.unwrap();
    assert_eq!(harmonia_runner::events::last_seq(&*store).unwrap(), 0, "nobody wants them: none written");

    let definition = json!({ "types": ["harmonia.execution.completed"],
        "destination": { "plugin": { "plugin": "test", "action": "echo" } } });
    runner.put_subscription(subscription("done", definition)).await.unwrap();
    runner.run(plan, "after", json!({})).await.unwrap();
    let log = harmonia_runner::events::read_after(&*store, 0, 10).unwrap();
    let types: Vec<&str> = log.iter().map(|a| a.event.event_type.as_str()).collect();
    assert_eq!(types, ["harmonia.execution.completed"], "only the type wanted");
    assert_eq!(log[0].event.execution_id().as_deref(), Some("after"));
    until(&runner, "done", |s| s.state.delivered == 1).await;
}

#[tokio::test(start_paused = true)]
async fn stored_subscriptions_want_lifecycle_events_from_before_delivery_starts() {
    let (tasks, clock) = (TestTasks::default(), SimClock::new());
    let store: Arc<dyn Store> = Arc::new(MemStore::new());
    let first = runner(&tasks, &clock, store.clone()).await;
    let definition = json!({ "types": ["harmonia.execution.completed"],
        "destination": { "plugin": { "plugin": "test", "action": "echo" } } });
    first.put_subscription(subscription("done", definition)).await.unwrap();
    first.stop().await;

    // A restart: the subscriptions are read before recovery, delivery starts after it; what
    // runs in between (a resumed execution) already writes the events they want.
    let second = Runner::new(tasks.clone(), Arc::new(WorkflowDirs::default()), clock.clone()).with_store(store.clone());
    second.load_subscriptions().await.unwrap();
    second.run(support::plan_of(ONE_STEP), "resumed", json!({})).await.unwrap();
    let log = harmonia_runner::events::read_after(&*store, 0, 10).unwrap();
    assert_eq!(log.iter().map(|a| a.event.event_type.as_str()).collect::<Vec<_>>(), ["harmonia.execution.completed"]);
    assert!(tasks.calls().iter().all(|c| c.action == "echo" && c.task != "subscription:done"), "not delivered yet");
    second.follow_subscriptions(None).await.unwrap();
    until(&second, "done", |s| s.state.delivered == 1).await;
}

//! Failures: retries and their delays, timeouts, continue, fallbacks, on_failure,
//! expression errors.

use harmonia_engine::{Event, ExecStatus, TaskStatus, TimerId};
use serde_json::json;

use crate::sim::{Sim, call};

const RETRY: &str = r#"
name: retry
version: 1
tasks:
  flaky:
    component: core
    action: fail
    retry: { max_attempts: 4, delay: 1s, backoff: exponential, factor: 2, max_delay: 3s }
"#;

#[test]
fn retryable_errors_are_retried_with_exponential_delays() {
    let mut sim = Sim::started(RETRY, json!({}));
    let mut delays = vec![];
    for attempt in 1..=3 {
        assert_eq!(sim.attempt_of("flaky"), attempt);
        sim.fail("flaky", "retryable", "try again");
        assert_eq!(sim.status("flaky"), TaskStatus::Waiting);
        let (_, due) = sim.exec.retrying[&call("flaky")];
        delays.push(due - sim.now);
        sim.advance(due - sim.now);
    }
    assert_eq!(delays, [1000, 2000, 3000], "1s, 2s, then capped at 3s");
    assert_eq!(sim.attempt_of("flaky"), 4);
    sim.succeed("flaky", json!("finally"));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
}

#[test]
fn the_last_attempt_failing_fails_the_execution() {
    let mut sim = Sim::started(RETRY, json!({}));
    for _ in 1..=3 {
        sim.fail("flaky", "timeout", "slow");
        sim.advance(5_000);
    }
    sim.fail("flaky", "retryable", "still broken");
    assert_eq!(sim.exec_status(), ExecStatus::Failed);
    let error = sim.exec.error.clone().unwrap();
    assert_eq!((error.kind.as_str(), error.task.as_deref()), ("retryable", Some("flaky")));
}

#[test]
fn fatal_errors_are_not_retried_unless_retry_on_says_so() {
    let mut sim = Sim::started(RETRY, json!({}));
    sim.fail("flaky", "fatal", "broken");
    assert_eq!(sim.exec_status(), ExecStatus::Failed);
    assert!(sim.exec.retrying.is_empty());

    let yaml = RETRY.replace("max_delay: 3s }", "max_delay: 3s, retry_on: [fatal] }");
    let mut sim = Sim::started(&yaml, json!({}));
    sim.fail("flaky", "fatal", "broken");
    assert_eq!(sim.status("flaky"), TaskStatus::Waiting);
}

#[test]
fn retry_delays_with_jitter_stay_within_bounds() {
    let yaml = r#"
name: jitter
version: 1
tasks:
  each:
    component: core
    action: fail
    for_each: "${input.items}"
    concurrency: 100
    retry: { max_attempts: 2, delay: 10s, jitter: 0.5 }
"#;
    let items: Vec<u32> = (0..100).collect();
    let mut sim = Sim::started(yaml, json!({"items": items}));
    for i in 0..100 {
        sim.fail(&format!("each[{i}]"), "retryable", "x");
    }
    let delays: Vec<u64> = sim.exec.retrying.values().map(|(_, due)| due - sim.now).collect();
    assert_eq!(delays.len(), 100);
    assert!(delays.iter().all(|d| (5_000..=15_000).contains(d)), "{delays:?}");
    let distinct: std::collections::BTreeSet<_> = delays.iter().collect();
    assert!(distinct.len() > 50, "jitter spreads the retries");
}

#[test]
fn a_timeout_during_a_retry_delay_fails_the_execution() {
    let yaml = r#"
name: deadline
version: 1
timeout: 5s
tasks:
  flaky: { component: core, action: fail, retry: { max_attempts: 3, delay: 10s } }
"#;
    let mut sim = Sim::started(yaml, json!({}));
    sim.fail("flaky", "retryable", "x");
    assert_eq!(sim.status("flaky"), TaskStatus::Waiting);
    sim.advance(5_000);
    assert_eq!(sim.exec_status(), ExecStatus::Failed);
    assert_eq!(sim.exec.error.as_ref().unwrap().kind, "timeout");
    assert_eq!(sim.status("flaky"), TaskStatus::Cancelled);
    // The retry timer fires later and is ignored.
    sim.advance(10_000);
    assert_eq!(sim.count(|e| matches!(e, Event::TimerFired { timer: TimerId::Retry { .. }, .. })), 0);
    assert_eq!(sim.count(|e| matches!(e, Event::CallStarted { .. })), 1);
}

#[test]
fn continue_lets_dependants_run_with_the_error_as_output() {
    let yaml = r#"
name: cont
version: 1
tasks:
  risky: { component: core, action: fail, on_error: continue }
  next: { component: core, action: echo, depends_on: [risky], input: { status: "${tasks.risky.status}", why: "${tasks.risky.output.message}" } }
"#;
    let mut sim = Sim::started(yaml, json!({}));
    sim.fail("risky", "fatal", "disk on fire");
    assert_eq!(sim.status("risky"), TaskStatus::Failed);
    assert_eq!(sim.input_of("next"), json!({"status": "failed", "why": "disk on fire"}));
    sim.succeed("next", json!(1));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
}

const FALLBACK: &str = r#"
name: fb
version: 1
tasks:
  primary: { component: core, action: fail, on_error: { fallback: backup } }
  backup: { component: core, action: echo, input: { because: "${failure.message}" } }
  after: { component: core, action: echo, depends_on: [primary], input: "${tasks.primary.output}" }
"#;

#[test]
fn a_fallback_stands_in_for_a_failed_task() {
    let mut sim = Sim::started(FALLBACK, json!({}));
    assert_eq!(sim.running(), ["primary"], "a fallback does not run on its own");
    sim.fail("primary", "fatal", "primary down");
    assert_eq!(sim.running(), ["backup"]);
    assert_eq!(sim.input_of("backup"), json!({"because": "primary down"}));
    sim.succeed("backup", json!({"from": "backup"}));
    assert_eq!(sim.status("primary"), TaskStatus::Succeeded);
    assert_eq!(sim.input_of("after"), json!({"from": "backup"}));
    sim.succeed("after", json!(1));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
}

#[test]
fn a_fallback_that_itself_fails_fails_the_execution() {
    let mut sim = Sim::started(FALLBACK, json!({}));
    sim.fail("primary", "fatal", "primary down");
    sim.fail("backup", "fatal", "backup down too");
    assert_eq!(sim.exec_status(), ExecStatus::Failed);
    let error = sim.exec.error.clone().unwrap();
    assert_eq!(error.kind, "fallback_failed");
    assert!(error.message.contains("primary") && error.message.contains("backup down too"), "{error}");
    assert_eq!(sim.status("after"), TaskStatus::Cancelled, "never ran");
    assert_eq!(sim.exec.task("after").reason.as_deref(), Some("never started: the execution failed"));
    assert_eq!(sim.status("backup"), TaskStatus::Failed);
}

#[test]
fn on_failure_runs_and_sees_the_failure() {
    let yaml = r#"
name: onf
version: 1
tasks:
  a: { component: core, action: fail }
  b: { component: core, action: sleep }
on_failure: { component: core, action: echo, input: { failed: "${failure.task}", why: "${failure.message}" } }
"#;
    let mut sim = Sim::started(yaml, json!({}));
    sim.fail("a", "fatal", "boom");
    assert_eq!(sim.status("b"), TaskStatus::Cancelled, "other calls stop");
    assert_eq!(sim.cancelled, [call("b")]);
    assert_eq!(sim.exec_status(), ExecStatus::Running, "failing while on_failure runs");
    assert_eq!(sim.input_of("on_failure"), json!({"failed": "a", "why": "boom"}));
    sim.succeed("on_failure", json!("notified"));
    assert_eq!(sim.exec_status(), ExecStatus::Failed);
    assert_eq!(sim.exec.error.as_ref().unwrap().message, "boom");
    assert_eq!(sim.output("on_failure"), json!("notified"));
}

#[test]
fn an_expression_error_fails_the_task_naming_task_and_expression() {
    let yaml = r#"
name: expr
version: 1
tasks:
  a: { component: core, action: echo }
  b: { component: core, action: echo, depends_on: [a], input: { x: "${tasks.a.output.missing.deeper}" } }
"#;
    let mut sim = Sim::started(yaml, json!({}));
    sim.succeed("a", json!({}));
    assert_eq!(sim.exec_status(), ExecStatus::Failed);
    let error = sim.exec.error.clone().unwrap();
    assert_eq!(error.kind, "expression");
    assert!(error.message.contains("task b") && error.message.contains("tasks.a.output.missing.deeper"), "{error}");
}

#[test]
fn a_for_each_item_whose_input_fails_to_render_ends_the_task_once() {
    let yaml = r#"
name: fe_bad_item
version: 1
input: { items: { type: array } }
tasks:
  each:
    component: core
    action: echo
    for_each: "${input.items}"
    concurrency: 2
    input: { name: "${item.name}" }
  after: { component: core, action: echo, depends_on: [each] }
"#;
    let sim = Sim::started(yaml, json!({"items": [{"name": "a"}, {"nom": "b"}, {"name": "c"}]}));
    assert_eq!(sim.status("each"), TaskStatus::Failed);
    assert_eq!(sim.count(|e| matches!(e, Event::TaskFailed { .. })), 1);
    assert!(sim.exec.task("each").error.as_ref().unwrap()["message"].as_str().unwrap().contains("item 1"));
    // By default the first item to fail fails the task: the item already running is
    // stopped, the last one never starts, and the execution fails.
    assert_eq!(sim.cancelled, [call("each[0]")]);
    assert!(!sim.calls.contains_key(&call("each[2]")));
    assert_eq!(sim.exec_status(), ExecStatus::Failed);
    assert_eq!(sim.status("after"), TaskStatus::Cancelled);
}

#[test]
fn a_fallback_stops_the_failed_tasks_other_calls() {
    let yaml = r#"
name: fe_fallback
version: 1
tasks:
  each:
    component: core
    action: fail
    for_each: "${[1, 2, 3]}"
    concurrency: 2
    retry: { max_attempts: 3, delay: 1s }
    on_error: { fallback: backup }
  backup: { component: core, action: echo }
"#;
    let mut sim = Sim::started(yaml, json!({}));
    sim.fail("each[1]", "retryable", "busy");
    sim.fail("each[0]", "fatal", "broken");
    assert_eq!(sim.status("each"), TaskStatus::Recovering);
    assert_eq!(sim.running(), ["backup"]);
    assert!(sim.exec.retrying.is_empty() && sim.exec.queue.is_empty());
    sim.advance(5_000); // the retry timer of item 1 fires, and is ignored
    assert_eq!(sim.running(), ["backup"]);
    sim.succeed("backup", json!("ok"));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
    assert_eq!(sim.output("each"), json!("ok"));
}

#[test]
fn a_queued_call_that_fails_to_render_runs_its_fallback_once() {
    let yaml = r#"
name: queued
version: 1
max_parallel: 1
tasks:
  a: { component: core, action: echo }
  b: { component: core, action: echo, input: { x: "${input.missing.x}" }, on_error: { fallback: fb } }
  fb: { component: core, action: echo }
"#;
    let mut sim = Sim::started(yaml, json!({}));
    assert_eq!(sim.running(), ["a"]);
    sim.succeed("a", json!(1));
    assert_eq!(sim.running(), ["fb"]);
    sim.succeed("fb", json!(2));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
    assert_eq!(sim.output("b"), json!(2));
}

#[test]
fn an_xor_join_that_cancels_a_recovering_task_cancels_its_fallback() {
    let yaml = r#"
name: xor_fallback
version: 1
tasks:
  a: { component: core, action: fail, on_error: { fallback: fa } }
  fa: { component: core, action: echo }
  b: { component: core, action: echo }
  c: { component: core, action: echo, depends_on: [a, b], join: one }
  d: { component: core, action: echo, depends_on: [c] }
"#;
    let mut sim = Sim::started(yaml, json!({}));
    sim.fail("a", "fatal", "down");
    assert_eq!(sim.running(), ["b", "fa"]);
    sim.succeed("b", json!("b"));
    assert_eq!(sim.status("a"), TaskStatus::Cancelled);
    assert_eq!(sim.status("fa"), TaskStatus::Cancelled);
    assert!(sim.cancelled.contains(&call("fa")));
    assert_eq!(sim.succeed("fa", json!("late")), 0, "the cancelled fallback's result is ignored");
    sim.succeed("c", json!("c"));
    assert_eq!(sim.exec_status(), ExecStatus::Running, "d still runs");
    sim.succeed("d", json!("d"));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
}

#[test]
fn on_failure_is_retried_by_its_own_policy() {
    let yaml = r#"
name: onf_retry
version: 1
tasks:
  a: { component: core, action: fail }
on_failure: { component: core, action: echo, retry: { max_attempts: 2, delay: 1s } }
"#;
    let mut sim = Sim::started(yaml, json!({}));
    sim.fail("a", "fatal", "boom");
    sim.fail("on_failure", "retryable", "notifier busy");
    sim.advance(1_000);
    assert_eq!(sim.attempt_of("on_failure"), 2);
    sim.succeed("on_failure", json!("sent"));
    assert_eq!(sim.exec_status(), ExecStatus::Failed);
    assert_eq!(sim.exec.error.as_ref().unwrap().message, "boom");
}

//! Picking an execution up again: after a restart (`Recovered`) and after a rollback to a
//! checkpoint (`Restored`).

use harmonia_engine::{Command, Event, ExecStatus, TaskStatus, TimerId};
use serde_json::json;

use crate::sim::{Sim, call};

const CHAIN: &str = r#"
name: chain
version: 1
timeout: 1m
tasks:
  a: { component: core, action: echo, input: { n: 1 } }
  b: { component: core, action: echo, input: { n: "${tasks.a.output.n + 1}" }, depends_on: [a],
       retry: { max_attempts: 3, delay: 10s } }
  c: { component: core, action: echo, input: { n: "${tasks.b.output.n + 1}" }, depends_on: [b] }
"#;

fn key_of(sim: &Sim, spec: &str) -> String {
    match &sim.calls[&call(spec)].1 {
        Command::RunCall { idempotency_key, .. } => idempotency_key.clone(),
        other => panic!("not a call: {other:?}"),
    }
}

#[test]
fn a_call_in_flight_at_a_restart_runs_again_with_the_next_attempt_and_the_same_key() {
    let mut sim = Sim::started(CHAIN, json!({}));
    sim.succeed("a", json!({ "n": 1 }));
    let key = key_of(&sim, "b");
    assert_eq!(sim.attempt_of("b"), 1);

    sim.timers.clear(); // a restart loses every timer the driver had
    sim.feed(Event::Recovered { at: sim.now });
    assert_eq!(sim.attempt_of("b"), 2);
    assert_eq!(key_of(&sim, "b"), key, "plugins deduplicate on the key: it must not change");
    assert_eq!(sim.input_of("b"), json!({ "n": 2 }));
    let timeout = sim.timers.iter().find(|(t, _)| *t == TimerId::ExecutionTimeout).expect("the deadline is set again");
    assert_eq!(timeout.1, 1_000_000 + 60_000, "from the start, not from the restart");

    // The result of the attempt that was cut off, should it still come, changes nothing.
    let late = Event::CallSucceeded { call: call("b"), attempt: 1, output: json!({ "n": 99 }), at: sim.now };
    assert_eq!(sim.feed(late), 0);
    sim.succeed("b", json!({ "n": 2 }));
    sim.succeed("c", json!({ "n": 3 }));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
    assert_eq!(sim.output("c"), json!({ "n": 3 }));
    assert_eq!(
        sim.count(|e| matches!(e, Event::CallStarted { call, .. } if call.task == "a")),
        1,
        "a is not run again"
    );
}

#[test]
fn a_retry_that_fell_due_while_down_fires_at_once() {
    let mut sim = Sim::started(CHAIN, json!({}));
    sim.succeed("a", json!({ "n": 1 }));
    sim.fail("b", "retryable", "busy");
    let (attempt, due) = sim.exec.retrying[&call("b")];
    assert_eq!(attempt, 2);
    sim.timers.clear();
    sim.now = due + 30_000; // down for longer than the delay
    sim.feed(Event::Recovered { at: sim.now });
    assert!(sim.running().is_empty(), "nothing was in flight");
    sim.advance(0);
    assert_eq!(sim.running(), ["b"]);
    assert_eq!(sim.attempt_of("b"), 2, "the retry keeps its own attempt number");
}

#[test]
fn a_paused_execution_stays_paused_and_its_interrupted_call_waits_for_resume() {
    let mut sim = Sim::started(CHAIN, json!({}));
    sim.feed(Event::Paused { at: sim.now });
    sim.feed(Event::Recovered { at: sim.now });
    assert_eq!(sim.exec_status(), ExecStatus::Paused);
    assert!(sim.running().is_empty(), "nothing starts while paused");
    assert_eq!(sim.status("a"), TaskStatus::Running, "a keeps its place: it was started before the pause");
    sim.feed(Event::Resumed { at: sim.now });
    assert_eq!(sim.running(), ["a"]);
    assert_eq!(sim.attempt_of("a"), 2);
}

#[test]
fn interrupted_items_of_a_for_each_run_again_within_its_concurrency() {
    let yaml = r#"
name: fan
version: 1
tasks:
  each:
    component: core
    action: echo
    for_each: "${[1, 2, 3, 4, 5]}"
    concurrency: 2
    input: { n: "${item}" }
"#;
    let mut sim = Sim::started(yaml, json!({}));
    sim.succeed("each[0]", json!(1));
    assert_eq!(sim.running(), ["each[1]", "each[2]"]);
    sim.feed(Event::Recovered { at: sim.now });
    assert_eq!(sim.running(), ["each[1]", "each[2]"], "the same items, no new ones");
    assert_eq!((sim.attempt_of("each[1]"), sim.attempt_of("each[2]")), (2, 2));
    for i in 1..5 {
        sim.succeed(&format!("each[{i}]"), json!(i + 1));
    }
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
    assert_eq!(sim.output("each"), json!([1, 2, 3, 4, 5]));
}

#[test]
fn restoring_a_checkpoint_rolls_back_and_runs_the_rest_again() {
    let mut sim = Sim::started(CHAIN, json!({}));
    sim.succeed("a", json!({ "n": 1 }));
    let checkpoint = sim.exec.clone(); // a running, b in flight
    let at_seq = checkpoint.seq;
    sim.succeed("b", json!({ "n": 2 }));
    sim.succeed("c", json!({ "n": 3 }));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);

    sim.feed(Event::Restored { checkpoint: at_seq, state: Box::new(checkpoint), at: sim.now });
    assert_eq!(sim.exec_status(), ExecStatus::Running, "a finished execution runs again");
    assert_eq!(sim.status("c"), TaskStatus::Pending);
    assert_eq!(sim.running(), ["b"]);
    assert_eq!(sim.attempt_of("b"), 2);
    assert!(sim.exec.seq > at_seq, "the rollback is an event after the others, not a rewrite");
    sim.succeed("b", json!({ "n": 20 }));
    sim.succeed("c", json!({ "n": 21 }));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
    assert_eq!(sim.exec.output, Some(json!({ "c": { "n": 21 } })));
}

#[test]
fn restoring_while_running_cancels_the_calls_in_flight() {
    let mut sim = Sim::started(CHAIN, json!({}));
    let checkpoint = sim.exec.clone(); // a in flight
    sim.succeed("a", json!({ "n": 1 }));
    assert_eq!(sim.running(), ["b"]);
    sim.feed(Event::Restored { checkpoint: checkpoint.seq, state: Box::new(checkpoint), at: sim.now });
    assert_eq!(sim.cancelled, [call("b")]);
    assert_eq!(sim.running(), ["a"]);
    assert_eq!(sim.status("b"), TaskStatus::Pending);
    let late = Event::CallSucceeded { call: call("b"), attempt: 1, output: json!({ "n": 5 }), at: sim.now };
    assert_eq!(sim.feed(late), 0, "the cancelled call's result is ignored");
}

//! Retrying a failed execution (`Retried`): it runs again from the tasks that did not
//! succeed, keeping what did. Sim checks the replay and the invariants after every step.

use harmonia_engine::{ChangeError, Command, Event, ExecStatus, TaskStatus, TimerId, check_change, check_retry};
use serde_json::{Value, json};

use crate::sim::{Sim, call};

const CHAIN: &str = r#"
name: chain
version: 1
tasks:
  a: { component: core, action: echo, input: { n: 1 } }
  b: { component: core, action: echo, input: { n: "${tasks.a.output.n + 1}" }, depends_on: [a] }
  c: { component: core, action: echo, input: { n: "${tasks.b.output.n + 1}" }, depends_on: [b] }
"#;

fn retry(sim: &mut Sim) -> usize {
    sim.feed(Event::Retried { at: sim.now })
}

fn key_of(sim: &Sim, spec: &str) -> String {
    match &sim.calls[&call(spec)].1 {
        Command::RunCall { idempotency_key, .. } | Command::RunChild { idempotency_key, .. } => idempotency_key.clone(),
        other => panic!("not a call: {other:?}"),
    }
}

/// The types of the events after the first `from` of the history.
fn kinds(sim: &Sim, from: usize) -> Vec<String> {
    sim.history[from..].iter().map(|e| serde_json::to_value(e).unwrap()["type"].as_str().unwrap().to_string()).collect()
}

fn starts(sim: &Sim, spec: &str) -> usize {
    let c = call(spec);
    sim.count(|e| matches!(e, Event::CallStarted { call, .. } if *call == c))
}

fn reset_tasks(sim: &Sim) -> Vec<String> {
    sim.history
        .iter()
        .filter_map(|e| if let Event::TaskReset { task } = e { Some(task.clone()) } else { None })
        .collect()
}

#[test]
fn a_failed_chain_runs_again_from_the_failed_task() {
    let mut sim = Sim::started(CHAIN, json!({}));
    sim.succeed("a", json!({ "n": 1 }));
    let key = key_of(&sim, "b");
    sim.fail("b", "fatal", "down");
    assert_eq!(sim.exec_status(), ExecStatus::Failed);
    assert!(sim.finished);
    assert_eq!(sim.status("c"), TaskStatus::Cancelled, "c was never ready");
    assert_eq!(sim.exec.task("c").reason.as_deref(), Some("never started: the execution failed"));

    sim.finished = false;
    let before = sim.history.len();
    assert_eq!(check_retry(&sim.exec), Ok(()));
    retry(&mut sim);
    assert_eq!(kinds(&sim, before), ["retried", "task_reset", "task_reset", "call_started"]);
    assert_eq!(reset_tasks(&sim), ["b", "c"], "c, cancelled before it started, is pending again");
    assert_eq!(sim.status("c"), TaskStatus::Pending);
    assert_eq!(sim.exec.task("c").reason, None);
    assert_eq!(sim.exec_status(), ExecStatus::Running);
    assert_eq!((sim.exec.error.clone(), sim.exec.finished_at), (None, None));
    assert_eq!(sim.exec.retried_at, Some(sim.now));
    assert_eq!(sim.running(), ["b"]);
    assert_eq!(sim.attempt_of("b"), 2, "a new attempt");
    assert_eq!(key_of(&sim, "b"), key, "under the same idempotency key");
    assert_eq!(sim.input_of("b"), json!({ "n": 2 }), "from a's kept output");
    assert_eq!(sim.exec.task("b").error, None);

    // The failed attempt's result, should it come late, changes nothing.
    let late = Event::CallSucceeded { call: call("b"), attempt: 1, output: json!({ "n": 99 }), at: sim.now };
    assert_eq!(sim.feed(late), 0);
    sim.succeed("b", json!({ "n": 2 }));
    assert_eq!(sim.running(), ["c"]);
    assert_eq!(sim.attempt_of("c"), 1, "c never ran: its first attempt");
    sim.succeed("c", json!({ "n": 3 }));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
    assert!(sim.finished);
    assert_eq!(sim.exec.output, Some(json!({ "c": { "n": 3 } })));
    assert_eq!(starts(&sim, "a"), 1, "a is not run again");
    assert_eq!(reset_tasks(&sim), ["b", "c"]);
}

#[test]
fn a_retry_is_refused_unless_the_execution_failed() {
    let mut sim = Sim::started(CHAIN, json!({}));
    let refused = |sim: &Sim| check_retry(&sim.exec).expect_err("refused");
    let error = refused(&sim);
    assert_eq!(error.code(), "not_failed");
    assert_eq!(error.to_string(), "execution exec-1 is running: only a failed execution can be retried");
    assert_eq!(retry(&mut sim), 0, "ignored while running");
    assert_eq!(check_change(&sim.plan, &sim.exec, &Event::Retried { at: 0 }), Err(error), "check_change says the same");

    sim.feed(Event::Paused { at: sim.now });
    assert_eq!(refused(&sim), ChangeError::NotFailed { execution: "exec-1".into(), status: ExecStatus::Paused });
    assert_eq!(retry(&mut sim), 0);
    sim.feed(Event::Resumed { at: sim.now });

    sim.succeed("a", json!({ "n": 1 }));
    sim.succeed("b", json!({ "n": 2 }));
    sim.succeed("c", json!({ "n": 3 }));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
    assert_eq!(refused(&sim).to_string(), "execution exec-1 is completed: only a failed execution can be retried");
    assert_eq!(retry(&mut sim), 0, "a completed execution is not run again");
    assert_eq!(sim.exec_status(), ExecStatus::Completed);

    let mut sim = Sim::started(CHAIN, json!({}));
    sim.feed(Event::Cancelled { reason: "no longer needed".into(), at: sim.now });
    let error = refused(&sim);
    assert_eq!(error.code(), "not_failed");
    assert!(
        error.to_string().starts_with("execution exec-1 is cancelled: only a failed execution can be retried"),
        "{error}"
    );
    assert_eq!(retry(&mut sim), 0, "a cancelled execution was stopped on purpose");
    assert_eq!(sim.exec_status(), ExecStatus::Cancelled);
}

#[test]
fn retried_serializes_with_a_snake_case_tag_and_is_an_input() {
    let events = [Event::Retried { at: 5 }, Event::TaskReset { task: "b".into() }];
    let tags: Vec<Value> = events.iter().map(|e| serde_json::to_value(e).unwrap()["type"].clone()).collect();
    assert_eq!(tags, [json!("retried"), json!("task_reset")]);
    for event in &events {
        let back: Event = serde_json::from_value(serde_json::to_value(event).unwrap()).unwrap();
        assert_eq!(&back, event);
    }
    assert!(events[0].is_input());
    assert!(!events[1].is_input(), "the engine decides which tasks run again");
}

const ON_FAILURE: &str = r#"
name: onf
version: 1
tasks:
  a: { component: core, action: echo }
  b: { component: core, action: echo, depends_on: [a] }
on_failure: { component: core, action: echo, input: { why: "${failure.message}" } }
"#;

#[test]
fn on_failure_runs_again_only_if_the_retry_fails_again() {
    let mut sim = Sim::started(ON_FAILURE, json!({}));
    sim.succeed("a", json!("A"));
    sim.fail("b", "fatal", "first");
    assert_eq!(sim.input_of("on_failure"), json!({ "why": "first" }));
    sim.succeed("on_failure", json!("notified"));
    assert_eq!(sim.exec_status(), ExecStatus::Failed);

    // The retry succeeds: on_failure does not run.
    let mut ok = Sim::started(ON_FAILURE, json!({}));
    ok.history.clone_from(&sim.history);
    ok.exec = sim.exec.clone();
    retry(&mut ok);
    assert_eq!(reset_tasks(&ok), ["b", "on_failure"]);
    assert_eq!(ok.status("on_failure"), TaskStatus::Pending);
    assert_eq!(ok.exec.task("on_failure").output, None);
    ok.succeed("b", json!("B"));
    assert_eq!(ok.exec_status(), ExecStatus::Completed);
    assert_eq!(starts(&ok, "on_failure"), 1, "only at the first failure");
    assert_eq!(ok.exec.output, Some(json!({ "b": "B" })));

    // The retry fails too: on_failure runs again, with a new attempt, and sees the new failure.
    retry(&mut sim);
    sim.fail("b", "fatal", "second");
    assert!(sim.exec.failing.is_some());
    assert_eq!(sim.running(), ["on_failure"]);
    assert_eq!(sim.attempt_of("on_failure"), 2);
    assert_eq!(sim.input_of("on_failure"), json!({ "why": "second" }));
    sim.succeed("on_failure", json!("notified again"));
    assert_eq!(sim.exec_status(), ExecStatus::Failed);
    assert_eq!(sim.exec.error.as_ref().unwrap().message, "second");
    assert_eq!(starts(&sim, "a"), 1);
}

#[test]
fn a_for_each_runs_again_only_the_items_that_did_not_succeed() {
    let yaml = r#"
name: fe
version: 1
tasks:
  each: { component: core, action: echo, for_each: "${[10, 20, 30, 40, 50]}", concurrency: 2, input: "${item}" }
  after: { component: core, action: echo, depends_on: [each], input: "${tasks.each.output}" }
"#;
    let mut sim = Sim::started(yaml, json!({}));
    sim.succeed("each[0]", json!(null)); // a null result is a success all the same
    assert_eq!(sim.running(), ["each[1]", "each[2]"]);
    sim.succeed("each[2]", json!(30));
    assert_eq!(sim.running(), ["each[1]", "each[3]"]);
    sim.fail("each[1]", "fatal", "bad item");
    assert_eq!(sim.exec_status(), ExecStatus::Failed);
    assert_eq!(sim.cancelled, [call("each[3]")], "the other item in flight stops");

    retry(&mut sim);
    assert_eq!(sim.status("each"), TaskStatus::Running);
    assert_eq!(sim.running(), ["each[1]", "each[3]"], "the items that did not succeed, within the concurrency");
    assert_eq!((sim.attempt_of("each[1]"), sim.attempt_of("each[3]")), (2, 2));
    assert_eq!(key_of(&sim, "each[1]"), "exec-1/each/1");
    assert_eq!(sim.input_of("each[1]"), json!(20));
    sim.succeed("each[3]", json!(40));
    assert_eq!(sim.running(), ["each[1]", "each[4]"], "then the items never started");
    assert_eq!(sim.attempt_of("each[4]"), 2);
    sim.succeed("each[4]", json!(50));
    sim.succeed("each[1]", json!(20));
    assert_eq!(sim.output("each"), json!([null, 20, 30, 40, 50]), "kept results, in order");
    assert_eq!((starts(&sim, "each[0]"), starts(&sim, "each[2]")), (1, 1), "succeeded items are not run again");
    assert_eq!(sim.input_of("after"), json!([null, 20, 30, 40, 50]));
    sim.succeed("after", json!("done"));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
}

#[test]
fn a_for_each_item_retried_by_its_policy_gets_a_fresh_policy_after_the_retry() {
    let yaml = r#"
name: fe_retry
version: 1
tasks:
  each:
    component: core
    action: echo
    for_each: "${[1, 2]}"
    input: "${item}"
    retry: { max_attempts: 2, delay: 1s }
"#;
    let mut sim = Sim::started(yaml, json!({}));
    sim.succeed("each[0]", json!(1));
    sim.fail("each[1]", "retryable", "busy");
    sim.advance(1_000);
    assert_eq!(sim.attempt_of("each[1]"), 2);
    sim.fail("each[1]", "retryable", "still busy");
    assert_eq!(sim.exec_status(), ExecStatus::Failed, "max_attempts reached");

    retry(&mut sim);
    assert_eq!(sim.running(), ["each[1]"]);
    assert_eq!(sim.attempt_of("each[1]"), 3, "above every earlier attempt");
    sim.fail("each[1]", "retryable", "busy again");
    assert_eq!(sim.exec.retrying.get(&call("each[1]")).map(|r| r.0), Some(4), "the policy counts from the retry");
    sim.advance(1_000);
    sim.succeed("each[1]", json!(2));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
    assert_eq!(sim.output("each"), json!([1, 2]));
}

#[test]
fn a_task_skipped_by_a_false_condition_stays_skipped() {
    let yaml = r#"
name: cond
version: 1
tasks:
  a: { component: core, action: echo }
  maybe: { component: core, action: echo, depends_on: [a], when: "${tasks.a.output.go}" }
  after_maybe: { component: core, action: echo, depends_on: [maybe] }
  b: { component: core, action: echo, depends_on: [a] }
"#;
    let mut sim = Sim::started(yaml, json!({}));
    sim.succeed("a", json!({ "go": false }));
    assert_eq!(sim.status("maybe"), TaskStatus::Skipped);
    assert_eq!(sim.status("after_maybe"), TaskStatus::Skipped);
    sim.fail("b", "fatal", "down");
    assert_eq!(sim.exec_status(), ExecStatus::Failed);

    retry(&mut sim);
    assert_eq!(reset_tasks(&sim), ["b"]);
    assert_eq!(sim.status("maybe"), TaskStatus::Skipped);
    assert!(sim.exec.task("maybe").reason.as_deref().unwrap().starts_with("condition is false"));
    assert_eq!(sim.status("after_maybe"), TaskStatus::Skipped, "skipped because maybe was: stays so");
    assert_eq!(sim.running(), ["b"]);
    sim.succeed("b", json!(1));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
    assert_eq!(starts(&sim, "maybe"), 0);
}

const BRANCHES: &str = r#"
name: branches
version: 1
tasks:
  left: { component: core, action: echo }
  slow: { component: core, action: echo }
  right: { component: core, action: echo }
  tolerant: { component: core, action: echo, on_error: continue }
  join: { component: core, action: echo, depends_on: [left, slow, right, tolerant],
          input: { left: "${tasks.left.output}", t: "${tasks.tolerant.status}" } }
"#;

#[test]
fn succeeded_branches_and_tolerated_failures_are_kept_and_cancelled_ones_run_again() {
    let mut sim = Sim::started(BRANCHES, json!({}));
    sim.succeed("left", json!("L"));
    sim.fail("tolerant", "fatal", "ignored");
    sim.fail("right", "fatal", "down");
    assert_eq!(sim.exec_status(), ExecStatus::Failed);
    assert_eq!(sim.status("slow"), TaskStatus::Cancelled, "cancelled by the failure");

    let before = sim.history.len();
    retry(&mut sim);
    assert_eq!(
        kinds(&sim, before),
        ["retried", "task_reset", "task_reset", "task_reset", "call_started", "call_started"]
    );
    assert_eq!(reset_tasks(&sim), ["slow", "right", "join"]);
    assert_eq!(sim.running(), ["right", "slow"]);
    assert_eq!((sim.attempt_of("slow"), sim.attempt_of("right")), (2, 2));
    assert_eq!(sim.status("left"), TaskStatus::Succeeded);
    assert_eq!((sim.status("tolerant"), sim.exec.task("tolerant").tolerated), (TaskStatus::Failed, true));
    sim.succeed("slow", json!("S"));
    sim.succeed("right", json!("R"));
    assert_eq!(sim.input_of("join"), json!({ "left": "L", "t": "failed" }));
    sim.succeed("join", json!("J"));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
    assert_eq!((starts(&sim, "left"), starts(&sim, "tolerant")), (1, 1));
}

#[test]
fn tasks_run_again_within_max_parallel() {
    let yaml = r#"
name: par
version: 1
max_parallel: 1
tasks:
  a: { component: core, action: echo }
  b: { component: core, action: echo }
  c: { component: core, action: echo }
"#;
    let mut sim = Sim::started(yaml, json!({}));
    assert_eq!(sim.running(), ["a"]);
    sim.fail("a", "fatal", "down");
    assert_eq!(
        (sim.status("b"), sim.status("c")),
        (TaskStatus::Cancelled, TaskStatus::Cancelled),
        "queued, then cancelled"
    );

    retry(&mut sim);
    assert_eq!(sim.running(), ["a"]);
    assert_eq!((sim.status("b"), sim.status("c")), (TaskStatus::Waiting, TaskStatus::Waiting));
    assert_eq!(sim.attempt_of("a"), 2);
    sim.succeed("a", json!(1));
    assert_eq!(sim.running(), ["b"]);
    assert_eq!(sim.attempt_of("b"), 1, "b never started before");
    sim.succeed("b", json!(2));
    sim.succeed("c", json!(3));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
}

#[test]
fn the_loser_of_a_join_one_race_stays_cancelled() {
    let yaml = r#"
name: xor
version: 1
tasks:
  fast: { component: core, action: echo }
  slow: { component: core, action: echo }
  winner: { component: core, action: echo, depends_on: [fast, slow], join: one }
  after_slow: { component: core, action: echo, depends_on: [slow] }
"#;
    let mut sim = Sim::started(yaml, json!({}));
    sim.succeed("fast", json!("F"));
    assert_eq!(sim.status("slow"), TaskStatus::Cancelled);
    assert_eq!(sim.status("after_slow"), TaskStatus::Skipped);
    sim.fail("winner", "fatal", "down");
    assert_eq!(sim.exec_status(), ExecStatus::Failed);

    retry(&mut sim);
    assert_eq!(reset_tasks(&sim), ["winner"]);
    assert_eq!(sim.running(), ["winner"]);
    assert_eq!(sim.status("slow"), TaskStatus::Cancelled);
    assert_eq!(sim.status("after_slow"), TaskStatus::Skipped);
    sim.succeed("winner", json!("W"));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
    assert_eq!(starts(&sim, "slow"), 1);
}

#[test]
fn a_failed_fallback_runs_again_with_the_task_it_stands_in_for() {
    let yaml = r#"
name: fb
version: 1
tasks:
  primary: { component: core, action: echo, on_error: { fallback: backup } }
  backup: { component: core, action: echo }
  after: { component: core, action: echo, depends_on: [primary], input: "${tasks.primary.output}" }
"#;
    let mut sim = Sim::started(yaml, json!({}));
    sim.fail("primary", "fatal", "down");
    sim.fail("backup", "fatal", "also down");
    assert_eq!(sim.exec_status(), ExecStatus::Failed);
    assert_eq!(sim.exec.error.as_ref().unwrap().kind, "fallback_failed");

    retry(&mut sim);
    assert_eq!(reset_tasks(&sim), ["primary", "after", "backup"]);
    assert_eq!(sim.running(), ["primary"], "the fallback waits for the task to fail again");
    assert_eq!(sim.exec.task("backup").fallback_for, None);
    sim.fail("primary", "fatal", "still down");
    assert_eq!(sim.running(), ["backup"]);
    assert_eq!(sim.attempt_of("backup"), 2);
    sim.succeed("backup", json!("B"));
    assert_eq!(sim.status("primary"), TaskStatus::Succeeded);
    assert_eq!(sim.input_of("after"), json!("B"));
    sim.succeed("after", json!(1));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
}

#[test]
fn a_repeat_starts_again_from_its_first_iteration_with_new_attempts() {
    let yaml = r#"
name: rep
version: 1
tasks:
  poll:
    component: core
    action: echo
    input: { round: "${iteration}" }
    repeat: { until: "${output.ready}", max_iterations: 5 }
"#;
    let mut sim = Sim::started(yaml, json!({}));
    sim.succeed("poll", json!({ "ready": false }));
    assert_eq!(key_of(&sim, "poll"), "exec-1/poll/iteration-2");
    sim.fail("poll", "fatal", "lost");
    assert_eq!(sim.exec_status(), ExecStatus::Failed);

    retry(&mut sim);
    assert_eq!(sim.input_of("poll"), json!({ "round": 1 }));
    assert_eq!(key_of(&sim, "poll"), "exec-1/poll/iteration-1");
    assert_eq!(sim.attempt_of("poll"), 2, "above the attempts of every iteration");
    sim.succeed("poll", json!({ "ready": false }));
    assert_eq!(sim.input_of("poll"), json!({ "round": 2 }));
    assert_eq!(sim.attempt_of("poll"), 2);
    sim.succeed("poll", json!({ "ready": true }));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
}

#[test]
fn a_timed_out_execution_gets_a_new_deadline_from_the_retry() {
    let yaml = r#"
name: slow
version: 1
timeout: 5s
tasks:
  a: { component: core, action: sleep }
"#;
    let mut sim = Sim::started(yaml, json!({}));
    sim.advance(5_000);
    assert_eq!(sim.exec_status(), ExecStatus::Failed);
    assert_eq!(sim.exec.error.as_ref().unwrap().kind, "timeout");

    sim.advance(60_000);
    let at = sim.now;
    retry(&mut sim);
    assert_eq!(sim.timers, [(TimerId::ExecutionTimeout, at + 5_000)]);
    assert_eq!(sim.running(), ["a"]);
    sim.timers.clear();
    sim.feed(Event::Recovered { at: sim.now + 1 });
    assert_eq!(sim.timers, [(TimerId::ExecutionTimeout, at + 5_000)], "after a restart too, from the retry");
    sim.succeed("a", json!(1));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
}

#[test]
fn a_failure_evaluating_vars_is_evaluated_again() {
    let yaml = r#"
name: vars
version: 1
vars: { x: "${input.missing.deeper}" }
tasks:
  a: { component: core, action: echo, input: "${vars.x}" }
"#;
    let mut sim = Sim::started(yaml, json!({}));
    assert_eq!(sim.exec_status(), ExecStatus::Failed);
    let before = sim.history.len();
    retry(&mut sim);
    assert_eq!(
        kinds(&sim, before),
        ["retried", "task_reset", "failed"],
        "the same failure, not tasks without their vars"
    );
    assert_eq!(sim.exec_status(), ExecStatus::Failed);
    assert_eq!(starts(&sim, "a"), 0);
}

#[test]
fn an_execution_can_be_retried_more_than_once() {
    let mut sim = Sim::started(CHAIN, json!({}));
    sim.succeed("a", json!({ "n": 1 }));
    sim.fail("b", "fatal", "one");
    retry(&mut sim);
    sim.fail("b", "fatal", "two");
    assert_eq!(sim.exec_status(), ExecStatus::Failed);
    retry(&mut sim);
    assert_eq!(sim.attempt_of("b"), 3);
    sim.succeed("b", json!({ "n": 2 }));
    sim.fail("c", "fatal", "three");
    retry(&mut sim);
    assert_eq!((sim.attempt_of("c"), starts(&sim, "b")), (2, 3), "c runs again, b (succeeded) does not");
    sim.succeed("c", json!({ "n": 3 }));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
    assert_eq!(sim.count(|e| matches!(e, Event::Retried { .. })), 3);
}

#[test]
fn tasks_skipped_because_a_task_that_runs_again_did_not_succeed_run_again_too() {
    let yaml = r#"
name: skips
version: 1
tasks:
  a: { component: core, action: echo }
  b: { component: core, action: echo, depends_on: [a] }
  c: { component: core, action: echo, depends_on: [b] }
  d: { component: core, action: echo, depends_on: [c] }
  e: { component: core, action: echo, depends_on: [b], join: any }
  g: { component: core, action: echo, when: "${false}" }
  f: { component: core, action: echo, depends_on: [g, b] }
"#;
    let mut sim = Sim::started(yaml, json!({}));
    assert_eq!(sim.exec.task("f").reason.as_deref(), Some("dependency g was skipped"));
    sim.succeed("a", json!(1));
    sim.fail("b", "fatal", "down");
    assert_eq!(sim.exec_status(), ExecStatus::Failed);
    // The engine cancels b's dependants (never started) when the execution fails; a state
    // rolled back to may hold them skipped because of b all the same.
    let mut state = sim.exec.clone();
    for (task, reason) in
        [("c", "dependency b was failed"), ("d", "dependency c was skipped"), ("e", "no dependency succeeded")]
    {
        let t = state.tasks.get_mut(task).unwrap();
        t.status = TaskStatus::Skipped;
        t.reason = Some(reason.into());
    }
    sim.feed(Event::Restored { checkpoint: state.seq, state: Box::new(state), at: sim.now });
    assert_eq!(sim.exec_status(), ExecStatus::Failed);

    retry(&mut sim);
    assert_eq!(reset_tasks(&sim), ["b", "c", "d", "e"], "transitively; not f, skipped because of g");
    assert_eq!(sim.status("f"), TaskStatus::Skipped);
    assert_eq!(sim.exec.task("c").reason, None);
    sim.succeed("b", json!(2));
    assert_eq!(sim.running(), ["c", "e"]);
    sim.succeed("e", json!(5));
    sim.succeed("c", json!(3));
    sim.succeed("d", json!(4));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
    assert_eq!(sim.exec.output, Some(json!({ "d": 4, "e": 5 })));
}

#[test]
fn an_aborted_execution_retried_runs_its_open_tasks_again_and_completes() {
    // Aborted (a history limit, a runner failure) with b running and c pending: both were
    // cancelled by the abort, and the retry must count them open again exactly once (it
    // counted them twice, so the execution never completed and stalled).
    let mut sim = Sim::started(CHAIN, json!({}));
    sim.succeed("a", json!({ "n": 1 }));
    let error = harmonia_engine::Failure::new("internal", "the runner failed");
    sim.feed(Event::Aborted { error, at: sim.now });
    assert_eq!(sim.exec_status(), ExecStatus::Failed);
    assert_eq!((sim.status("b"), sim.status("c")), (TaskStatus::Cancelled, TaskStatus::Cancelled));
    retry(&mut sim);
    assert_eq!(sim.running(), ["b"]);
    sim.succeed("b", json!({ "n": 2 }));
    sim.succeed("c", json!({ "n": 3 }));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
    assert_eq!(sim.status("a"), TaskStatus::Succeeded, "what succeeded before the abort is kept");
}

//! Changes a user makes to a paused execution: set or replace a task's output, skip a task,
//! change variables. Each is an input event in the history (Sim checks the replay).

use harmonia_engine::{ChangeError, Event, ExecStatus, TaskStatus, check_change};
use serde_json::{Map, Value, json};

use crate::sim::{Sim, call};

const CHAIN: &str = r#"
name: chain
version: 1
tasks:
  a: { component: core, action: echo, input: { n: 1 } }
  b: { component: core, action: echo, input: { n: "${tasks.a.output.n + 1}" }, depends_on: [a],
       retry: { max_attempts: 3, delay: 10s } }
  c: { component: core, action: echo, input: { n: "${tasks.b.output.n + 1}" }, depends_on: [b] }
"#;

fn set_output(sim: &mut Sim, task: &str, output: Value) -> usize {
    sim.feed(Event::OutputSet { task: task.into(), output, at: sim.now })
}

fn skip(sim: &mut Sim, task: &str, reason: &str) -> usize {
    sim.feed(Event::SkipRequested { task: task.into(), reason: reason.into(), at: sim.now })
}

fn vars(pairs: Value) -> Map<String, Value> {
    pairs.as_object().cloned().expect("an object")
}

fn pause(sim: &mut Sim) {
    assert_eq!(sim.feed(Event::Paused { at: sim.now }), 1);
}

fn resume(sim: &mut Sim) {
    assert!(sim.feed(Event::Resumed { at: sim.now }) >= 1);
}

/// The error code `check_change` gives for `change` now.
fn refused(sim: &Sim, change: &Event) -> &'static str {
    let error = check_change(&sim.plan, &sim.exec, change).expect_err("the change is refused");
    assert!(!error.to_string().is_empty());
    error.code()
}

/// The types of the events after the first `from` of the history.
fn kinds(sim: &Sim, from: usize) -> Vec<String> {
    sim.history[from..].iter().map(|e| serde_json::to_value(e).unwrap()["type"].as_str().unwrap().to_string()).collect()
}

#[test]
fn setting_the_output_of_a_running_task_cancels_its_call_and_its_dependant_starts_on_resume() {
    let mut sim = Sim::started(CHAIN, json!({}));
    pause(&mut sim);
    let before = sim.history.len();
    let change = Event::OutputSet { task: "a".into(), output: json!({ "n": 10 }), at: sim.now };
    assert_eq!(check_change(&sim.plan, &sim.exec, &change), Ok(()));
    sim.feed(change);
    assert_eq!(kinds(&sim, before), ["output_set", "task_succeeded", "call_queued"]);
    assert_eq!(sim.cancelled, [call("a")]);
    assert_eq!(sim.status("a"), TaskStatus::Succeeded);
    assert_eq!(sim.output("a"), json!({ "n": 10 }));
    assert_eq!(sim.status("b"), TaskStatus::Waiting, "queued while paused");
    assert!(sim.running().is_empty());

    // The cancelled call's late result changes nothing.
    assert_eq!(sim.succeed("a", json!({ "n": 1 })), 0);
    assert_eq!(sim.output("a"), json!({ "n": 10 }));

    resume(&mut sim);
    assert_eq!(sim.running(), ["b"]);
    assert_eq!(sim.input_of("b"), json!({ "n": 11 }), "rendered from the output that was set");
    sim.succeed("b", json!({ "n": 11 }));
    sim.succeed("c", json!({ "n": 12 }));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
    assert_eq!(sim.exec.output, Some(json!({ "c": { "n": 12 } })));
}

#[test]
fn replacing_the_output_of_a_succeeded_task() {
    let mut sim = Sim::started(CHAIN, json!({}));
    pause(&mut sim);
    sim.succeed("a", json!({ "n": 1 }));
    assert_eq!(sim.status("b"), TaskStatus::Waiting, "b is queued, its input not rendered yet");
    set_output(&mut sim, "a", json!({ "n": 5 }));
    assert_eq!(sim.output("a"), json!({ "n": 5 }));
    assert!(sim.cancelled.is_empty(), "nothing was running");
    assert_eq!(
        sim.count(|e| matches!(e, Event::CallQueued { call, .. } if call.task == "b")),
        1,
        "b is not queued twice"
    );
    resume(&mut sim);
    assert_eq!(sim.input_of("b"), json!({ "n": 6 }), "a queued dependant sees the new output");

    // A dependant that already started is not run again.
    pause(&mut sim);
    set_output(&mut sim, "a", json!({ "n": 100 }));
    assert_eq!(sim.status("b"), TaskStatus::Running);
    resume(&mut sim);
    assert_eq!(sim.count(|e| matches!(e, Event::CallStarted { call, .. } if call.task == "b")), 1);
    sim.succeed("b", json!({ "n": 6 }));
    assert_eq!(sim.input_of("c"), json!({ "n": 7 }));
    sim.succeed("c", json!({ "n": 7 }));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
    assert_eq!(sim.output("a"), json!({ "n": 100 }));
}

#[test]
fn setting_the_output_of_a_task_waiting_for_a_retry_stops_the_retry() {
    let mut sim = Sim::started(CHAIN, json!({}));
    sim.succeed("a", json!({ "n": 1 }));
    sim.fail("b", "retryable", "busy");
    assert_eq!(sim.status("b"), TaskStatus::Waiting);
    pause(&mut sim);
    set_output(&mut sim, "b", json!({ "n": 2 }));
    assert!(sim.exec.retrying.is_empty());
    assert!(sim.cancelled.is_empty(), "nothing was in flight");
    resume(&mut sim);
    sim.advance(20_000); // the retry timer fires, and is ignored
    assert_eq!(sim.count(|e| matches!(e, Event::TimerFired { .. })), 0);
    assert_eq!(sim.running(), ["c"]);
    assert_eq!(sim.input_of("c"), json!({ "n": 3 }));
}

#[test]
fn setting_the_output_of_a_for_each_succeeds_it_as_a_whole() {
    let yaml = r#"
name: fe
version: 1
tasks:
  each: { component: core, action: echo, for_each: "${[1, 2, 3, 4]}", concurrency: 2, input: "${item}" }
  after: { component: core, action: echo, depends_on: [each], input: "${tasks.each.output}" }
"#;
    let mut sim = Sim::started(yaml, json!({}));
    sim.succeed("each[0]", json!(1));
    assert_eq!(sim.running(), ["each[1]", "each[2]"]);
    pause(&mut sim);
    set_output(&mut sim, "each", json!(["x"]));
    assert_eq!(sim.cancelled, [call("each[1]"), call("each[2]")]);
    assert_eq!(sim.status("each"), TaskStatus::Succeeded);
    assert_eq!(sim.succeed("each[1]", json!(2)), 0, "a late item result is ignored");
    resume(&mut sim);
    assert_eq!(sim.running(), ["after"], "no further items start");
    assert_eq!(sim.input_of("after"), json!(["x"]));
    sim.succeed("after", json!("done"));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
}

#[test]
fn setting_the_output_of_a_recovering_task_cancels_its_fallback() {
    let yaml = r#"
name: fb
version: 1
tasks:
  primary: { component: core, action: fail, on_error: { fallback: backup } }
  backup: { component: core, action: echo }
  after: { component: core, action: echo, depends_on: [primary], input: "${tasks.primary.output}" }
"#;
    let mut sim = Sim::started(yaml, json!({}));
    sim.fail("primary", "fatal", "down");
    assert_eq!(sim.running(), ["backup"]);
    pause(&mut sim);
    assert_eq!(refused(&sim, &Event::OutputSet { task: "backup".into(), output: json!(1), at: 0 }), "fallback_task");
    set_output(&mut sim, "primary", json!({ "by": "hand" }));
    assert_eq!(sim.status("backup"), TaskStatus::Cancelled);
    assert_eq!(sim.cancelled, [call("backup")]);
    assert_eq!(sim.status("primary"), TaskStatus::Succeeded);
    assert_eq!(sim.succeed("backup", json!("late")), 0);
    resume(&mut sim);
    assert_eq!(sim.input_of("after"), json!({ "by": "hand" }));
    sim.succeed("after", json!(1));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
}

#[test]
fn setting_the_output_of_a_tolerated_failure_lets_an_or_join_run() {
    let yaml = r#"
name: or
version: 1
tasks:
  fast: { component: core, action: echo, on_error: continue }
  slow: { component: core, action: echo }
  join: { component: core, action: echo, depends_on: [fast, slow], join: any, input: "${tasks.fast.output}" }
"#;
    let mut sim = Sim::started(yaml, json!({}));
    sim.fail("fast", "fatal", "no");
    assert_eq!(sim.status("join"), TaskStatus::Pending, "a tolerated failure is not a success");
    pause(&mut sim);
    set_output(&mut sim, "fast", json!({ "v": 1 }));
    assert_eq!(sim.status("fast"), TaskStatus::Succeeded);
    assert!(sim.exec.task("fast").error.is_some(), "the failure is kept, as when a fallback stands in");
    assert_eq!(sim.status("join"), TaskStatus::Waiting);
    resume(&mut sim);
    assert_eq!(sim.input_of("join"), json!({ "v": 1 }));
}

const BRANCHES: &str = r#"
name: branches
version: 1
tasks:
  a: { component: core, action: echo }
  q: { component: core, action: echo }
  p: { component: core, action: echo, depends_on: [a] }
  all_after: { component: core, action: echo, depends_on: [p] }
  any_after: { component: core, action: echo, depends_on: [p, q], join: any }
"#;

#[test]
fn skipping_a_pending_task_skips_its_and_join_dependants_while_an_or_join_still_runs() {
    let mut sim = Sim::started(BRANCHES, json!({}));
    pause(&mut sim);
    let before = sim.history.len();
    skip(&mut sim, "p", "not needed today");
    assert_eq!(kinds(&sim, before), ["skip_requested", "task_skipped", "task_skipped"]);
    assert_eq!(sim.status("p"), TaskStatus::Skipped);
    assert_eq!(sim.exec.task("p").reason.as_deref(), Some("not needed today"));
    assert_eq!(sim.status("all_after"), TaskStatus::Skipped);
    assert_eq!(sim.exec.task("all_after").reason.as_deref(), Some("dependency p was skipped"));
    assert_eq!(sim.status("any_after"), TaskStatus::Pending, "q may still succeed");
    resume(&mut sim);
    sim.succeed("a", json!(1));
    assert_eq!(sim.count(|e| matches!(e, Event::CallStarted { call, .. } if call.task == "p")), 0, "p stays skipped");
    sim.succeed("q", json!(2));
    assert_eq!(sim.running(), ["any_after"]);
    sim.succeed("any_after", json!(3));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
}

#[test]
fn skipping_a_running_task_cancels_its_call() {
    let mut sim = Sim::started(BRANCHES, json!({}));
    pause(&mut sim);
    skip(&mut sim, "q", "");
    assert_eq!(sim.cancelled, [call("q")]);
    assert_eq!(sim.exec.task("q").reason.as_deref(), Some("skipped on request"));
    assert_eq!(sim.succeed("q", json!(2)), 0, "the cancelled call's result is ignored");
    resume(&mut sim);
    sim.succeed("a", json!(1));
    sim.succeed("p", json!(1));
    sim.succeed("all_after", json!(1));
    sim.succeed("any_after", json!(1));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
}

#[test]
fn the_last_task_resolving_through_a_change_completes_the_execution() {
    let yaml = r#"
name: two
version: 1
tasks:
  a: { component: core, action: echo }
  b: { component: core, action: echo }
"#;
    let mut sim = Sim::started(yaml, json!({}));
    sim.succeed("a", json!("A"));
    pause(&mut sim);
    skip(&mut sim, "b", "stuck");
    assert_eq!(sim.exec_status(), ExecStatus::Completed, "nothing is left to run, paused or not");
    assert!(sim.finished);
    assert_eq!(sim.exec.output, Some(json!({ "a": "A" })));

    let mut sim = Sim::started(yaml, json!({}));
    sim.succeed("a", json!("A"));
    pause(&mut sim);
    set_output(&mut sim, "b", json!("B"));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
    assert_eq!(sim.exec.output, Some(json!({ "a": "A", "b": "B" })));
}

#[test]
fn a_switch_follows_a_changed_output() {
    let yaml = r#"
name: sw
version: 1
tasks:
  classify: { component: core, action: echo }
  route:
    depends_on: [classify]
    switch:
      cases:
        - when: "${tasks.classify.output.kind == 'invoice'}"
          then: [invoice]
      default: [other]
  invoice: { component: core, action: echo, depends_on: [route] }
  other: { component: core, action: echo, depends_on: [route] }
"#;
    let mut sim = Sim::started(yaml, json!({}));
    pause(&mut sim);
    assert_eq!(refused(&sim, &Event::OutputSet { task: "route".into(), output: json!({}), at: 0 }), "switch_task");
    set_output(&mut sim, "classify", json!({ "kind": "invoice" }));
    assert_eq!(sim.output("route"), json!({ "case": 0, "targets": ["invoice"] }));
    assert_eq!(sim.status("other"), TaskStatus::Skipped);
    assert_eq!(sim.status("invoice"), TaskStatus::Waiting);
    resume(&mut sim);
    sim.succeed("invoice", json!(1));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
}

#[test]
fn changing_a_variable_is_seen_by_later_tasks() {
    let yaml = r#"
name: vars
version: 1
vars: { total: 0, go: false }
tasks:
  a: { component: core, action: echo }
  b: { component: core, action: echo, depends_on: [a], input: { total: "${vars.total}", keep: "${vars.keep}" } }
  c: { component: core, action: echo, depends_on: [a], when: "${vars.go}" }
"#;
    let mut sim = Sim::started(yaml, json!({}));
    pause(&mut sim);
    let before = sim.history.len();
    sim.feed(Event::VarsChanged { vars: vars(json!({ "total": 42, "go": true })), at: sim.now });
    assert_eq!(kinds(&sim, before), ["vars_changed", "vars_set"]);
    sim.feed(Event::VarsChanged { vars: vars(json!({ "keep": "me" })), at: sim.now });
    assert_eq!(sim.exec.vars, json!({ "total": 42, "go": true, "keep": "me" }), "merged");
    resume(&mut sim);
    sim.succeed("a", json!(1));
    assert_eq!(sim.input_of("b"), json!({ "total": 42, "keep": "me" }));
    assert_eq!(sim.status("c"), TaskStatus::Running, "its condition sees the new value");
}

#[test]
fn changes_are_refused_unless_paused_and_check_change_says_why() {
    let yaml = r#"
name: refuse
version: 1
tasks:
  a: { component: core, action: echo }
  b: { component: core, action: echo, depends_on: [a], when: "${false}" }
  c: { component: core, action: echo, depends_on: [a] }
  d: { component: core, action: echo, depends_on: [c], on_error: { fallback: fd } }
  fd: { component: core, action: echo }
on_failure: { component: core, action: echo }
"#;
    let out = |task: &str| Event::OutputSet { task: task.into(), output: json!(1), at: 0 };
    let skip_of = |task: &str| Event::SkipRequested { task: task.into(), reason: "r".into(), at: 0 };
    let set = Event::VarsChanged { vars: vars(json!({ "x": 1 })), at: 0 };

    let mut sim = Sim::started(yaml, json!({}));
    for change in [out("a"), skip_of("c"), set.clone()] {
        assert_eq!(refused(&sim, &change), "not_paused");
        assert_eq!(sim.feed(change), 0, "ignored while running");
    }
    assert_eq!(sim.status("a"), TaskStatus::Running);
    assert!(sim.cancelled.is_empty());

    pause(&mut sim);
    sim.succeed("a", json!(1));
    assert_eq!(sim.status("b"), TaskStatus::Skipped);
    let cases = [
        (Event::Paused { at: 0 }, "not_a_change"),
        (Event::TaskSkipped { task: "c".into(), reason: "r".into() }, "not_a_change"),
        (out("nope"), "unknown_task"),
        (skip_of("on_failure"), "on_failure_task"),
        (out("on_failure"), "on_failure_task"),
        (skip_of("fd"), "fallback_task"),
        (skip_of("a"), "task_finished"),
        (skip_of("b"), "task_finished"),
        (out("b"), "task_finished"),
        (Event::VarsChanged { vars: Map::new(), at: 0 }, "no_vars"),
    ];
    for (change, code) in cases {
        assert_eq!(refused(&sim, &change), code, "{change:?}");
        if change.is_input() {
            assert_eq!(sim.feed(change), 0, "a refused change has no effect");
        }
    }
    for change in [out("a"), out("c"), skip_of("c"), skip_of("d"), out("d"), set.clone()] {
        assert_eq!(check_change(&sim.plan, &sim.exec, &change), Ok(()), "{change:?}");
    }
    let message = check_change(&sim.plan, &sim.exec, &skip_of("fd")).unwrap_err().to_string();
    assert_eq!(message, "task fd only runs in place of task d when it fails: change d instead");

    // Failing: on_failure runs (even while paused), and the execution will end failed.
    resume(&mut sim);
    pause(&mut sim);
    sim.fail("c", "fatal", "boom");
    assert!(sim.exec.failing.is_some());
    assert_eq!(refused(&sim, &set), "failing");
    assert_eq!(sim.feed(set.clone()), 0);
    sim.succeed("on_failure", json!("sent"));
    assert_eq!(sim.exec_status(), ExecStatus::Failed);
    let error = check_change(&sim.plan, &sim.exec, &set).unwrap_err();
    assert_eq!(error, ChangeError::NotPaused { execution: "exec-1".into(), status: ExecStatus::Failed });
    assert_eq!(error.to_string(), "execution exec-1 is failed: only a paused execution can be changed");
    assert_eq!(sim.feed(set), 0);
}

#[test]
fn changes_are_inputs_and_serialize_with_snake_case_tags() {
    let events = [
        Event::OutputSet { task: "a".into(), output: json!({ "n": 1 }), at: 5 },
        Event::SkipRequested { task: "a".into(), reason: "r".into(), at: 5 },
        Event::VarsChanged { vars: vars(json!({ "x": 1 })), at: 5 },
    ];
    let tags: Vec<Value> = events.iter().map(|e| serde_json::to_value(e).unwrap()["type"].clone()).collect();
    assert_eq!(tags, [json!("output_set"), json!("skip_requested"), json!("vars_changed")]);
    for event in events {
        assert!(event.is_input());
        let back: Event = serde_json::from_value(serde_json::to_value(&event).unwrap()).unwrap();
        assert_eq!(back, event);
    }
    assert!(!Event::TaskSkipped { task: "a".into(), reason: "r".into() }.is_input());
}

//! Control flow: sequence, parallel, conditions, joins, switch, loops, sub-workflows,
//! pause and cancel.

use harmonia_engine::{Command, Event, ExecStatus, TaskStatus};
use serde_json::json;

use crate::sim::{Sim, call};

const SEQUENCE: &str = r#"
name: seq
version: 1
input: { name: { type: string } }
tasks:
  a: { component: core, action: echo, input: { greeting: "hello ${input.name}" } }
  b: { component: core, action: echo, input: { text: "${tasks.a.output.greeting}", n: 2 }, depends_on: [a] }
output: { result: "${tasks.b.output.text}" }
"#;

#[test]
fn sequence_passes_outputs_along() {
    let mut sim = Sim::started(SEQUENCE, json!({"name": "ada"}));
    assert_eq!(sim.running(), ["a"]);
    assert_eq!(sim.input_of("a"), json!({"greeting": "hello ada"}));
    sim.succeed("a", json!({"greeting": "hello ada"}));
    assert_eq!(sim.running(), ["b"]);
    assert_eq!(sim.input_of("b"), json!({"text": "hello ada", "n": 2}));
    sim.succeed("b", json!({"text": "done"}));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
    assert_eq!(sim.exec.output, Some(json!({"result": "done"})));
    assert!(sim.finished);
}

#[test]
fn a_duplicate_result_is_ignored() {
    let mut sim = Sim::started(SEQUENCE, json!({"name": "ada"}));
    assert!(sim.succeed("a", json!({"greeting": "x"})) > 0);
    assert_eq!(sim.succeed("a", json!({"greeting": "again"})), 0, "at-least-once delivery must not apply twice");
    assert_eq!(sim.output("a"), json!({"greeting": "x"}));
}

#[test]
fn independent_tasks_run_in_parallel_up_to_max_parallel() {
    let yaml = r#"
name: par
version: 1
max_parallel: 2
tasks:
  a: { component: core, action: echo }
  b: { component: core, action: echo }
  c: { component: core, action: echo }
  d: { component: core, action: echo, depends_on: [a, b, c] }
"#;
    let mut sim = Sim::started(yaml, json!({}));
    assert_eq!(sim.running(), ["a", "b"]);
    assert_eq!(sim.status("c"), TaskStatus::Waiting, "queued behind max_parallel");
    sim.succeed("b", json!(2));
    assert_eq!(sim.running(), ["a", "c"]);
    sim.succeed("a", json!(1));
    sim.succeed("c", json!(3));
    assert_eq!(sim.running(), ["d"]);
    sim.succeed("d", json!(4));
    // Without an output section: the outputs of the leaf tasks.
    assert_eq!(sim.exec.output, Some(json!({"d": 4})));
}

#[test]
fn a_false_condition_skips_and_an_and_join_after_it_is_skipped() {
    let yaml = r#"
name: cond
version: 1
input: { go: { type: boolean } }
tasks:
  check: { component: core, action: echo, when: "${input.go}" }
  other: { component: core, action: echo }
  after: { component: core, action: echo, depends_on: [check, other] }
  always: { component: core, action: echo, depends_on: [other] }
"#;
    let mut sim = Sim::started(yaml, json!({"go": false}));
    assert_eq!(sim.status("check"), TaskStatus::Skipped);
    assert!(sim.exec.task("check").reason.as_deref().unwrap().contains("condition is false"));
    assert_eq!(sim.running(), ["other"]);
    sim.succeed("other", json!(1));
    assert_eq!(sim.status("after"), TaskStatus::Skipped, "AND join with a skipped dependency");
    assert_eq!(sim.exec.task("after").reason.as_deref(), Some("dependency check was skipped"));
    sim.succeed("always", json!(2));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
}

const OR_JOIN: &str = r#"
name: or
version: 1
tasks:
  fast: { component: core, action: echo, on_error: continue }
  slow: { component: core, action: echo, on_error: continue }
  join: { component: core, action: echo, depends_on: [fast, slow], join: any }
"#;

#[test]
fn or_join_runs_once_as_soon_as_one_dependency_succeeded() {
    let mut sim = Sim::started(OR_JOIN, json!({}));
    sim.succeed("fast", json!("f"));
    assert!(sim.running().contains(&"join".to_string()), "join starts before slow ends");
    sim.succeed("slow", json!("s"));
    sim.succeed("join", json!("j"));
    assert_eq!(sim.count(|e| matches!(e, Event::CallStarted { call, .. } if call.task == "join")), 1);
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
}

#[test]
fn or_join_whose_dependencies_all_fail_is_skipped() {
    let mut sim = Sim::started(OR_JOIN, json!({}));
    sim.fail("fast", "fatal", "no");
    assert_eq!(sim.status("join"), TaskStatus::Pending, "slow may still succeed");
    sim.fail("slow", "fatal", "no");
    assert_eq!(sim.status("join"), TaskStatus::Skipped);
    assert_eq!(sim.exec.task("join").reason.as_deref(), Some("no dependency succeeded"));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
}

#[test]
fn xor_join_where_both_branches_finish_runs_once_and_cancels_the_loser() {
    let yaml = r#"
name: xor
version: 1
tasks:
  left: { component: core, action: echo }
  right: { component: core, action: echo }
  winner: { component: core, action: echo, depends_on: [left, right], join: one, input: { l: "${tasks.left.status}" } }
"#;
    let mut sim = Sim::started(yaml, json!({}));
    sim.succeed("right", json!("r"));
    assert_eq!(sim.status("left"), TaskStatus::Cancelled);
    assert_eq!(sim.cancelled, [call("left")]);
    assert_eq!(sim.input_of("winner"), json!({"l": "cancelled"}));
    // The loser's late result changes nothing.
    assert_eq!(sim.succeed("left", json!("l")), 0);
    sim.succeed("winner", json!("w"));
    assert_eq!(sim.count(|e| matches!(e, Event::CallStarted { call, .. } if call.task == "winner")), 1);
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
}

const SWITCH: &str = r#"
name: sw
version: 1
input: { kind: { type: string } }
tasks:
  classify: { component: core, action: echo, input: { kind: "${input.kind}" } }
  route:
    depends_on: [classify]
    switch:
      cases:
        - when: "${tasks.classify.output.kind == 'invoice'}"
          then: [invoice]
        - when: "${tasks.classify.output.kind == 'letter'}"
          then: [letter]
      default: [other]
  invoice: { component: core, action: echo, depends_on: [route] }
  letter: { component: core, action: echo, depends_on: [route] }
  other: { component: core, action: echo, depends_on: [route] }
  done: { component: core, action: echo, depends_on: [invoice, letter, other], join: any }
"#;

#[test]
fn switch_runs_the_chosen_branch_from_a_task_output() {
    let mut sim = Sim::started(SWITCH, json!({"kind": "letter"}));
    sim.succeed("classify", json!({"kind": "letter"}));
    assert_eq!(sim.output("route"), json!({"case": 1, "targets": ["letter"]}));
    assert_eq!(sim.status("invoice"), TaskStatus::Skipped);
    assert_eq!(sim.status("other"), TaskStatus::Skipped);
    assert_eq!(sim.running(), ["letter"]);
    sim.succeed("letter", json!(1));
    sim.succeed("done", json!(2));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
}

#[test]
fn switch_default_when_no_case_holds() {
    let mut sim = Sim::started(SWITCH, json!({"kind": "poem"}));
    sim.succeed("classify", json!({"kind": "poem"}));
    assert_eq!(sim.running(), ["other"]);
    assert_eq!(sim.output("route")["case"], json!(null));
}

const FOR_EACH: &str = r#"
name: fe
version: 1
input: { items: { type: array } }
tasks:
  each:
    component: core
    action: echo
    for_each: "${input.items}"
    concurrency: 2
    input: { value: "${item}", at: "${index}" }
  after: { component: core, action: echo, depends_on: [each], input: "${tasks.each.output}" }
"#;

#[test]
fn for_each_runs_items_with_bounded_concurrency_and_keeps_order() {
    let mut sim = Sim::started(FOR_EACH, json!({"items": ["a", "b", "c", "d"]}));
    assert_eq!(sim.running(), ["each[0]", "each[1]"]);
    assert_eq!(sim.input_of("each[1]"), json!({"value": "b", "at": 1}));
    sim.succeed("each[1]", json!("B"));
    assert_eq!(sim.running(), ["each[0]", "each[2]"]);
    sim.succeed("each[2]", json!("C"));
    sim.succeed("each[3]", json!("D"));
    assert_eq!(sim.status("each"), TaskStatus::Running);
    sim.succeed("each[0]", json!("A"));
    assert_eq!(sim.output("each"), json!(["A", "B", "C", "D"]));
    assert_eq!(sim.input_of("after"), json!(["A", "B", "C", "D"]));
}

#[test]
fn for_each_over_an_empty_list_succeeds_at_once() {
    let sim = Sim::started(FOR_EACH, json!({"items": []}));
    assert_eq!(sim.status("each"), TaskStatus::Succeeded);
    assert_eq!(sim.output("each"), json!([]));
    assert_eq!(sim.running(), ["after"]);
}

#[test]
fn for_each_over_a_non_list_fails_naming_the_expression() {
    let sim = Sim::started(FOR_EACH, json!({"items": "nope"}));
    assert_eq!(sim.exec_status(), ExecStatus::Failed);
    let error = sim.exec.error.clone().unwrap();
    assert!(error.message.contains("task each") && error.message.contains("not a list"), "{error}");
}

const REPEAT: &str = r#"
name: rep
version: 1
tasks:
  poll:
    component: core
    action: echo
    input: { round: "${iteration}" }
    repeat: { until: "${output.ready}", max_iterations: 3 }
"#;

#[test]
fn repeat_runs_until_the_condition_holds() {
    let mut sim = Sim::started(REPEAT, json!({}));
    assert_eq!(sim.input_of("poll"), json!({"round": 1}));
    sim.succeed("poll", json!({"ready": false}));
    assert_eq!(sim.input_of("poll"), json!({"round": 2}));
    sim.succeed("poll", json!({"ready": true, "value": 9}));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
    assert_eq!(sim.output("poll"), json!({"ready": true, "value": 9}));
}

#[test]
fn repeat_that_hits_max_iterations_fails() {
    let mut sim = Sim::started(REPEAT, json!({}));
    for _ in 0..3 {
        sim.succeed("poll", json!({"ready": false}));
    }
    assert_eq!(sim.exec_status(), ExecStatus::Failed);
    let error = sim.exec.error.clone().unwrap();
    assert_eq!(error.kind, "max_iterations");
    assert_eq!(error.task.as_deref(), Some("poll"));
    assert_eq!(sim.count(|e| matches!(e, Event::CallStarted { .. })), 3);
}

#[test]
fn a_repeat_applies_set_vars_after_each_iteration_with_iteration_in_scope() {
    // Found by a new user: `iteration` in `set_vars` of a repeat failed ("not defined
    // here"), and `set_vars` applied only after the last iteration, so no state carried over.
    let yaml = r#"
name: sum
version: 1
vars: { total: 0, rounds: [] }
tasks:
  add:
    component: core
    action: echo
    input: { round: "${iteration}", total: "${vars.total}" }
    set_vars: { total: "${vars.total + output.n}", rounds: "${vars.rounds + [iteration]}" }
    repeat: { until: "${vars.total >= 10}", max_iterations: 10 }
output: { total: "${vars.total}", rounds: "${vars.rounds}" }
"#;
    let mut sim = Sim::started(yaml, json!({}));
    assert_eq!(sim.input_of("add"), json!({"round": 1, "total": 0}));
    sim.succeed("add", json!({"n": 4}));
    assert_eq!(sim.input_of("add"), json!({"round": 2, "total": 4}), "the next iteration sees the variables");
    sim.succeed("add", json!({"n": 4}));
    assert_eq!(sim.input_of("add"), json!({"round": 3, "total": 8}));
    sim.succeed("add", json!({"n": 4}));
    assert_eq!(sim.exec_status(), ExecStatus::Completed, "`until` sees the variables of the iteration just done");
    assert_eq!(sim.exec.output, Some(json!({"total": 12, "rounds": [1, 2, 3]})));
}

#[test]
fn sub_workflow_is_a_child_run() {
    let yaml = r#"
name: parent
version: 1
tasks:
  child: { workflow: "other@2", input: { x: 1 } }
output: "${tasks.child.output}"
"#;
    let mut sim = Sim::started(yaml, json!({}));
    let Command::RunChild { workflow, version, input, .. } = &sim.calls[&call("child")].1 else { panic!() };
    assert_eq!((workflow.as_str(), version.as_deref(), input), ("other", Some("2"), &json!({"x": 1})));
    sim.succeed("child", json!({"y": 2}));
    assert_eq!(sim.exec.output, Some(json!({"y": 2})));
}

#[test]
fn set_vars_updates_variables_for_later_tasks() {
    let yaml = r#"
name: vars
version: 1
vars: { total: 0 }
tasks:
  a: { component: core, action: echo, set_vars: { total: "${vars.total + output.n}" } }
  b: { component: core, action: echo, depends_on: [a], input: { total: "${vars.total}" } }
"#;
    let mut sim = Sim::started(yaml, json!({}));
    sim.succeed("a", json!({"n": 5}));
    assert_eq!(sim.input_of("b"), json!({"total": 5}));
}

#[test]
fn pause_holds_new_calls_and_resume_starts_them() {
    let mut sim = Sim::started(SEQUENCE, json!({"name": "x"}));
    sim.feed(Event::Paused { at: sim.now });
    sim.succeed("a", json!({"greeting": "g"}));
    assert!(sim.running().is_empty(), "no new call while paused");
    assert_eq!(sim.status("b"), TaskStatus::Waiting);
    sim.feed(Event::Resumed { at: sim.now });
    assert_eq!(sim.running(), ["b"]);
    sim.succeed("b", json!({"text": "t"}));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
}

#[test]
fn cancel_stops_calls_and_ignores_late_results() {
    let mut sim = Sim::started(SEQUENCE, json!({"name": "x"}));
    sim.feed(Event::Cancelled { reason: "user asked".into(), at: sim.now });
    assert_eq!(sim.exec_status(), ExecStatus::Cancelled);
    assert_eq!(sim.cancelled, [call("a")]);
    assert_eq!(sim.status("a"), TaskStatus::Cancelled);
    assert_eq!(sim.exec.task("a").reason, None, "it had started");
    assert_eq!(sim.status("b"), TaskStatus::Cancelled, "never started");
    assert_eq!(sim.exec.task("b").reason.as_deref(), Some("never started: the execution was cancelled"));
    assert_eq!(sim.succeed("a", json!({})), 0);
}

#[test]
fn step_cost_does_not_depend_on_history_length() {
    // 10,000 iterations of a repeat: the state stays the same size.
    let yaml = r#"
name: long
version: 1
tasks:
  loop: { component: core, action: echo, repeat: { until: "${iteration >= 10000}", max_iterations: 20000 } }
"#;
    let mut sim = Sim::started(yaml, json!({}));
    let size_at = |sim: &Sim| serde_json::to_string(&sim.exec).unwrap().len();
    let mut early = 0;
    for i in 0..10_000u32 {
        let c = call("loop");
        let attempt = sim.exec.in_flight[&c];
        let out = harmonia_engine::step(
            &sim.plan,
            &mut sim.exec,
            Event::CallSucceeded { call: c, attempt, output: json!({"i": i}), at: 0 },
        );
        assert!(!out.events.is_empty());
        if i == 10 {
            early = size_at(&sim);
        }
    }
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
    assert!(size_at(&sim) < early + 64, "state grew with the history: {} vs {early}", size_at(&sim));
}

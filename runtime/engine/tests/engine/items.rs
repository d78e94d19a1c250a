//! `for_each` items: each item's output or error with `on_error: continue`, in order.

use harmonia_engine::{Event, ExecStatus, TaskStatus};
use serde_json::json;

use crate::sim::Sim;

const EACH: &str = r#"
name: each
version: 1
input: { items: { type: array } }
tasks:
  each:
    component: core
    action: echo
    for_each: "${input.items}"
    concurrency: 2
    input: { n: "${item.n}" }
    on_error: continue
  after: { component: core, action: echo, depends_on: [each], input: { first: "${tasks.each.output[0]}", status: "${tasks.each.status}" } }
"#;

#[test]
fn on_error_continue_keeps_each_items_output_or_error_in_order() {
    let items = json!([{"n": 0}, {"n": 1}, {"n": 2}, {"n": 3}]);
    let mut sim = Sim::started(EACH, json!({ "items": items }));
    assert_eq!(sim.running(), ["each[0]", "each[1]"]);
    sim.fail("each[1]", "fatal", "one is odd");
    assert_eq!(sim.running(), ["each[0]", "each[2]"], "the other items go on");
    sim.succeed("each[2]", json!("two"));
    sim.succeed("each[0]", json!("zero"));
    sim.fail("each[3]", "fatal", "three is odd");
    let task = sim.exec.task("each");
    assert_eq!(task.status, TaskStatus::Failed);
    assert!(task.tolerated, "dependants go on");
    assert_eq!(sim.output("each")[0], json!("zero"));
    assert_eq!(sim.output("each")[1]["kind"], "fatal");
    assert_eq!(sim.output("each")[1]["message"], "one is odd");
    assert_eq!(sim.output("each")[2], json!("two"));
    assert_eq!(sim.output("each")[3]["message"], "three is odd");
    let error = task.error.clone().unwrap();
    assert_eq!(error["kind"], "items_failed");
    assert_eq!(error["message"], "2 of 4 items failed: item 1: one is odd; item 3: three is odd");
    assert_eq!(error["details"]["failed"], json!([1, 3]));
    assert_eq!(sim.count(|e| matches!(e, Event::ItemFailed { .. })), 2);
    assert_eq!(sim.count(|e| matches!(e, Event::TaskFailed { .. })), 1);
    assert_eq!(sim.running(), ["after"]);
    assert_eq!(sim.input_of("after"), json!({ "first": "zero", "status": "failed" }));
    sim.succeed("after", json!(1));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
}

#[test]
fn on_error_continue_with_every_item_succeeding_succeeds() {
    let mut sim = Sim::started(EACH, json!({ "items": [{"n": 0}, {"n": 1}] }));
    sim.succeed("each[1]", json!(1));
    sim.succeed("each[0]", json!(0));
    assert_eq!(sim.status("each"), TaskStatus::Succeeded);
    assert_eq!(sim.output("each"), json!([0, 1]));
}

#[test]
fn an_item_whose_input_does_not_render_holds_its_error_and_the_others_run() {
    let mut sim = Sim::started(EACH, json!({ "items": [{"n": 0}, {"m": 1}, {"n": 2}] }));
    assert_eq!(sim.running(), ["each[0]", "each[2]"], "item 1 failed as it started; item 2 took its place");
    assert_eq!(sim.output("each"), json!(null), "not ended yet");
    sim.succeed("each[0]", json!(0));
    sim.succeed("each[2]", json!(2));
    let output = sim.output("each");
    assert_eq!(output[1]["kind"], "expression");
    assert!(output[1]["message"].as_str().unwrap().contains("item.n"), "{output}");
    assert_eq!((output[0].clone(), output[2].clone()), (json!(0), json!(2)));
}

#[test]
fn an_item_is_retried_before_its_failure_is_kept() {
    let yaml =
        EACH.replace("    on_error: continue\n", "    on_error: continue\n    retry: { max_attempts: 2, delay: 1s }\n");
    let mut sim = Sim::started(&yaml, json!({ "items": [{"n": 0}] }));
    sim.fail("each[0]", "retryable", "busy");
    assert_eq!(sim.count(|e| matches!(e, Event::ItemFailed { .. })), 0);
    sim.advance(5_000);
    assert_eq!(sim.attempt_of("each[0]"), 2);
    sim.fail("each[0]", "retryable", "still busy");
    assert_eq!(sim.output("each"), json!([{ "kind": "retryable", "message": "still busy" }]));
    assert_eq!(sim.status("each"), TaskStatus::Failed);
}

#[test]
fn many_items_failing_as_they_start_end_the_task_without_deep_recursion() {
    // Each item fails as it starts: a recursion per item would overflow the stack.
    let items: Vec<_> = (0..50_000).map(|i| json!({ "m": i })).collect();
    let yaml = EACH.replace("concurrency: 2", "concurrency: 1000");
    let mut sim = Sim::new(&yaml);
    let out = harmonia_engine::step(
        &sim.plan,
        &mut sim.exec,
        Event::Started { input: json!({ "items": items }), event: None, at: sim.now },
    );
    assert_eq!(sim.exec.task("each").status, TaskStatus::Failed);
    assert!(sim.exec.task("each").error.as_ref().unwrap()["message"].as_str().unwrap().ends_with("; and 49997 more"));
    assert!(out.commands.iter().any(|c| matches!(c, harmonia_engine::Command::RunCall { .. })), "after runs");
}

const CRAWL: &str = r#"
name: crawl
version: 1
tasks:
  seed: { component: core, action: echo }
  fetch:
    component: core
    action: echo
    depends_on: [seed]
    for_each: { items: "${tasks.seed.output}", open: true, concurrency: 2 }
    input: { url: "${item}" }
  report: { component: core, action: echo, depends_on: [fetch], input: "${tasks.fetch.output}" }
"#;

fn add(sim: &mut Sim, items: serde_json::Value, close: bool) -> usize {
    let items = items.as_array().unwrap().clone();
    sim.feed(Event::ItemsAdded { task: "fetch".into(), items, close, at: sim.now })
}

#[test]
fn an_open_for_each_takes_items_while_it_runs_and_ends_once_closed() {
    let mut sim = Sim::started(CRAWL, json!({}));
    assert!(add(&mut sim, json!(["early"]), false) > 0, "taken before the task starts");
    sim.succeed("seed", json!(["a"]));
    assert_eq!(sim.running(), ["fetch[0]", "fetch[1]"]);
    assert_eq!(sim.input_of("fetch[1]"), json!({ "url": "early" }), "after the task's own list");
    sim.succeed("fetch[0]", json!("A"));
    sim.succeed("fetch[1]", json!("E"));
    assert_eq!(sim.status("fetch"), TaskStatus::Running, "open: more may come");
    add(&mut sim, json!(["b", "c", "d"]), false);
    assert_eq!(sim.running(), ["fetch[2]", "fetch[3]"], "within its concurrency");
    sim.succeed("fetch[2]", json!("B"));
    add(&mut sim, json!([]), true);
    assert_eq!(sim.status("fetch"), TaskStatus::Running, "closed, but items still run");
    sim.succeed("fetch[3]", json!("C"));
    sim.succeed("fetch[4]", json!("D"));
    assert_eq!(sim.status("fetch"), TaskStatus::Succeeded);
    assert_eq!(sim.input_of("report"), json!(["A", "E", "B", "C", "D"]));
    assert_eq!(add(&mut sim, json!(["late"]), false), 0, "the task has ended: refused");
    let event = Event::ItemsAdded { task: "fetch".into(), items: vec![json!(1)], close: false, at: 0 };
    let refused = harmonia_engine::check_change(&sim.plan, &sim.exec, &event).unwrap_err();
    assert_eq!(refused.code(), "items_closed");
    assert_eq!(refused.to_string(), "task fetch is succeeded: it takes no more items");
}

#[test]
fn items_are_refused_by_a_task_whose_list_is_not_open() {
    let sim = Sim::started(EACH, json!({ "items": [{"n": 0}] }));
    let event = Event::ItemsAdded { task: "each".into(), items: vec![json!(1)], close: false, at: 0 };
    let refused = harmonia_engine::check_change(&sim.plan, &sim.exec, &event).unwrap_err();
    assert_eq!(refused.code(), "not_open");
    let event = Event::ItemsAdded { task: "nope".into(), items: vec![], close: true, at: 0 };
    assert_eq!(harmonia_engine::check_change(&sim.plan, &sim.exec, &event).unwrap_err().code(), "unknown_task");
}

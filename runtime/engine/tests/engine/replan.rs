//! Changes to the definition of a paused execution: another version, a task added, a task's
//! input replaced. The simulator replays the whole history with the plan it ends with.

use std::sync::Arc;

use harmonia_engine::{Event, ExecStatus, Patch, Plan, TaskStatus, check_change, migration, patched_plan};
use serde_json::json;

use crate::sim::Sim;

const V1: &str = r#"
name: orders
version: 1
tasks:
  a: { component: core, action: echo, input: { n: 1 } }
  b: { component: core, action: echo, depends_on: [a], input: { from: v1 } }
  c: { component: core, action: echo, depends_on: [b] }
"#;

const V2: &str = r#"
name: orders
version: 2
tasks:
  a: { component: core, action: echo, input: { n: 1 } }
  b: { component: core, action: echo, depends_on: [a], input: { from: v2 } }
  d: { component: core, action: echo, depends_on: [b], input: { after: "${tasks.b.output}" } }
"#;

fn plan(yaml: &str) -> Plan {
    Plan::new(Arc::new(harmonia_model::parse_workflow(yaml, None).unwrap()))
}

fn paused_after_a() -> Sim {
    let mut sim = Sim::started(V1, json!({}));
    sim.feed(Event::Paused { at: sim.now });
    sim.succeed("a", json!({ "n": 1 }));
    assert_eq!(sim.status("b"), TaskStatus::Waiting, "queued by the pause");
    sim
}

#[test]
fn a_paused_execution_moves_to_another_version_and_runs_it() {
    let mut sim = paused_after_a();
    let to = plan(V2);
    let event = migration(&to, &sim.exec, sim.now).unwrap();
    sim.plan = to;
    assert!(sim.feed(event) > 0);
    assert_eq!(sim.exec.version, "2");
    assert!(!sim.exec.tasks.contains_key("c"), "c had not started: dropped");
    assert_eq!(sim.status("d"), TaskStatus::Pending);
    sim.feed(Event::Resumed { at: sim.now });
    assert_eq!(sim.input_of("b"), json!({ "from": "v2" }), "b starts with the new version's input");
    sim.succeed("b", json!("B"));
    assert_eq!(sim.input_of("d"), json!({ "after": "B" }));
    sim.succeed("d", json!("D"));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
    assert_eq!(sim.exec.output, Some(json!({ "d": "D" })));
}

#[test]
fn a_move_that_would_drop_a_task_that_ran_is_refused_listing_the_conflicts() {
    let mut sim = paused_after_a();
    let to = plan(
        &V2.replace("  a: { component: core, action: echo, input: { n: 1 } }\n", "").replace("depends_on: [a], ", ""),
    );
    let refused = migration(&to, &sim.exec, sim.now).unwrap_err();
    assert_eq!(refused.code(), "migration_conflicts");
    assert_eq!(refused.to_string(), "cannot move to version 2: task a is succeeded, and version 2 has no task a");
    // Running: refused too.
    sim.feed(Event::Resumed { at: sim.now });
    assert_eq!(migration(&plan(V2), &sim.exec, sim.now).unwrap_err().code(), "not_paused");
}

#[test]
fn a_task_added_to_a_paused_execution_runs_when_it_resumes() {
    let mut sim = paused_after_a();
    let patch = Patch::AddTask {
        task: "audit".into(),
        definition: json!({ "component": "core", "action": "echo", "depends_on": ["a"], "input": { "n": "${tasks.a.output.n}" } }),
    };
    let base = sim.plan.workflow.clone();
    sim.plan = patched_plan(&base, std::slice::from_ref(&patch)).unwrap();
    let event = patch.event(sim.now);
    assert_eq!(check_change(&sim.plan, &sim.exec, &event), Ok(()));
    sim.feed(event);
    assert_eq!(sim.status("audit"), TaskStatus::Waiting, "ready: queued by the pause");
    sim.feed(Event::Resumed { at: sim.now });
    assert_eq!(sim.input_of("audit"), json!({ "n": 1 }));
    sim.succeed("audit", json!("ok"));
    sim.succeed("b", json!("B"));
    sim.succeed("c", json!("C"));
    assert_eq!(sim.exec.output, Some(json!({ "audit": "ok", "c": "C" })));

    // A task that reads what it does not depend on is refused, saying where.
    let bad = Patch::AddTask {
        task: "x".into(),
        definition: json!({ "component": "core", "action": "echo", "input": "${tasks.c.output}" }),
    };
    let errors = patched_plan(&base, &[bad]).unwrap_err().to_string();
    assert!(errors.contains("task `x` uses tasks.c but does not depend on it"), "{errors}");
}

#[test]
fn the_input_of_a_task_not_started_is_replaced() {
    let mut sim = paused_after_a();
    let patch =
        Patch::ReplaceInput { task: "b".into(), input: json!({ "from": "a person", "n": "${tasks.a.output.n + 1}" }) };
    let base = sim.plan.workflow.clone();
    sim.plan = patched_plan(&base, std::slice::from_ref(&patch)).unwrap();
    sim.feed(patch.event(sim.now));
    sim.feed(Event::Resumed { at: sim.now });
    assert_eq!(sim.input_of("b"), json!({ "from": "a person", "n": 2 }));
    // b has started now: its input can no longer be replaced.
    sim.feed(Event::Paused { at: sim.now });
    let again = Event::InputReplaced { task: "b".into(), input: json!({}), at: sim.now };
    let refused = check_change(&sim.plan, &sim.exec, &again).unwrap_err();
    assert_eq!(refused.code(), "task_started");
    assert_eq!(refused.to_string(), "task b is running: only the input of a task that has not started can be replaced");
}

//! Loops back to an earlier task (`goto`), with a partial join that runs once per round.

use harmonia_engine::{Command, Event, ExecStatus, TaskStatus};
use serde_json::json;

use crate::sim::{Sim, call};

const POLL: &str = r#"
name: poll
version: 1
vars: { rounds: 0 }
tasks:
  prepare: { component: core, action: echo }
  fetch: { component: core, action: echo, depends_on: [prepare], input: { round: "${vars.rounds}" } }
  check:
    component: core
    action: echo
    depends_on: [fetch]
    input: "${tasks.fetch.output}"
    set_vars: { rounds: "${vars.rounds + 1}" }
    goto: { task: fetch, when: "${output.again}", max_rounds: 5 }
  after: { component: core, action: echo, depends_on: [check], input: { rounds: "${vars.rounds}" } }
"#;

fn key_of(sim: &Sim, spec: &str) -> String {
    match &sim.calls[&call(spec)].1 {
        Command::RunCall { idempotency_key, .. } => idempotency_key.clone(),
        _ => unreachable!(),
    }
}

#[test]
fn a_goto_runs_its_loop_again_while_its_condition_holds() {
    let mut sim = Sim::started(POLL, json!({}));
    sim.succeed("prepare", json!(1));
    assert_eq!(key_of(&sim, "fetch"), "exec-1/fetch");
    for round in 1..=2 {
        sim.succeed("fetch", json!({ "again": true }));
        sim.succeed("check", json!({ "again": true }));
        assert_eq!(sim.running(), ["fetch"], "round {round}: back to fetch, not on to after");
        assert_eq!(sim.status("check"), TaskStatus::Pending);
        assert_eq!(sim.input_of("fetch"), json!({ "round": round }), "vars carry state between rounds");
        assert_eq!(key_of(&sim, "fetch"), format!("exec-1/fetch/round-{round}"), "a new call each round");
    }
    sim.succeed("fetch", json!({ "again": false }));
    sim.succeed("check", json!({ "again": false }));
    assert_eq!(sim.running(), ["after"]);
    assert_eq!(sim.input_of("after"), json!({ "rounds": 3 }));
    assert_eq!(sim.count(|e| matches!(e, Event::RoundStarted { .. })), 2);
    assert_eq!(sim.count(|e| matches!(e, Event::CallStarted { call, .. } if call.task == "prepare")), 1);
    sim.succeed("after", json!(1));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
}

#[test]
fn a_goto_past_max_rounds_fails_its_task() {
    let mut sim = Sim::started(POLL, json!({}));
    sim.succeed("prepare", json!(1));
    for _ in 0..=5 {
        sim.succeed("fetch", json!({}));
        sim.succeed("check", json!({ "again": true }));
    }
    assert_eq!(sim.exec_status(), ExecStatus::Failed);
    let error = sim.exec.error.clone().unwrap();
    assert_eq!(error.code.as_deref(), Some("max_rounds"));
    assert_eq!(error.message, "task check: went back to fetch 5 times (max_rounds) and ${output.again} still holds");
}

#[test]
fn a_partial_join_in_a_loop_runs_once_per_round_and_the_loop_waits_for_its_other_branches() {
    let yaml = r#"
name: rounds
version: 1
tasks:
  start: { component: core, action: echo }
  b: { component: core, action: echo, depends_on: [start] }
  c: { component: core, action: echo, depends_on: [start] }
  d: { component: core, action: echo, depends_on: [start] }
  two: { component: core, action: echo, depends_on: [b, c, d], join: { at_least: 2 } }
  next: { depends_on: [two], component: core, action: echo, goto: { task: start, when: "${output.again}" } }
"#;
    let mut sim = Sim::started(yaml, json!({}));
    sim.succeed("start", json!(1));
    sim.succeed("b", json!(1));
    sim.succeed("c", json!(1));
    sim.succeed("two", json!(1));
    sim.succeed("next", json!({ "again": true }));
    assert_eq!(sim.running(), ["d"], "the next round waits for d (blocking)");
    assert_eq!(sim.status("next"), TaskStatus::Waiting);
    sim.succeed("d", json!(1));
    assert_eq!(sim.running(), ["start"], "round 2");
    assert_eq!(sim.count(|e| matches!(e, Event::CallStarted { call, .. } if call.task == "two")), 1);
    sim.succeed("start", json!(1));
    sim.succeed("d", json!(1));
    sim.succeed("c", json!(1));
    assert_eq!(sim.count(|e| matches!(e, Event::CallStarted { call, .. } if call.task == "two")), 2);
    sim.succeed("two", json!(1));
    sim.succeed("next", json!({ "again": false }));
    assert_eq!(sim.exec_status(), ExecStatus::Running, "b still runs: the execution waits for it");
    sim.succeed("b", json!(1));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
}

#[test]
fn a_goto_loop_of_100000_rounds_keeps_a_flat_state_and_step() {
    let yaml = r#"
name: spin
version: 1
tasks:
  poll: { component: core, action: echo, goto: { task: poll, when: "${output.n < 100000}", max_rounds: 100000 } }
"#;
    let mut sim = Sim::started(yaml, json!({}));
    let size_at = |sim: &Sim| serde_json::to_string(&sim.exec).unwrap().len();
    let (mut early, mut late) = ((0, 0), 0);
    for n in 1..=100_000u32 {
        let c = call("poll");
        let attempt = sim.exec.in_flight[&c];
        let out = harmonia_engine::step(
            &sim.plan,
            &mut sim.exec,
            Event::CallSucceeded { call: c, attempt, output: json!({ "n": n }), at: 0 },
        );
        if n == 10 {
            early = (size_at(&sim), out.events.len());
        } else if n > 10 && n < 100_000 {
            assert_eq!(out.events.len(), early.1, "the same events every round");
        }
        if n == 99_990 {
            late = size_at(&sim);
        }
    }
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
    assert_eq!(sim.exec.task("poll").round, 99_999);
    assert!(late < early.0 + 16, "state grew with the rounds: {late} vs {}", early.0);
}

//! Partial joins, the synchronizing merge, partial `for_each`, `terminate` and `cancel`.

use harmonia_engine::{Event, ExecStatus, TaskStatus, check_retry};
use serde_json::json;

use crate::sim::{Sim, call};

/// Two of three quotes are enough; `rest` is set by each test.
const QUOTES: &str = r#"
name: quotes
version: 1
tasks:
  a: { component: core, action: echo, on_error: continue }
  b: { component: core, action: echo, on_error: continue }
  c: { component: core, action: echo, on_error: continue }
  pick: { component: core, action: echo, depends_on: [a, b, c], join: { at_least: 2, rest: REST },
          input: { a: "${tasks.a.status}", b: "${tasks.b.status}", c: "${tasks.c.status}" } }
"#;

#[test]
fn a_partial_join_runs_once_after_n_and_lets_the_rest_finish() {
    let mut sim = Sim::started(&QUOTES.replace("REST", "finish"), json!({}));
    sim.succeed("b", json!(2));
    assert_eq!(sim.status("pick"), TaskStatus::Pending, "one of two");
    sim.fail("a", "fatal", "no quote"); // tolerated: still one to come
    assert_eq!(sim.status("pick"), TaskStatus::Pending);
    sim.succeed("c", json!(3));
    assert_eq!(sim.running(), ["pick"]);
    assert_eq!(sim.input_of("pick"), json!({ "a": "failed", "b": "succeeded", "c": "succeeded" }));
    sim.succeed("pick", json!("done"));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
}

#[test]
fn a_partial_join_whose_losing_branch_fails_after_it_ran_does_not_run_again() {
    let mut sim = Sim::started(&QUOTES.replace("REST", "finish"), json!({}));
    sim.succeed("a", json!(1));
    sim.succeed("b", json!(2));
    assert_eq!(sim.running(), ["c", "pick"], "c goes on: rest: finish");
    sim.succeed("pick", json!("done"));
    assert_eq!(sim.exec_status(), ExecStatus::Running, "the execution waits for c");
    sim.fail("c", "fatal", "late and failed");
    assert_eq!(sim.status("c"), TaskStatus::Failed);
    assert_eq!(sim.count(|e| matches!(e, Event::CallStarted { call, .. } if call.task == "pick")), 1);
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
}

#[test]
fn a_partial_join_with_rest_cancel_cancels_the_branches_still_running() {
    let mut sim = Sim::started(&QUOTES.replace("REST", "cancel"), json!({}));
    sim.succeed("a", json!(1));
    sim.succeed("c", json!(3));
    assert_eq!(sim.cancelled, [call("b")]);
    assert_eq!(sim.status("b"), TaskStatus::Cancelled);
    assert_eq!(sim.exec.task("b").reason.as_deref(), Some("not needed: task pick ran without it"));
    assert_eq!(sim.input_of("pick")["b"], "cancelled");
    assert_eq!(sim.succeed("b", json!("late")), 0, "a late result is ignored");
    sim.succeed("pick", json!("done"));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
}

#[test]
fn a_partial_join_that_can_no_longer_be_met_is_skipped_saying_why() {
    let mut sim = Sim::started(&QUOTES.replace("REST", "finish"), json!({}));
    sim.fail("a", "fatal", "no");
    sim.succeed("b", json!(2));
    sim.fail("c", "fatal", "no");
    assert_eq!(sim.status("pick"), TaskStatus::Skipped);
    assert_eq!(sim.exec.task("pick").reason.as_deref(), Some("only 1 of 3 dependencies succeeded, 2 needed"));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
}

/// A switch takes one of two branches; `merge` runs after whichever ran.
const MERGE: &str = r#"
name: merge
version: 1
input: { big: { type: boolean } }
tasks:
  route:
    switch:
      cases: [{ when: "${input.big}", then: [big, audit] }]
      default: [small]
  big: { component: core, action: echo, depends_on: [route] }
  audit: { component: core, action: echo, depends_on: [route] }
  small: { component: core, action: echo, depends_on: [route] }
  merged: { component: core, action: echo, depends_on: [big, audit, small], join: merge }
  and_join: { component: core, action: echo, depends_on: [big, audit, small] }
"#;

#[test]
fn a_synchronizing_merge_after_a_switch_waits_for_every_branch_taken() {
    let mut sim = Sim::started(MERGE, json!({ "big": true }));
    assert_eq!(sim.running(), ["audit", "big"]);
    assert_eq!(sim.status("small"), TaskStatus::Skipped);
    assert_eq!(sim.status("and_join"), TaskStatus::Skipped, "an AND join is skipped by the branch not taken");
    sim.succeed("big", json!(1));
    assert_eq!(sim.status("merged"), TaskStatus::Pending, "audit was taken too: merge waits for it");
    sim.succeed("audit", json!(2));
    assert_eq!(sim.running(), ["merged"]);
    sim.succeed("merged", json!(3));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);

    let mut sim = Sim::started(MERGE, json!({ "big": false }));
    sim.succeed("small", json!(1));
    assert_eq!(sim.running(), ["merged"], "the other branch was not taken");
}

#[test]
fn a_synchronizing_merge_with_no_branch_run_is_skipped() {
    let yaml = r#"
name: merge_none
version: 1
tasks:
  a: { component: core, action: echo, when: "${false}" }
  b: { component: core, action: echo, when: "${false}" }
  m: { component: core, action: echo, depends_on: [a, b], join: merge }
"#;
    let sim = Sim::started(yaml, json!({}));
    assert_eq!(sim.status("m"), TaskStatus::Skipped);
    assert_eq!(sim.exec.task("m").reason.as_deref(), Some("no dependency succeeded"));
}

#[test]
fn a_for_each_with_at_least_completes_after_n_items_and_cancels_the_rest() {
    let yaml = r#"
name: first_two
version: 1
tasks:
  ask:
    component: core
    action: echo
    for_each: { items: [1, 2, 3, 4, 5], concurrency: 3, at_least: 2 }
    input: { n: "${item}" }
  after: { component: core, action: echo, depends_on: [ask], input: "${tasks.ask.output}" }
"#;
    let mut sim = Sim::started(yaml, json!({}));
    assert_eq!(sim.running(), ["ask[0]", "ask[1]", "ask[2]"]);
    sim.succeed("ask[1]", json!("two"));
    assert_eq!(sim.running(), ["ask[0]", "ask[2]", "ask[3]"]);
    sim.succeed("ask[3]", json!("four"));
    assert_eq!(sim.status("ask"), TaskStatus::Succeeded);
    assert_eq!(sim.output("ask"), json!([null, "two", null, "four", null]));
    assert_eq!(sim.cancelled, [call("ask[0]"), call("ask[2]")]);
    assert!(!sim.calls.contains_key(&call("ask[4]")), "never started");
    assert_eq!(sim.running(), ["after"]);
    assert_eq!(sim.succeed("ask[0]", json!("late")), 0);
}

#[test]
fn terminate_completes_the_execution_with_its_output_and_cancels_the_rest() {
    let yaml = r#"
name: early
version: 1
tasks:
  check: { component: core, action: echo }
  child: { workflow: long_job }
  stop: { depends_on: [check], when: "${tasks.check.output.done}", terminate: { output: { why: "${tasks.check.output.why}" } } }
  more: { component: core, action: echo, depends_on: [check] }
  after_more: { component: core, action: echo, depends_on: [more] }
"#;
    let mut sim = Sim::started(yaml, json!({}));
    assert_eq!(sim.running(), ["check", "child"]);
    sim.succeed("check", json!({ "done": true, "why": "cached" }));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
    assert_eq!(sim.exec.output, Some(json!({ "why": "cached" })));
    assert!(sim.finished);
    assert!(sim.cancelled.contains(&call("child")), "the sub-workflow is stopped");
    assert!(!sim.calls.contains_key(&call("more")), "more never started");
    for task in ["child", "more", "after_more"] {
        assert_eq!(sim.status(task), TaskStatus::Cancelled, "{task}");
        assert_eq!(sim.exec.task(task).reason.as_deref(), Some("task stop terminated the execution"), "{task}");
    }
    assert_eq!(sim.status("stop"), TaskStatus::Succeeded);
    assert_eq!(sim.succeed("child", json!(1)), 0, "the child's late result is ignored");

    // Not terminated: the rest runs.
    let mut sim = Sim::started(yaml, json!({}));
    sim.succeed("check", json!({ "done": false }));
    assert_eq!(sim.status("stop"), TaskStatus::Skipped);
    assert_eq!(sim.running(), ["child", "more"]);
}

#[test]
fn terminate_with_an_error_fails_the_execution_and_on_failure_runs() {
    let yaml = r#"
name: reject
version: 1
input: { amount: { type: integer } }
tasks:
  slow: { component: core, action: echo }
  reject: { when: "${input.amount > 100}", terminate: { error: "amount ${input.amount} is over the limit", code: over_limit } }
  later: { component: core, action: echo, depends_on: [slow] }
on_failure: { component: core, action: echo, input: "${failure}" }
"#;
    let mut sim = Sim::started(yaml, json!({ "amount": 500 }));
    assert_eq!(sim.cancelled, [call("slow")]);
    assert_eq!(sim.running(), ["on_failure"]);
    assert_eq!(sim.input_of("on_failure")["kind"], "terminated");
    assert_eq!(sim.input_of("on_failure")["code"], "over_limit");
    sim.succeed("on_failure", json!(null));
    assert_eq!(sim.exec_status(), ExecStatus::Failed);
    let error = sim.exec.error.clone().unwrap();
    assert_eq!((error.kind.as_str(), error.message.as_str()), ("terminated", "amount 500 is over the limit"));
    assert_eq!(error.task.as_deref(), Some("reject"));
    assert_eq!(sim.status("later"), TaskStatus::Cancelled);
}

#[test]
fn a_cancel_task_withdraws_a_region_and_what_depends_on_it_is_skipped() {
    let yaml = r#"
name: region
version: 1
tasks:
  pay: { component: core, action: echo }
  pack: { component: core, action: echo }
  ship: { component: core, action: echo, depends_on: [pack] }
  declined: { component: core, action: echo, depends_on: [pay] }
  stop_shipping: { depends_on: [declined], cancel: [pack, ship] }
  notify: { component: core, action: echo, depends_on: [ship] }
  refund: { component: core, action: echo, depends_on: [stop_shipping] }
"#;
    let mut sim = Sim::started(yaml, json!({}));
    sim.succeed("pay", json!("declined"));
    sim.succeed("declined", json!(true));
    assert_eq!(sim.cancelled, [call("pack")]);
    assert_eq!(sim.output("stop_shipping"), json!({ "cancelled": ["pack", "ship"] }));
    assert_eq!(sim.exec.task("ship").reason.as_deref(), Some("cancelled by task stop_shipping"));
    assert_eq!(sim.status("notify"), TaskStatus::Skipped);
    assert_eq!(sim.running(), ["refund"]);
    sim.succeed("refund", json!(1));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
}

#[test]
fn a_retry_does_not_run_again_what_the_workflow_cancelled_on_purpose() {
    let yaml = r#"
name: region_retry
version: 1
tasks:
  a: { component: core, action: echo }
  b: { component: core, action: echo }
  c: { depends_on: [a], cancel: [b] }
  d: { component: core, action: echo, depends_on: [c] }
"#;
    let mut sim = Sim::started(yaml, json!({}));
    sim.succeed("a", json!(1));
    assert_eq!(sim.status("b"), TaskStatus::Cancelled);
    sim.fail("d", "fatal", "down");
    assert_eq!(sim.exec_status(), ExecStatus::Failed);
    assert_eq!(check_retry(&sim.exec), Ok(()));
    sim.feed(Event::Retried { at: sim.now });
    assert_eq!(sim.running(), ["d"]);
    assert_eq!(sim.status("b"), TaskStatus::Cancelled, "b stays cancelled");
    assert!(sim.history.iter().all(|e| !matches!(e, Event::TaskReset { task } if task == "b")));
    sim.succeed("d", json!(2));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
}

const MILESTONE: &str = r#"
name: milestone
version: 1
vars: { paid: false }
tasks:
  pack: { component: core, action: echo }
  pay: { component: core, action: echo, set_vars: { paid: true } }
  ship:
    wait_for: { condition: "${tasks.pack.status == 'succeeded' && vars.paid}" }
    timeout: 1h
  after: { component: core, action: echo, depends_on: [ship], input: "${tasks.ship.output}" }
"#;

#[test]
fn a_milestone_waits_until_its_condition_over_the_execution_holds() {
    let mut sim = Sim::started(MILESTONE, json!({}));
    assert_eq!(sim.running(), ["pack", "pay", "ship"]);
    assert_eq!(sim.status("ship"), TaskStatus::Running);
    sim.succeed("pack", json!(1));
    assert_eq!(sim.status("ship"), TaskStatus::Running, "not paid yet");
    sim.succeed("pay", json!(1));
    assert_eq!(sim.status("ship"), TaskStatus::Succeeded);
    assert_eq!(sim.input_of("after"), json!(true));
    // Its timer, should it fire now, changes nothing.
    sim.advance(3_600_000);
    sim.succeed("after", json!(1));
    assert_eq!(sim.exec_status(), ExecStatus::Completed);
}

#[test]
fn a_milestone_times_out_and_is_watched_again_after_a_restart() {
    let mut sim = Sim::started(MILESTONE, json!({}));
    sim.succeed("pack", json!(1));
    sim.advance(1_000_000);
    sim.feed(Event::Recovered { at: sim.now });
    assert_eq!(sim.running(), ["pay", "ship"], "re-armed after the restart");
    sim.advance(3_000_000); // past the first start + 1h: the deadline did not move
    assert_eq!(sim.exec_status(), ExecStatus::Failed);
    let error = sim.exec.error.clone().unwrap();
    assert_eq!(error.kind, "timeout");
    assert!(error.message.contains("did not hold before the timeout"), "{error}");

    let yaml = MILESTONE.replace("timeout: 1h", "timeout: 1h\n    on_error: continue");
    let mut sim = Sim::started(&yaml, json!({}));
    sim.advance(3_600_000);
    assert_eq!(sim.status("ship"), TaskStatus::Failed);
    assert_eq!(sim.status("after"), TaskStatus::Running, "on_error: continue");
}

const MUTEX: &str = r#"
name: invoices
version: 1
input: { customer: { type: string } }
tasks:
  prepare: { component: core, action: echo }
  bill:
    component: core
    action: echo
    depends_on: [prepare]
    mutex: "invoices-${input.customer}"
    retry: { max_attempts: 2, delay: 1s }
  after: { component: core, action: echo, depends_on: [bill] }
"#;

#[test]
fn a_task_with_a_mutex_starts_once_granted_and_gives_its_slot_back_when_it_ends() {
    use harmonia_engine::Command;
    let mut sim = Sim::started(MUTEX, json!({ "customer": "acme" }));
    sim.succeed("prepare", json!(1));
    assert_eq!(sim.status("bill"), TaskStatus::Waiting, "waiting for its slot");
    assert!(sim.running().is_empty());
    let acquire = Command::Acquire { task: "bill".into(), key: "invoices-acme".into(), limit: 1 };
    assert_eq!(sim.locks, std::slice::from_ref(&acquire));
    sim.feed(Event::LockAcquired { task: "bill".into(), at: sim.now });
    assert_eq!(sim.running(), ["bill"]);
    assert_eq!(sim.feed(Event::LockAcquired { task: "bill".into(), at: sim.now }), 0, "granted twice: ignored");
    // The slot is held across retries and a restart, then given back once.
    sim.fail("bill", "retryable", "busy");
    sim.feed(Event::Recovered { at: sim.now });
    assert_eq!(sim.locks.last(), Some(&acquire), "asked again after the restart, keeping its place");
    sim.advance(2_000);
    sim.succeed("bill", json!(2));
    let release = Command::Release { task: "bill".into(), key: "invoices-acme".into() };
    assert_eq!(sim.locks.iter().filter(|c| **c == release).count(), 1);
    assert_eq!(sim.exec.task("bill").lock, None);
    assert_eq!(sim.running(), ["after"]);
}

#[test]
fn a_task_waiting_for_its_mutex_gives_its_place_back_when_the_execution_is_cancelled() {
    let mut sim = Sim::started(MUTEX, json!({ "customer": "acme" }));
    sim.succeed("prepare", json!(1));
    sim.feed(Event::Cancelled { reason: "no longer needed".into(), at: sim.now });
    assert!(sim.finished, "Finished: the runner gives back what the execution held or asked for");
    assert_eq!(sim.status("bill"), TaskStatus::Cancelled);
    assert_eq!(sim.feed(Event::LockAcquired { task: "bill".into(), at: sim.now }), 0);
}

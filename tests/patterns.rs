//! The control-flow examples of `workflows/` (one per construct), run end to end: through
//! `harmonia run` with the real bundled plugins, and on a real server where the execution
//! takes input while it runs.

use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::events::finished;
use crate::support::{Server, expect};
use crate::workflows::{harmonia, run_ok, text};

#[test]
fn a_partial_join_goes_on_with_two_of_three_and_cancels_the_third() {
    let out = run_ok(&["workflows/partial_join.yaml"]);
    assert_eq!(out, json!({ "quick": "succeeded", "steady": "succeeded", "slow": "cancelled" }));
}

#[test]
fn a_synchronizing_merge_runs_once_after_the_branches_taken() {
    let out = run_ok(&["workflows/merge.yaml", "--input", "amount=5000"]);
    assert_eq!(out, json!({ "reviewed": true, "invoiced": 5000 }));
    let out = run_ok(&["workflows/merge.yaml", "--input", "amount=5"]);
    assert_eq!(out, json!({ "reviewed": false, "invoiced": 5 }));
}

#[test]
fn a_for_each_with_at_least_keeps_the_first_answers() {
    let out = run_ok(&["workflows/first_results.yaml"]);
    assert_eq!(out, json!({ "answers": 2, "slots": 5 }));
}

#[test]
fn per_item_errors_keep_every_items_output_or_error() {
    let out = run_ok(&["workflows/item_errors.yaml"]);
    assert_eq!(out, json!({ "prices": [10, 7], "failed": [1], "why": "nothing at pointer `/price`" }));
}

#[test]
fn terminate_completes_early_or_fails_with_its_code() {
    let out = run_ok(&["workflows/terminate.yaml"]);
    assert_eq!(out, json!({ "answer": 42, "from": "compute" }));
    let out = run_ok(&["workflows/terminate.yaml", "--input", "cached=true"]);
    assert_eq!(out, json!({ "answer": 42, "from": "cache" }));
    let out = harmonia(&["run", "workflows/terminate.yaml", "--input", "amount=500", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let exec: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(exec["error"]["kind"], "terminated");
    assert_eq!(exec["error"]["code"], "over_limit");
    assert_eq!(exec["tasks"]["compute"]["status"], "cancelled");
    assert_eq!(exec["tasks"]["on_failure"]["output"]["alert"], "amount 500 is over the limit of 100");
}

#[test]
fn a_cancel_region_withdraws_shipping_and_the_refund_runs() {
    let out = run_ok(&["workflows/cancel_region.yaml"]);
    assert_eq!(out, json!({ "refund": { "cancelled": ["pack", "ship"] }, "ship": "cancelled", "notify": "skipped" }));
}

#[test]
fn a_goto_loop_runs_a_round_per_page() {
    let out = run_ok(&["workflows/goto_loop.yaml", "--input", "pages=4"]);
    assert_eq!(out, json!({ "pages": [1, 2, 3, 4] }));
}

#[test]
fn a_milestone_waits_for_packed_and_paid() {
    let out = run_ok(&["workflows/milestone.yaml"]);
    assert_eq!(out, json!({ "ready": true, "paid": true }));
}

#[test]
fn an_open_for_each_takes_items_over_the_api_until_closed() {
    let server = Server::start();
    let http = Client::new();
    let id = server.start_execution("open_items", json!({ "input": { "seeds": ["a"] } }));
    let items = server.url(&format!("/api/v1/executions/{id}/tasks/fetch/items"));
    let added = http.post(&items).json(&json!({ "items": ["b", "c"] })).send().unwrap();
    assert_eq!(expect(added, 202, None)["status"], "running", "the list is open: the task waits for more");
    // The CLI adds and closes.
    let out = harmonia(&["exec", "add-items", &id, "fetch", r#"["d"]"#, "--close", "--server", server.base()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let exec = finished(&http, &server, &id);
    assert_eq!(exec["status"], "completed", "{exec}");
    assert_eq!(exec["output"], json!({ "fetched": ["a", "b", "c", "d"] }));
    // Closed and ended: more is refused, saying why.
    let late = http.post(&items).json(&json!({ "items": ["e"] })).send().unwrap();
    let body = expect(late, 409, Some("not_running"));
    assert!(body["error"]["message"].as_str().unwrap().ends_with("is not running"), "{body}");
    // A task without an open list refuses items.
    let other = server.start_execution("milestone", json!({}));
    let refused = http
        .post(server.url(&format!("/api/v1/executions/{other}/tasks/pack/items")))
        .json(&json!({ "items": [1] }))
        .send()
        .unwrap();
    let status = refused.status().as_u16();
    assert!(status == 409 || status == 404, "{status}");
}

#[test]
fn a_mutex_lets_one_execution_at_a_time_into_its_critical_section() {
    let server = Server::start();
    let http = Client::new();
    let start =
        |customer: &str| server.start_execution("mutex", json!({ "input": { "customer": customer, "ms": 300 } }));
    let ids: Vec<String> = ["acme", "acme", "acme", "globex"].iter().map(|c| start(c)).collect();
    let execs: Vec<Value> = ids.iter().map(|id| finished(&http, &server, id)).collect();
    let span = |e: &Value| {
        (e["tasks"]["bill"]["started_at"].as_u64().unwrap(), e["tasks"]["bill"]["finished_at"].as_u64().unwrap())
    };
    for e in &execs {
        assert_eq!(e["status"], "completed", "{e}");
    }
    // acme's bills ran one at a time. In which order is the order they asked for the mutex,
    // which need not be the order the executions started (each runs `prepare` first, and on
    // a busy machine a later one may ask first): the runner's tests check that order.
    let mut acme: Vec<(u64, u64)> = execs[..3].iter().map(span).collect();
    acme.sort();
    for pair in acme.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        assert!(b.0 >= a.1, "a bill started at {} before the previous one ended at {}", b.0, a.1);
    }
    // globex has its own key: it did not wait behind acme's three.
    let (globex, last_acme) = (span(&execs[3]), acme[2]);
    assert!(globex.0 < last_acme.0, "globex waited for acme: {globex:?} vs {last_acme:?}");
}

const ORDERS_V1: &str = "name: orders\nversion: \"1\"\ntasks:\n  nap: { component: core, action: sleep, input: { ms: 400 } }\n  charge: { component: core, action: echo, depends_on: [nap], input: { from: v1 } }\n  mail: { component: core, action: echo, depends_on: [charge], input: { mail: v1 } }\n";
const ORDERS_V2: &str = "name: orders\nversion: \"2\"\ntasks:\n  nap: { component: core, action: sleep, input: { ms: 400 } }\n  charge: { component: core, action: echo, depends_on: [nap], input: { from: v2 } }\n  receipt: { component: core, action: echo, depends_on: [charge], input: { receipt: \"${tasks.charge.output.from}\" } }\n";
const ORDERS_V3: &str =
    "name: orders\nversion: \"3\"\ntasks:\n  charge: { component: core, action: echo, input: { from: v3 } }\n";

/// A server on a fresh data directory with `orders` 1 to 3 stored; an execution of v1 paused
/// while its first task sleeps.
fn paused_order(data: &std::path::Path, workflows: &std::path::Path) -> (Server, String) {
    let server = Server::start_with(data, workflows);
    for text in [ORDERS_V1, ORDERS_V2, ORDERS_V3] {
        let (status, body) = crate::serve::post_workflow(&server, "application/yaml", text);
        assert_eq!(status, 201, "{body}");
    }
    let http = Client::new();
    let id = server.start_execution("orders", json!({ "version": "1" }));
    let paused = http.post(server.url(&format!("/api/v1/executions/{id}/pause"))).send().unwrap();
    assert_eq!(expect(paused, 202, None)["status"], "paused");
    (server, id)
}

#[test]
fn a_paused_execution_moves_to_another_version_or_is_refused_with_its_conflicts() {
    let (data, workflows) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (server, id) = paused_order(data.path(), workflows.path());
    let http = Client::new();
    let migrate = |version: &str| {
        http.post(server.url(&format!("/api/v1/executions/{id}/migrate")))
            .json(&json!({ "version": version }))
            .send()
            .unwrap()
    };
    let refused = expect(migrate("3"), 409, Some("migration_conflicts"));
    assert_eq!(
        refused["error"]["message"], "cannot move to version 3: task nap is running, and version 3 has no task nap",
        "{refused}"
    );
    expect(migrate("9"), 400, Some("invalid_change"));
    assert_eq!(expect(migrate("2"), 202, None)["version"], "2");
    http.post(server.url(&format!("/api/v1/executions/{id}/resume"))).send().unwrap();
    let exec = finished(&http, &server, &id);
    assert_eq!(exec["status"], "completed", "{exec}");
    assert_eq!(exec["output"], json!({ "receipt": { "receipt": "v2" } }));
    let history: Value =
        http.get(server.url(&format!("/api/v1/executions/{id}/history"))).send().unwrap().json().unwrap();
    assert!(history.to_string().contains("\"type\":\"migrated\""), "recorded in the history");
}

#[test]
fn a_task_added_and_an_input_replaced_while_paused_survive_a_restart() {
    let (data, workflows) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (server, id) = paused_order(data.path(), workflows.path());
    let http = Client::new();
    let add =
        |body: Value| http.post(server.url(&format!("/api/v1/executions/{id}/tasks"))).json(&body).send().unwrap();
    let audit = json!({ "component": "core", "action": "echo", "depends_on": ["charge"], "input": { "saw": "${tasks.charge.output.from}" } });
    expect(add(json!({ "id": "audit", "task": audit })), 202, None);
    let bad = json!({ "component": "core", "action": "echo", "input": "${tasks.mail.output}" });
    let refused = expect(add(json!({ "id": "bad", "task": bad })), 400, Some("invalid_change"));
    assert!(refused["error"]["message"].as_str().unwrap().contains("does not depend on it"), "{refused}");
    expect(add(json!({ "id": "audit", "task": audit })), 409, Some("task_exists"));
    let input = server.url(&format!("/api/v1/executions/{id}/tasks/charge/input"));
    expect(http.post(&input).json(&json!({ "input": { "from": "a person" } })).send().unwrap(), 202, None);
    let started = server.url(&format!("/api/v1/executions/{id}/tasks/nap/input"));
    expect(http.post(&started).json(&json!({ "input": { "ms": 1 } })).send().unwrap(), 409, Some("task_started"));

    // The changes are kept with the execution: a new server runs them.
    let (_, status) = server.terminate();
    assert!(status.success(), "{status:?}");
    let server = Server::start_with(data.path(), workflows.path());
    http.post(server.url(&format!("/api/v1/executions/{id}/resume"))).send().unwrap();
    let exec = finished(&http, &server, &id);
    assert_eq!(exec["status"], "completed", "{exec}");
    assert_eq!(exec["tasks"]["charge"]["output"], json!({ "from": "a person" }));
    assert_eq!(exec["output"], json!({ "audit": { "saw": "a person" }, "mail": { "mail": "v1" } }));
    // Its history replays to the stored state, with the changes.
    let out = harmonia(&["exec", "replay", &id, "--data", data.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
}

/// `core.sleep` publishes its input schema: `ms`, an integer, and nothing else.
const MISTYPED: &str = "name: mistyped\nversion: 1\ntasks:\n  nap:\n    component: core\n    action: sleep\n    input: { msec: 10 }\n  fail:\n    component: core\n    action: fail\n    input: { kind: fatall }\n";

#[test]
fn a_mistyped_field_of_a_tasks_input_is_reported_with_line_and_column_by_validate_and_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mistyped.yaml");
    std::fs::write(&file, MISTYPED).unwrap();
    let out = harmonia(&["validate", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let report = text(&out.stdout);
    let at = file.display();
    assert!(report.contains(&format!("{at}:7:20: task `nap`: `input.msec` is not a field of core.sleep's input (its fields: ms) (hint: did you mean `ms`?)")), "{report}");
    assert!(
        report.contains(&format!("{at}:7:12: task `nap`: `input` has no `ms`, which core.sleep requires")),
        "{report}"
    );
    assert!(report.contains(&format!("{at}:11:20: task `fail`: `input.kind` must be one of \"retryable\", \"fatal\", \"invalid_input\", got \"fatall\"")), "{report}");
    // `harmonia plugin describe` shows the schema.
    let out = harmonia(&["plugin", "describe", "core"]);
    let core: Value = serde_json::from_slice(&out.stdout).unwrap();
    let sleep = core["actions"].as_array().unwrap().iter().find(|a| a["name"] == "sleep").unwrap().clone();
    assert_eq!(sleep["input_schema"]["required"], json!(["ms"]));
    // Storing it over the API is refused the same way.
    let server = Server::start();
    let (status, body) = crate::serve::post_workflow(&server, "application/yaml", MISTYPED);
    assert_eq!(status, 400, "{body}");
    let message = body.to_string();
    assert!(
        message.contains("7:20") && message.contains("`input.msec` is not a field of core.sleep's input"),
        "{message}"
    );
}

#[test]
fn an_open_list_stops_at_its_limit_naming_the_setting() {
    let data = tempfile::tempdir().unwrap();
    let env = [("HARMONIA_FOR_EACH_MAX_ITEMS", "3")];
    let workflows = crate::support::repo().join("workflows");
    let server =
        Server::launch(crate::support::Launch { env: &env, ..crate::support::Launch::new(data.path(), &workflows) });
    let http = Client::new();
    let id = server.start_execution("open_items", json!({ "input": { "seeds": ["a"] } }));
    let items = server.url(&format!("/api/v1/executions/{id}/tasks/fetch/items"));
    let refused = http.post(&items).json(&json!({ "items": ["b", "c", "d"] })).send().unwrap();
    let body = expect(refused, 409, Some("too_many_items"));
    assert_eq!(
        body["error"]["message"],
        "task fetch would hold 4 items, over the limit of 3 (for_each_max_items; an operator can raise it)"
    );
    // Within the limit, it goes on and ends.
    expect(http.post(&items).json(&json!({ "items": ["b", "c"], "close": true })).send().unwrap(), 202, None);
    let exec = finished(&http, &server, &id);
    assert_eq!(exec["output"], json!({ "fetched": ["a", "b", "c"] }));
}

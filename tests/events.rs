//! Events against a real server: CloudEvents published over the API (structured, batch and
//! binary mode) go into the durable log, and `triggers:` start one execution per matching
//! event, once.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Server, expect};

const ON_UPLOAD: &str = r#"
name: on_upload
version: "1"
input: { path: { type: string } }
triggers:
  - event: doc.*
    filter: "${event.data.size > 0}"
    input: { path: "${event.data.path}" }
tasks:
  echo:
    component: core
    action: echo
    input: { path: "${input.path}", source: "${event.source}", type: "${event.type}" }
output: "${tasks.echo.output}"
"#;

fn server() -> (Server, tempfile::TempDir) {
    let workflows = tempfile::tempdir().unwrap();
    std::fs::write(workflows.path().join("on_upload.yaml"), ON_UPLOAD).unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_with(data.path(), workflows.path());
    (server, data)
}

fn event(id: &str, kind: &str, data: Value) -> Value {
    json!({ "specversion": "1.0", "id": id, "source": "/files", "type": kind, "data": data })
}

fn publish(client: &reqwest::blocking::Client, server: &Server, media: &str, body: &Value) -> Value {
    let response =
        client.post(server.url("/api/v1/events")).header("content-type", media).body(body.to_string()).send().unwrap();
    expect(response, 202, None)
}

/// The execution once it has ended.
pub(crate) fn finished(client: &reqwest::blocking::Client, server: &Server, id: &str) -> Value {
    let started = Instant::now();
    loop {
        let response = client.get(server.url(&format!("/api/v1/executions/{id}"))).send().unwrap();
        if response.status() == 200 {
            let exec: Value = response.json().unwrap();
            if ["completed", "failed", "cancelled"].contains(&exec["status"].as_str().unwrap_or_default()) {
                return exec;
            }
        }
        assert!(started.elapsed() < Duration::from_secs(20), "execution {id} did not end");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn executions_of(client: &reqwest::blocking::Client, server: &Server, workflow: &str) -> Vec<String> {
    let response = client.get(server.url(&format!("/api/v1/executions?workflow={workflow}"))).send().unwrap();
    let page = expect(response, 200, None);
    page["executions"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_string()).collect()
}

#[test]
fn an_event_starts_a_workflow_through_its_trigger_once_and_only_if_its_filter_holds() {
    let (server, _data) = server();
    let client = reqwest::blocking::Client::new();

    let first = event("e1", "doc.uploaded", json!({ "path": "a.txt", "size": 3 }));
    let answer = publish(&client, &server, "application/cloudevents+json", &first);
    assert_eq!(answer["accepted"], 1);
    assert_eq!(answer["events"][0], json!({ "id": "e1", "source": "/files", "seq": 1, "duplicate": false }));
    let exec = finished(&client, &server, "on_upload-event-1");
    assert_eq!(exec["status"], "completed", "{exec}");
    assert_eq!(exec["output"], json!({ "path": "a.txt", "source": "/files", "type": "doc.uploaded" }));

    // The same source and id again: acknowledged with its first position, nothing new.
    let again = publish(&client, &server, "application/json", &first);
    assert_eq!((again["accepted"].clone(), again["duplicates"].clone()), (json!(0), json!(1)));
    assert_eq!(again["events"][0]["seq"], 1);

    // A batch: an empty document (the filter says no), then one that matches.
    let batch = json!([
        event("e2", "doc.uploaded", json!({ "path": "empty.txt", "size": 0 })),
        event("e3", "doc.replaced", json!({ "path": "b.txt", "size": 9 })),
        event("e4", "invoice.paid", json!({ "size": 1 })),
    ]);
    let answer = publish(&client, &server, "application/cloudevents-batch+json", &batch);
    let seqs: Vec<u64> = answer["events"].as_array().unwrap().iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs[0] > 1 && seqs[1] == seqs[0] + 1 && seqs[2] == seqs[1] + 1, "one batch, in order: {seqs:?}");
    let replaced = format!("on_upload-event-{}", seqs[1]);
    assert_eq!(finished(&client, &server, &replaced)["output"]["path"], "b.txt");

    // Binary mode: the attributes in ce-* headers, the data as the body.
    let response = client
        .post(server.url("/api/v1/events"))
        .header("ce-specversion", "1.0")
        .header("ce-id", "e5")
        .header("ce-source", "/files")
        .header("ce-type", "doc.uploaded")
        .header("ce-subject", "c%20d.txt")
        .header("content-type", "application/json")
        .body(json!({ "path": "c d.txt", "size": 2 }).to_string())
        .send()
        .unwrap();
    let binary = expect(response, 202, None)["events"][0]["seq"].as_u64().unwrap();
    let binary = format!("on_upload-event-{binary}");
    assert_eq!(finished(&client, &server, &binary)["output"]["path"], "c d.txt");

    // Triggers follow the log in order: by now e2 (filtered out), the duplicate and the
    // event of another type have been seen, and started nothing.
    let mut started = executions_of(&client, &server, "on_upload");
    started.sort();
    let mut expected = vec!["on_upload-event-1".to_string(), replaced, binary];
    expected.sort();
    assert_eq!(started, expected);

    // The log keeps every event once, with what was sent.
    let response = client.get(server.url("/api/v1/events?type=doc.*")).send().unwrap();
    let log = expect(response, 200, None);
    let ids: Vec<&str> = log["events"].as_array().unwrap().iter().map(|e| e["event"]["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["e1", "e2", "e3", "e5"]);
    assert_eq!(log["events"][3]["event"]["subject"], "c d.txt", "percent-decoded");
    assert_eq!(log["events"][3]["event"]["datacontenttype"], "application/json");
}

#[test]
fn malformed_events_are_refused_whole_with_a_reason() {
    let (server, _data) = server();
    let client = reqwest::blocking::Client::new();
    let bad = |media: &str, body: String| {
        client.post(server.url("/api/v1/events")).header("content-type", media).body(body).send().unwrap()
    };
    let refused =
        expect(bad("application/json", json!({ "id": "x", "source": "/s" }).to_string()), 400, Some("invalid_event"));
    assert!(refused["error"]["message"].as_str().unwrap().contains("no `specversion`"), "{refused}");
    // One bad event in a batch refuses the batch: nothing of it is accepted.
    let batch =
        json!([event("ok", "doc.x", json!({})), { "specversion": "1.0", "id": "", "source": "/s", "type": "t" }]);
    let refused = expect(bad("application/cloudevents-batch+json", batch.to_string()), 400, Some("invalid_event"));
    assert!(refused["error"]["message"].as_str().unwrap().starts_with("event 2: `id` must not be empty"), "{refused}");
    expect(bad("text/plain", "hello".into()), 415, Some("unsupported_media_type"));
    let too_many: Vec<Value> = (0..1001).map(|i| event(&i.to_string(), "t", json!(null))).collect();
    let refused = expect(bad("application/json", json!(too_many).to_string()), 400, Some("invalid_event"));
    assert!(refused["error"]["message"].as_str().unwrap().contains("over the limit of 1000"), "{refused}");
    let log = expect(client.get(server.url("/api/v1/events")).send().unwrap(), 200, None);
    assert_eq!(log["events"], json!([]), "nothing of a refused request is in the log");
}

const APPROVAL: &str = r#"
name: approval
version: "1"
tasks:
  approve: { wait_for: { signal: approve } }
  act:
    component: core
    action: echo
    input: { by: "${tasks.approve.output.sender}", ok: "${tasks.approve.output.data.ok}" }
    depends_on: [approve]
output: "${tasks.act.output}"
"#;

/// The status of a task of an execution, as the API shows it.
fn task_status(
    client: &reqwest::blocking::Client,
    server: &Server,
    token: Option<&str>,
    id: &str,
    task: &str,
) -> String {
    let response =
        crate::support::with(client.get(server.url(&format!("/api/v1/executions/{id}"))), token).send().unwrap();
    let exec = expect(response, 200, None);
    exec["tasks"][task]["status"].as_str().unwrap_or_default().to_string()
}

fn until_waiting(client: &reqwest::blocking::Client, server: &Server, token: Option<&str>, id: &str, task: &str) {
    let started = Instant::now();
    while task_status(client, server, token, id, task) != "running" {
        assert!(started.elapsed() < Duration::from_secs(20), "{id}: {task} never began to wait");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_approval_signal_from_a_viewer_is_refused_and_from_an_operator_taken_with_its_sender() {
    let workflows = tempfile::tempdir().unwrap();
    std::fs::write(workflows.path().join("approval.yaml"), APPROVAL).unwrap();
    let data = tempfile::tempdir().unwrap();
    let operator = crate::support::create_token(data.path(), "operator", "olga");
    let viewer = crate::support::create_token(data.path(), "viewer", "victor");
    let server = Server::start_with(data.path(), workflows.path());
    let client = reqwest::blocking::Client::new();
    let start = client.post(server.url("/api/v1/workflows/approval/executions")).json(&json!({}));
    let id = expect(crate::support::with(start, Some(&operator)).send().unwrap(), 201, None)["id"]
        .as_str()
        .unwrap()
        .to_string();
    until_waiting(&client, &server, Some(&viewer), &id, "approve");

    let signal = |token: &str| {
        let request =
            client.post(server.url(&format!("/api/v1/executions/{id}/signals/approve"))).json(&json!({ "ok": true }));
        crate::support::with(request, Some(token)).send().unwrap()
    };
    expect(signal(&viewer), 403, Some("forbidden"));
    assert_eq!(
        task_status(&client, &server, Some(&viewer), &id, "approve"),
        "running",
        "a refused signal changes nothing"
    );

    // The operator approves through the CLI.
    let out = crate::support::harmonia_command()
        .args(["exec", "signal", &id, "approve", r#"{"ok": true}"#, "--server", server.base(), "--token", &operator])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["sender"], "olga");

    let finished = {
        let started = Instant::now();
        loop {
            let response =
                crate::support::with(client.get(server.url(&format!("/api/v1/executions/{id}"))), Some(&viewer));
            let exec = expect(response.send().unwrap(), 200, None);
            if exec["status"] == "completed" {
                break exec;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "not completed: {exec}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    assert_eq!(finished["output"], json!({ "by": "olga", "ok": true }));
    // The history names who sent it.
    let history =
        crate::support::with(client.get(server.url(&format!("/api/v1/executions/{id}/history"))), Some(&viewer));
    let history = expect(history.send().unwrap(), 200, None);
    let signalled = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "call_succeeded" && e["call"]["task"] == "approve")
        .expect("the signal's result in the history")
        .clone();
    assert_eq!(signalled["output"]["sender"], "olga");
    assert_eq!(signalled["output"]["subject"], "approve");
}

const ORDER: &str = r#"
name: order
version: "1"
input: { order: { type: string } }
tasks:
  paid:
    wait_for: { event: order.paid, correlate: "${input.order}" }
    timeout: 1h
output: "${tasks.paid.output.data.amount}"
"#;

#[test]
fn a_waiting_execution_gets_the_event_sent_while_the_server_was_down() {
    let workflows = tempfile::tempdir().unwrap();
    std::fs::write(workflows.path().join("order.yaml"), ORDER).unwrap();
    let data = tempfile::tempdir().unwrap();
    let client = reqwest::blocking::Client::new();
    let server = Server::start_with(data.path(), workflows.path());
    let start =
        client.post(server.url("/api/v1/workflows/order/executions")).json(&json!({ "input": { "order": "A-1" } }));
    let id = expect(start.send().unwrap(), 201, None)["id"].as_str().unwrap().to_string();
    until_waiting(&client, &server, None, &id, "paid");
    server.stop();

    // Sent to the stopped server's data directory: another order's event, then this one's.
    for (order, amount) in [("B-2", "1"), ("A-1", "42")] {
        let out = crate::support::harmonia(
            &["event", "send", "order.paid", &format!(r#"{{"amount": {amount}}}"#), "--correlation-id", order],
            data.path(),
        )
        .output()
        .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    let server = Server::start_with(data.path(), workflows.path());
    let exec = finished(&client, &server, &id);
    assert_eq!((exec["status"].clone(), exec["output"].clone()), (json!("completed"), json!(42)), "{exec}");
}

const EMITTER: &str = r#"
name: emitter
version: "1"
tasks:
  announce:
    component: core
    action: log
    input: { message: "announcing", event: { type: report.ready, data: { pages: 3 } } }
"#;

const FOLLOWER: &str = r#"
name: follower
version: "1"
input: { pages: { type: integer } }
triggers:
  - event: report.ready
    source: "harmonia/plugins/*"
    input: { pages: "${event.data.pages}" }
tasks:
  read: { component: core, action: echo, input: { pages: "${input.pages}", from: "${event.executionid}" } }
output: "${tasks.read.output}"
"#;

#[test]
fn an_event_a_plugin_emits_starts_another_workflow() {
    let workflows = tempfile::tempdir().unwrap();
    std::fs::write(workflows.path().join("emitter.yaml"), EMITTER).unwrap();
    std::fs::write(workflows.path().join("follower.yaml"), FOLLOWER).unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_with(data.path(), workflows.path());
    let client = reqwest::blocking::Client::new();
    let start = client.post(server.url("/api/v1/workflows/emitter/executions?wait=10s")).json(&json!({}));
    let emitter = expect(start.send().unwrap(), 200, None);
    assert_eq!(emitter["status"], "completed", "{emitter}");
    let id = emitter["id"].as_str().unwrap();
    // The event is in the log, from the plugin, naming the execution and task.
    let log = expect(client.get(server.url("/api/v1/events?type=report.*")).send().unwrap(), 200, None);
    let event = &log["events"][0]["event"];
    assert_eq!((event["source"].as_str(), event["executionid"].as_str()), (Some("harmonia/plugins/core"), Some(id)));
    assert_eq!(event["taskid"], "announce");
    let seq = log["events"][0]["seq"].as_u64().unwrap();
    let follower = finished(&client, &server, &format!("follower-event-{seq}"));
    assert_eq!(follower["output"], json!({ "pages": 3, "from": id }));
}

#[test]
fn a_workflow_shows_its_triggers_and_the_next_times_of_its_schedules() {
    let workflows = tempfile::tempdir().unwrap();
    let nightly = "name: nightly\nversion: \"1\"\ntriggers:\n  - cron: \"0 30 2 * * *\"\n    timezone: America/New_York\n    missed: run_once\n  - event: backup.requested\ntasks:\n  a: { component: core, action: echo }\n";
    std::fs::write(workflows.path().join("nightly.yaml"), nightly).unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_with(data.path(), workflows.path());
    let out = crate::support::harmonia_command()
        .args(["workflow", "get", "nightly", "--server", server.base()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    let schedule = &shown["triggers"]["schedules"][0];
    assert_eq!(
        (schedule["cron"].as_str(), schedule["timezone"].as_str()),
        (Some("0 30 2 * * *"), Some("America/New_York"))
    );
    assert_eq!(schedule["missed"], "run_once");
    let next: Vec<&str> = schedule["next"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert_eq!(next.len(), 3);
    for time in &next {
        assert!(time.contains("T02:30:00") && (time.ends_with("-05:00") || time.ends_with("-04:00")), "{next:?}");
    }
    assert!(next[0] < next[1] && next[1] < next[2], "{next:?}");
    assert_eq!(shown["triggers"]["events"][0]["event"], "backup.requested");
}

const ON_PUSH: &str = r#"
name: on_push
version: "1"
input: { branch: { type: string } }
triggers:
  - event: git.push
    input: { branch: "${event.data.ref}" }
tasks:
  build: { component: core, action: echo, input: { branch: "${input.branch}" } }
output: "${tasks.build.output.branch}"
"#;

#[test]
fn an_incoming_webhook_turns_a_signed_json_body_into_an_event_that_starts_a_workflow() {
    let workflows = tempfile::tempdir().unwrap();
    std::fs::write(workflows.path().join("on_push.yaml"), ON_PUSH).unwrap();
    let data = tempfile::tempdir().unwrap();
    let admin = crate::support::create_token(data.path(), "admin", "root");
    let server = Server::start_with(data.path(), workflows.path());
    let client = reqwest::blocking::Client::new();
    let secret = "a-shared-secret-of-the-forge";
    let hook = json!({ "type": "git.push", "secret": secret, "signature_header": "X-Hub-Signature-256", "id_header": "X-GitHub-Delivery" });
    let made = crate::support::with(client.put(server.url("/api/v1/hooks/forge")).json(&hook), Some(&admin));
    let made = expect(made.send().unwrap(), 201, None);
    assert_eq!((made["signed"].clone(), made.get("secret")), (json!(true), None), "the secret is never shown");

    let body = json!({ "ref": "main", "commits": 3 }).to_string();
    let deliver = |signature: &str, delivery: &str| {
        client
            .post(server.url("/api/v1/hooks/forge"))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature)
            .header("x-github-delivery", delivery)
            .body(body.clone())
            .send()
            .unwrap()
    };
    // No token: the signature is what counts.
    let refused = expect(deliver("sha256=00", "d-1"), 401, Some("bad_signature"));
    assert!(refused["error"]["message"].as_str().unwrap().contains("x-hub-signature-256"), "{refused}");
    let signature = harmonia_api::hooks::sign(secret, body.as_bytes());
    let accepted = expect(deliver(&signature, "d-1"), 202, None);
    assert_eq!(accepted["duplicate"], false);
    let seq = accepted["seq"].as_u64().unwrap();
    let exec = finished(&client_with(&admin), &server, &format!("on_push-event-{seq}"));
    assert_eq!(exec["output"], "main");
    // The same delivery again is a duplicate: nothing starts twice.
    let again = expect(deliver(&signature, "d-1"), 202, None);
    assert_eq!((again["seq"].as_u64(), again["duplicate"].clone()), (Some(seq), json!(true)));
    let log =
        crate::support::with(client.get(server.url("/api/v1/events?type=git.push")), Some(&admin)).send().unwrap();
    let log = expect(log, 200, None);
    assert_eq!(log["events"].as_array().unwrap().len(), 1);
    assert_eq!(log["events"][0]["event"]["source"], "harmonia/hooks/forge");
    assert_eq!(log["events"][0]["event"]["data"], json!({ "ref": "main", "commits": 3 }));
    // An unknown hook is a 404, with or without a token.
    expect(client.post(server.url("/api/v1/hooks/nope")).body("{}").send().unwrap(), 404, Some("unknown_hook"));
}

/// A client that sends `token` with every request.
fn client_with(token: &str) -> reqwest::blocking::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    reqwest::blocking::Client::builder().default_headers(headers).build().unwrap()
}

/// A workflow whose one task always fails.
pub(crate) const BROKEN: &str = r#"
name: broken
version: "1"
tasks:
  fail: { component: core, action: fail, input: { kind: fatal, times: 1000 } }
"#;

const ALERT: &str = r#"
name: alert
version: "1"
input: { failed: { type: string }, why: { type: string } }
triggers:
  - event: harmonia.execution.failed
    filter: "${event.workflow != 'alert'}"
    input: { failed: "${event.executionid}", why: "${event.data.error.message}" }
tasks:
  page: { component: core, action: echo, input: { failed: "${input.failed}" } }
output: "${tasks.page.output.failed}"
"#;

#[test]
fn with_lifecycle_events_on_a_trigger_on_failed_executions_alerts() {
    let workflows = tempfile::tempdir().unwrap();
    std::fs::write(workflows.path().join("broken.yaml"), BROKEN).unwrap();
    std::fs::write(workflows.path().join("alert.yaml"), ALERT).unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut launch = crate::support::Launch::new(data.path(), workflows.path());
    launch.args = &["--lifecycle-events", "executions"];
    let server = Server::launch(launch);
    let client = reqwest::blocking::Client::new();
    let start = client.post(server.url("/api/v1/workflows/broken/executions?wait=10s")).json(&json!({}));
    let broken = expect(start.send().unwrap(), 200, None);
    assert_eq!(broken["status"], "failed", "{broken}");
    let id = broken["id"].as_str().unwrap();
    let log =
        expect(client.get(server.url("/api/v1/events?type=harmonia.execution.failed")).send().unwrap(), 200, None);
    let failed = &log["events"][0];
    assert_eq!(failed["event"]["executionid"], id);
    let alert = finished(&client, &server, &format!("alert-event-{}", failed["seq"]));
    assert_eq!(alert["output"], id, "{alert}");
    // Started and completed are there too, for the alert's own execution.
    let log = expect(client.get(server.url("/api/v1/events?type=harmonia.execution.*")).send().unwrap(), 200, None);
    let kinds: Vec<&str> =
        log["events"].as_array().unwrap().iter().map(|e| e["event"]["type"].as_str().unwrap()).collect();
    assert!(
        kinds.contains(&"harmonia.execution.started") && kinds.contains(&"harmonia.execution.completed"),
        "{kinds:?}"
    );
}

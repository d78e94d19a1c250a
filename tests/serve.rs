//! `harmonia serve` from the repository root, as the README runs it, on an ephemeral
//! loopback port, driven with a real HTTP client, and stopped with SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Launch, Server, operations, probe, repo};

#[test]
fn serve_runs_workflows_over_http_and_stops_on_sigterm() {
    let server = Server::start();
    let http = reqwest::blocking::Client::new();

    let health: Value = http.get(server.url("/health")).send().unwrap().json().unwrap();
    assert_eq!(health, json!({"status": "ok"}));

    let plugins: Value = http.get(server.url("/api/v1/plugins")).send().unwrap().json().unwrap();
    let names: Vec<&str> = plugins["plugins"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"sophia") && names.contains(&"ergon"), "{names:?}");
    let ready: Value = http.get(server.url("/ready")).send().unwrap().json().unwrap();
    assert_eq!((&ready["status"], &ready["store"]), (&json!("ready"), &json!("ok")), "{ready}");
    assert_eq!(ready["plugins"]["loaded"], json!(names.len()), "{ready}");

    let workflows: Value = http.get(server.url("/api/v1/workflows")).send().unwrap().json().unwrap();
    assert!(
        workflows["workflows"].as_array().unwrap().iter().any(|w| w["name"] == "document_processing"),
        "{workflows}"
    );

    // Called like a function: wait for the result.
    let response = http
        .post(server.url("/api/v1/workflows/document_processing/executions?wait=20s"))
        .json(&json!({"input": {"document_path": "workflows/examples-data/review.txt"}}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let done: Value = response.json().unwrap();
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"]["sentiment"], "positive");

    let id = done["id"].as_str().unwrap();
    let exec: Value = http.get(server.url(&format!("/api/v1/executions/{id}"))).send().unwrap().json().unwrap();
    assert_eq!(exec["status"], "completed");
    assert_eq!(exec["tasks"]["analyze_sentiment"]["status"], "succeeded");

    // Without wait: 201 with the id, then it finishes.
    let response = http.post(server.url("/api/v1/workflows/repeat/executions")).json(&json!({})).send().unwrap();
    assert_eq!(response.status(), 404, "repeat.yaml's workflow is named poll_until_done");
    let response = http
        .post(server.url("/api/v1/workflows/poll_until_done/executions"))
        .json(&json!({"input": {"target": 2}}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 201);
    let id = response.json::<Value>().unwrap()["id"].as_str().unwrap().to_string();
    let started = Instant::now();
    loop {
        let exec: Value = http.get(server.url(&format!("/api/v1/executions/{id}"))).send().unwrap().json().unwrap();
        if exec["status"] == "completed" {
            assert_eq!(exec["output"], json!({"iterations": 2}));
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{exec}");
        std::thread::sleep(Duration::from_millis(20));
    }

    let (took, status) = server.terminate();
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(10));
}

#[test]
fn bad_requests_get_4xx_with_a_json_error() {
    let data = tempfile::tempdir().unwrap();
    // A small body limit, so that a body over it is sent whole before the answer.
    let server = Server::launch(Launch {
        env: &[("HARMONIA_MAX_BODY", "16384")],
        ..Launch::new(data.path(), &repo().join("workflows"))
    });
    let http = reqwest::blocking::Client::new();
    let error = |response: reqwest::blocking::Response, status: u16, code: &str| -> String {
        assert_eq!(response.status(), status);
        let body: Value = response.json().unwrap();
        assert_eq!(body["error"]["code"], code, "{body}");
        body["error"]["message"].as_str().unwrap().to_string()
    };
    let missing = http.post(server.url("/api/v1/workflows/nope/executions")).json(&json!({})).send().unwrap();
    assert!(error(missing, 404, "unknown_workflow").contains("nope"));

    let malformed = http
        .post(server.url("/api/v1/workflows/document_processing/executions"))
        .header("content-type", "application/json")
        .body("{\"input\": ")
        .send()
        .unwrap();
    assert!(!error(malformed, 400, "bad_request").is_empty());

    let no_input =
        http.post(server.url("/api/v1/workflows/document_processing/executions")).json(&json!({})).send().unwrap();
    assert!(error(no_input, 400, "invalid_input").contains("document_path"));

    let wrong_type = http
        .post(server.url("/api/v1/workflows/poll_until_done/executions"))
        .json(&json!({"input": {"target": "many"}}))
        .send()
        .unwrap();
    assert!(error(wrong_type, 400, "invalid_input").contains("target"));

    let unknown = http.get(server.url("/api/v1/executions/doesnotexist")).send().unwrap();
    error(unknown, 404, "unknown_execution");

    // Bodies over the limit, JSON or a workflow: a 413 that says so.
    let huge = "x".repeat(20_000);
    let big_input = http
        .post(server.url("/api/v1/workflows/document_processing/executions"))
        .json(&json!({"input": {"document_path": huge}}))
        .send()
        .unwrap();
    assert!(error(big_input, 413, "body_too_large").contains("16384 bytes"));
    let big_workflow = http
        .post(server.url("/api/v1/workflows"))
        .header("content-type", "application/yaml")
        .body(huge)
        .send()
        .unwrap();
    error(big_workflow, 413, "body_too_large");
    let route = http.get(server.url("/api/v1/nothing")).send().unwrap();
    error(route, 404, "not_found");
}

#[test]
fn refuses_a_public_address_without_tokens() {
    let out = crate::support::harmonia_command()
        .current_dir(repo())
        .args(["serve", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refusing to listen on 0.0.0.0:0") && stderr.contains("--insecure"), "{stderr}");
}

/// Runs a workflow through the API and waits for its output.
fn run_workflow(server: &Server, name: &str, input: Value) -> Value {
    let response = reqwest::blocking::Client::new()
        .post(server.url(&format!("/api/v1/workflows/{name}/executions?wait=20s")))
        .json(&json!({ "input": input }))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let done: Value = response.json().unwrap();
    assert_eq!(done["status"], "completed", "{done}");
    done["output"].clone()
}

#[test]
fn plugin_kv_data_survives_a_restart_and_the_data_dir_has_one_owner() {
    let data = tempfile::tempdir().unwrap();
    let workflows = tempfile::tempdir().unwrap();
    let workflow = |name: &str, action: &str, input: &str, output: &str| {
        let yaml = format!(
            "name: {name}\nversion: 1\ninput:\n  value:\n    type: string\n    default: ''\n\
             tasks:\n  kv:\n    component: core\n    action: {action}\n    input: {input}\noutput:\n  result: {output}\n"
        );
        std::fs::write(workflows.path().join(format!("{name}.yaml")), yaml).unwrap();
    };
    workflow("remember", "kv_set", "{key: note, value: '${input.value}'}", "${tasks.kv.output.ok}");
    workflow("recall", "kv_get", "{key: note}", "${tasks.kv.output.value}");

    let server = Server::start_with(data.path(), workflows.path());
    assert_eq!(
        run_workflow(&server, "remember", json!({"value": "written before the restart"})),
        json!({"result": true})
    );

    // A second server on the same data directory is refused, naming the directory.
    let second = crate::support::harmonia_command()
        .current_dir(repo())
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains(&data.path().display().to_string()) && stderr.contains("in use"), "{stderr}");

    let (_, status) = server.terminate();
    assert!(status.success(), "{status:?}");
    let server = Server::start_with(data.path(), workflows.path());
    assert_eq!(run_workflow(&server, "recall", json!({})), json!({"result": "written before the restart"}));
}

const GREETER_V1: &str = "name: greeter\nversion: \"1\"\ninput:\n  ms: { type: integer, default: 0 }\ntasks:\n  nap: { component: core, action: sleep, input: { ms: \"${input.ms}\" } }\n  hello: { component: core, action: echo, input: { greeting: hello }, depends_on: [nap] }\noutput: \"${tasks.hello.output.greeting}\"\n";

fn post_workflow(server: &Server, content_type: &str, body: &str) -> (u16, Value) {
    let response = reqwest::blocking::Client::new()
        .post(server.url("/api/v1/workflows"))
        .header("content-type", content_type)
        .body(body.to_string())
        .send()
        .unwrap();
    (response.status().as_u16(), response.json().unwrap())
}

#[test]
fn workflows_are_stored_by_version_read_and_deleted_over_the_api() {
    let data = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let server = Server::start_with(data.path(), empty.path());
    let http = reqwest::blocking::Client::new();

    assert_eq!(
        post_workflow(&server, "application/yaml", GREETER_V1),
        (201, json!({"name": "greeter", "version": "1", "created": true}))
    );
    assert_eq!(post_workflow(&server, "application/yaml", GREETER_V1).0, 200, "the same version again changes nothing");
    let (status, body) =
        post_workflow(&server, "application/yaml", &GREETER_V1.replace("greeting: hello", "greeting: hi"));
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("version_exists")), "{body}");

    // JSON bodies, and errors that say where.
    let v2 = json!({"name": "greeter", "version": "2", "tasks": {"hello": {"component": "core", "action": "echo", "input": {"greeting": "hey"}}},
                    "output": "${tasks.hello.output.greeting}"});
    assert_eq!(post_workflow(&server, "application/json", &v2.to_string()).0, 201);
    let (status, body) = post_workflow(
        &server,
        "application/yaml",
        "name: broken\nversion: 1\ntasks:\n  a: { component: core, action: echo, depends_on: [nowhere] }\n",
    );
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_workflow")), "{body}");
    assert_eq!(body["error"]["details"][0]["line"], 4, "{body}");
    assert!(body["error"]["details"][0]["column"].as_u64().unwrap() > 0, "{body}");
    let (status, body) = post_workflow(
        &server,
        "application/yaml",
        "name: x\nversion: 1\ntasks:\n  a: { component: nosuch, action: echo }\n",
    );
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("unknown_plugin")), "{body}");
    assert_eq!(post_workflow(&server, "image/png", "name: x").0, 415);

    let latest: Value = http.get(server.url("/api/v1/workflows/greeter")).send().unwrap().json().unwrap();
    assert_eq!((latest["version"].as_str(), latest["versions"].clone()), (Some("2"), json!(["1", "2"])));
    let v1: Value = http.get(server.url("/api/v1/workflows/greeter/versions/1")).send().unwrap().json().unwrap();
    assert_eq!(v1["tasks"], json!(["nap", "hello"]));
    assert_eq!(v1["definition"], GREETER_V1);
    assert_eq!(http.get(server.url("/api/v1/workflows/greeter/versions/9")).send().unwrap().status(), 404);

    // Delete is refused while an execution of it runs, unless forced.
    let started: Value = http
        .post(server.url("/api/v1/workflows/greeter/executions"))
        .json(&json!({"version": "1", "input": {"ms": 30000}}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let id = started["id"].as_str().unwrap().to_string();
    let refused = http.delete(server.url("/api/v1/workflows/greeter")).send().unwrap();
    assert_eq!(refused.status(), 409);
    let body: Value = refused.json().unwrap();
    assert_eq!(body["error"]["code"], "executions_running");
    assert_eq!(http.post(server.url(&format!("/api/v1/executions/{id}/cancel"))).send().unwrap().status(), 202);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(http.delete(server.url("/api/v1/workflows/greeter")).send().unwrap().status(), 200);
    assert_eq!(http.get(server.url("/api/v1/workflows/greeter")).send().unwrap().status(), 404);
    let start = http.post(server.url("/api/v1/workflows/greeter/executions")).json(&json!({})).send().unwrap();
    assert_eq!(start.status(), 404);
    // Its executions can still be read.
    let cancelled: Value = http.get(server.url(&format!("/api/v1/executions/{id}"))).send().unwrap().json().unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    // ...and replayed from the stored definition (the deletion marker is not a workflow).
    let replay =
        crate::support::harmonia_command().args(["exec", "replay", &id, "--data"]).arg(data.path()).output().unwrap();
    assert!(replay.status.success(), "{}", String::from_utf8_lossy(&replay.stderr));

    // A restart does not bring a deleted workflow back; a new version does.
    drop(server);
    let server = Server::start_with(data.path(), empty.path());
    assert_eq!(http.get(server.url("/api/v1/workflows/greeter")).send().unwrap().status(), 404);
    assert_eq!(post_workflow(&server, "application/yaml", &GREETER_V1.replace("\"1\"", "\"3\"")).0, 201);
    assert_eq!(http.get(server.url("/api/v1/workflows/greeter")).send().unwrap().status(), 200);
}

#[test]
fn executions_are_listed_by_workflow_and_status_a_page_at_a_time() {
    let data = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let server = Server::start_with(data.path(), empty.path());
    let http = reqwest::blocking::Client::new();
    post_workflow(&server, "application/yaml", GREETER_V1);
    post_workflow(&server, "application/yaml", &GREETER_V1.replace("name: greeter", "name: other"));
    let mut done = Vec::new();
    for _ in 0..3 {
        done.push(run_workflow(&server, "greeter", json!({})));
    }
    run_workflow(&server, "other", json!({}));
    let slow: Value = http
        .post(server.url("/api/v1/workflows/greeter/executions"))
        .json(&json!({"input": {"ms": 30000}}))
        .send()
        .unwrap()
        .json()
        .unwrap();

    let list = |query: &str| -> Value {
        http.get(server.url(&format!("/api/v1/executions?{query}"))).send().unwrap().json().unwrap()
    };
    assert_eq!(list("").as_object().unwrap()["executions"].as_array().unwrap().len(), 5);
    let completed = list("workflow=greeter&status=completed");
    assert_eq!(completed["executions"].as_array().unwrap().len(), 3, "{completed}");
    let running = list("status=running");
    assert_eq!(running["executions"][0]["id"], slow["id"], "{running}");
    // Pages follow each other without repeats.
    let first = list("workflow=greeter&limit=2");
    let next = first["next"].as_str().expect("more to come");
    let second = list(&format!("workflow=greeter&limit=2&after={next}"));
    let ids: Vec<&str> = first["executions"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["executions"].as_array().unwrap())
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 4);
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(unique.len(), 4);
    let bad = http.get(server.url("/api/v1/executions?status=sleeping")).send().unwrap();
    assert_eq!(bad.status(), 400);
    // Both filters (the workflow-and-status index), a page at a time: `next` after each
    // full page, none after the last.
    let other = list("workflow=other&status=completed");
    assert_eq!(
        (other["executions"].as_array().unwrap().len(), &other["executions"][0]["workflow"]),
        (1, &json!("other")),
        "{other}"
    );
    let first = list("workflow=greeter&status=completed&limit=2");
    let next = first["next"].as_str().expect("a full page has a next");
    let last = list(&format!("workflow=greeter&status=completed&limit=2&after={next}"));
    assert_eq!((last["executions"].as_array().unwrap().len(), &last["next"]), (1, &Value::Null), "{last}");
    let ids = |page: &Value| -> Vec<String> {
        page["executions"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_string()).collect()
    };
    let completed_ids = ids(&completed);
    assert_eq!([ids(&first), ids(&last)].concat(), completed_ids, "in id order, oldest first");
    assert_eq!(list("workflow=nosuch")["executions"], json!([]));
    let everything = list("");

    // A data directory from before the indexes (none, no marker): the next start builds
    // them once, says so, and the listings are the same.
    let (_, status) = server.terminate();
    assert!(status.success(), "{status:?}");
    {
        let store =
            harmonia_store::RocksStore::open(data.path().join("state"), harmonia_store::StoreOptions::default())
                .unwrap();
        let mut clear = harmonia_store::Batch::new();
        clear.delete_prefix(harmonia_store::Space::ExecIndex, Vec::new());
        harmonia_store::Store::commit(&store, clear).unwrap();
    }
    let server = Server::start_with(data.path(), empty.path());
    let list = |query: &str| -> Value {
        http.get(server.url(&format!("/api/v1/executions?{query}"))).send().unwrap().json().unwrap()
    };
    assert!(server.stderr().contains("built the index of executions"), "{}", server.stderr());
    assert!(server.stderr().contains("5 executions indexed"), "{}", server.stderr());
    assert_eq!(ids(&list("workflow=greeter&status=completed")), completed_ids);
    assert_eq!(ids(&list("")), ids(&everything));
    assert_eq!(ids(&list("status=running")), [slow["id"].as_str().unwrap()], "resumed after the restart");
}

/// One Server-Sent Event: its id, its type and its data.
struct Sse {
    id: u64,
    kind: String,
    data: Value,
}

/// Reads events off an SSE response until `done` says stop.
fn read_sse(response: reqwest::blocking::Response, mut done: impl FnMut(&Sse) -> bool) -> Vec<Sse> {
    let mut events = Vec::new();
    let (mut id, mut kind, mut data) = (None, String::new(), String::new());
    for line in BufReader::new(response).lines() {
        let line = line.unwrap();
        if let Some(v) = line.strip_prefix("id:") {
            id = Some(v.trim().parse().unwrap());
        } else if let Some(v) = line.strip_prefix("event:") {
            kind = v.trim().to_string();
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push_str(v.trim());
        } else if line.is_empty() && id.is_some() {
            let event = Sse {
                id: id.take().unwrap(),
                kind: std::mem::take(&mut kind),
                data: serde_json::from_str(&std::mem::take(&mut data)).unwrap(),
            };
            let stop = done(&event);
            events.push(event);
            if stop {
                break;
            }
        }
    }
    events
}

#[test]
fn events_stream_in_order_over_sse_and_a_reconnect_with_last_event_id_misses_nothing() {
    let data = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let server = Server::start_with(data.path(), empty.path());
    post_workflow(&server, "application/yaml", GREETER_V1);
    let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let stream = http.get(server.url("/api/v1/events/stream?workflow=greeter")).send().unwrap();
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let started: Value = http
        .post(server.url("/api/v1/workflows/greeter/executions"))
        .json(&json!({"input": {"ms": 50}}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let id = started["id"].as_str().unwrap().to_string();
    let events = read_sse(stream, |e| e.kind == "completed");
    // Every event of the execution, in history order, with growing stream ids.
    let seqs: Vec<u64> = events.iter().map(|e| e.data["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "{:?}",
        events.iter().map(|e| &e.kind).collect::<Vec<_>>()
    );
    assert!(events.windows(2).all(|w| w[0].id < w[1].id));
    assert!(events.iter().all(|e| e.data["execution"] == id.as_str()));
    assert_eq!(events[0].kind, "started");
    let history: Value =
        http.get(server.url(&format!("/api/v1/executions/{id}/history"))).send().unwrap().json().unwrap();
    assert_eq!(history["events"].as_array().unwrap().len(), events.len());

    // Reconnect after the third event: the rest, no gap, no repeat.
    let resumed = http
        .get(server.url("/api/v1/events/stream?workflow=greeter"))
        .header("last-event-id", events[2].id.to_string())
        .send()
        .unwrap();
    let rest = read_sse(resumed, |e| e.kind == "completed");
    assert_eq!(rest.iter().map(|e| e.id).collect::<Vec<_>>(), events[3..].iter().map(|e| e.id).collect::<Vec<_>>());

    // Filters by type with `*` patterns; a bad Last-Event-ID is a 400.
    let tasks = http.get(server.url("/api/v1/events/stream?type=task_*")).header("last-event-id", "0").send().unwrap();
    let task_events = read_sse(tasks, |e| e.data["event"]["task"] == "hello");
    assert_eq!(task_events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(), ["task_succeeded", "task_succeeded"]);
    for bad in ["yesterday", "+1", "-1"] {
        let refused = http.get(server.url("/api/v1/events/stream")).header("last-event-id", bad).send().unwrap();
        assert_eq!(refused.status(), 400, "Last-Event-ID {bad}");
    }
}

#[test]
fn a_paused_execution_can_have_a_task_output_set_a_task_skipped_and_vars_changed() {
    let data = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let server = Server::start_with(data.path(), empty.path());
    post_workflow(&server, "application/yaml", GREETER_V1);
    let http = reqwest::blocking::Client::new();
    let started: Value = http
        .post(server.url("/api/v1/workflows/greeter/executions"))
        .json(&json!({"input": {"ms": 30000}}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let id = started["id"].as_str().unwrap();
    let url = |path: &str| server.url(&format!("/api/v1/executions/{id}{path}"));
    let refused = http.post(url("/tasks/nap/output")).json(&json!({"output": {}})).send().unwrap();
    assert_eq!(refused.status(), 409, "only a paused execution can be changed");
    assert_eq!(refused.json::<Value>().unwrap()["error"]["code"], "not_paused");
    assert_eq!(http.post(url("/pause")).send().unwrap().status(), 202);
    let unknown = http.post(url("/tasks/nope/skip")).send().unwrap();
    assert_eq!(unknown.status(), 404);
    // The 30 s nap is declared done; hello is queued until resume.
    assert_eq!(
        http.post(url("/tasks/nap/output")).json(&json!({"output": {"slept_ms": 0}})).send().unwrap().status(),
        202
    );
    assert_eq!(http.post(url("/vars")).json(&json!({"vars": {"note": "changed"}})).send().unwrap().status(), 202);
    let state: Value = http.get(url("")).send().unwrap().json().unwrap();
    assert_eq!(
        (state["status"].as_str(), state["tasks"]["nap"]["status"].as_str()),
        (Some("paused"), Some("succeeded"))
    );
    assert_eq!(state["vars"]["note"], "changed");
    assert_eq!(http.post(url("/resume")).send().unwrap().status(), 202);
    for _ in 0..200 {
        let state: Value = http.get(url("")).send().unwrap().json().unwrap();
        if state["status"] == "completed" {
            assert_eq!(state["output"], "hello");
            let history: Value = http.get(url("/history")).send().unwrap().json().unwrap();
            let kinds: Vec<&str> =
                history["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
            assert!(kinds.contains(&"output_set") && kinds.contains(&"vars_changed"), "{kinds:?}");
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("the execution did not complete after its nap was set done");
}

#[test]
fn the_cli_applies_the_examples_to_a_server_on_its_defaults_runs_one_and_watches_another() {
    // A working directory like the README's: ./plugins (the bundled ones), ./workflows
    // (empty: the CLI applies them), ./data made by the server.
    let cwd = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(repo().join("plugins"), cwd.path().join("plugins")).unwrap();
    std::fs::create_dir(cwd.path().join("workflows")).unwrap();
    std::fs::create_dir_all(cwd.path().join("workflows/examples-data")).unwrap();
    std::fs::copy(
        repo().join("workflows/examples-data/review.txt"),
        cwd.path().join("workflows/examples-data/review.txt"),
    )
    .unwrap();
    // What a README recipe leaves beside the server: not a document.
    std::fs::write(cwd.path().join("key.pem"), "-----BEGIN PRIVATE KEY-----\nsecret\n").unwrap();
    let mut serve = crate::support::harmonia_command();
    serve
        .current_dir(cwd.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("HARMONIA_PLUGINS")
        .env_remove("HARMONIA_DATA");
    let server = Server::spawn(serve);
    let base = server.base().to_string();
    assert!(cwd.path().join("data/state").is_dir(), "the data directory is ./data");

    let cli = |args: &[&str]| {
        let out = crate::support::harmonia_command()
            .current_dir(repo())
            .args(args)
            .env("HARMONIA_SERVER", &base)
            .env_remove("HARMONIA_DATA")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let mut files: Vec<String> = std::fs::read_dir(repo().join("workflows"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| p.strip_prefix(repo()).unwrap().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut args = vec!["workflow", "apply"];
    args.extend(files.iter().map(String::as_str));
    let (code, stdout, stderr) = cli(&args);
    // The sub-workflow example needs the one it calls: applied in name order it may come
    // first, so apply once more.
    let (code, stdout, stderr) = if code == Some(0) { (code, stdout, stderr) } else { cli(&args) };
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_eq!(stdout.lines().count(), files.len(), "{stdout}");
    let (_, listed, _) = cli(&["workflow", "list"]);
    assert!(listed.contains("parallel_reviews") || listed.lines().count() >= 10, "{listed}");

    let (code, stdout, stderr) = cli(&[
        "exec",
        "start",
        "document_processing",
        "--input",
        "document_path=workflows/examples-data/review.txt",
        "--wait",
    ]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let result: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (result["status"].as_str(), result["output"]["sentiment"].as_str()),
        (Some("completed"), Some("positive")),
        "{result}"
    );
    // The bundled reader sees its documents only: not the key beside the server, not ./data.
    for path in ["key.pem", "data/state/CURRENT"] {
        let (_, stdout, stderr) =
            cli(&["exec", "start", "document_processing", "--input", &format!("document_path={path}"), "--wait"]);
        assert!(!stdout.contains("secret") && !stdout.contains("MANIFEST"), "{path}: {stdout}");
        assert!(stdout.contains("\"failed\"") || stderr.contains("failed"), "{path}: {stdout}{stderr}");
    }

    let (code, id, stderr) = cli(&["exec", "start", "poll_until_done", "--input", "target=2"]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, stdout, stderr) = cli(&["exec", "watch", id.trim()]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stderr.contains("poll succeeded"), "task states are shown as they change:\n{stderr}");
    let (code, history, _) = cli(&["exec", "history", id.trim()]);
    assert_eq!(code, Some(0));
    assert!(history.lines().next().unwrap().contains("\"type\":\"started\""), "{history}");
    let (code, _, stderr) = cli(&["exec", "get", "nosuchexecution"]);
    assert_eq!(code, Some(2), "an error, as for every command");
    assert!(stderr.contains("404 unknown_execution"), "{stderr}");

    let (took, status) = server.terminate();
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(10));
}

#[test]
fn metrics_count_executions_plugin_calls_commit_groups_and_stream_clients() {
    let data = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let server = Server::start_with(data.path(), empty.path());
    post_workflow(&server, "application/yaml", GREETER_V1);
    for _ in 0..3 {
        run_workflow(&server, "greeter", json!({}));
    }
    let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let _stream = http.get(server.url("/api/v1/events/stream")).send().unwrap();
    let started: Value = http
        .post(server.url("/api/v1/workflows/greeter/executions"))
        .json(&json!({"input": {"ms": 30000}}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(started["id"].is_string());
    let response = http.get(server.url("/metrics")).send().unwrap();
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = response.text().unwrap();
    let value = |prefix: &str| -> f64 {
        let line = text.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no {prefix} in:\n{text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(value("harmonia_executions_finished_total{state=\"completed\"}"), 3.0);
    assert_eq!(value("harmonia_executions{state=\"running\"}"), 1.0);
    assert_eq!(value("harmonia_plugin_calls_total{plugin=\"core\",action=\"echo\",result=\"ok\"}"), 3.0);
    assert_eq!(value("harmonia_task_duration_seconds_count{plugin=\"core\",action=\"sleep\"}"), 3.0);
    assert!(value("harmonia_store_commit_group_size_count") >= 12.0, "3 workflows of 4 commits at least");
    assert_eq!(value("harmonia_event_stream_clients"), 1.0);
}

#[test]
fn harmonia_toml_sets_the_defaults_and_flags_override_it() {
    let cwd = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(repo().join("plugins"), cwd.path().join("plugins")).unwrap();
    std::fs::write(
        cwd.path().join("harmonia.toml"),
        "listen = \"127.0.0.1:0\"\ndata = \"from-file\"\nworkflows = \"flows\"\nsync = \"none\"\n",
    )
    .unwrap();
    let serve = |extra: &[&str]| {
        let mut child = crate::support::harmonia_command()
            .current_dir(cwd.path())
            .arg("serve")
            .args(extra)
            .env_remove("HARMONIA_PLUGINS")
            .env_remove("HARMONIA_DATA")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert!(line.starts_with("harmonia listening on http://127.0.0.1:"), "{line:?}");
        let _ = child.kill();
        let _ = child.wait();
    };
    serve(&[]);
    assert!(cwd.path().join("from-file/state").is_dir(), "data from the file");
    serve(&["--data", "from-flag"]);
    assert!(cwd.path().join("from-flag/state").is_dir(), "a flag wins over the file");

    std::fs::write(cwd.path().join("harmonia.toml"), "listen = \"127.0.0.1:0\"\nport = 8080\n").unwrap();
    let out = crate::support::harmonia_command().current_dir(cwd.path()).arg("serve").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("harmonia.toml") && stderr.contains("line 2") && stderr.contains("port"), "{stderr}");
}

/// A data directory and a workflows directory holding `greeter` (version 1).
fn greeter_dirs() -> (tempfile::TempDir, tempfile::TempDir) {
    let (data, workflows) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::write(workflows.path().join("greeter.yaml"), GREETER_V1).unwrap();
    (data, workflows)
}

/// The execution once it is no longer running (finished or paused), within 20 s.
fn until_not_running(http: &reqwest::blocking::Client, server: &Server, id: &str) -> Value {
    let started = Instant::now();
    loop {
        let exec: Value = http.get(server.url(&format!("/api/v1/executions/{id}"))).send().unwrap().json().unwrap();
        if exec["status"] != "running" {
            return exec;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{id} still running: {exec}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_checkpoint_taken_over_http_is_listed_and_an_execution_rolls_back_to_it() {
    let (data, workflows) = greeter_dirs();
    let server = Server::start_with(data.path(), workflows.path());
    let http = reqwest::blocking::Client::new();
    let started: Value = http
        .post(server.url("/api/v1/workflows/greeter/executions"))
        .json(&json!({"input": {"ms": 600}}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let id = started["id"].as_str().unwrap().to_string();
    let url = |tail: &str| server.url(&format!("/api/v1/executions/{id}{tail}"));
    let finished = || until_not_running(&http, &server, &id);

    // Taken while `nap` sleeps: the checkpoint holds the execution before `hello`.
    let taken = http.post(url("/checkpoints")).json(&json!({"label": "before hello"})).send().unwrap();
    assert_eq!(taken.status(), 201);
    let seq = taken.json::<Value>().unwrap()["seq"].as_u64().unwrap();
    assert_eq!(finished()["output"], "hello");
    let listed: Value = http.get(url("/checkpoints")).send().unwrap().json().unwrap();
    let ours = listed["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["seq"] == seq)
        .unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(ours["label"], "before hello", "{listed}");

    let missing = http.post(url("/restore")).json(&json!({"checkpoint": 999_999})).send().unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.json::<Value>().unwrap()["error"]["code"], "unknown_checkpoint");
    assert_eq!(http.post(url("/restore")).json(&json!({"checkpoint": "last"})).send().unwrap().status(), 400);

    // Rolled back, the finished execution runs on from the checkpoint: `hello` runs again.
    assert_eq!(http.post(url("/restore")).json(&json!({"checkpoint": seq})).send().unwrap().status(), 202);
    let exec = finished();
    assert_eq!((exec["status"].as_str(), exec["output"].as_str()), (Some("completed"), Some("hello")), "{exec}");
    let history: Value = http.get(url("/history")).send().unwrap().json().unwrap();
    let events = history["events"].as_array().unwrap();
    let restored = events.iter().position(|e| e["type"] == "restored").unwrap_or_else(|| panic!("{history}"));
    let hello_done = |e: &Value| e["type"] == "task_succeeded" && e["task"] == "hello";
    assert!(events[..restored].iter().any(hello_done) && events[restored..].iter().any(hello_done), "{history}");
}

#[test]
fn a_failed_execution_is_retried_from_its_failed_task() {
    let data = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let server = Server::start_with(data.path(), empty.path());
    // `fail` with `times: 1` fails only the first call of the task (a counter in kv).
    let flaky = "name: flaky\nversion: \"1\"\ntasks:\n  first: { component: core, action: echo, input: { n: 1 } }\n  shaky: { component: core, action: fail, input: { kind: fatal, times: 1, message: not yet }, depends_on: [first] }\n  last: { component: core, action: echo, input: { done: true }, depends_on: [shaky] }\noutput: \"${tasks.last.output.done}\"\n";
    assert_eq!(post_workflow(&server, "application/yaml", flaky).0, 201);
    let http = reqwest::blocking::Client::new();
    let failed: Value = http
        .post(server.url("/api/v1/workflows/flaky/executions?wait=20s"))
        .json(&json!({}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(failed["status"], "failed", "{failed}");
    let id = failed["id"].as_str().unwrap();
    let running = http.post(server.url(&format!("/api/v1/executions/{id}/retry"))).send().unwrap();
    assert_eq!(running.status(), 202);
    for _ in 0..200 {
        let state: Value = http.get(server.url(&format!("/api/v1/executions/{id}"))).send().unwrap().json().unwrap();
        if state["status"] == "completed" {
            assert_eq!(state["output"], true);
            assert_eq!(state["tasks"]["first"]["attempt"], 1, "a task that succeeded is not run again");
            assert_eq!(state["tasks"]["shaky"]["attempt"], 2);
            let again = http.post(server.url(&format!("/api/v1/executions/{id}/retry"))).send().unwrap();
            assert_eq!(again.status(), 409, "only a failed execution can be retried");
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("the retried execution did not complete");
}

#[test]
fn the_websocket_subscribes_to_events_and_starts_and_controls_executions() {
    use tungstenite::Message;
    let data = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let server = Server::start_with(data.path(), empty.path());
    post_workflow(&server, "application/yaml", GREETER_V1);
    let url = server.url("/api/v1/ws").replace("http://", "ws://");
    let (mut socket, _) = tungstenite::connect(url).unwrap();
    let send = |socket: &mut tungstenite::WebSocket<_>, value: Value| {
        socket.send(Message::Text(value.to_string().into())).unwrap()
    };
    let next =
        |socket: &mut tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>| -> Value {
            loop {
                if let Message::Text(text) = socket.read().unwrap() {
                    return serde_json::from_str(&text).unwrap();
                }
            }
        };
    send(&mut socket, json!({"op": "subscribe", "id": "s1", "workflow": "greeter", "type": "task_*,completed"}));
    assert_eq!(next(&mut socket), json!({"op": "subscribed", "id": "s1"}));
    send(&mut socket, json!({"op": "start", "workflow": "greeter", "input": {"ms": 10}, "ref": 7}));
    let mut started = None;
    let mut kinds = Vec::new();
    while kinds.last().map(String::as_str) != Some("completed") {
        let message = next(&mut socket);
        match message["op"].as_str().unwrap() {
            "started" => {
                assert_eq!(message["ref"], 7);
                started = Some(message["id"].as_str().unwrap().to_string());
            }
            "event" => {
                assert_eq!(message["subscription"], "s1");
                kinds.push(message["event"]["type"].as_str().unwrap().to_string());
            }
            other => panic!("unexpected {other}: {message}"),
        }
    }
    assert!(started.is_some());
    assert_eq!(kinds, ["task_succeeded", "task_succeeded", "completed"]);

    // Control: a long one paused and cancelled; unknown ones are errors with the ref.
    send(&mut socket, json!({"op": "unsubscribe", "id": "s1"}));
    assert_eq!(next(&mut socket)["op"], "unsubscribed");
    send(&mut socket, json!({"op": "start", "workflow": "greeter", "input": {"ms": 30000}}));
    let id = next(&mut socket)["id"].as_str().unwrap().to_string();
    send(&mut socket, json!({"op": "pause", "execution": id, "ref": "p"}));
    assert_eq!(next(&mut socket)["op"], "ok");
    send(&mut socket, json!({"op": "cancel", "execution": id, "ref": "c"}));
    assert_eq!(next(&mut socket)["op"], "ok");
    send(&mut socket, json!({"op": "pause", "execution": "nosuch", "ref": "x"}));
    let refused = next(&mut socket);
    assert_eq!(
        (refused["op"].as_str(), refused["ref"].as_str(), refused["error"]["code"].as_str()),
        (Some("error"), Some("x"), Some("not_running"))
    );
    send(&mut socket, json!({"op": "dance"}));
    assert_eq!(next(&mut socket)["error"]["code"], "bad_request");
    std::thread::sleep(Duration::from_millis(200));
    let state: Value = reqwest::blocking::get(server.url(&format!("/api/v1/executions/{id}"))).unwrap().json().unwrap();
    assert_eq!(state["status"], "cancelled");
}

#[test]
fn sigterm_stops_the_server_within_10_s_even_with_an_event_stream_open() {
    let server = Server::start();
    let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let stream = http.get(server.url("/api/v1/events/stream")).send().unwrap();
    assert_eq!(stream.status(), 200);
    let (took, status) = server.terminate();
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    drop(stream);
}

#[test]
fn after_sigterm_a_restart_continues_every_execution() {
    let (data, workflows) = greeter_dirs();
    let server = Server::start_with(data.path(), workflows.path());
    let http = reqwest::blocking::Client::new();
    let start = |server: &Server| {
        let response = http
            .post(server.url("/api/v1/workflows/greeter/executions"))
            .json(&json!({"input": {"ms": 1500}}))
            .send()
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json::<Value>().unwrap()["id"].as_str().unwrap().to_string()
    };
    let running: Vec<String> = (0..4).map(|_| start(&server)).collect();
    let paused = start(&server);
    assert_eq!(http.post(server.url(&format!("/api/v1/executions/{paused}/pause"))).send().unwrap().status(), 202);
    let (took, status) = server.terminate();
    assert!(status.success() && took < Duration::from_secs(10), "{status:?} after {took:?}");

    let server = Server::start_with(data.path(), workflows.path());
    let get =
        |id: &str| http.get(server.url(&format!("/api/v1/executions/{id}"))).send().unwrap().json::<Value>().unwrap();
    let finished = |id: &str| until_not_running(&http, &server, id);
    for id in &running {
        let exec = finished(id);
        assert_eq!((exec["status"].as_str(), exec["output"].as_str()), (Some("completed"), Some("hello")), "{exec}");
        let history: Value =
            http.get(server.url(&format!("/api/v1/executions/{id}/history"))).send().unwrap().json().unwrap();
        assert!(history["events"].as_array().unwrap().iter().any(|e| e["type"] == "recovered"), "{history}");
    }
    assert_eq!(get(&paused)["status"], "paused", "a paused execution stays paused across the restart");
    assert_eq!(http.post(server.url(&format!("/api/v1/executions/{paused}/resume"))).send().unwrap().status(), 202);
    assert_eq!(finished(&paused)["output"], "hello");
}

#[test]
fn the_openapi_document_has_exactly_the_routes_of_the_server() {
    let server = Server::start();
    let http = reqwest::blocking::Client::new();
    let doc: Value = http.get(server.url("/api/v1/openapi.json")).send().unwrap().json().unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    // `harmonia openapi` prints the same document without a server.
    let printed = crate::support::harmonia_command().arg("openapi").output().unwrap();
    assert!(printed.status.success());
    assert_eq!(serde_json::from_slice::<Value>(&printed.stdout).unwrap(), doc);
    let ops = operations(&doc);
    let documented = |method: &str, path: &str| ops.iter().any(|(m, p, _)| m == method && p == path);
    // The routes a user is told about are all in it, each with its role.
    for (method, path) in [
        ("POST", "/api/v1/workflows"),
        ("DELETE", "/api/v1/workflows/{name}"),
        ("POST", "/api/v1/workflows/{name}/executions"),
        ("POST", "/api/v1/executions/{id}/retry"),
        ("POST", "/api/v1/executions/{id}/tasks/{task}/output"),
        ("POST", "/api/v1/executions/{id}/restore"),
        ("GET", "/api/v1/events/stream"),
        ("GET", "/api/v1/ws"),
        ("GET", "/api/v1/audit"),
        ("GET", "/metrics"),
        ("GET", "/health"),
        ("GET", "/api/v1/openapi.json"),
    ] {
        assert!(documented(method, path), "{method} {path} is not in the document");
    }
    let mut ids = std::collections::HashSet::new();
    for (method, path, op) in &ops {
        assert!(
            ids.insert(op["operationId"].as_str().unwrap().to_string()),
            "operationId of {method} {path} is not unique"
        );
        assert!(
            ["none", "viewer", "operator", "admin"].contains(&op["x-required-role"].as_str().unwrap()),
            "{method} {path}: {op}"
        );
        let params = op["parameters"].as_array().unwrap();
        for name in path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')) {
            assert!(
                params.iter().any(|p| p["name"] == name && p["in"] == "path"),
                "{method} {path} does not document {{{name}}}"
            );
        }
    }
    // Every path answers exactly the methods documented for it: a documented one is handled
    // by its route (not the router's 404 or 405), any other method is a 405.
    let paths: std::collections::BTreeSet<&String> = ops.iter().map(|(_, p, _)| p).collect();
    for path in paths {
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            let response = probe(&http, &server, method, path, None);
            let status = response.status().as_u16();
            if documented(method, path) {
                assert_ne!(status, 405, "{method} {path} is documented but not routed");
                if status == 404 {
                    let body: Value = response.json().unwrap_or(Value::Null);
                    assert_ne!(body["error"]["code"], "not_found", "{method} {path} is documented but not routed");
                }
            } else {
                assert_eq!(status, 405, "{method} {path} answers {status} but is not in the document");
                // The Allow header lists exactly the documented methods (HEAD with GET).
                let allow = response.headers()["allow"].to_str().unwrap().to_string();
                let mut allowed: Vec<&str> = allow.split(',').map(str::trim).filter(|m| *m != "HEAD").collect();
                allowed.sort_unstable();
                let mut expected: Vec<&str> =
                    ops.iter().filter(|(_, p, _)| p == path).map(|(m, _, _)| m.as_str()).collect();
                expected.sort_unstable();
                assert_eq!(allowed, expected, "Allow of {path}");
                let body: Value = response.json().unwrap();
                assert_eq!(body["error"]["code"], "method_not_allowed", "{method} {path}: {body}");
            }
        }
    }
    // Nothing was changed by the probes: they named nothing that exists, or sent no body.
    let executions: Value = http.get(server.url("/api/v1/executions")).send().unwrap().json().unwrap();
    assert_eq!(executions["executions"], json!([]));
}

/// Every 4xx is the JSON error, also where axum's extractors refuse a query, a body or a
/// WebSocket handshake (they answered in plain text), and `limit` is held to its documented
/// range (0 was taken as 1).
#[test]
fn every_refusal_is_the_json_error() {
    let server = Server::start();
    let http = reqwest::blocking::Client::new();
    let refusals = [
        ("GET /api/v1/ws without an upgrade", http.get(server.url("/api/v1/ws"))),
        ("DELETE ?force=null", http.delete(server.url("/api/v1/workflows/document_processing?force=null"))),
        ("a list's limit=0", http.get(server.url("/api/v1/executions?limit=0"))),
        ("an audit limit=5000", http.get(server.url("/api/v1/audit?limit=5000"))),
        (
            "a start body that is not an object",
            http.post(server.url("/api/v1/workflows/document_processing/executions"))
                .header("content-type", "application/json")
                .body("[1]"),
        ),
        (
            "a start body as text/plain",
            http.post(server.url("/api/v1/workflows/document_processing/executions"))
                .header("content-type", "text/plain")
                .body("{}"),
        ),
    ];
    for (what, request) in refusals {
        let response = request.send().unwrap();
        let status = response.status();
        let kind = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        let body: Value = response.json().unwrap_or(Value::Null);
        assert!(status.is_client_error(), "{what}: {status}");
        assert!(kind.starts_with("application/json"), "{what}: {status} answered as {kind:?}");
        assert!(
            body["error"]["code"].is_string() && !body["error"]["message"].as_str().unwrap_or_default().is_empty(),
            "{what}: {body}"
        );
    }
}

/// What the document allows is taken, and answered with a status it lists (what
/// scripts/fuzz-api.sh found otherwise): a start without a body, `wait` of any length
/// (200 when finished), null for `version` and `input`, a whole number written `7.0`; and
/// what it refuses is a 4xx JSON error, never a 422, a 503 or a crash.
#[test]
fn requests_are_taken_and_answered_as_the_openapi_document_says() {
    let server = Server::start();
    let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let doc: Value = http.get(server.url("/api/v1/openapi.json")).send().unwrap().json().unwrap();
    let statuses = |method: &str, path: &str| -> Vec<String> {
        doc["paths"][path][method]["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path}"))
            .keys()
            .cloned()
            .collect()
    };
    let answer = |response: reqwest::blocking::Response| -> (u16, Value) {
        let status = response.status().as_u16();
        (status, response.json().unwrap_or(Value::Null))
    };
    let start = "/api/v1/workflows/sentence_sentiments/executions";
    for status in ["200", "201", "202", "400", "404"] {
        assert!(
            statuses("post", "/api/v1/workflows/{name}/executions").contains(&status.to_string()),
            "start does not document {status}"
        );
    }

    // The body is optional: no body starts the workflow with its defaults.
    let (status, started) = answer(http.post(server.url(start)).send().unwrap());
    assert_eq!(status, 201, "{started}");
    let id = started["id"].as_str().unwrap().to_string();
    // A wait longer than u64 milliseconds is the 10-minute cap (it overflowed); 200 once finished.
    let (status, finished) = answer(
        http.post(server.url(&format!("{start}?wait=99999999999999999999999m")))
            .json(&json!({ "version": null, "input": null }))
            .send()
            .unwrap(),
    );
    assert_eq!(status, 200, "{finished}");
    assert_eq!(finished["status"], "completed", "{finished}");
    for wait in ["", "5x", "+5", "1.5s"] {
        let (status, body) = answer(http.post(server.url(&format!("{start}?wait={wait}"))).send().unwrap());
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_wait")), "wait={wait}: {body}");
    }

    // Optional bodies that are not objects: a 400 JSON error, like every other body (422).
    for path in [format!("/api/v1/executions/{id}/checkpoints"), format!("/api/v1/executions/{id}/tasks/split/skip")] {
        let (status, body) = answer(
            http.post(server.url(&path)).header("content-type", "application/json").body("[null]").send().unwrap(),
        );
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_request")), "{path}: {body}");
    }
    // `7.0` is an integer to JSON Schema: taken (this execution has no such checkpoint).
    let (status, body) = answer(
        http.post(server.url(&format!("/api/v1/executions/{id}/restore")))
            .json(&json!({ "checkpoint": 7.0 }))
            .send()
            .unwrap(),
    );
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("unknown_checkpoint")), "{body}");
    // Not a whole number; an array of the fields (serde's derive took it for the object).
    for body in [json!({ "checkpoint": 7.5 }), json!([7])] {
        let (status, refused) =
            answer(http.post(server.url(&format!("/api/v1/executions/{id}/restore"))).json(&body).send().unwrap());
        assert_eq!((status, refused["error"]["code"].as_str()), (400, Some("bad_request")), "{body}: {refused}");
    }

    // The page after the last possible event is empty (it overflowed).
    let (status, page) =
        answer(http.get(server.url(&format!("/api/v1/executions/{id}/history?after={}", u64::MAX))).send().unwrap());
    assert_eq!(status, 200, "{page}");
    assert_eq!((page["events"].clone(), page["next"].clone()), (json!([]), Value::Null));

    // An id with a NUL byte names no execution: 404, not the store's 503.
    for path in ["/api/v1/executions/a%00b", "/api/v1/executions/a%00b/history", "/api/v1/executions/a%00b/checkpoints"]
    {
        let (status, body) = answer(http.get(server.url(path)).send().unwrap());
        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("unknown_execution")), "{path}: {body}");
    }
}

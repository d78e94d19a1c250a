//! `harmonia serve` from the repository root, as the README runs it, on an ephemeral
//! loopback port, driven with a real HTTP client, and stopped with SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Server, repo};

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

pub(crate) const GREETER_V1: &str = "name: greeter\nversion: \"1\"\ninput:\n  ms: { type: integer, default: 0 }\ntasks:\n  nap: { component: core, action: sleep, input: { ms: \"${input.ms}\" } }\n  hello: { component: core, action: echo, input: { greeting: hello }, depends_on: [nap] }\noutput: \"${tasks.hello.output.greeting}\"\n";

pub(crate) fn post_workflow(server: &Server, content_type: &str, body: &str) -> (u16, Value) {
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
        let store = harmonia_store_rocksdb::RocksStore::open(
            data.path().join("state"),
            harmonia_store_rocksdb::StoreOptions::default(),
        )
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

//! `harmonia serve` from the repository root, as the README runs it, on an ephemeral
//! loopback port, driven with a real HTTP client, and stopped with SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

struct Server {
    child: Child,
    base: String,
    _data: Option<tempfile::TempDir>,
}

impl Server {
    /// A server on the repository's plugins and workflows, with a fresh data directory.
    fn start() -> Server {
        let data = tempfile::tempdir().unwrap();
        let mut server = Server::start_with(data.path(), &repo().join("workflows"));
        server._data = Some(data);
        server
    }

    /// A server over the given data and workflows directories.
    fn start_with(data: &Path, workflows: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_harmonia"))
            .current_dir(repo())
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .arg("--workflows")
            .arg(workflows)
            .env_remove("HARMONIA_PLUGINS")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start harmonia serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let base = line.trim().strip_prefix("harmonia listening on ").unwrap_or_else(|| panic!("unexpected first line: {line:?}")).to_string();
        Server { child, base, _data: None }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGTERM, then the time it took to exit.
    fn terminate(mut self) -> (Duration, std::process::ExitStatus) {
        let started = Instant::now();
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (started.elapsed(), status);
            }
            assert!(started.elapsed() < Duration::from_secs(10), "did not exit within 10 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

#[test]
fn serve_runs_workflows_over_http_and_stops_on_sigterm() {
    let server = Server::start();
    let http = reqwest::blocking::Client::new();

    let health: Value = http.get(server.url("/health")).send().unwrap().json().unwrap();
    assert_eq!(health, json!({"status": "ok"}));

    let plugins: Value = http.get(server.url("/api/v1/plugins")).send().unwrap().json().unwrap();
    let names: Vec<&str> = plugins["plugins"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"sophia") && names.contains(&"ergon"), "{names:?}");

    let workflows: Value = http.get(server.url("/api/v1/workflows")).send().unwrap().json().unwrap();
    assert!(workflows["workflows"].as_array().unwrap().iter().any(|w| w["name"] == "document_processing"), "{workflows}");

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
    let response = http.post(server.url("/api/v1/workflows/poll_until_done/executions")).json(&json!({"input": {"target": 2}})).send().unwrap();
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
    let server = Server::start();
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

    let no_input = http.post(server.url("/api/v1/workflows/document_processing/executions")).json(&json!({})).send().unwrap();
    assert!(error(no_input, 400, "invalid_input").contains("document_path"));

    let wrong_type = http
        .post(server.url("/api/v1/workflows/poll_until_done/executions"))
        .json(&json!({"input": {"target": "many"}}))
        .send()
        .unwrap();
    assert!(error(wrong_type, 400, "invalid_input").contains("target"));

    let unknown = http.get(server.url("/api/v1/executions/doesnotexist")).send().unwrap();
    error(unknown, 404, "unknown_execution");
    let route = http.get(server.url("/api/v1/nothing")).send().unwrap();
    error(route, 404, "not_found");
}

#[test]
fn refuses_a_public_address_without_tokens() {
    let out = Command::new(env!("CARGO_BIN_EXE_harmonia"))
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
    assert_eq!(run_workflow(&server, "remember", json!({"value": "written before the restart"})), json!({"result": true}));

    // A second server on the same data directory is refused, naming the directory.
    let second = Command::new(env!("CARGO_BIN_EXE_harmonia"))
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

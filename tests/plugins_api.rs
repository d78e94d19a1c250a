//! Plugins installed and removed over the HTTP API, end to end: the real `harmonia serve`
//! on a temporary plugins directory holding a copy of `core.wasm`, real components from
//! `plugins/` uploaded with a real HTTP client, and workflows that call them.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{Value, json};

use crate::support::{Launch, Server, create_token, expect, repo, with};

/// A server on its own plugins, data and workflows directories, with a token per role.
struct Fixture {
    plugins: tempfile::TempDir,
    data: tempfile::TempDir,
    workflows: tempfile::TempDir,
    admin: String,
    operator: String,
    viewer: String,
    server: Server,
    http: Client,
}

/// `slow` sleeps in `core` for `ms` milliseconds; `echo` answers with `core`.
const SLOW: &str = r#"
name: slow
version: 1
input:
  ms: { type: integer, default: 2000 }
tasks:
  wait: { component: core, action: sleep, input: { ms: "${input.ms}" } }
output: "${tasks.wait.output.slept_ms}"
"#;

const ECHO: &str = r#"
name: echo
version: 1
input:
  text: { type: string }
tasks:
  say: { component: core, action: echo, input: { text: "${input.text}" } }
output: "${tasks.say.output.text}"
"#;

/// Counts the words of a text with the (Python) textstats plugin.
const STATS: &str = r#"
name: stats
version: 1
input:
  text: { type: string }
tasks:
  count: { component: textstats, action: analyze, input: { text: "${input.text}" } }
output: "${tasks.count.output.words}"
"#;

fn bundled(name: &str) -> Vec<u8> {
    let path = repo().join(format!("plugins/{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; build the plugins with plugins/build.sh", path.display()))
}

impl Fixture {
    fn new() -> Fixture {
        Fixture::with_env(&[])
    }

    /// A fixture whose server also has these environment variables.
    fn with_env(env: &[(&str, &str)]) -> Fixture {
        let plugins = tempfile::tempdir().unwrap();
        std::fs::write(plugins.path().join("core.wasm"), bundled("core")).unwrap();
        let (data, workflows) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::write(workflows.path().join("slow.yaml"), SLOW).unwrap();
        std::fs::write(workflows.path().join("echo.yaml"), ECHO).unwrap();
        let admin = create_token(data.path(), "admin", "admin");
        let operator = create_token(data.path(), "operator", "operator");
        let viewer = create_token(data.path(), "viewer", "viewer");
        let server = Fixture::serve(plugins.path(), data.path(), workflows.path(), env);
        Fixture { plugins, data, workflows, admin, operator, viewer, server, http: Client::new() }
    }

    fn serve(plugins: &Path, data: &Path, workflows: &Path, env: &[(&str, &str)]) -> Server {
        let plugins = plugins.to_str().unwrap();
        Server::launch(Launch { args: &["--plugins", plugins], env, ..Launch::new(data, workflows) })
    }

    /// Stops the server (SIGTERM) and starts another on the same directories.
    fn restart(self) -> Fixture {
        let Fixture { plugins, data, workflows, admin, operator, viewer, server, http } = self;
        server.stop();
        let server = Fixture::serve(plugins.path(), data.path(), workflows.path(), &[]);
        Fixture { plugins, data, workflows, admin, operator, viewer, server, http }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.plugins.path().join(name)
    }

    fn admin(&self, request: RequestBuilder) -> Response {
        with(request, Some(&self.admin)).send().unwrap()
    }

    fn get(&self, path: &str) -> Response {
        self.admin(self.http.get(self.server.url(path)))
    }

    /// `PUT /api/v1/plugins/{name}` with the raw component.
    fn put(&self, name: &str, component: Vec<u8>) -> Response {
        let request = self.http.put(self.server.url(&format!("/api/v1/plugins/{name}")));
        self.admin(request.header("content-type", "application/wasm").body(component))
    }

    /// `PUT /api/v1/plugins/{name}` as multipart/form-data with these parts.
    fn put_parts(&self, name: &str, parts: &[(&str, &[u8])]) -> Response {
        let (content_type, body) = multipart(parts);
        let request = self.http.put(self.server.url(&format!("/api/v1/plugins/{name}")));
        self.admin(request.header("content-type", content_type).body(body))
    }

    fn delete(&self, path: &str) -> Response {
        self.admin(self.http.delete(self.server.url(path)))
    }

    fn post_workflow(&self, yaml: &str) -> Response {
        let request = self.http.post(self.server.url("/api/v1/workflows")).header("content-type", "application/yaml");
        self.admin(request.body(yaml.to_string()))
    }

    /// Runs a workflow to its end: its output.
    fn run(&self, workflow: &str, input: Value) -> Value {
        let url = self.server.url(&format!("/api/v1/workflows/{workflow}/executions?wait=30s"));
        let done = expect(self.admin(self.http.post(url).json(&json!({ "input": input }))), 200, None);
        assert_eq!(done["status"], "completed", "{done}");
        done["output"].clone()
    }

    /// Polls an execution until `ready` holds for it.
    fn until(&self, id: &str, ready: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let exec = expect(self.get(&format!("/api/v1/executions/{id}")), 200, None);
            if ready(&exec) {
                return exec;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "{exec}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The audit log's entries about plugins: (method, path, status, result).
    fn audited(&self) -> Vec<(String, String, u64, String)> {
        let body = expect(self.get("/api/v1/audit?limit=1000"), 200, None);
        let entries = body["entries"].as_array().unwrap().iter();
        entries
            .filter(|e| e["path"].as_str().unwrap().starts_with("/api/v1/plugins"))
            .map(|e| {
                let text = |k: &str| e[k].as_str().unwrap().to_string();
                (text("method"), text("path"), e["status"].as_u64().unwrap(), text("result"))
            })
            .collect()
    }

    /// What is in the plugins directory, with the content (the compile cache left out).
    fn snapshot(&self) -> Vec<(String, Vec<u8>)> {
        let mut files = Vec::new();
        for entry in walk(self.plugins.path()) {
            let name = entry.strip_prefix(self.plugins.path()).unwrap().to_string_lossy().into_owned();
            files.push((name, std::fs::read(&entry).unwrap()));
        }
        files.sort();
        files
    }
}

/// The files under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        let path = entry.path();
        if path.is_dir() { files.extend(walk(&path)) } else { files.push(path) }
    }
    files
}

/// A multipart/form-data body: its content type and bytes.
fn multipart(parts: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "harmonia-test-3f6a9c1e";
    let mut body = Vec::new();
    for (name, bytes) in parts {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\n").bytes(),
        );
        body.extend(b"Content-Type: application/octet-stream\r\n\r\n");
        body.extend(*bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn names(list: &Value) -> Vec<&str> {
    list["plugins"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect()
}

#[test]
fn an_uploaded_component_is_listed_runs_in_a_workflow_and_survives_a_restart() {
    let f = Fixture::new();
    expect(f.post_workflow(STATS), 400, Some("unknown_plugin"));

    let textstats = bundled("textstats");
    let created = f.put("textstats", textstats.clone());
    assert_eq!(created.headers()["location"], "/api/v1/plugins/textstats");
    let created = expect(created, 201, None);
    assert_eq!(created["name"], "textstats", "{created}");
    assert!(created["actions"].as_array().unwrap().iter().any(|a| a["name"] == "analyze"), "{created}");
    assert_eq!(std::fs::read(f.file("textstats.wasm")).unwrap(), textstats);
    let listed = expect(f.get("/api/v1/plugins"), 200, None);
    assert_eq!(names(&listed), ["core", "textstats"]);
    assert_eq!(listed["plugins"][1], created, "an upload answers with the plugin as listed");

    expect(f.post_workflow(STATS), 201, None);
    assert_eq!(f.run("stats", json!({ "text": "One fish. Two fish. Red fish, blue fish." })), 8);

    let replaced = expect(f.put("textstats", textstats), 200, None);
    assert_eq!(replaced["name"], "textstats");
    assert_eq!(names(&expect(f.get("/api/v1/plugins"), 200, None)), ["core", "textstats"]);

    // The upload is a file in the plugins directory: a new server loads it.
    let f = f.restart();
    let one = expect(f.get("/api/v1/plugins/textstats"), 200, None);
    assert_eq!(one["hash"], created["hash"]);
    assert_eq!(f.run("stats", json!({ "text": "Still counting after a restart." })), 5);

    let audited = f.audited();
    let put =
        |status, result: &str| ("PUT".to_string(), "/api/v1/plugins/textstats".to_string(), status, result.to_string());
    assert_eq!(audited, [put(201, "ok"), put(200, "ok")]);
}

#[test]
fn a_refused_upload_changes_nothing_and_the_plugin_keeps_answering() {
    let f = Fixture::new();
    let before = f.snapshot();
    let refused = [
        (f.put("core", b"this is not WebAssembly".to_vec()), "invalid_component", "not a WebAssembly file"),
        (f.put("textstats", bundled("core")), "name_mismatch", "describes itself as plugin \"core\""),
        (
            f.put_parts("core", &[("component", &bundled("core")), ("manifest", b"memory_mb = \"lots\"")]),
            "invalid_manifest",
            "line 1",
        ),
        (f.put_parts("core", &[("manifest", b"")]), "bad_request", "`component` part is missing"),
        (
            f.put_parts("core", &[("component", &bundled("core")), ("extra", b"")]),
            "bad_request",
            "unknown part `extra`",
        ),
        (f.put("bad.name", bundled("core")), "invalid_name", "must be 1-64 characters"),
    ];
    for (response, code, says) in refused {
        let body = expect(response, 400, Some(code));
        assert!(body["error"]["message"].as_str().unwrap().contains(says), "{body}");
        assert_eq!(f.snapshot(), before, "after {body}");
        assert_eq!(f.run("echo", json!({ "text": "still here" })), "still here");
    }
    let url = f.server.url("/api/v1/plugins/core");
    let text = f.admin(f.http.put(url).header("content-type", "text/plain").body(bundled("core")));
    expect(text, 415, Some("unsupported_media_type"));
    assert_eq!(f.snapshot(), before);
    assert_eq!(names(&expect(f.get("/api/v1/plugins"), 200, None)), ["core"]);
    expect(f.get("/api/v1/plugins/textstats"), 404, Some("unknown_plugin"));

    let audited = f.audited();
    assert!(
        audited.contains(&("PUT".into(), "/api/v1/plugins/core".into(), 400, "invalid_component".into())),
        "{audited:?}"
    );
    assert!(
        audited.contains(&("PUT".into(), "/api/v1/plugins/textstats".into(), 400, "name_mismatch".into())),
        "{audited:?}"
    );
}

#[test]
fn a_manifest_uploaded_with_the_component_grants_what_it_says() {
    let f = Fixture::new();
    let core = bundled("core");
    let manifest = b"memory_mb = 128\nallowed_hosts = [\"api.example.com\"]\n";
    let replaced = expect(f.put_parts("core", &[("component", &core), ("manifest", manifest)]), 200, None);
    assert_eq!(replaced["grants"], json!(["http:api.example.com"]));
    let one = expect(f.get("/api/v1/plugins/core"), 200, None);
    assert_eq!((&one["grants"], &one["memory_limit_bytes"]), (&json!(["http:api.example.com"]), &json!(128 << 20)));
    assert_eq!(std::fs::read(f.file("core.toml")).unwrap(), manifest);

    // Without a manifest part, or as a raw component, the manifest stays.
    expect(f.put_parts("core", &[("component", &core)]), 200, None);
    expect(f.put("core", core.clone()), 200, None);
    assert_eq!(expect(f.get("/api/v1/plugins/core"), 200, None)["grants"], json!(["http:api.example.com"]));

    // An empty manifest part removes it: the defaults again.
    let cleared = expect(f.put_parts("core", &[("component", &core), ("manifest", b"")]), 200, None);
    assert_eq!((&cleared["grants"], &cleared["memory_limit_bytes"]), (&json!([]), &json!(64 << 20)));
    assert!(!f.file("core.toml").exists());
    assert_eq!(f.run("echo", json!({ "text": "defaults" })), "defaults");
}

#[test]
fn only_admins_upload_or_delete_plugins() {
    let f = Fixture::new();
    let before = f.snapshot();
    // One pooled client throughout: the guard refuses before reading the 18 MB body and
    // says it closes the connection, so the next request goes on a new one.
    let http = Client::new();
    for token in [&f.viewer, &f.operator] {
        let url = f.server.url("/api/v1/plugins/textstats");
        let put =
            with(http.put(&url).header("content-type", "application/wasm").body(bundled("textstats")), Some(token));
        expect(put.send().unwrap(), 403, Some("forbidden"));
        let delete = with(http.delete(f.server.url("/api/v1/plugins/core")), Some(token));
        expect(delete.send().unwrap(), 403, Some("forbidden"));
        let read = with(http.get(f.server.url("/api/v1/plugins/core")), Some(token));
        assert_eq!(expect(read.send().unwrap(), 200, None)["name"], "core");
    }
    let anonymous = http.delete(f.server.url("/api/v1/plugins/core")).send().unwrap();
    expect(anonymous, 401, None);
    assert_eq!(f.snapshot(), before);
    assert_eq!(names(&expect(f.get("/api/v1/plugins"), 200, None)), ["core"]);
    let audited = f.audited();
    let forbidden = audited.iter().filter(|(_, _, status, result)| *status == 403 && result == "forbidden").count();
    assert_eq!(forbidden, 4, "{audited:?}");
}

#[test]
fn deleting_a_plugin_in_use_needs_force_and_lets_the_running_call_finish() {
    let f = Fixture::new();
    let url = f.server.url("/api/v1/workflows/slow/executions");
    let started = expect(f.admin(f.http.post(url).json(&json!({ "input": { "ms": 1500 } }))), 201, None);
    let id = started["id"].as_str().unwrap().to_string();
    f.until(&id, |exec| exec["tasks"]["wait"]["status"] == "running");

    let refused = expect(f.delete("/api/v1/plugins/core"), 409, Some("in_use"));
    assert_eq!(refused["error"]["details"]["running"], json!({ "slow": 1 }), "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("slow (1)"), "{refused}");
    assert!(f.file("core.wasm").exists());
    assert_eq!(expect(f.get("/api/v1/plugins/core"), 200, None)["name"], "core");

    let removed = expect(f.delete("/api/v1/plugins/core?force=true"), 200, None);
    assert_eq!(
        (&removed["files"], &removed["unloaded"], &removed["running"]),
        (&json!(["core.wasm"]), &json!(true), &json!(1))
    );
    assert_eq!(removed["used_by"], json!(["echo", "slow"]));
    assert!(!f.file("core.wasm").exists());
    expect(f.get("/api/v1/plugins/core"), 404, Some("unknown_plugin"));
    assert!(names(&expect(f.get("/api/v1/plugins"), 200, None)).is_empty());
    expect(f.delete("/api/v1/plugins/core"), 404, Some("unknown_plugin"));
    expect(f.delete("/api/v1/plugins/core?forse=true"), 400, Some("bad_request"));

    // The call that was running holds the plugin: it finishes.
    let done = f.until(&id, |exec| exec["status"] != "running");
    assert_eq!((&done["status"], &done["output"]), (&json!("completed"), &json!(1500)), "{done}");

    let audited = f.audited();
    let expected = [
        ("DELETE".to_string(), "/api/v1/plugins/core".to_string(), 409, "in_use".to_string()),
        ("DELETE".into(), "/api/v1/plugins/core?force=true".into(), 200, "ok".into()),
        ("DELETE".into(), "/api/v1/plugins/core".into(), 404, "unknown_plugin".into()),
    ];
    assert_eq!(audited[..3], expected, "{audited:?}");
}

#[test]
fn an_upload_over_the_limit_is_refused_whole_and_changes_nothing() {
    // 1 MB: the Python textstats component (18 MB) is over it, core (0.3 MB) is not.
    let f = Fixture::with_env(&[("HARMONIA_MAX_UPLOAD", "1000000")]);
    let before = f.snapshot();
    let refused = expect(f.put("textstats", bundled("textstats")), 413, Some("body_too_large"));
    assert!(refused["error"]["message"].as_str().unwrap().contains("1000000 bytes"), "{refused}");
    assert_eq!(f.snapshot(), before);
    expect(f.get("/api/v1/plugins/textstats"), 404, Some("unknown_plugin"));
    // The same connection pool carries on, and a component under the limit installs.
    expect(f.put("core", bundled("core")), 200, None);
    assert_eq!(f.run("echo", json!({ "text": "still here" })), "still here");
}

/// A file that does not load is reported once: the watcher used to take loading it (an open
/// of the file) for a change, and loaded and logged it again every 0.2 s.
#[test]
fn a_refused_file_is_logged_once() {
    let f = Fixture::new();
    std::fs::write(f.file("junk.wasm"), b"not a component").unwrap();
    let refusals =
        || f.server.stderr().lines().filter(|l| l.contains("plugin not loaded") && l.contains("junk.wasm")).count();
    let started = Instant::now();
    while refusals() == 0 {
        assert!(started.elapsed() < Duration::from_secs(10), "junk.wasm never refused:\n{}", f.server.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    // Several settle periods of the watcher.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(refusals(), 1, "{}", f.server.stderr());
    let failed = expect(f.get("/api/v1/plugins"), 200, None);
    assert!(failed.to_string().contains("junk.wasm"), "{failed}");
}

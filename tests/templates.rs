//! Workflow templates over the HTTP API, end to end: the real `harmonia serve` on an
//! ephemeral port, driven with a real HTTP client. A template is stored (`PUT`), listed,
//! read, deleted, and instantiated with parameters into a workflow version that then runs;
//! the templates of `WORKFLOWS_DIR/templates/` are stored at start; only admins change
//! templates, and every change is in the audit log.

use std::process::Output;

use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{Value, json};

use crate::support::{Launch, Server, create_token, expect, repo, with};

/// A template of a workflow that echoes a greeting with the bundled `core` plugin.
const GREET: &str = r#"# Says hello in a configurable way.
parameters:
  name: { type: string, description: Name of the workflow made }
  greeting: { type: string, default: hello }
  version: { type: string, default: "1" }
name: ${params.name}
version: ${params.version}
input:
  who: { type: string, default: world }
tasks:
  say: { component: core, action: echo, input: { text: "${params.greeting}, ${input.who}" } }
output: "${tasks.say.output.text}"
"#;

fn put(http: &Client, server: &Server, name: &str, text: &str) -> Response {
    http.put(server.url(&format!("/api/v1/templates/{name}")))
        .header("content-type", "application/yaml")
        .body(text.to_string())
        .send()
        .unwrap()
}

fn instantiate(http: &Client, server: &Server, name: &str, body: Value) -> Response {
    http.post(server.url(&format!("/api/v1/templates/{name}/instantiate"))).json(&body).send().unwrap()
}

fn get(http: &Client, server: &Server, path: &str) -> Response {
    http.get(server.url(path)).send().unwrap()
}

/// Runs the workflow `name` to its end with `input`: the finished execution.
fn run(http: &Client, server: &Server, name: &str, input: Value) -> Value {
    let url = server.url(&format!("/api/v1/workflows/{name}/executions?wait=10s"));
    expect(http.post(url).json(&json!({ "input": input })).send().unwrap(), 200, None)
}

fn names(list: &Value, field: &str) -> Vec<String> {
    list[field].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string()).collect()
}

/// A server with a fresh data directory and a workflows directory without any workflow.
fn start_empty() -> (tempfile::TempDir, tempfile::TempDir, Server) {
    let (data, workflows) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let server = Server::start_with(data.path(), workflows.path());
    (data, workflows, server)
}

#[test]
fn a_template_is_stored_read_instantiated_into_a_workflow_that_runs_and_deleted() {
    let (_data, _workflows, server) = start_empty();
    let http = Client::new();

    let stored = expect(put(&http, &server, "greet", GREET), 201, None);
    assert_eq!(
        (stored["name"].clone(), stored["created"].clone(), stored["changed"].clone()),
        (json!("greet"), json!(true), json!(true))
    );
    let again = expect(put(&http, &server, "greet", GREET), 200, None);
    assert_eq!((again["created"].clone(), again["changed"].clone()), (json!(false), json!(false)), "{again}");
    assert_eq!(again["updated_at"], stored["updated_at"], "an identical PUT changes nothing");

    let list = expect(get(&http, &server, "/api/v1/templates"), 200, None);
    assert_eq!(names(&list, "templates"), ["greet"]);
    let params = &list["templates"][0]["parameters"];
    assert_eq!(
        *params,
        json!([
            { "name": "name", "type": "string", "required": true, "description": "Name of the workflow made" },
            { "name": "greeting", "type": "string", "required": false, "default": "hello" },
            { "name": "version", "type": "string", "required": false, "default": "1" },
        ])
    );
    let one = expect(get(&http, &server, "/api/v1/templates/greet"), 200, None);
    assert_eq!((one["text"].as_str(), &one["parameters"]), (Some(GREET), params));

    // A dry run shows the workflow and stores nothing.
    let dry =
        expect(instantiate(&http, &server, "greet", json!({ "params": { "name": "hi" }, "dry_run": true })), 200, None);
    assert_eq!(
        (dry["name"].as_str(), dry["version"].as_str(), dry["dry_run"].as_bool()),
        (Some("hi"), Some("1"), Some(true))
    );
    let text = dry["workflow"].as_str().unwrap();
    assert!(
        text.contains("name: hi") && text.contains("hello, ${input.who}") && !text.contains("parameters"),
        "{text}"
    );
    expect(get(&http, &server, "/api/v1/workflows/hi"), 404, Some("unknown_workflow"));

    let made = expect(
        instantiate(&http, &server, "greet", json!({ "params": { "name": "hi", "greeting": "bonjour" } })),
        201,
        None,
    );
    assert_eq!(made, json!({ "name": "hi", "version": "1", "created": true }));
    let workflows = expect(get(&http, &server, "/api/v1/workflows"), 200, None);
    assert_eq!(names(&workflows, "workflows"), ["hi"]);
    let done = run(&http, &server, "hi", json!({ "who": "Ada" }));
    assert_eq!((done["status"].as_str(), &done["output"]), (Some("completed"), &json!("bonjour, Ada")), "{done}");

    // The same workflow again is no change; other content under that version is refused.
    let same = json!({ "params": { "name": "hi", "greeting": "bonjour" } });
    assert_eq!(expect(instantiate(&http, &server, "greet", same), 200, None)["created"], false);
    expect(
        instantiate(&http, &server, "greet", json!({ "params": { "name": "hi", "greeting": "hey" } })),
        409,
        Some("version_exists"),
    );
    let v2 = json!({ "params": { "name": "hi", "greeting": "hey", "version": "2" } });
    expect(instantiate(&http, &server, "greet", v2), 201, None);
    assert_eq!(run(&http, &server, "hi", json!({}))["output"], "hey, world", "the latest version runs");

    // A template may be replaced: the next instance uses the new text.
    let replaced = expect(put(&http, &server, "greet", &GREET.replace("${input.who}", "${input.who}!")), 200, None);
    assert_eq!((replaced["created"].clone(), replaced["changed"].clone()), (json!(false), json!(true)));
    expect(instantiate(&http, &server, "greet", json!({ "params": { "name": "loud" } })), 201, None);
    assert_eq!(run(&http, &server, "loud", json!({ "who": "Bo" }))["output"], "hello, Bo!");

    // Deleting the template leaves the workflows it made.
    assert_eq!(
        expect(http.delete(server.url("/api/v1/templates/greet")).send().unwrap(), 200, None),
        json!({ "name": "greet", "deleted": true })
    );
    expect(get(&http, &server, "/api/v1/templates/greet"), 404, Some("unknown_template"));
    expect(http.delete(server.url("/api/v1/templates/greet")).send().unwrap(), 404, Some("unknown_template"));
    assert!(names(&expect(get(&http, &server, "/api/v1/templates"), 200, None), "templates").is_empty());
    expect(instantiate(&http, &server, "greet", json!({ "params": { "name": "x" } })), 404, Some("unknown_template"));
    assert_eq!(run(&http, &server, "loud", json!({}))["output"], "hello, world!");
}

#[test]
fn json_parameter_values_reach_the_workflow_with_their_types() {
    let (_data, _workflows, server) = start_empty();
    let http = Client::new();
    let template = r#"{
  "parameters": {
    "count": { "type": "integer" }, "ratio": { "type": "number" }, "on": { "type": "boolean" },
    "tags": { "type": "array" }, "options": { "type": "object" }, "text": { "type": "string" },
    "anything": { "type": "any" }, "none": { "type": "object", "required": false }
  },
  "name": "typed", "version": "1",
  "tasks": { "a": { "component": "core", "action": "echo", "input": { "text": "${params.text}" } } },
  "output": {
    "count": "${params.count}", "ratio": "${params.ratio}", "on": "${params.on}", "tags": "${params.tags}",
    "options": "${params.options}", "text": "${tasks.a.output.text}", "anything": "${params.anything}",
    "none": "${params.none}", "sum": "${params.count + 1}"
  }
}"#;
    let stored = http
        .put(server.url("/api/v1/templates/typed"))
        .header("content-type", "application/json")
        .body(template)
        .send()
        .unwrap();
    expect(stored, 201, None);
    let params = json!({
        "count": 3, "ratio": 0.5, "on": true, "tags": ["a", "b"], "options": { "k": [1, { "x": null }] },
        "text": "12: not a number", "anything": "true",
    });
    expect(instantiate(&http, &server, "typed", json!({ "params": params })), 201, None);
    let done = run(&http, &server, "typed", json!({}));
    let mut want = params.clone();
    want["none"] = Value::Null;
    want["sum"] = json!(4);
    assert_eq!(done["output"], want, "{done}");
}

#[test]
fn bad_templates_and_bad_parameters_are_400s_that_store_nothing() {
    let (_data, _workflows, server) = start_empty();
    let http = Client::new();

    let bad_yaml = "parameters:\n  name: string\nname: ${params.name}\ntasks: [\n";
    let err = expect(put(&http, &server, "broken", bad_yaml), 400, Some("invalid_template"));
    let first = &err["error"]["details"][0];
    assert!(first["line"].as_u64().unwrap() >= 4 && first["column"].as_u64().unwrap() > 0, "{err}");
    let bad_param = "parameters:\n  name: { type: strng }\nname: ${params.name}\nversion: 1\ntasks: {}\n";
    let err = expect(put(&http, &server, "broken", bad_param), 400, Some("invalid_template"));
    assert_eq!(
        (err["error"]["details"][0]["line"].as_u64(), err["error"]["details"][0]["column"].as_u64()),
        (Some(2), Some(17)),
        "{err}"
    );
    let undeclared = "parameters:\n  name: string\nname: ${params.nam}\nversion: 1\ntasks: {}\n";
    let err = expect(put(&http, &server, "broken", undeclared), 400, Some("invalid_template"));
    assert_eq!(
        err["error"]["details"][0],
        json!({ "line": 3, "column": 7, "message": "unknown parameter `nam` in `${params.nam}`", "hint": "did you mean `name`?" })
    );
    let plain = "name: w\nversion: 1\ntasks: {}\n";
    let err = expect(put(&http, &server, "broken", plain), 400, Some("invalid_template"));
    assert!(err["error"]["message"].as_str().unwrap().contains("a template needs `parameters:`"), "{err}");
    expect(put(&http, &server, "bad name", GREET), 400, Some("invalid_name"));
    expect(
        http.put(server.url("/api/v1/templates/t")).header("content-type", "text/html").body(GREET).send().unwrap(),
        415,
        Some("unsupported_media_type"),
    );
    expect(put(&http, &server, "t", "  \n"), 400, Some("empty_body"));
    assert!(
        names(&expect(get(&http, &server, "/api/v1/templates"), 200, None), "templates").is_empty(),
        "nothing stored"
    );

    expect(put(&http, &server, "greet", GREET), 201, None);
    let cases = [
        (json!({}), "missing required parameter `name`"),
        (json!({ "params": { "name": 7 } }), "parameter `name` must be a string"),
        (json!({ "params": { "name": "x", "greting": "hi" } }), "unknown parameter `greting`"),
    ];
    for (body, message) in cases {
        let err = expect(instantiate(&http, &server, "greet", body.clone()), 400, Some("invalid_params"));
        assert!(err["error"]["message"].as_str().unwrap().contains(message), "{body}: {err}");
    }
    let err = expect(
        instantiate(&http, &server, "greet", json!({ "params": { "name": "not a name" } })),
        400,
        Some("invalid_workflow"),
    );
    assert!(err["error"]["message"].as_str().unwrap().starts_with("in the rendered workflow: "), "{err}");
    let err = expect(
        instantiate(&http, &server, "greet", json!({ "params": { "name": "x" }, "dryrun": true })),
        400,
        Some("bad_request"),
    );
    assert!(err["error"]["message"].as_str().unwrap().contains("dryrun"), "{err}");
    let ghost = GREET.replace("component: core", "component: ghost");
    expect(put(&http, &server, "ghostly", &ghost), 201, None);
    expect(instantiate(&http, &server, "ghostly", json!({ "params": { "name": "g" } })), 400, Some("unknown_plugin"));
    expect(
        instantiate(&http, &server, "ghostly", json!({ "params": { "name": "g" }, "dry_run": true })),
        400,
        Some("unknown_plugin"),
    );
    expect(instantiate(&http, &server, "nope", json!({ "params": {} })), 404, Some("unknown_template"));
    let workflows = expect(get(&http, &server, "/api/v1/workflows"), 200, None);
    assert!(names(&workflows, "workflows").is_empty(), "no workflow stored: {workflows}");
}

#[test]
fn templates_of_the_workflows_directory_are_stored_at_start_and_all_survive_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let workflows = tempfile::tempdir().unwrap();
    let dir = workflows.path().join("templates");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("greet.yaml"), GREET).unwrap();
    std::fs::write(dir.join("broken.yaml"), "parameters:\n  x: { type: strng }\n").unwrap();
    let http = Client::new();

    let server = Server::start_with(data.path(), workflows.path());
    let list = expect(get(&http, &server, "/api/v1/templates"), 200, None);
    assert_eq!(names(&list, "templates"), ["greet"], "the broken file is skipped");
    let log = server.stderr();
    assert!(log.contains("broken.yaml") && log.contains("skipped"), "{log}");
    expect(put(&http, &server, "greet", &GREET.replace("hello", "hi")), 200, None);
    expect(put(&http, &server, "mine", GREET), 201, None);
    expect(instantiate(&http, &server, "mine", json!({ "params": { "name": "made" } })), 201, None);
    server.stop();

    let server = Server::start_with(data.path(), workflows.path());
    let list = expect(get(&http, &server, "/api/v1/templates"), 200, None);
    assert_eq!(names(&list, "templates"), ["greet", "mine"]);
    let greet = expect(get(&http, &server, "/api/v1/templates/greet"), 200, None);
    assert_eq!(greet["text"], GREET, "the file replaces what was stored under its name");
    assert_eq!(expect(get(&http, &server, "/api/v1/templates/mine"), 200, None)["text"], GREET);
    assert_eq!(run(&http, &server, "made", json!({}))["output"], "hello, world", "the workflow made is kept too");
}

#[test]
fn only_admins_change_templates_and_each_change_is_in_the_audit_log() {
    let data = tempfile::tempdir().unwrap();
    let workflows = tempfile::tempdir().unwrap();
    let admin = create_token(data.path(), "admin", "root");
    let viewer = create_token(data.path(), "viewer", "dash");
    let operator = create_token(data.path(), "operator", "ops");
    let server = Server::launch(Launch::new(data.path(), workflows.path()));
    let http = Client::new();
    let as_ = |request: RequestBuilder, token: &str| with(request, Some(token)).send().unwrap();
    let put_req =
        || http.put(server.url("/api/v1/templates/greet")).header("content-type", "application/yaml").body(GREET);
    let make_req =
        || http.post(server.url("/api/v1/templates/greet/instantiate")).json(&json!({ "params": { "name": "hi" } }));

    expect(put_req().send().unwrap(), 401, None);
    expect(as_(put_req(), &viewer), 403, Some("forbidden"));
    expect(as_(put_req(), &operator), 403, Some("forbidden"));
    expect(as_(put_req(), &admin), 201, None);
    let list = expect(as_(http.get(server.url("/api/v1/templates")), &viewer), 200, None);
    assert_eq!(names(&list, "templates"), ["greet"], "viewers read templates");
    expect(as_(make_req(), &viewer), 403, Some("forbidden"));
    expect(as_(make_req(), &operator), 403, Some("forbidden"));
    expect(as_(make_req(), &admin), 201, None);
    expect(as_(http.delete(server.url("/api/v1/templates/greet")), &viewer), 403, Some("forbidden"));
    expect(as_(http.delete(server.url("/api/v1/templates/greet")), &admin), 200, None);

    let audit = expect(as_(http.get(server.url("/api/v1/audit?limit=1000")), &admin), 200, None);
    let entries: Vec<(String, String, String, u64, String)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["who"] != "cli") // the tokens made for the test
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (s("who"), s("method"), s("path"), e["status"].as_u64().unwrap(), s("result"))
        })
        .collect();
    let entry = |who: &str, method: &str, path: &str, status: u64, result: &str| {
        (who.to_string(), method.to_string(), path.to_string(), status, result.to_string())
    };
    let want = [
        entry("unauthenticated", "PUT", "/api/v1/templates/greet", 401, "unauthorized"),
        entry("dash", "PUT", "/api/v1/templates/greet", 403, "forbidden"),
        entry("ops", "PUT", "/api/v1/templates/greet", 403, "forbidden"),
        entry("root", "PUT", "/api/v1/templates/greet", 201, "ok"),
        entry("dash", "POST", "/api/v1/templates/greet/instantiate", 403, "forbidden"),
        entry("ops", "POST", "/api/v1/templates/greet/instantiate", 403, "forbidden"),
        entry("root", "POST", "/api/v1/templates/greet/instantiate", 201, "ok"),
        entry("dash", "DELETE", "/api/v1/templates/greet", 403, "forbidden"),
        entry("root", "DELETE", "/api/v1/templates/greet", 200, "ok"),
    ];
    assert_eq!(entries, want);
}

/// `harmonia ARGS` from the repository root, with no `HARMONIA_*` settings of the caller.
fn cli(args: &[&str]) -> Output {
    let mut command = crate::support::harmonia_command();
    command.current_dir(repo()).env_remove("HARMONIA_SERVER").env_remove("HARMONIA_TOKEN").args(args);
    command.output().unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn the_cli_applies_lists_and_instantiates_templates_and_still_renders_offline() {
    let (_data, _workflows, server) = start_empty();
    let files = tempfile::tempdir().unwrap();
    let file = files.path().join("greet.yaml");
    std::fs::write(&file, GREET.replace("type: string, default: \"1\"", "type: integer, default: 1")).unwrap();
    let file = file.to_str().unwrap();
    let url = server.base();

    assert_eq!(stdout(&cli(&["template", "apply", file, "--server", url])), format!("{file}: template greet stored\n"));
    assert_eq!(
        stdout(&cli(&["template", "apply", file, "--name", "other", "--server", url])),
        format!("{file}: template other stored\n")
    );
    assert_eq!(
        stdout(&cli(&["template", "apply", file, "--server", url])),
        format!("{file}: template greet unchanged\n")
    );
    let list = stdout(&cli(&["template", "list", "--server", url]));
    assert_eq!(
        list,
        "greet\tname: string, greeting?: string, version?: integer\nother\tname: string, greeting?: string, version?: integer\n"
    );

    // `--param` values are read as their declared types: 7 stays text for a string.
    let dry = stdout(&cli(&[
        "template",
        "instantiate",
        "greet",
        "-p",
        "name=w7",
        "-p",
        "greeting=7",
        "-p",
        "version=3",
        "--dry-run",
        "--server",
        url,
    ]));
    assert!(dry.contains("name: w7") && dry.contains("version: 3") && dry.contains("7, ${input.who}"), "{dry}");
    let http = Client::new();
    expect(get(&http, &server, "/api/v1/workflows/w7"), 404, Some("unknown_workflow"));
    let made = stdout(&cli(&[
        "template",
        "instantiate",
        "greet",
        "-p",
        "name=w7",
        "-p",
        "greeting=7",
        "-p",
        "version=3",
        "--server",
        url,
    ]));
    assert_eq!(made, "w7@3 stored\n");
    assert_eq!(run(&http, &server, "w7", json!({}))["output"], "7, world");
    let refused = cli(&["template", "instantiate", "greet", "-p", "version=3", "--server", url]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("400 invalid_params") && err.contains("missing required parameter `name`"), "{err}");

    let rendered = stdout(&cli(&["template", "render", file, "--param", "name=offline"]));
    assert!(rendered.contains("name: offline") && rendered.contains("version: 1"), "{rendered}");
}

//! The web console, served by `harmonia serve` on its API port: its page at `/`, its files,
//! the browser policy that keeps it to this server, and the graph it draws from.

use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::serve::post_workflow;
use crate::support::{Server, expect};

/// The console's files: every page file in `console/` (a module the page imports but the
/// binary does not embed would fail only in the browser), and the vendored libraries.
fn files() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../console");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".js") || name.ends_with(".css"))
        .collect();
    assert!(files.len() >= 8, "console files: {files:?}");
    files.extend(["vendor/dagre.esm.js".to_string(), "vendor/d3-dag.esm.js".to_string()]);
    files
}

#[test]
fn the_console_is_served_at_the_root_with_its_files_and_a_policy_that_keeps_it_to_this_server() {
    let server = Server::start();
    let http = Client::new();
    let page = http.get(server.url("/")).send().unwrap();
    assert_eq!(page.status(), 200);
    let policy = page.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(policy.contains("default-src 'self'") && policy.contains("connect-src 'self'"), "{policy}");
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = page.text().unwrap();
    assert!(html.contains("/console/app.js"), "{html}");
    for file in files() {
        let response = http.get(server.url(&format!("/console/{file}"))).send().unwrap();
        assert_eq!(response.status(), 200, "{file}");
        let kind = response.headers()["content-type"].to_str().unwrap().to_string();
        assert!(
            kind.starts_with(if file.ends_with(".css") { "text/css" } else { "text/javascript" }),
            "{file}: {kind}"
        );
        let text = response.text().unwrap();
        // Nothing is fetched from elsewhere: the only URL is SVG's namespace name.
        let outside: Vec<&str> = text
            .match_indices("http")
            .map(|(i, _)| &text[i..(i + 40).min(text.len())])
            .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
            .filter(|u| !u.starts_with("http://www.w3.org/2000/svg"))
            // Text in one of d3-dag's error messages, never fetched.
            .filter(|u| !u.starts_with("https://github.com/erikbrinkman/d3-dag"))
            .collect();
        assert!(outside.is_empty(), "{file} refers to {outside:?}");
    }
    // The graph library the set-up installs is the real one.
    let dagre = http.get(server.url("/console/vendor/dagre.esm.js")).send().unwrap().text().unwrap();
    assert!(dagre.len() > 20_000 && dagre.contains("export"), "the console's graph library was not built");
    expect(http.get(server.url("/console/nothing.js")).send().unwrap(), 404, Some("not_found"));
}

#[test]
fn a_workflow_comes_with_its_graph_and_typed_inputs_for_the_console() {
    let server = Server::start();
    let wf = expect(Client::new().get(server.url("/api/v1/workflows/merge")).send().unwrap(), 200, None);
    assert_eq!(
        wf["input"],
        json!([{ "name": "amount", "type": "integer", "description": null, "required": false, "default": 5000 }])
    );
    let node = |id: &str| wf["graph"].as_array().unwrap().iter().find(|n| n["id"] == id).unwrap().clone();
    assert_eq!(node("route")["kind"], "switch");
    assert_eq!(node("route")["targets"], json!(["review", "invoice"]));
    assert_eq!(node("notify")["join"], "merge");
    assert_eq!(node("notify")["depends_on"], json!(["review", "invoice"]));
    assert_eq!(node("invoice")["label"], "core.echo");
    let wf = expect(Client::new().get(server.url("/api/v1/workflows/goto_loop")).send().unwrap(), 200, None);
    let next = wf["graph"].as_array().unwrap().iter().find(|n| n["id"] == "next").unwrap().clone();
    assert_eq!(next["goto"], "fetch");
}

/// A workflow of one `core.log` task that logs a warning `times` times and reports 50%.
pub(crate) fn chatty(times: u32) -> String {
    format!(
        "name: chatty\nversion: 1\ntasks:\n  talk:\n    component: core\n    action: log\n    \
         input: {{ level: warn, message: hello from the plugin, times: {times}, progress: [50, half way] }}\n"
    )
}

/// A workflow that runs `chatty` twice, as sub-workflows.
pub(crate) const PARENT: &str =
    "name: parent\nversion: 1\ntasks:\n  each:\n    workflow: chatty\n    for_each: [1, 2]\n";

#[test]
fn counts_time_ranges_sub_workflows_logs_and_the_caller_for_the_console() {
    let server = Server::start();
    let http = Client::new();
    let get = |path: &str| expect(http.get(server.url(path)).send().unwrap(), 200, None);
    for yaml in [&chatty(300), PARENT] {
        assert_eq!(post_workflow(&server, "application/yaml", yaml).0, 201);
    }
    let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let url = server.url("/api/v1/workflows/parent/executions?wait=60s");
    let done = expect(http.post(url).json(&json!({})).send().unwrap(), 200, None);
    assert_eq!(done["status"], "completed", "{done}");
    let parent = done["id"].as_str().unwrap().to_string();

    // Its two sub-workflows, found by their parent; each links back to it.
    let children = get(&format!("/api/v1/executions?parent={parent}"));
    let children = children["executions"].as_array().unwrap().clone();
    assert_eq!(children.len(), 2, "{children:?}");
    for child in &children {
        assert_eq!(child["parent"], parent.as_str());
        assert_eq!(child["workflow"], "chatty");
        let id = child["id"].as_str().unwrap();
        assert_eq!(get(&format!("/api/v1/executions/{}", urlencode(id)))["parent"], parent.as_str());
    }
    assert_eq!(
        get(&format!("/api/v1/executions?parent={}", urlencode(children[0]["id"].as_str().unwrap())))["executions"],
        json!([])
    );
    // With a status, and a page at a time: the second page goes on after the first.
    let first = get(&format!("/api/v1/executions?parent={parent}&status=completed&limit=1"));
    assert_eq!(first["executions"].as_array().unwrap().len(), 1, "{first}");
    let after = first["next"].as_str().expect("a full page says where to go on");
    let second =
        get(&format!("/api/v1/executions?parent={parent}&status=completed&limit=1&after={}", urlencode(after)));
    assert_eq!(second["executions"][0]["id"], children[1]["id"], "{second}");
    let last = get(&format!("/api/v1/executions?parent={parent}&status=failed"));
    assert_eq!((last["executions"].clone(), last["next"].clone()), (json!([]), Value::Null));

    // Counts by status, for all and for one workflow.
    let counts = get("/api/v1/executions/counts");
    assert_eq!(counts["counts"]["completed"], 3, "{counts}");
    assert_eq!(counts["total"], 3);
    assert_eq!(counts["counts"]["running"], 0);
    let counts = get("/api/v1/executions/counts?workflow=chatty");
    assert_eq!((counts["counts"]["completed"].clone(), counts["total"].clone()), (json!(2), json!(2)));

    // Time ranges: started since the test began, not before it, not in an hour.
    let ids = |query: &str| -> Vec<String> {
        let page = get(&format!("/api/v1/executions?{query}"));
        page["executions"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(ids(&format!("since={before}")).len(), 3);
    assert_eq!(ids(&format!("until={before}")), Vec::<String>::new());
    assert_eq!(ids(&format!("since={}", before + 3_600_000)), Vec::<String>::new());
    assert_eq!(ids(&format!("since={before}&until={}&workflow=parent", before + 3_600_000)), vec![parent.clone()]);
    // Past the latest time an id holds: refused, as the API document says.
    let url = server.url("/api/v1/executions?until=17592186044416");
    expect(http.get(url).send().unwrap(), 400, Some("bad_query"));
    let limited = get(&format!("/api/v1/executions?since={before}&limit=1"));
    assert!(limited["next"].is_string(), "a full page says where to go on: {limited}");

    // The plugin's log lines and progress: the last 200 lines kept, the rest counted.
    let child = urlencode(children[0]["id"].as_str().unwrap());
    let logs = get(&format!("/api/v1/executions/{child}/tasks/talk/logs"));
    assert_eq!(logs["lines"].as_array().unwrap().len(), 200, "{logs}");
    assert_eq!(logs["dropped"], 100);
    assert_eq!(logs["lines"][0]["level"], "warn");
    assert_eq!(logs["lines"][0]["message"], "hello from the plugin");
    assert_eq!(
        (logs["progress"]["percent"].clone(), logs["progress"]["message"].clone()),
        (json!(50), json!("half way"))
    );
    let none = get(&format!("/api/v1/executions/{parent}/tasks/each/logs"));
    assert_eq!((none["lines"].clone(), none["progress"].clone()), (json!([]), Value::Null));
    let url = server.url(&format!("/api/v1/executions/{parent}/tasks/nothing/logs"));
    expect(http.get(url).send().unwrap(), 404, Some("unknown_task"));

    // Who the caller is: without tokens, anyone, with every right.
    assert_eq!(get("/api/v1/session"), json!({ "name": "anonymous", "role": "admin" }));
    // The workflows list says what starts each one.
    let list = get("/api/v1/workflows");
    let nightly = list["workflows"].as_array().unwrap().iter().find(|w| w["name"] == "nightly_report").unwrap().clone();
    assert!(!nightly["triggers"]["schedules"].as_array().unwrap().is_empty(), "{nightly}");
}

fn urlencode(id: &str) -> String {
    id.replace('/', "%2F").replace('~', "%7E")
}

// --- In a real browser (headless Chromium) ---------------------------------------------

use harmonia_webdriver::Browser;

/// A headless Chromium of `width` x `height`, its screenshots in `target/console-screenshots/`.
pub(crate) fn chromium(width: u32, height: u32) -> Browser {
    Browser::start(width, height, crate::support::repo().join("target/console-screenshots")).unwrap()
}

/// The execution page the console went to, once it is there: its id.
fn execution_shown(browser: &Browser) -> String {
    browser
        .wait("an execution page", || {
            let hash = browser.run("return location.hash", json!([]))?;
            Ok(hash.as_str().and_then(|h| h.strip_prefix("#/executions/")).map(str::to_string))
        })
        .unwrap()
}

#[test]
fn a_workflow_started_from_its_form_turns_green_and_a_failed_tasks_error_opens() {
    let server = Server::start();
    let browser = chromium(1280, 800);
    browser.goto(&server.url("/#/workflows/merge")).unwrap();
    browser.find("svg [data-task=notify]").unwrap();
    // The definition's boxes choose nothing: they are not buttons, nor Tab stops.
    let buttons = browser
        .run("return document.querySelectorAll('svg [data-task][role=button], svg [tabindex]').length", json!([]));
    assert_eq!(buttons.unwrap(), 0);
    browser.find("input[data-param=amount]").unwrap().fill("5000").unwrap();
    browser.find("form[aria-label='Start an execution'] button[type=submit]").unwrap().click().unwrap();
    let id = execution_shown(&browser);
    browser.wait_until("[data-task=notify]", "el.getAttribute('class').includes('s-succeeded')").unwrap();
    browser.wait_until(".status", "el.textContent === 'completed'").unwrap();
    for task in ["route", "review", "invoice", "notify"] {
        browser.wait_until(&format!("[data-task={task}]"), "el.getAttribute('class').includes('s-succeeded')").unwrap();
    }
    browser.screenshot("merge-completed").unwrap();
    let exec = expect(Client::new().get(server.url(&format!("/api/v1/executions/{id}"))).send().unwrap(), 200, None);
    assert_eq!(exec["output"], json!({ "reviewed": true, "invoiced": 5000 }));
    // The timeline: a bar per task that made a call (the switch only chose).
    browser.wait_until("svg.timeline", "el.querySelectorAll('rect.bar.s-succeeded').length === 3").unwrap();

    // The other pages: plugins with their schemas, the event log, the audit log.
    browser.goto(&server.url("/#/plugins")).unwrap();
    browser
        .wait_until("section[aria-label=core]", "el.textContent.includes('sleep') && el.querySelector('details')")
        .unwrap();
    browser.goto(&server.url("/#/events")).unwrap();
    browser.wait_until("main h1", "el.textContent === 'Events'").unwrap();
    browser.goto(&server.url("/#/audit")).unwrap();
    browser.wait_until("main table", "el.textContent.includes('/api/v1/workflows/merge/executions')").unwrap();
    browser.screenshot("audit").unwrap();

    // A failed task: its error, from the graph.
    browser.goto(&server.url("/#/workflows/terminate")).unwrap();
    browser.find("input[data-param=amount]").unwrap().fill("500").unwrap();
    browser.find("form[aria-label='Start an execution'] button[type=submit]").unwrap().click().unwrap();
    execution_shown(&browser);
    browser.wait_until("[data-task=too_much]", "el.getAttribute('class').includes('s-failed')").unwrap();
    browser.find("[data-task=too_much]").unwrap().click().unwrap();
    browser
        .wait_until("section[aria-label=Task] pre.error", "el.textContent.includes('over the limit of 100')")
        .unwrap();
    browser.screenshot("terminate-failed-task").unwrap();
}

#[test]
fn pause_resume_checkpoint_and_restore_from_the_page() {
    // An execution that waits for a person: nothing in it ends while the test acts.
    let server = Server::start();
    let http = Client::new();
    let id = server.start_execution("approval", json!({ "input": { "document_path": "doc.txt" } }));
    let approve = || {
        let url = server.url(&format!("/api/v1/executions/{id}/signals/approve"));
        expect(http.post(url).json(&json!({ "approved": true })).send().unwrap(), 202, None);
    };
    let browser = chromium(1280, 800);
    browser.goto(&server.url(&format!("/#/executions/{id}"))).unwrap();
    browser.wait_until("[data-task=review]", "el.getAttribute('class').includes('s-running')").unwrap();
    browser.find("button[data-action=pause]").unwrap().click().unwrap();
    browser.wait_until(".status", "el.textContent === 'paused'").unwrap();
    browser.screenshot("paused").unwrap();
    browser.find("button[data-action=checkpoint]").unwrap().click().unwrap();
    browser.find("button[data-restore]").unwrap();
    browser.find("button[data-action=resume]").unwrap().click().unwrap();
    browser.wait_until(".status", "el.textContent === 'running'").unwrap();
    approve();
    browser.wait_until(".status", "el.textContent === 'completed'").unwrap();
    browser.wait_until("[data-task=publish]", "el.getAttribute('class').includes('s-succeeded')").unwrap();
    // Rolled back to the checkpoint, taken while paused and waiting: paused and waiting
    // again. Resumed, its wait finds the approval in the event log (it came after the wait
    // began) and the execution completes again.
    browser.find("button[data-restore]").unwrap().click().unwrap();
    browser.wait_until(".status", "el.textContent === 'paused'").unwrap();
    browser.wait_until("[data-task=publish]", "!el.getAttribute('class').includes('s-succeeded')").unwrap();
    browser.find("button[data-action=resume]").unwrap().click().unwrap();
    browser.wait_until(".status", "el.textContent === 'completed'").unwrap();
    browser.screenshot("restored").unwrap();
    let history = expect(http.get(server.url(&format!("/api/v1/executions/{id}/history"))).send().unwrap(), 200, None);
    assert!(history.to_string().contains("\"type\":\"restored\""), "the rollback is in the history");
}

#[test]
fn a_waiting_task_is_approved_from_the_page_on_a_phone_sized_screen() {
    let server = Server::start();
    let http = Client::new();
    let id = server.start_execution("approval", json!({ "input": { "document_path": "doc.txt" } }));
    let browser = chromium(390, 844);
    browser.goto(&server.url(&format!("/#/executions/{id}"))).unwrap();
    browser.find("form[data-signal=approve] textarea").unwrap().fill(r#"{"approved": true}"#).unwrap();
    browser.screenshot("approval-waiting-phone").unwrap();
    browser.find("form[data-signal=approve] button[type=submit]").unwrap().click().unwrap();
    browser.wait_until("[data-task=publish]", "el.getAttribute('class').includes('s-succeeded')").unwrap();
    browser.wait_until(".status", "el.textContent === 'completed'").unwrap();
    let exec = expect(http.get(server.url(&format!("/api/v1/executions/{id}"))).send().unwrap(), 200, None);
    assert_eq!(exec["tasks"]["archive"]["status"], "skipped");
    browser.screenshot("approval-approved-phone").unwrap();
}

//! The web console, served by `harmonia serve` on its API port: its page at `/`, its files,
//! the browser policy that keeps it to this server, and the graph it draws from.

use reqwest::blocking::Client;
use serde_json::json;

use crate::support::{Server, expect};

const FILES: &[&str] = &["app.js", "api.js", "graph.js", "style.css", "vendor/dagre.min.js"];

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
    assert!(html.contains("/console/app.js") && html.contains("/console/vendor/dagre.min.js"), "{html}");
    for file in FILES {
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
            .collect();
        assert!(outside.is_empty(), "{file} refers to {outside:?}");
    }
    // The graph library the set-up installs is the real one.
    let dagre = http.get(server.url("/console/vendor/dagre.min.js")).send().unwrap().text().unwrap();
    assert!(dagre.len() > 20_000 && dagre.contains("dagre"), "the console's graph library was not built");
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

// --- In a real browser (headless Chromium) ---------------------------------------------

use crate::support::browser::Browser;

/// The execution page the console went to, once it is there: its id.
fn execution_shown(browser: &Browser) -> String {
    browser.wait("an execution page", || {
        let hash = browser.run("return location.hash", json!([]));
        hash.as_str().and_then(|h| h.strip_prefix("#/executions/")).map(str::to_string)
    })
}

#[test]
fn a_workflow_started_from_its_form_turns_green_and_a_failed_tasks_error_opens() {
    let server = Server::start();
    let browser = Browser::start(1280, 800);
    browser.goto(&server.url("/#/workflows/merge"));
    browser.find("svg [data-task=notify]");
    browser.find("input[data-param=amount]").fill("5000");
    browser.find("form[aria-label='Start an execution'] button[type=submit]").click();
    let id = execution_shown(&browser);
    browser.wait_until("[data-task=notify]", "el.getAttribute('class').includes('s-succeeded')");
    browser.wait_until(".status", "el.textContent === 'completed'");
    for task in ["route", "review", "invoice", "notify"] {
        browser.wait_until(&format!("[data-task={task}]"), "el.getAttribute('class').includes('s-succeeded')");
    }
    browser.screenshot("merge-completed");
    let exec = expect(Client::new().get(server.url(&format!("/api/v1/executions/{id}"))).send().unwrap(), 200, None);
    assert_eq!(exec["output"], json!({ "reviewed": true, "invoiced": 5000 }));
    // The timeline: a bar per task that made a call (the switch only chose).
    browser.wait_until("svg.timeline", "el.querySelectorAll('rect.bar.s-succeeded').length === 3");

    // The other pages: plugins with their schemas, the event log, the audit log.
    browser.goto(&server.url("/#/plugins"));
    browser.wait_until("section[aria-label=core]", "el.textContent.includes('sleep') && el.querySelector('details')");
    browser.goto(&server.url("/#/events"));
    browser.wait_until("main h1", "el.textContent === 'Events'");
    browser.goto(&server.url("/#/audit"));
    browser.wait_until("main table", "el.textContent.includes('/api/v1/workflows/merge/executions')");
    browser.screenshot("audit");

    // A failed task: its error, from the graph.
    browser.goto(&server.url("/#/workflows/terminate"));
    browser.find("input[data-param=amount]").fill("500");
    browser.find("form[aria-label='Start an execution'] button[type=submit]").click();
    execution_shown(&browser);
    browser.wait_until("[data-task=too_much]", "el.getAttribute('class').includes('s-failed')");
    browser.find("[data-task=too_much]").click();
    browser.wait_until("section[aria-label=Task] pre.error", "el.textContent.includes('over the limit of 100')");
    browser.screenshot("terminate-failed-task");
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
    let browser = Browser::start(1280, 800);
    browser.goto(&server.url(&format!("/#/executions/{id}")));
    browser.wait_until("[data-task=review]", "el.getAttribute('class').includes('s-running')");
    browser.find("button[data-action=pause]").click();
    browser.wait_until(".status", "el.textContent === 'paused'");
    browser.screenshot("paused");
    browser.find("button[data-action=checkpoint]").click();
    browser.find("button[data-restore]");
    browser.find("button[data-action=resume]").click();
    browser.wait_until(".status", "el.textContent === 'running'");
    approve();
    browser.wait_until(".status", "el.textContent === 'completed'");
    browser.wait_until("[data-task=publish]", "el.getAttribute('class').includes('s-succeeded')");
    // Rolled back to the checkpoint, taken while paused and waiting: paused and waiting
    // again. Resumed, its wait finds the approval in the event log (it came after the wait
    // began) and the execution completes again.
    browser.find("button[data-restore]").click();
    browser.wait_until(".status", "el.textContent === 'paused'");
    browser.wait_until("[data-task=publish]", "!el.getAttribute('class').includes('s-succeeded')");
    browser.find("button[data-action=resume]").click();
    browser.wait_until(".status", "el.textContent === 'completed'");
    browser.screenshot("restored");
    let history = expect(http.get(server.url(&format!("/api/v1/executions/{id}/history"))).send().unwrap(), 200, None);
    assert!(history.to_string().contains("\"type\":\"restored\""), "the rollback is in the history");
}

#[test]
fn a_waiting_task_is_approved_from_the_page_on_a_phone_sized_screen() {
    let server = Server::start();
    let http = Client::new();
    let id = server.start_execution("approval", json!({ "input": { "document_path": "doc.txt" } }));
    let browser = Browser::start(390, 844);
    browser.goto(&server.url(&format!("/#/executions/{id}")));
    browser.find("form[data-signal=approve] textarea").fill(r#"{"approved": true}"#);
    browser.screenshot("approval-waiting-phone");
    browser.find("form[data-signal=approve] button[type=submit]").click();
    browser.wait_until("[data-task=publish]", "el.getAttribute('class').includes('s-succeeded')");
    browser.wait_until(".status", "el.textContent === 'completed'");
    let exec = expect(http.get(server.url(&format!("/api/v1/executions/{id}"))).send().unwrap(), 200, None);
    assert_eq!(exec["tasks"]["archive"]["status"], "skipped");
    browser.screenshot("approval-approved-phone");
}

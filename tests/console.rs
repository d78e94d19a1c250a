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

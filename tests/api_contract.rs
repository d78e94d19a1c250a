//! The API's contract, checked against a real `harmonia serve`: the OpenAPI document has
//! exactly the server's routes and says what the handlers take and answer, and every
//! refusal is the JSON error `{"error": {"code", "message"}}`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Launch, Server, operations, probe, repo};

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
            ["none", "signature", "viewer", "operator", "admin"].contains(&op["x-required-role"].as_str().unwrap()),
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
    // One grammar of durations: what a workflow's `timeout:` takes, `?wait=` takes.
    for wait in ["1.5s", "1m30s", "2sec"] {
        let (status, body) = answer(http.post(server.url(&format!("{start}?wait={wait}"))).send().unwrap());
        assert_eq!(status, 200, "wait={wait}: {body}");
    }
    for wait in ["", "5x", "+5", "1.5", "1 s", "s"] {
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

//! Workflow documents that used to crash or bloat a real `harmonia serve` (and `harmonia
//! validate`): each is refused with a 400 naming its limit while the server keeps serving,
//! and an operator's higher limit lets the large-but-legitimate ones through.

use std::time::Instant;

use reqwest::blocking::Client;
use serde_json::Value;

use crate::support::{Launch, Server, expect, repo};

/// `name: NAME`, `version: 1`, and `tasks` a chain of `n` echo calls.
fn chain(name: &str, n: usize) -> String {
    let mut text =
        format!("name: {name}\nversion: 1\ntasks:\n  t0: {{ component: core, action: echo, input: {{}} }}\n");
    for i in 1..n {
        text.push_str(&format!("  t{i}: {{ component: core, action: echo, input: {{}}, depends_on: [t{}] }}\n", i - 1));
    }
    text
}

/// Block lists nested 100,000 deep under a task's input: a stack overflow in the server.
fn deep() -> String {
    format!(
        "name: deep\nversion: 1\ntasks:\n  a:\n    component: core\n    action: echo\n    input:\n      k:\n      {}x\n",
        "- ".repeat(100_000)
    )
}

/// 8 levels of 10 aliases: 433 bytes, out of memory in 12 s.
fn alias_bomb() -> String {
    let mut text = String::from("name: bomb\nversion: 1\nvars:\n  a0: &a0 [x,x,x,x,x,x,x,x,x,x]\n");
    for i in 1..=8 {
        text.push_str(&format!("  a{i}: &a{i} [{}]\n", vec![format!("*a{}", i - 1); 10].join(",")));
    }
    text + "tasks:\n  a: { component: core, action: echo, input: {} }\n"
}

fn post(http: &Client, server: &Server, yaml: String) -> reqwest::blocking::Response {
    http.post(server.url("/api/v1/workflows")).header("content-type", "application/yaml").body(yaml).send().unwrap()
}

#[test]
fn workflow_bombs_are_refused_naming_their_limit_and_the_server_stays_up() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_with(data.path(), &repo().join("workflows"));
    let http = Client::new();
    for (yaml, limit) in [
        (deep(), "workflow_max_depth"),
        (alias_bomb(), "workflow_max_nodes"),
        (chain("long", 20_000), "workflow_max_tasks"),
    ] {
        let started = Instant::now();
        let body = expect(post(&http, &server, yaml), 400, Some("invalid_workflow"));
        assert!(body.to_string().contains(limit), "{body}");
        eprintln!("{limit}: refused in {:?}", started.elapsed());
        expect(http.get(server.url("/health")).send().unwrap(), 200, None);
    }
    // A long chain within the limit is stored and runs to its end.
    expect(post(&http, &server, chain("chain", 2_000)), 201, None);
    let run = http
        .post(server.url("/api/v1/workflows/chain/executions?wait=60s"))
        .json(&serde_json::json!({ "input": {} }))
        .send()
        .unwrap();
    let body: Value = expect(run, 200, None);
    assert_eq!(body["status"], "completed", "{body}");
}

#[test]
fn an_operator_raises_the_task_limit() {
    let data = tempfile::tempdir().unwrap();
    let workflows = repo().join("workflows");
    let env = [("HARMONIA_WORKFLOW_MAX_TASKS", "20000")];
    let server = Server::launch(Launch { env: &env, ..Launch::new(data.path(), &workflows) });
    let started = Instant::now();
    expect(post(&Client::new(), &server, chain("long", 20_000)), 201, None);
    eprintln!("a chain of 20,000 tasks stored in {:?}", started.elapsed());
    server.stop();
    // After a restart with the default limit, the stored version is reported, not lost.
    let server = Server::start_with(data.path(), &workflows);
    let log = server.stderr();
    assert!(
        log.contains("a stored version of workflow long does not parse") && log.contains("workflow_max_tasks"),
        "{log}"
    );
}

#[test]
fn validate_reports_a_bomb_instead_of_crashing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deep.yaml");
    std::fs::write(&file, deep()).unwrap();
    let out = crate::support::harmonia_command().current_dir(repo()).arg("validate").arg(&file).output().unwrap();
    let printed = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{printed}");
    assert!(
        printed.contains("deep.yaml:9:") && printed.contains("exceeds the limit of 64 (workflow_max_depth"),
        "{printed}"
    );
}

#[test]
fn an_operator_bounds_a_task_calls_output() {
    let data = tempfile::tempdir().unwrap();
    let workflows = tempfile::tempdir().unwrap();
    std::fs::write(
        workflows.path().join("big.yaml"),
        "name: big\nversion: 1\ntasks:\n  r: { component: core, action: range, input: { end: 1000 } }\n",
    )
    .unwrap();
    let env = [("HARMONIA_MAX_TASK_OUTPUT", "1000")];
    let server = Server::launch(Launch { env: &env, ..Launch::new(data.path(), workflows.path()) });
    let run = Client::new()
        .post(server.url("/api/v1/workflows/big/executions?wait=30s"))
        .json(&serde_json::json!({ "input": {} }))
        .send()
        .unwrap();
    let body: Value = run.json().unwrap();
    assert_eq!(body["status"], "failed", "{body}");
    assert!(body.to_string().contains("over the limit of 1000"), "{body}");
}

/// `a` echoes; `b`, after it, evaluates `n` lists of `n` elements.
const HEAVY: &str = "name: heavy\nversion: 1\ninput:\n  n: { type: integer }\ntasks:\n  a: { component: core, action: echo, input: {} }\n  b: { component: core, action: echo, depends_on: [a], input: { v: \"${lists.range(input.n).map(x, lists.range(input.n).size()).size()}\" } }\n";

fn millis_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

#[test]
fn an_expression_over_its_cost_fails_its_execution_naming_the_limit() {
    let data = tempfile::tempdir().unwrap();
    let workflows = tempfile::tempdir().unwrap();
    std::fs::write(workflows.path().join("heavy.yaml"), HEAVY).unwrap();
    // The cost limit is under test: on a slow machine the default CPU-time limit (1 s)
    // can be reached before the cost limit, so it is raised out of the way.
    let env = [("HARMONIA_EXPRESSION_MAX_TIME", "60s")];
    let server = Server::launch(Launch { env: &env, ..Launch::new(data.path(), workflows.path()) });
    let http = Client::new();
    // 30,000 lists of 30,000 elements ran for 27 s of CPU on the thread serving requests.
    let run = http
        .post(server.url("/api/v1/workflows/heavy/executions?wait=60s"))
        .json(&serde_json::json!({ "input": { "n": 30000 } }))
        .send()
        .unwrap();
    let body: Value = expect(run, 200, None);
    assert_eq!(body["status"], "failed", "{body}");
    assert_eq!(body["error"]["task"], "b", "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().ends_with(
            "the expression's cost exceeds the limit of 10000000 (expression_max_cost; an operator can raise it)"
        ),
        "{body}"
    );
    // Within its budget, the same expression gives its value.
    let run = http
        .post(server.url("/api/v1/workflows/heavy/executions?wait=60s"))
        .json(&serde_json::json!({ "input": { "n": 300 } }))
        .send()
        .unwrap();
    let body: Value = expect(run, 200, None);
    assert_eq!(body["status"], "completed", "{body}");
    let id = body["id"].as_str().unwrap();
    let state: Value = expect(http.get(server.url(&format!("/api/v1/executions/{id}"))).send().unwrap(), 200, None);
    assert_eq!(state["tasks"]["b"]["output"]["v"], 300, "{state}");
}

#[test]
fn expressions_that_run_long_do_not_stall_requests_and_stop_at_their_cpu_time() {
    let data = tempfile::tempdir().unwrap();
    let workflows = tempfile::tempdir().unwrap();
    std::fs::write(workflows.path().join("heavy.yaml"), HEAVY).unwrap();
    // No cost limit to speak of: the CPU time stops them.
    let env = [("HARMONIA_EXPRESSION_MAX_COST", "1000000000000000"), ("HARMONIA_EXPRESSION_MAX_TIME", "3s")];
    let server = Server::launch(Launch { env: &env, ..Launch::new(data.path(), workflows.path()) });
    let http = Client::new();
    // As many as this machine has cores (two of them stalled every request for 27 s).
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let ids: Vec<String> = (0..cores)
        .map(|_| {
            let run = http
                .post(server.url("/api/v1/workflows/heavy/executions"))
                .json(&serde_json::json!({ "input": { "n": 1000000 } }))
                .send()
                .unwrap();
            expect(run, 201, None)["id"].as_str().unwrap().to_string()
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(500));
    expect(http.get(server.url("/health")).send().unwrap(), 200, None);
    let answered = millis_now();
    for id in &ids {
        let body = loop {
            let body: Value =
                expect(http.get(server.url(&format!("/api/v1/executions/{id}"))).send().unwrap(), 200, None);
            if body["status"] != "running" {
                break body;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        };
        assert_eq!(body["status"], "failed", "{body}");
        assert!(body.to_string().contains("CPU time exceeds the limit of 3000 ms (expression_max_time"), "{body}");
    }
    // /health answered while the expressions were still running: their failures were
    // committed after it.
    let list: Value = expect(http.get(server.url("/api/v1/executions?workflow=heavy")).send().unwrap(), 200, None);
    for execution in list["executions"].as_array().unwrap() {
        let failed_at = execution["updated_at"].as_u64().unwrap();
        assert!(answered < failed_at, "health answered at {answered}, an expression failed at {failed_at}: {list}");
    }
}

/// A loop that would run a billion times.
const RUNAWAY: &str = "name: runaway\nversion: 1\ntasks:\n  spin:\n    component: core\n    action: echo\n    input: { i: \"${iteration}\" }\n    repeat: { until: \"${false}\", max_iterations: 1000000000 }\n";

#[test]
fn a_runaway_execution_stops_at_its_history_limit_and_its_history_reads_a_page_at_a_time() {
    let data = tempfile::tempdir().unwrap();
    let workflows = tempfile::tempdir().unwrap();
    std::fs::write(workflows.path().join("runaway.yaml"), RUNAWAY).unwrap();
    let env = [("HARMONIA_EXECUTION_MAX_EVENTS", "2000")];
    let server = Server::launch(Launch { env: &env, ..Launch::new(data.path(), workflows.path()) });
    let http = Client::new();
    // (812,607 events were written before, at 4 MB/s of server memory.)
    let run = http
        .post(server.url("/api/v1/workflows/runaway/executions?wait=60s"))
        .json(&serde_json::json!({ "input": {} }))
        .send()
        .unwrap();
    let body: Value = expect(run, 200, None);
    assert_eq!(body["status"], "failed", "{body}");
    assert_eq!(body["error"]["kind"], "history_limit", "{body}");
    assert_eq!(
        body["error"]["message"],
        "the execution's history reached the limit of 2000 events (execution_max_events; an operator can raise it)"
    );
    let id = body["id"].as_str().unwrap().to_string();
    let state: Value = expect(http.get(server.url(&format!("/api/v1/executions/{id}"))).send().unwrap(), 200, None);
    let total = state["seq"].as_u64().unwrap();
    assert!((2000..2000 + 300).contains(&total), "{total} events");
    assert_eq!(state["tasks"]["spin"]["status"], "cancelled", "{state}");

    // The history, 500 events a page: every event once, in order, the abort last.
    let mut after = 0;
    let mut seqs = Vec::new();
    let mut last = Value::Null;
    loop {
        let url = server.url(&format!("/api/v1/executions/{id}/history?limit=500&after={after}"));
        let page: Value = expect(http.get(url).send().unwrap(), 200, None);
        let events = page["events"].as_array().unwrap();
        assert!(events.len() <= 500);
        seqs.extend(events.iter().map(|e| e["seq"].as_u64().unwrap()));
        last = events.last().cloned().unwrap_or(last);
        match page["next"].as_u64() {
            Some(next) => {
                assert_eq!(events.len(), 500);
                after = next;
            }
            None => break,
        }
    }
    assert_eq!(seqs, (1..=total).collect::<Vec<_>>());
    assert_eq!(last["type"], "aborted", "{last}");
    // Without a limit, a page is at most 1000 events; past the end, an empty last page.
    let page: Value =
        expect(http.get(server.url(&format!("/api/v1/executions/{id}/history"))).send().unwrap(), 200, None);
    assert_eq!((page["events"].as_array().unwrap().len(), page["next"].as_u64()), (1000, Some(1000)));
    let page: Value = expect(
        http.get(server.url(&format!("/api/v1/executions/{id}/history?after={total}"))).send().unwrap(),
        200,
        None,
    );
    assert_eq!((page["events"].as_array().unwrap().len(), &page["next"]), (0, &Value::Null));
    for bad in ["limit=0", "limit=1001", "after=x", "page=2"] {
        expect(http.get(server.url(&format!("/api/v1/executions/{id}/history?{bad}"))).send().unwrap(), 400, None);
    }
}

#[test]
fn a_plugins_kv_quota_holds_across_restarts() {
    let data = tempfile::tempdir().unwrap();
    let workflows = tempfile::tempdir().unwrap();
    // Each execution stores 43 bytes (a key of 1, a JSON string of 42) under the key it is given.
    let store = format!(
        "name: store\nversion: 1\ninput:\n  key: {{ type: string }}\ntasks:\n  put: {{ component: core, action: kv_set, input: {{ key: \"${{input.key}}\", value: {} }} }}\n",
        "x".repeat(40)
    );
    std::fs::write(workflows.path().join("store.yaml"), store).unwrap();
    let env = [("HARMONIA_MAX_KV_BYTES", "100")];
    let put = |server: &Server, key: &str| -> Value {
        let run = Client::new()
            .post(server.url("/api/v1/workflows/store/executions?wait=30s"))
            .json(&serde_json::json!({ "input": { "key": key } }))
            .send()
            .unwrap();
        expect(run, 200, None)
    };
    let server = Server::launch(Launch { env: &env, ..Launch::new(data.path(), workflows.path()) });
    assert_eq!(put(&server, "a")["status"], "completed");
    assert_eq!(put(&server, "b")["status"], "completed");
    server.stop();
    // After a restart, what the plugin holds is counted from the store.
    let server = Server::launch(Launch { env: &env, ..Launch::new(data.path(), workflows.path()) });
    let refused = put(&server, "c");
    assert_eq!(refused["status"], "failed", "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("over its limit of 100 (max_kv_bytes"), "{refused}");
}

#[test]
fn an_expression_certain_to_pass_its_budget_is_refused_when_stored_unless_the_operator_allows_it() {
    let bomb = "name: bomb\nversion: 1\ntasks:\n  a: { component: core, action: echo, input: { v: \"${lists.range(30000).map(x, lists.range(30000).size()).size()}\" } }\n".to_string();
    let data = tempfile::tempdir().unwrap();
    let workflows = tempfile::tempdir().unwrap();
    let server = Server::start_with(data.path(), workflows.path());
    let body = expect(post(&Client::new(), &server, bomb.clone()), 400, Some("invalid_workflow"));
    assert!(
        body.to_string().contains("costs at least 900090000, over the limit of 10000000 (expression_max_cost"),
        "{body}"
    );
    server.stop();
    let env = [("HARMONIA_EXPRESSION_MAX_COST", "1000000000")];
    let server = Server::launch(Launch { env: &env, ..Launch::new(data.path(), workflows.path()) });
    expect(post(&Client::new(), &server, bomb), 201, None);
}

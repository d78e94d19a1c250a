//! `limits`: the worst inputs found by trying the server from outside, each against a fresh
//! release `harmonia serve`: how long the server takes to refuse (or end) each, and how far
//! its resident memory rises above what it held idle (its peak, `VmHWM`). Targets: every one
//! refused within 1 s, and under 200 MB above idle.
//!
//! Workflow documents (refused with a 400): block YAML nested 100,000 deep, an alias bomb of
//! 8 levels of 10, a chain of 20,000 tasks, a CEL expression whose literal sizes make it cost
//! 900 million. Executions (ended as failed): CEL CPU and memory bombs sized by their input,
//! task outputs of 7 MB and 120 MB (over `max_task_output`), a million events from one call. A read: the whole
//! history of an execution at its event limit, a page at a time. And what the largest
//! workflows accepted by default cost: 10,000 tasks in a chain or side by side, stored, run
//! and read back.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::report;
use crate::server::Server;

const SCENARIO: &str = "limits";

/// A workflow `name` with one `core` task `t` doing `action` with `input` (YAML flow).
fn one_task(name: &str, action: &str, input: &str) -> String {
    format!("name: {name}\nversion: 1\ntasks:\n  t: {{ component: core, action: {action}, input: {input} }}\n")
}

fn deep_yaml() -> String {
    format!(
        "name: deep\nversion: 1\ntasks:\n  a:\n    component: core\n    action: echo\n    input:\n      k:\n      {}x\n",
        "- ".repeat(100_000)
    )
}

fn alias_bomb() -> String {
    let mut text = String::from("name: bomb\nversion: 1\nvars:\n  a0: &a0 [x,x,x,x,x,x,x,x,x,x]\n");
    for i in 1..=8 {
        text.push_str(&format!("  a{i}: &a{i} [{}]\n", vec![format!("*a{}", i - 1); 10].join(",")));
    }
    text + "tasks:\n  a: { component: core, action: echo, input: {} }\n"
}

fn chain(n: usize) -> String {
    let mut text =
        String::from("name: chain\nversion: 1\ntasks:\n  t0: { component: core, action: echo, input: {} }\n");
    for i in 1..n {
        text.push_str(&format!("  t{i}: {{ component: core, action: echo, input: {{}}, depends_on: [t{}] }}\n", i - 1));
    }
    text
}

fn nested_maps() -> String {
    let mut source = String::from("x8");
    for depth in (0..9).rev() {
        source = format!("lists.range(input.n).map(x{depth}, {source})");
    }
    format!("{{ v: \"${{{source}}}\" }}")
}

/// The server's resident memory now, in MB (from /proc).
fn rss_mb(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("reading the server's /proc status")?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok());
    Ok(rss.unwrap_or(0.0) / 1024.0)
}

/// Runs `f` while a thread samples the server's memory every 5 ms; `f`'s result and the
/// highest sample.
fn sampled<T>(pid: u32, f: impl FnOnce() -> T) -> (T, f64) {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut peak: f64 = 0.0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(rss_mb(pid).unwrap_or(0.0));
                std::thread::sleep(Duration::from_millis(5));
            }
            peak.max(rss_mb(pid).unwrap_or(0.0))
        })
    };
    let result = f();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    (result, sampler.join().unwrap_or(0.0))
}

/// One input against a fresh server: `send` gets the client and the server's base URL and
/// checks the answer. Reports the time it took and the highest memory (sampled) above idle.
fn bomb(
    plugins: &Path,
    name: &str,
    workflows: &[(&str, &str)],
    env: &[(&str, &str)],
    send: impl FnOnce(&Client, &str) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut server = Server::start(plugins, workflows, env)?;
    let client = Client::builder().timeout(Duration::from_secs(600)).build()?;
    // Idle: once it answers (plugins loaded and compiled).
    ensure!(client.get(format!("{}/ready", server.base)).send()?.status().is_success(), "the server is not ready");
    let idle = rss_mb(server.pid())?;
    let started = Instant::now();
    let (sent, peak) = sampled(server.pid(), || send(&client, &server.base));
    if let Err(e) = sent {
        return Err(server.failed(e.context(name.to_string())));
    }
    let took = started.elapsed();
    report(SCENARIO, &format!("{name}_ms"), took.as_secs_f64() * 1000.0, "ms");
    report(SCENARIO, &format!("{name}_peak_rss_above_idle_mb"), peak - idle, "MB");
    server.stop()
}

/// POSTs a workflow document; it must be refused with a 400 naming `limit`.
fn refused(client: &Client, base: &str, yaml: String, limit: &str) -> anyhow::Result<()> {
    let response =
        client.post(format!("{base}/api/v1/workflows")).header("content-type", "application/yaml").body(yaml).send()?;
    let status = response.status();
    let body = response.text()?;
    ensure!(status == 400 && body.contains(limit), "expected a 400 naming {limit}, got {status}: {body:.300}");
    Ok(())
}

/// Runs workflow `name`; it must end `failed` with an error containing `says`.
fn fails(client: &Client, base: &str, name: &str, says: &str) -> anyhow::Result<Value> {
    let response = client
        .post(format!("{base}/api/v1/workflows/{name}/executions?wait=10m"))
        .json(&json!({ "input": {} }))
        .send()?;
    let body: Value = response.json()?;
    ensure!(
        body["status"] == "failed" && body["error"].to_string().contains(says),
        "expected a failure saying {says:?}, got {body:.500}"
    );
    Ok(body)
}

pub fn run(plugins: &Path, quick: bool) -> anyhow::Result<()> {
    bomb(plugins, "deep_yaml", &[], &[], |c, b| refused(c, b, deep_yaml(), "workflow_max_depth"))?;
    bomb(plugins, "alias_bomb", &[], &[], |c, b| refused(c, b, alias_bomb(), "workflow_max_nodes"))?;
    bomb(plugins, "chain_20000", &[], &[], |c, b| refused(c, b, chain(20_000), "workflow_max_tasks"))?;
    // Expressions whose literal sizes fix their cost are refused when stored; those whose
    // sizes come from the input run until their budget is spent.
    let literal = one_task("cpu", "echo", "{ v: \"${lists.range(30000).map(x, lists.range(30000).size()).size()}\" }");
    bomb(plugins, "cel_cpu_literal", &[], &[], |c, b| refused(c, b, literal, "expression_max_cost"))?;
    let cpu = format!(
        "{}input:\n  n: {{ type: integer, default: 30000 }}\n",
        one_task("cpu", "echo", "{ v: \"${lists.range(input.n).map(x, lists.range(input.n).size()).size()}\" }")
    );
    bomb(plugins, "cel_cpu", &[("cpu.yaml", &cpu)], &[], |c, b| fails(c, b, "cpu", "expression_max_cost").map(drop))?;
    let memory =
        format!("{}input:\n  n: {{ type: integer, default: 10 }}\n", one_task("memory", "echo", &nested_maps()));
    bomb(plugins, "cel_memory", &[("memory.yaml", &memory)], &[], |c, b| {
        fails(c, b, "memory", "expression_max_cost").map(drop)
    })?;
    // A million numbers (about 7 MB, the most `range` makes; 120 MB needs a plugin with a
    // 1 GiB memory grant): over max_task_output.
    let output = one_task("output", "range", "{ end: 1000000 }");
    bomb(plugins, "output_7mb", &[("output.yaml", &output)], &[], |c, b| {
        fails(c, b, "output", "output_too_large").map(drop)
    })?;
    output_120mb(plugins)?;
    let events = one_task("events", "log", "{ message: m, times: 1000000, event: { type: e, data: {} } }");
    bomb(plugins, "events_1m", &[("events.yaml", &events)], &[], |client, base| {
        let response = client
            .post(format!("{base}/api/v1/workflows/events/executions?wait=10m"))
            .json(&json!({ "input": {} }))
            .send()?;
        let body: Value = response.json()?;
        ensure!(body["status"] == "completed", "{body:.300}");
        Ok(())
    })?;
    // The largest workflows accepted by default: stored, run to their end and read back.
    bomb(plugins, "chain_10000_run", &[], &[], |c, b| runs(c, b, chain(10_000), "chain"))?;
    bomb(plugins, "wide_10000_run", &[], &[], |c, b| runs(c, b, wide(10_000), "wide"))?;
    history_read(plugins, if quick { 20_000 } else { 420_000 })
}

/// A task output of 120 MB, as the issue found it: `core` granted 1 GiB of memory and a
/// directory holding a 120 MB file, which `read_file` returns. Most of the memory is the
/// plugin's own (the file and its JSON in its linear memory, which its grant allows); the
/// host holds one copy of the output before it refuses it.
fn output_120mb(plugins: &Path) -> anyhow::Result<()> {
    let granted = tempfile::tempdir()?;
    let file = granted.path().join("big.txt");
    std::fs::write(&file, "x".repeat(120 << 20))?;
    let own_plugins = tempfile::tempdir()?;
    std::fs::copy(plugins.join("core.wasm"), own_plugins.path().join("core.wasm"))?;
    let manifest = format!("memory_mb = 1024\n[[dirs]]\nhost = \"{}\"\n", granted.path().display());
    std::fs::write(own_plugins.path().join("core.toml"), manifest)?;
    let workflow = one_task("output", "read_file", &format!("{{ path: \"{}\" }}", file.display()));
    bomb(own_plugins.path(), "output_120mb", &[("output.yaml", &workflow)], &[], |c, b| {
        fails(c, b, "output", "output_too_large").map(drop)
    })
}

/// `n` tasks that depend on nothing.
fn wide(n: usize) -> String {
    let mut text = String::from("name: wide\nversion: 1\ntasks:\n");
    for i in 0..n {
        text.push_str(&format!("  t{i}: {{ component: core, action: echo, input: {{}} }}\n"));
    }
    text
}

/// Stores workflow `name` from `yaml`, runs it to its end and reads its state back.
fn runs(client: &Client, base: &str, yaml: String, name: &str) -> anyhow::Result<()> {
    let stored =
        client.post(format!("{base}/api/v1/workflows")).header("content-type", "application/yaml").body(yaml).send()?;
    ensure!(stored.status() == 201, "storing {name}: {}", stored.status());
    let run: Value = client
        .post(format!("{base}/api/v1/workflows/{name}/executions?wait=10m"))
        .json(&json!({ "input": {} }))
        .send()?
        .json()?;
    ensure!(run["status"] == "completed", "{name}: {run:.300}");
    let id = run["id"].as_str().context("no id")?;
    let state: Value = client.get(format!("{base}/api/v1/executions/{id}")).send()?.json()?;
    ensure!(state["status"] == "completed", "{name}: {state:.300}");
    Ok(())
}

/// An execution that runs until its history holds `events` events, then its whole history
/// read a page at a time; the figure is the read.
fn history_read(plugins: &Path, events: u64) -> anyhow::Result<()> {
    let runaway = "name: runaway\nversion: 1\ntasks:\n  spin:\n    component: core\n    action: echo\n    input: { i: \"${iteration}\" }\n    repeat: { until: \"${false}\", max_iterations: 1000000000 }\n";
    let limit = events.to_string();
    let mut server =
        Server::start(plugins, &[("runaway.yaml", runaway)], &[("HARMONIA_EXECUTION_MAX_EVENTS", &limit)])?;
    let client = Client::builder().timeout(Duration::from_secs(600)).build()?;
    let written = Instant::now();
    let body = match fails(&client, &server.base, "runaway", "history_limit") {
        Ok(body) => body,
        Err(e) => return Err(server.failed(e)),
    };
    eprintln!("limits: {events} events written in {:?}", written.elapsed());
    let id = body["id"].as_str().context("no id")?.to_string();
    let idle = rss_mb(server.pid())?;
    let started = Instant::now();
    let read_all = || -> anyhow::Result<u64> {
        let (mut after, mut read) = (0u64, 0u64);
        loop {
            let page: Value =
                client.get(format!("{}/api/v1/executions/{id}/history?after={after}", server.base)).send()?.json()?;
            read += page["events"].as_array().map_or(0, |e| e.len() as u64);
            match page["next"].as_u64() {
                Some(next) => after = next,
                None => return Ok(read),
            }
        }
    };
    let (read, peak) = sampled(server.pid(), read_all);
    let took = started.elapsed();
    let read = read?;
    ensure!(read >= events, "read {read} events of {events}");
    report(SCENARIO, "history_read_ms", took.as_secs_f64() * 1000.0, "ms");
    report(SCENARIO, "history_read_events", read as f64, "events");
    report(SCENARIO, "history_read_peak_rss_above_idle_mb", peak - idle, "MB");
    server.stop()
}

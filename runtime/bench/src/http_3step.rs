//! `http-3step`: whole workflows over the HTTP API of a real `harmonia serve` (the release
//! binary next to this one, as a child process, `sync=always`), on loopback: each client
//! calls `POST /api/v1/workflows/three-steps/executions?wait=30s` and checks the response (200,
//! `completed`, the output proving the three `core`/`echo` tasks ran in order on each
//! other's results). Throughput with 32 clients, each on its own keep-alive connection;
//! latency with one client, requests one after another.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use serde_json::{Value, json};

// The workflow of `durable-3step`: v = (n + 1) * 2 + 3 proves all three ran, in order.
use crate::durable::{THREE_STEPS, expected};
use crate::server::Server;
use crate::{closed_loop, quantile, report};

const SCENARIO: &str = "http-3step";
/// Concurrent clients for `wf_per_s`, each with a connection of its own.
const CLIENTS: usize = 32;

/// A client with its own connection pool: one keep-alive connection when its requests go
/// one after another.
fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder().tcp_nodelay(true).pool_max_idle_per_host(1).build()?)
}

/// One workflow over HTTP, its response checked.
async fn one(client: &reqwest::Client, url: &str, n: i64) -> anyhow::Result<()> {
    let response = client.post(url).json(&json!({ "input": { "n": n } })).send().await?;
    let status = response.status();
    let body = response.text().await?;
    anyhow::ensure!(status == reqwest::StatusCode::OK, "n={n}: HTTP {status}: {body}");
    let body: Value = serde_json::from_str(&body).with_context(|| format!("n={n}: response is not JSON: {body}"))?;
    anyhow::ensure!(body["status"] == "completed", "n={n}: ended {}: {}", body["status"], body["error"]);
    anyhow::ensure!(body["output"] == expected(n), "n={n}: output {}", body["output"]);
    Ok(())
}

/// `count` workflows by `clients` clients in a closed loop; inputs are `first..first + count`.
async fn drive(url: &str, first: usize, count: usize, clients: usize) -> anyhow::Result<closed_loop::Run> {
    let url: Arc<str> = url.into();
    let clients: Vec<reqwest::Client> = (0..clients).map(|_| client()).collect::<anyhow::Result<_>>()?;
    closed_loop::run(clients, count, move |client, i| {
        let url = url.clone();
        async move { one(&client, &url, (first + i) as i64).await }
    })
    .await
}

pub async fn run(plugins: &Path, quick: bool) -> anyhow::Result<()> {
    let mut server = Server::start(plugins, &[("three-steps.yaml", THREE_STEPS)], &[])?;
    // On stderr, for profiling the server while it is measured (`perf record -p PID`).
    eprintln!("http-3step: server pid {} at {}", server.pid(), server.base);
    let url = format!("{}/api/v1/workflows/three-steps/executions?wait=30s", server.base);
    let measured = measure(&url, quick).await;
    if let Err(e) = measured {
        return Err(server.failed(e));
    }
    server.stop()
}

async fn measure(url: &str, quick: bool) -> anyhow::Result<()> {
    let (workflows, sequential) = if quick { (2_000, 300) } else { (20_000, 2_000) };
    // Warm up: the server's instance pool, page cache, RocksDB's memtables, connections.
    drive(url, 0, if quick { 500 } else { 2_000 }, CLIENTS).await?;
    let mut first = 1_000_000;
    let many = drive(url, first, workflows, CLIENTS).await?;
    first += workflows;
    report(SCENARIO, "wf_per_s", workflows as f64 / many.seconds, "workflows/s");
    // Under that load: includes queueing behind the other 31 clients.
    report(SCENARIO, "p50_ms_32_clients", quantile(&many.latencies_ms, 0.5), "ms");
    report(SCENARIO, "p99_ms_32_clients", quantile(&many.latencies_ms, 0.99), "ms");

    drive(url, first, 50, 1).await?;
    first += 50;
    let alone = drive(url, first, sequential, 1).await?;
    report(SCENARIO, "p50_ms", quantile(&alone.latencies_ms, 0.5), "ms");
    report(SCENARIO, "p99_ms", quantile(&alone.latencies_ms, 0.99), "ms");
    report(SCENARIO, "wf_per_s_one_client", sequential as f64 / alone.seconds, "workflows/s");
    Ok(())
}

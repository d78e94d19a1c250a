//! `events`: CloudEvents over the HTTP API of a real `harmonia serve` (release, `sync=always`).
//!
//! - `events_per_s`: events accepted into the durable log, sent in batches of 100 by 8
//!   clients (each answer comes once its batch is committed); every answer is checked.
//! - `trigger_p50_ms`/`trigger_p99_ms`: from sending one event to seeing, on the SSE stream,
//!   the first task of the execution its trigger started (`call_started`), one event at a
//!   time.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::server::Server;
use crate::{closed_loop, quantile, report};

const SCENARIO: &str = "events";
const CLIENTS: usize = 8;
const BATCH: usize = 100;

const TRIGGERED: &str = r#"
name: ev
version: "1"
input: { n: { type: integer } }
triggers:
  - event: bench.tick
    input: { n: "${event.data.n}" }
tasks:
  echo: { component: core, action: echo, input: { n: "${input.n}" } }
"#;

fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder().tcp_nodelay(true).pool_max_idle_per_host(1).build()?)
}

fn event(id: usize, kind: &str) -> Value {
    json!({ "specversion": "1.0", "id": id.to_string(), "source": "/bench", "type": kind, "data": { "n": id } })
}

/// One batch of `BATCH` events, all new, checked.
async fn batch(client: &reqwest::Client, url: &str, first: usize) -> anyhow::Result<()> {
    let events: Vec<Value> = (first..first + BATCH).map(|i| event(i, "bench.load")).collect();
    let response = client.post(url).json(&events).send().await?;
    let status = response.status();
    let body: Value = response.json().await?;
    anyhow::ensure!(status == reqwest::StatusCode::ACCEPTED, "HTTP {status}: {body}");
    anyhow::ensure!(body["accepted"] == BATCH, "not all accepted: {body}");
    Ok(())
}

pub async fn run(plugins: &Path, quick: bool) -> anyhow::Result<()> {
    let mut server = Server::start(plugins, &[("ev.yaml", TRIGGERED)], &[])?;
    eprintln!("events: server pid {} at {}", server.pid(), server.base);
    if let Err(e) = measure(&server.base, quick).await {
        return Err(server.failed(e));
    }
    server.stop()
}

async fn measure(base: &str, quick: bool) -> anyhow::Result<()> {
    let url: Arc<str> = format!("{base}/api/v1/events").into();
    let batches = if quick { 200 } else { 2_000 };
    let clients: Vec<reqwest::Client> = (0..CLIENTS).map(|_| client()).collect::<anyhow::Result<_>>()?;
    let warm = url.clone();
    closed_loop::run(clients.clone(), 20, move |c, i| {
        let url = warm.clone();
        async move { batch(&c, &url, 10_000_000 + i * BATCH).await }
    })
    .await?;
    let load = url.clone();
    let run = closed_loop::run(clients, batches, move |c, i| {
        let url = load.clone();
        async move { batch(&c, &url, i * BATCH).await }
    })
    .await?;
    report(SCENARIO, "events_per_s", (batches * BATCH) as f64 / run.seconds, "events/s");
    report(SCENARIO, "batch_p50_ms", quantile(&run.latencies_ms, 0.5), "ms");

    let latencies = trigger_latencies(base, if quick { 100 } else { 500 }).await?;
    report(SCENARIO, "trigger_p50_ms", quantile(&latencies, 0.5), "ms");
    report(SCENARIO, "trigger_p99_ms", quantile(&latencies, 0.99), "ms");
    Ok(())
}

#[derive(Default)]
struct Starts {
    waiting: HashMap<String, oneshot::Sender<Instant>>,
    early: HashMap<String, Instant>,
}

/// Sends `count` events one at a time; for each, the time until the SSE stream shows its
/// execution's first task started. Sorted.
async fn trigger_latencies(base: &str, count: usize) -> anyhow::Result<Vec<f64>> {
    // Executions waited for, and starts seen before anyone waited for them.
    let waiting: Arc<Mutex<Starts>> = Arc::default();
    let stream = client()?
        .get(format!("{base}/api/v1/events/stream?workflow=ev&type=call_started"))
        .send()
        .await
        .context("cannot open the event stream")?;
    anyhow::ensure!(stream.status().is_success(), "the event stream answered {}", stream.status());
    let seen = waiting.clone();
    let follower = tokio::spawn(async move {
        let mut stream = stream;
        let mut pending = String::new();
        while let Ok(Some(chunk)) = stream.chunk().await {
            let now = Instant::now();
            pending.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = pending.find("\n\n") {
                let message: String = pending.drain(..end + 2).collect();
                let Some(data) = message.lines().find_map(|l| l.strip_prefix("data:")) else { continue };
                let Ok(event) = serde_json::from_str::<Value>(data.trim()) else { continue };
                let Some(execution) = event["execution"].as_str() else { continue };
                let mut starts = seen.lock().unwrap();
                match starts.waiting.remove(execution) {
                    Some(tell) => drop(tell.send(now)),
                    None => drop(starts.early.insert(execution.to_string(), now)),
                }
            }
        }
    });
    let client = client()?;
    let url = format!("{base}/api/v1/events");
    let mut latencies = Vec::with_capacity(count);
    for i in 0..count {
        let (tell, told) = oneshot::channel();
        let sent = Instant::now();
        let response = client.post(&url).json(&event(20_000_000 + i, "bench.tick")).send().await?;
        let body: Value = response.json().await?;
        let seq = body["events"][0]["seq"].as_u64().with_context(|| format!("no position: {body}"))?;
        let execution = format!("ev-event-{seq}");
        {
            let mut starts = waiting.lock().unwrap();
            match starts.early.remove(&execution) {
                Some(at) => drop(tell.send(at)), // seen before the answer came
                None => drop(starts.waiting.insert(execution.clone(), tell)),
            }
        }
        let started = tokio::time::timeout(std::time::Duration::from_secs(10), told)
            .await
            .with_context(|| format!("{execution} did not start within 10 s"))??;
        latencies.push(started.duration_since(sent).as_secs_f64() * 1000.0);
    }
    follower.abort();
    latencies.sort_by(f64::total_cmp);
    Ok(latencies)
}

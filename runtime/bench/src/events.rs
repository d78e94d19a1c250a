//! `events`: CloudEvents over the HTTP API of a real `harmonia serve` (release, `sync=always`).
//!
//! - `events_per_s`: events accepted into the durable log, sent in batches of 100 by 8
//!   clients (each answer comes once its batch is committed); every answer is checked.
//! - `trigger_p50_ms`/`trigger_p99_ms`: from sending one event to seeing, on the SSE stream,
//!   the first task of the execution its trigger started (`call_started`), one event at a
//!   time.
//! - `webhook_p50_ms`: from sending one event to a webhook receiver on loopback getting it
//!   from a subscription, one event at a time; `webhooks_per_s`: events a subscription
//!   delivers to that receiver, sent in batches (one subscription delivers in order, one at
//!   a time).

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

    let (latencies, per_s) = webhooks(base, if quick { 100 } else { 500 }, if quick { 1_000 } else { 5_000 }).await?;
    report(SCENARIO, "webhook_p50_ms", quantile(&latencies, 0.5), "ms");
    report(SCENARIO, "webhook_p99_ms", quantile(&latencies, 0.99), "ms");
    report(SCENARIO, "webhooks_per_s", per_s, "events/s");
    Ok(())
}

/// Event ids a webhook receiver got, with when.
type Received = Arc<Mutex<(HashMap<String, Instant>, usize)>>;

/// An HTTP/1.1 receiver on loopback: answers every POST 200 and notes the event's id.
async fn receiver() -> anyhow::Result<(String, Received, tokio::sync::watch::Receiver<usize>)> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/in", listener.local_addr()?);
    let received: Received = Arc::default();
    let (count, counted) = tokio::sync::watch::channel(0);
    let got = received.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (got, count) = (got.clone(), count.clone());
            tokio::spawn(async move {
                let mut stream = tokio::io::BufReader::new(stream);
                let (mut line, mut length) = (String::new(), 0);
                loop {
                    line.clear();
                    if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                if stream.read_exact(&mut body).await.is_err() {
                    return;
                }
                let now = Instant::now();
                let id = serde_json::from_slice::<Value>(&body).ok().and_then(|e| e["id"].as_str().map(str::to_string));
                if let Some(id) = id {
                    let mut got = got.lock().unwrap();
                    got.0.insert(id, now);
                    got.1 += 1;
                    count.send_replace(got.1);
                }
                let _ = stream
                    .get_mut()
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    Ok((url, received, counted))
}

/// The latencies (sorted) of `one_by_one` events sent one at a time, then the rate at which
/// `load` events sent in batches are delivered.
async fn webhooks(base: &str, one_by_one: usize, load: usize) -> anyhow::Result<(Vec<f64>, f64)> {
    let (url, received, mut counted) = receiver().await?;
    let client = client()?;
    let subscription = json!({ "types": ["bench.hook"], "destination": { "webhook": { "url": url, "secret": "a secret of sixteen+" } } });
    let made = client.put(format!("{base}/api/v1/subscriptions/bench")).json(&subscription).send().await?;
    anyhow::ensure!(made.status().is_success(), "cannot make the subscription: {}", made.text().await?);
    let events = format!("{base}/api/v1/events");
    let until = |counted: &mut tokio::sync::watch::Receiver<usize>, n: usize| {
        let mut counted = counted.clone();
        async move {
            tokio::time::timeout(std::time::Duration::from_secs(60), counted.wait_for(|c| *c >= n))
                .await
                .context("the receiver did not get every event within 60 s")?
                .map(drop)
                .context("the receiver stopped")
        }
    };
    let mut latencies = Vec::with_capacity(one_by_one);
    for i in 0..one_by_one {
        let id = (30_000_000 + i).to_string();
        let sent = Instant::now();
        client.post(&events).json(&event(30_000_000 + i, "bench.hook")).send().await?.error_for_status()?;
        until(&mut counted, i + 1).await?;
        let at = received.lock().unwrap().0[&id];
        latencies.push(at.duration_since(sent).as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    let started = Instant::now();
    for first in (0..load).step_by(BATCH) {
        let batch: Vec<Value> =
            (first..(first + BATCH).min(load)).map(|i| event(40_000_000 + i, "bench.hook")).collect();
        client.post(&events).json(&batch).send().await?.error_for_status()?;
    }
    until(&mut counted, one_by_one + load).await?;
    Ok((latencies, load as f64 / started.elapsed().as_secs_f64()))
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
        let started = match tokio::time::timeout(std::time::Duration::from_secs(10), told).await {
            Ok(started) => started?,
            Err(_) => {
                // What the server says of it, to tell a start that never came from one the
                // stream did not show.
                let state = client.get(format!("{base}/api/v1/executions/{execution}")).send().await?.text().await?;
                anyhow::bail!(
                    "{execution} was not seen starting on the event stream within 10 s; the server says: {state}"
                );
            }
        };
        latencies.push(started.duration_since(sent).as_secs_f64() * 1000.0);
    }
    follower.abort();
    latencies.sort_by(f64::total_cmp);
    Ok(latencies)
}

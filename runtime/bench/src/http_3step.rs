//! `http-3step`: whole workflows over the HTTP API of a real `harmonia serve` (the release
//! binary next to this one, as a child process, `sync=always`), on loopback: each client
//! calls `POST /api/v1/workflows/three-steps/executions?wait=30s` and checks the response (200,
//! `completed`, the output proving the three `core`/`echo` tasks ran in order on each
//! other's results). Throughput with 32 clients, each on its own keep-alive connection;
//! latency with one client, requests one after another.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

// The workflow of `durable-3step`: v = (n + 1) * 2 + 3 proves all three ran, in order.
use crate::durable::{THREE_STEPS, expected};
use crate::{closed_loop, quantile, report};

const SCENARIO: &str = "http-3step";
/// Concurrent clients for `wf_per_s`, each with a connection of its own.
const CLIENTS: usize = 32;

/// The `harmonia serve` child: SIGTERM and a wait on [`Server::stop`], a kill on drop
/// (when the benchmark failed half way).
struct Server {
    child: Child,
    /// Where requests go: `http://127.0.0.1:PORT`.
    base: String,
    /// The server's stderr, shown when something fails.
    stderr: PathBuf,
    _data: tempfile::TempDir,
    _workflows: tempfile::TempDir,
}

/// The release `harmonia` binary built with this one.
fn server_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the benchmark's own path")?;
    let dir = exe.parent().context("the benchmark's path has no directory")?;
    let binary = dir.join("harmonia");
    if !binary.is_file() {
        bail!(
            "{} not found: http-3step runs the server binary built alongside the benchmark; \
             build both with `cargo build --release -p harmonia -p harmonia-bench`",
            binary.display()
        );
    }
    Ok(binary)
}

impl Server {
    fn start(plugins: &Path) -> anyhow::Result<Server> {
        let binary = server_binary()?;
        if !plugins.join("core.wasm").is_file() {
            bail!("plugin core not found in {} (run plugins/build.sh, or pass --plugins)", plugins.display());
        }
        let data = tempfile::tempdir()?;
        let workflows = tempfile::tempdir()?;
        std::fs::write(workflows.path().join("three-steps.yaml"), THREE_STEPS)?;
        let stderr = data.path().join("server.stderr");
        let mut child = Command::new(&binary)
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--sync", "always"])
            .arg("--data")
            .arg(data.path().join("data"))
            .arg("--plugins")
            .arg(plugins)
            .arg("--workflows")
            .arg(workflows.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr)?)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        // The first stdout line says where it listens; the rest is drained (none expected).
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let first = stdout.read_line(&mut line).map(|_| line);
            let _ = sender.send(first);
            let _ = std::io::copy(&mut stdout, &mut std::io::sink());
        });
        let mut server = Server { child, base: String::new(), stderr, _data: data, _workflows: workflows };
        let line = match receiver.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => return Err(server.failed(anyhow::anyhow!("reading the server's stdout: {e}"))),
            Err(_) => return Err(server.failed(anyhow::anyhow!("the server did not say where it listens within 60 s"))),
        };
        match line.trim().strip_prefix("harmonia listening on ") {
            Some(base) => server.base = base.to_string(),
            None => return Err(server.failed(anyhow::anyhow!("unexpected first line from the server: {line:?}"))),
        }
        Ok(server)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `error`, with the end of the server's stderr (and whether it exited).
    fn failed(&mut self, error: anyhow::Error) -> anyhow::Error {
        let exited = match self.child.try_wait() {
            Ok(Some(status)) => format!("the server exited ({status})"),
            _ => "the server is running".to_string(),
        };
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(&self.stderr) {
            let _ = file.read_to_string(&mut text);
        }
        let tail: Vec<&str> = text.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect();
        anyhow::anyhow!("{error:#}\n({exited}; its stderr ends:)\n{}", tail.join("\n"))
    }

    /// SIGTERM, then wait for the exit (a kill after 30 s).
    fn stop(mut self) -> anyhow::Result<()> {
        let pid = self.pid().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().context("cannot run kill")?;
        anyhow::ensure!(sent.success(), "kill -TERM {pid} failed");
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    return Err(self.failed(anyhow::anyhow!("the server exited with {status} after SIGTERM")));
                }
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(30) {
                return Err(self.failed(anyhow::anyhow!("the server did not exit within 30 s of SIGTERM")));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

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
    let mut server = Server::start(plugins)?;
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

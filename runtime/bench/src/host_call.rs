//! `host-call`: the host's per-task overhead, a fresh instance + `invoke` of `core`/`echo`
//! with a small JSON input; one call at a time for latency, two callers for throughput.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use harmonia_host::{Host, HostConfig, TaskCall};
use serde_json::json;

use crate::{quantile, report};

const SCENARIO: &str = "host-call";

pub async fn run(plugins: &Path, quick: bool) -> anyhow::Result<()> {
    let host = Host::new(HostConfig::new(plugins))?;
    host.load_all().await?;
    host.plugin("core")
        .with_context(|| format!("plugin core not found in {} (run plugins/build.sh)", plugins.display()))?;
    let input = json!({ "message": "hello", "n": 42 });
    let call = TaskCall::new("core", "echo", input.clone());
    // Warm up: page in the code, fill the pool's slots.
    for _ in 0..2_000 {
        one_call(&host, &call, &input).await?;
    }
    let samples = if quick { 20_000 } else { 100_000 };
    let mut micros = Vec::with_capacity(samples);
    for _ in 0..samples {
        let started = Instant::now();
        one_call(&host, &call, &input).await?;
        micros.push(started.elapsed().as_secs_f64() * 1e6);
    }
    micros.sort_by(f64::total_cmp);
    report(SCENARIO, "median_us", quantile(&micros, 0.5), "us");
    report(SCENARIO, "p99_us", quantile(&micros, 0.99), "us");

    let window = if quick { Duration::from_secs(2) } else { Duration::from_secs(5) };
    let started = Instant::now();
    let callers: Vec<_> = (0..2)
        .map(|_| {
            let (host, call, input) = (host.clone(), call.clone(), input.clone());
            tokio::spawn(async move {
                let mut calls = 0u64;
                while started.elapsed() < window {
                    one_call(&host, &call, &input).await?;
                    calls += 1;
                }
                anyhow::Ok(calls)
            })
        })
        .collect();
    let mut total = 0;
    for caller in callers {
        total += caller.await??;
    }
    report(SCENARIO, "calls_per_s", total as f64 / started.elapsed().as_secs_f64(), "calls/s");
    Ok(())
}

/// One call whose output is checked, so that a broken path cannot look fast.
async fn one_call(host: &Host, call: &TaskCall, expected: &serde_json::Value) -> anyhow::Result<()> {
    let outcome = host.invoke(call.clone()).await?;
    let output = outcome.output.map_err(|e| anyhow::anyhow!("echo failed: {e}"))?;
    anyhow::ensure!(&output == expected, "echo returned {output}, expected {expected}");
    Ok(())
}

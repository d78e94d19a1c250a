//! `host-call-lang`: the cost of one call per guest language, with a fresh instance per call
//! (the default) and with a warm instance reused (manifest `reuse_instance`). Each language's
//! example plugin gets a small real input; every output is checked. `reused_error_us_*` is a
//! reused instance answering an input without the required field: the language's fixed cost
//! per call (host, bindings, SDK dispatch, an error built), with almost no action work.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use harmonia_host::{Host, HostConfig, TaskCall};
use serde_json::{Value, json};

use crate::{quantile, report};

const SCENARIO: &str = "host-call-lang";

/// A language, its example plugin, and a call whose output `check` accepts.
struct Case {
    language: &'static str,
    plugin: &'static str,
    action: &'static str,
    input: Value,
    check: fn(&Value) -> bool,
    /// Whether `input` is one the action refuses (then the call must fail as invalid input).
    refused: bool,
}

/// An input every example action refuses as invalid: it has no `text`.
fn error_input() -> Value {
    json!({ "txt": "no text field" })
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            language: "rust",
            plugin: "sophia",
            action: "analyze_sentiment",
            input: json!({ "text": "I love this tool" }),
            check: |out| out["sentiment"] == "positive",
            refused: false,
        },
        Case {
            language: "c",
            plugin: "digest",
            action: "hash",
            input: json!({ "text": "abc", "algorithm": "crc32" }),
            check: |out| out["hex"] == "352441c2",
            refused: false,
        },
        Case {
            language: "python",
            plugin: "textstats",
            action: "analyze",
            input: json!({ "text": "One small step. Another step!" }),
            check: |out| out["words"] == 5,
            refused: false,
        },
        Case {
            language: "js",
            plugin: "report",
            action: "slugify",
            input: json!({ "text": "Hello, World" }),
            check: |out| out["slug"] == "hello-world",
            refused: false,
        },
    ]
}

pub async fn run(plugins: &Path, only: Option<&str>, quick: bool) -> anyhow::Result<()> {
    let (fresh_samples, reused_samples) = if quick { (200, 2_000) } else { (2_000, 20_000) };
    let cases: Vec<Case> = cases().into_iter().filter(|c| only.is_none_or(|l| l == c.language)).collect();
    anyhow::ensure!(!cases.is_empty(), "no language {only:?} (known: rust, c, python, js)");
    for mut case in cases {
        for reuse in [false, true] {
            let dir = plugin_dir(plugins, case.plugin, reuse)?;
            // The user's compile cache (the default): large guests compile once, not per run.
            let host = Host::new(HostConfig::new(dir.path()))?;
            host.load_all().await?;
            host.plugin(case.plugin).with_context(|| {
                format!("plugin {} not loaded from {} (run plugins/build.sh)", case.plugin, plugins.display())
            })?;
            let samples = if reuse { reused_samples } else { fresh_samples };
            let micros = measure(&host, &case, samples).await?;
            let kind = if reuse { "reused" } else { "median" };
            report(SCENARIO, &format!("{kind}_us_{}", case.language), quantile(&micros, 0.5), "us");
            report(SCENARIO, &format!("{kind}_p99_us_{}", case.language), quantile(&micros, 0.99), "us");
            if reuse {
                case.input = error_input();
                case.refused = true;
                let micros = measure(&host, &case, reused_samples).await?;
                report(SCENARIO, &format!("reused_error_us_{}", case.language), quantile(&micros, 0.5), "us");
            }
        }
    }
    Ok(())
}

/// Sorted call latencies in µs, after a warm-up of a tenth as many calls.
async fn measure(host: &Host, case: &Case, samples: usize) -> anyhow::Result<Vec<f64>> {
    let call = TaskCall::new(case.plugin, case.action, case.input.clone());
    for _ in 0..samples / 10 {
        one_call(host, case, &call).await?;
    }
    let mut micros = Vec::with_capacity(samples);
    for _ in 0..samples {
        let started = Instant::now();
        one_call(host, case, &call).await?;
        micros.push(started.elapsed().as_secs_f64() * 1e6);
    }
    micros.sort_by(f64::total_cmp);
    Ok(micros)
}

async fn one_call(host: &Host, case: &Case, call: &TaskCall) -> anyhow::Result<()> {
    let outcome = host.invoke(call.clone()).await?;
    if case.refused {
        let err = outcome.output.err().context("the input without `text` was accepted")?;
        anyhow::ensure!(err.kind == "invalid_input", "expected invalid input, got {err}");
        return Ok(());
    }
    let output = outcome.output.map_err(|e| anyhow::anyhow!("{}.{} failed: {e}", case.plugin, case.action))?;
    anyhow::ensure!((case.check)(&output), "{}.{} returned an unexpected {output}", case.plugin, case.action);
    Ok(())
}

/// A plugins directory with only this plugin and its manifest, reuse turned on or off.
fn plugin_dir(plugins: &Path, name: &str, reuse: bool) -> anyhow::Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    let wasm = plugins.join(format!("{name}.wasm"));
    std::fs::copy(&wasm, dir.path().join(format!("{name}.wasm")))
        .with_context(|| format!("{} (run plugins/build.sh)", wasm.display()))?;
    let manifest = plugins.join(format!("{name}.toml"));
    let mut table: toml::Table = match std::fs::read_to_string(&manifest) {
        Ok(text) => text.parse().with_context(|| manifest.display().to_string())?,
        Err(_) => toml::Table::new(),
    };
    table.insert("reuse_instance".into(), toml::Value::Integer(if reuse { 1_000_000 } else { 1 }));
    std::fs::write(dir.path().join(format!("{name}.toml")), toml::to_string(&table)?)?;
    Ok(dir)
}

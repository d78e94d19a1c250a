//! `harmonia-bench SCENARIO [--quick]`: measures Harmonia and prints one JSON object per
//! figure on its own line: `{"scenario", "metric", "value", "unit"}`.

mod closed_loop;
mod console;
mod durable;
mod engine;
mod events;
mod host_call;
mod host_call_lang;
mod http_3step;
mod limits;
mod list_executions;
mod recovery;
mod server;
mod store_commit;

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
#[command(name = "harmonia-bench", about = "Harmonia benchmarks")]
struct Args {
    /// Which scenario to run: host-call, host-call-lang, engine-steps, long-history, fanout,
    /// store-commit, durable-3step, http-3step, recovery, list-executions, limits, events,
    /// console, or all (every one but console, which needs Chromium).
    scenario: String,
    /// A short run (under 20 seconds), for smoke checks.
    #[arg(long)]
    quick: bool,
    /// host-call-lang: only this language (rust, c, python, js).
    #[arg(long)]
    lang: Option<String>,
    /// The directory with the built plugins.
    #[arg(long, env = "HARMONIA_PLUGINS", default_value = "plugins")]
    plugins: PathBuf,
}

/// One measured figure.
pub fn report(scenario: &str, metric: &str, value: f64, unit: &str) {
    let line = serde_json::json!({ "scenario": scenario, "metric": metric, "value": value, "unit": unit });
    println!("{line}");
}

/// The value at quantile `q` (0..=1) of sorted samples.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index]
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let all = [
        "host-call",
        "host-call-lang",
        "engine-steps",
        "long-history",
        "fanout",
        "store-commit",
        "durable-3step",
        "http-3step",
        "recovery",
        "list-executions",
        "limits",
        "events",
    ];
    let scenarios: Vec<&str> = if args.scenario == "all" { all.to_vec() } else { vec![args.scenario.as_str()] };
    for scenario in scenarios {
        match scenario {
            "host-call" => runtime.block_on(host_call::run(&args.plugins, args.quick))?,
            "host-call-lang" => {
                runtime.block_on(host_call_lang::run(&args.plugins, args.lang.as_deref(), args.quick))?
            }
            "engine-steps" => engine::engine_steps(args.quick),
            "long-history" => engine::long_history(args.quick),
            "store-commit" => store_commit::run(args.quick)?,
            "fanout" => runtime.block_on(engine::fanout(&args.plugins, args.quick))?,
            "durable-3step" => runtime.block_on(durable::run(&args.plugins, args.quick))?,
            // Runs the release `harmonia` binary built alongside as a child process.
            "http-3step" => runtime.block_on(http_3step::run(&args.plugins, args.quick))?,
            // Builds and stops runtimes of its own (a stop and a restart).
            "recovery" => recovery::run(&args.plugins, args.quick)?,
            // Also builds its own runtime, to fill the store, then measures outside it.
            "list-executions" => list_executions::run(&args.plugins, args.quick)?,
            // Fresh release servers as child processes, one per input.
            "limits" => limits::run(&args.plugins, args.quick)?,
            "events" => runtime.block_on(events::run(&args.plugins, args.quick))?,
            // A release server and a headless Chromium (scripts/install-browser.sh), driven
            // over blocking HTTP: outside the runtime.
            "console" => console::run(&args.plugins, args.quick)?,
            other => anyhow::bail!("unknown scenario {other:?} (known: {}, console, all)", all.join(", ")),
        }
    }
    Ok(())
}

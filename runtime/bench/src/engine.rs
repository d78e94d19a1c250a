//! Engine scenarios: `engine-steps` (the pure engine with a runner that answers at once),
//! `long-history` (whether a step costs more late in a long execution), and `fanout`
//! (a 10,000-item for_each of real `core`/`echo` calls through the executor).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use harmonia_engine::{Command, Event, ExecStatus, Execution, Plan, step};
use harmonia_host::{Host, HostConfig};
use harmonia_runner::{Runner, SystemClock, WorkflowDirs};
use serde_json::{Value, json};

use crate::report;

pub(crate) fn plan(yaml: &str) -> Arc<Plan> {
    let workflow = harmonia_model::parse_workflow(yaml, None).expect("benchmark workflow parses");
    Arc::new(Plan::new(Arc::new(workflow)))
}

/// Answers every call of `commands` at once with `output`; returns the next inputs.
fn answer(commands: Vec<Command>, output: &Value, at: u64) -> Vec<Event> {
    commands
        .into_iter()
        .filter_map(|c| match c {
            Command::RunCall { call, attempt, .. } => {
                Some(Event::CallSucceeded { call, attempt, output: output.clone(), at })
            }
            _ => None,
        })
        .collect()
}

/// Runs one execution of `plan` to its end with the no-op runner; returns the events.
fn drive(plan: &Plan, id: &str, input: Value, output: &Value) -> (Execution, u64) {
    let mut exec = Execution::new(id, &plan.workflow, &plan.fallbacks);
    let mut inputs = vec![Event::Started { input, event: None, at: 0 }];
    let mut events = 0u64;
    while let Some(event) = inputs.pop() {
        let out = step(plan, &mut exec, event);
        events += out.events.len() as u64;
        inputs.extend(answer(out.commands, output, 0));
    }
    (exec, events)
}

const CHAIN: &str = r#"
name: chain
version: 1
tasks:
  a: { component: core, action: echo, input: { v: "${input.v}" } }
  b: { component: core, action: echo, depends_on: [a], input: { v: "${tasks.a.output.v}" } }
  c: { component: core, action: echo, depends_on: [b], input: { v: "${tasks.b.output.v}" } }
  d: { component: core, action: echo, depends_on: [a], when: "${input.v > 0}" }
  e: { component: core, action: echo, depends_on: [c, d] }
output: { v: "${tasks.c.output.v}" }
"#;

pub fn engine_steps(quick: bool) {
    let plan = plan(CHAIN);
    let output = json!({"v": 1});
    let runs = if quick { 20_000 } else { 100_000 };
    let started = Instant::now();
    let mut transitions = 0;
    for i in 0..runs {
        let (exec, events) = drive(&plan, &format!("e{i}"), json!({"v": 1}), &output);
        assert_eq!(exec.status, ExecStatus::Completed);
        transitions += events;
    }
    let secs = started.elapsed().as_secs_f64();
    report("engine-steps", "transitions_per_s", transitions as f64 / secs, "transitions/s");
    report("engine-steps", "workflows_per_s", runs as f64 / secs, "workflows/s");
}

const LOOP: &str = r#"
name: long
version: 1
tasks:
  loop:
    component: core
    action: echo
    input: { i: "${iteration}" }
    repeat: { until: "${iteration >= 100000}", max_iterations: 200000 }
"#;

/// Time per iteration around 1,000 iterations and around 100,000, with the history kept
/// as a store would keep it. Each figure is the median over a window of iterations, and
/// the whole run is repeated (a window lasts only milliseconds, which one preemption can
/// cover); the medians of the runs are reported.
pub fn long_history(quick: bool) {
    let runs = if quick { 3 } else { 5 };
    let (mut early, mut late, mut ratio, mut events) = (vec![], vec![], vec![], 0);
    for _ in 0..runs {
        let (e, l, n) = long_history_run(quick);
        early.push(e);
        late.push(l);
        ratio.push(l / e);
        events = n;
    }
    report("long-history", "step_us_at_1000", median(&mut early), "us");
    report("long-history", "step_us_at_100000", median(&mut late), "us");
    report("long-history", "step_ratio", median(&mut ratio), "ratio");
    report("long-history", "history_events", events as f64, "events");
}

/// One run: the median step time in each window, and the history length.
fn long_history_run(quick: bool) -> (f64, f64, usize) {
    let plan = plan(LOOP);
    let output = json!({"ok": true});
    let mut exec = Execution::new("long", &plan.workflow, &plan.fallbacks);
    let mut history: Vec<Event> = Vec::new();
    let mut inputs = vec![Event::Started { input: json!({}), event: None, at: 0 }];
    let window = if quick { 500 } else { 1000 };
    let in_window = |i: u64| (1_000 - window..1_000).contains(&i) || (100_000 - window..100_000).contains(&i);
    let (mut early, mut late) = (Vec::new(), Vec::new());
    let mut iteration = 0u64;
    while let Some(event) = inputs.pop() {
        // A call's result: one iteration (its `until`, and the next call, in one step).
        let is_result = matches!(event, Event::CallSucceeded { .. });
        iteration += u64::from(is_result);
        let started = Instant::now();
        let out = step(&plan, &mut exec, event);
        let micros = started.elapsed().as_secs_f64() * 1e6;
        history.extend(out.events);
        inputs.extend(answer(out.commands, &output, 0));
        if is_result && in_window(iteration) {
            if iteration < 50_000 { early.push(micros) } else { late.push(micros) }
        }
    }
    assert_eq!(exec.status, ExecStatus::Completed);
    (median(&mut early), median(&mut late), history.len())
}

fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

const FANOUT: &str = r#"
name: fanout
version: 1
input: { n: { type: integer } }
tasks:
  range: { component: core, action: range, input: { end: "${input.n}" } }
  each:
    component: core
    action: echo
    depends_on: [range]
    for_each: "${tasks.range.output.items}"
    concurrency: 64
    input: { item: "${item}" }
output: { count: "${size(tasks.each.output)}", last: "${tasks.each.output[input.n - 1].item}" }
"#;

pub async fn fanout(plugins: &Path, quick: bool) -> anyhow::Result<()> {
    let host = Host::new(HostConfig::new(plugins))?;
    host.load_all().await?;
    let n: u64 = if quick { 2_000 } else { 10_000 };
    let runner = Runner::new(host, Arc::new(WorkflowDirs::default()), Arc::new(SystemClock));
    let started = Instant::now();
    let exec = runner.run(plan(FANOUT), "fanout", json!({"n": n})).await?;
    let wall = started.elapsed().as_secs_f64();
    anyhow::ensure!(exec.status == ExecStatus::Completed, "fanout failed: {:?}", exec.error);
    anyhow::ensure!(exec.output == Some(json!({"count": n, "last": n - 1})), "fanout output {:?}", exec.output);
    report("fanout", "items", n as f64, "items");
    report("fanout", "wall_s", wall, "s");
    report("fanout", "peak_rss_mib", peak_rss_mib(), "MiB");
    Ok(())
}

/// The process's peak resident set (VmHWM), in MiB.
pub fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

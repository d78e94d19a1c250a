//! `console`: the web console's execution page for an execution of 1,000 tasks, in a real
//! headless Chromium (1280x800, Debian's, over WebDriver: `scripts/install-browser.sh`)
//! against a release `harmonia serve`. Targets: the graph drawn within 1 s, and no frame
//! longer than 50 ms while the execution's events stream in.
//!
//! The workflow: 40 layers of 25 `core.sleep` tasks (250 to 650 ms each), each task after
//! two of the layer before, so the execution runs for about 25 s with tasks starting and
//! ending all the while (long enough to stream well after a slow first render). Each run
//! starts an execution over the API, then opens `/#/executions/ID` in a fresh browser at
//! once, once that browser has finished starting (`Browser::settle`: a fresh Chromium loads
//! its own omnibox pages for its first second, a core's worth, which a user's browser has
//! long done). A script the page gets before its own (DevTools'
//! `Page.addScriptToEvaluateOnNewDocument`) records every animation frame and the long
//! tasks Chromium reports (over 50 ms of the main thread).
//!
//! - `first_render_ms`: from navigation start to the graph's 1,000 boxes in the page: the
//!   console's `harmonia:graph-drawn` performance mark if it sets one (`render_from_mark`
//!   is 1), else the first frame that found all the `[data-task]` boxes (0).
//! - `page_shown_ms`: to the page showing the execution (its state, tasks, timeline and
//!   history) before the graph: the console's `harmonia:page-shown` mark, if it sets one.
//! - `first_paint_ms`: to the frame after the one that first painted them.
//! - `first_render_again_ms`: the same once the execution ended, the page reloaded in the
//!   same tab (the graph's layout is kept in the tab's session by then).
//! - From then until the page shows the execution completed, the gaps between frames:
//!   `longest_frame_ms`, `p99_frame_ms`, `median_frame_ms`, `frames`; and `long_tasks`,
//!   `longest_long_task_ms`; `streaming_s`, how long that lasted.
//!
//! Each figure is the median of 5 runs (2 with `--quick`), each a fresh execution in a fresh
//! browser. Not part of `all`: it needs Chromium. With `HARMONIA_BENCH_CPU_PROFILE=DIR`,
//! each run also saves the page's CPU profile (`DIR/console-N.cpuprofile`, which Chromium's
//! DevTools open), to see where the time goes. Each run prints the page's `harmonia:*`
//! marks (execution read, workflow read, page shown, graph laid out, graph drawn); with
//! `HARMONIA_BROWSER_ARGS` Chromium can record a trace of every thread (see
//! harmonia-webdriver).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use harmonia_webdriver::Browser;
use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::server::Server;
use crate::{quantile, report};

const SCENARIO: &str = "console";
const WORKFLOW: &str = "console_bench";
const LAYERS: usize = 40;
const WIDTH: usize = 25;
const TASKS: usize = LAYERS * WIDTH;
/// Where a run that timed out leaves its screenshot, and each run its last page.
const SCREENSHOTS: &str = "target/console-screenshots";

/// Task `i` of layer `layer`.
fn task(layer: usize, i: usize) -> String {
    format!("l{layer:02}t{i:02}")
}

/// The workflow (YAML): `LAYERS` layers of `WIDTH` sleeps, each after the task in the same
/// place and the next one in the layer before.
fn workflow() -> String {
    let mut text = format!("name: {WORKFLOW}\nversion: 1\ndescription: {TASKS} sleeps in {LAYERS} layers\ntasks:\n");
    for layer in 0..LAYERS {
        for i in 0..WIDTH {
            let ms = 250 + (37 * i + 53 * layer) % 401;
            let after = match layer {
                0 => String::new(),
                _ => format!(", depends_on: [{}, {}]", task(layer - 1, i), task(layer - 1, (i + 1) % WIDTH)),
            };
            text.push_str(&format!(
                "  {}: {{ component: core, action: sleep, input: {{ ms: {ms} }}{after} }}\n",
                task(layer, i)
            ));
        }
    }
    text
}

/// Runs in the page before its own scripts: every frame's time, the first frame with all
/// the boxes, and the long tasks. `TASKS` is filled in.
const RECORDER: &str = r#"
window.__bench = (() => {
  const b = { frames: [], boxes: null, long: [], longSupported: false };
  const tick = (t) => {
    b.frames.push(t);
    // Counted only until found: after that the page pays nothing for it.
    if (b.boxes === null && document.querySelectorAll('[data-task]').length >= TASKS) b.boxes = t;
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) b.long.push([e.startTime, e.duration]);
    }).observe({ type: 'longtask', buffered: true });
    b.longSupported = true;
  } catch (e) {
    /* no long tasks reported here */
  }
  return b;
})();
"#;

/// What the page recorded, read back once the execution ended.
const READ_BACK: &str = r#"
const b = window.__bench;
const mark = performance.getEntriesByName('harmonia:graph-drawn');
const shown = performance.getEntriesByName('harmonia:page-shown');
const marks = performance.getEntriesByType('mark').filter((m) => m.name.startsWith('harmonia:')).map((m) => [m.name.slice(9), Math.round(m.startTime)]);
return { marks, frames: b.frames, boxes: b.boxes, long: b.long, longSupported: b.longSupported,
         mark: mark.length ? mark[0].startTime : null, shown: shown.length ? shown[0].startTime : null };
"#;

/// The figures of one run, by name.
type Figures = Vec<(&'static str, f64, &'static str)>;

pub fn run(plugins: &Path, quick: bool) -> anyhow::Result<()> {
    let yaml = workflow();
    let mut server = Server::start(plugins, &[("console_bench.yaml", &yaml)], &[])?;
    eprintln!("console: server pid {} at {}", server.pid(), server.base);
    let runs = if quick { 2 } else { 5 };
    let mut all: Vec<Figures> = Vec::with_capacity(runs);
    for n in 1..=runs {
        match one_run(&server.base, n) {
            Ok(figures) => {
                let line: Vec<String> = figures.iter().map(|(m, v, _)| format!("{m}={v:.1}")).collect();
                eprintln!("console: run {n}/{runs}: {}", line.join(" "));
                all.push(figures);
            }
            Err(e) => return Err(server.failed(e.context(format!("run {n}")))),
        }
    }
    for (i, (metric, _, unit)) in all[0].iter().enumerate() {
        let mut values: Vec<f64> = all.iter().map(|f| f[i].1).collect();
        values.sort_by(f64::total_cmp);
        report(SCENARIO, metric, quantile(&values, 0.5), unit);
    }
    server.stop()
}

/// One execution, watched by a fresh browser from its start to its end.
fn one_run(base: &str, run: usize) -> anyhow::Result<Figures> {
    let http = Client::builder().timeout(Duration::from_secs(60)).build()?;
    // The browser first, so that its start does not eat into the execution.
    let browser = Browser::start(1280, 800, SCREENSHOTS).context("starting Chromium")?;
    // A fresh Chromium spends its first second or so on its own pages (a trace showed its
    // omnibox popup loading in a renderer of its own, a core's worth for 1.2 s). A user's
    // browser has long done that: the page is not timed against it.
    let settled = browser.settle(Duration::from_secs(10));
    eprintln!("console: run {run}: Chromium was idle after {settled:.1?}");
    let source = RECORDER.replace("TASKS", &TASKS.to_string());
    browser.devtools("Page.addScriptToEvaluateOnNewDocument", json!({ "source": source }))?;
    // Sampled every 0.5 ms; the profile survives the navigation (same tab).
    let profile = std::env::var_os("HARMONIA_BENCH_CPU_PROFILE").map(PathBuf::from);
    if profile.is_some() {
        browser.devtools("Profiler.enable", json!({}))?;
        browser.devtools("Profiler.setSamplingInterval", json!({ "interval": 500 }))?;
        browser.devtools("Profiler.start", json!({}))?;
    }
    let started: Value = http
        .post(format!("{base}/api/v1/workflows/{WORKFLOW}/executions"))
        .json(&json!({ "input": {} }))
        .send()?
        .json()?;
    let id = started["id"].as_str().with_context(|| format!("no execution id: {started}"))?.to_string();
    let began = Instant::now();
    browser.goto(&format!("{base}/#/executions/{id}"))?;
    // The execution's end, from the API: its status only while it runs (a listing, not the
    // 1,000 tasks the page reads).
    let running = format!("{base}/api/v1/executions?workflow={WORKFLOW}&status=running&limit=1");
    loop {
        let page: Value = http.get(&running).send()?.json()?;
        if page["executions"].as_array().is_some_and(|e| e.is_empty()) {
            break;
        }
        ensure!(began.elapsed() < Duration::from_secs(300), "the execution {id} did not end within 300 s");
        std::thread::sleep(Duration::from_millis(250));
    }
    let exec: Value = http.get(format!("{base}/api/v1/executions/{id}")).send()?.json()?;
    ensure!(exec["status"] == "completed", "the execution {id} ended {}: {}", exec["status"], exec["error"]);
    let ran = began.elapsed();
    // Then the page's last update, and a few frames for it to be painted.
    browser.wait_up_to(Duration::from_secs(30), "the page to show the execution completed", || {
        let shown = browser.run("const s = document.querySelector('.status'); return s && s.textContent", json!([]))?;
        Ok((shown == "completed").then_some(()))
    })?;
    std::thread::sleep(Duration::from_millis(200));
    let recorded = browser.run(READ_BACK, json!([]))?;
    eprintln!(
        "console: run {run}: the page's marks (ms): {}; long tasks (start, ms): {}",
        recorded["marks"], recorded["long"]
    );
    if let Some(dir) = profile {
        let taken = browser.devtools("Profiler.stop", json!({}))?;
        std::fs::create_dir_all(&dir)?;
        let file = dir.join(format!("console-{run}.cpuprofile"));
        std::fs::write(&file, taken["profile"].to_string())?;
        eprintln!("console: the page's CPU profile is in {}", file.display());
    }
    browser.screenshot("bench-console")?;
    let mut figures = figures(&recorded).with_context(|| format!("the execution ran {ran:?}"))?;
    // The page again in the same tab, as a user comes back to it: the graph's layout is
    // kept in the tab's session by then.
    browser.run("location.reload()", json!([]))?;
    let warm = browser.wait("the page drawn again", || {
        let mark = browser.run(
            "const m = performance.getEntriesByName('harmonia:graph-drawn'); return m.length ? m[0].startTime : null",
            json!([]),
        )?;
        Ok(mark.as_f64())
    })?;
    figures.push(("first_render_again_ms", warm, "ms"));
    Ok(figures)
}

/// The figures from what the page recorded.
fn figures(recorded: &Value) -> anyhow::Result<Figures> {
    let numbers = |v: &Value| -> Vec<f64> { v.as_array().into_iter().flatten().filter_map(Value::as_f64).collect() };
    let frames = numbers(&recorded["frames"]);
    let (render, from_mark) = match (recorded["mark"].as_f64(), recorded["boxes"].as_f64()) {
        (Some(mark), _) => (mark, true),
        (None, Some(boxes)) => (boxes, false),
        (None, None) => anyhow::bail!("the page never had all {TASKS} task boxes"),
    };
    // The first frame after the graph was drawn paints it; the one after that comes once
    // it is on screen. The frames while events stream in start there.
    let painted = frames.iter().position(|t| *t > render).map(|i| i + 1).filter(|i| *i < frames.len());
    let painted = painted.context("no frame after the first render")?;
    let window = &frames[painted..];
    ensure!(window.len() > 10, "only {} frames after the first render", window.len());
    let mut gaps: Vec<f64> = window.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort_by(f64::total_cmp);
    let (from, to) = (window[0], window[window.len() - 1]);
    let long: Vec<(f64, f64)> = recorded["long"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| Some((e[0].as_f64()?, e[1].as_f64()?)))
        .filter(|(start, _)| *start >= from && *start <= to)
        .collect();
    let supported = recorded["longSupported"].as_bool() == Some(true);
    let mut figures: Figures = vec![
        ("first_render_ms", render, "ms"),
        ("render_from_mark", if from_mark { 1.0 } else { 0.0 }, "bool"),
        ("first_paint_ms", frames[painted], "ms"),
        ("longest_frame_ms", gaps[gaps.len() - 1], "ms"),
        ("p99_frame_ms", quantile(&gaps, 0.99), "ms"),
        ("median_frame_ms", quantile(&gaps, 0.5), "ms"),
        ("frames", window.len() as f64, "frames"),
        ("streaming_s", (to - from) / 1000.0, "s"),
    ];
    if let Some(shown) = recorded["shown"].as_f64() {
        figures.push(("page_shown_ms", shown, "ms"));
    }
    if supported {
        figures.push(("long_tasks", long.len() as f64, "tasks"));
        figures.push(("longest_long_task_ms", long.iter().map(|l| l.1).fold(0.0, f64::max), "ms"));
    }
    Ok(figures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workflow_has_every_task_once_each_after_two_of_the_layer_before() {
        let workflow = harmonia_model::parse_workflow(&workflow(), None).unwrap();
        harmonia_model::validate(&workflow).unwrap();
        assert_eq!(workflow.tasks.len(), TASKS);
        assert_eq!(workflow.tasks[&task(7, 24)].depends_on, [task(6, 24), task(6, 0)]);
        assert!(workflow.tasks[&task(0, 3)].depends_on.is_empty());
    }

    #[test]
    fn figures_start_after_the_first_paint_and_count_long_tasks_there() {
        let frames: Vec<f64> = (0..100).map(|i| i as f64 * 16.0).chain([1700.0, 1716.0]).collect();
        let recorded = json!({ "frames": frames, "boxes": 100.0, "mark": null, "longSupported": true, "long": [[50.0, 80.0], [1620.0, 70.0]] });
        let figures = figures(&recorded).unwrap();
        let get = |name: &str| figures.iter().find(|f| f.0 == name).unwrap().1;
        assert_eq!(get("first_render_ms"), 100.0);
        assert_eq!(get("render_from_mark"), 0.0);
        // Frames at 112 (paints), 128 (on screen): the window starts at 128.
        assert_eq!(get("first_paint_ms"), 128.0);
        assert_eq!(get("longest_frame_ms"), 1700.0 - 99.0 * 16.0);
        assert_eq!(get("long_tasks"), 1.0);
        assert_eq!(get("longest_long_task_ms"), 70.0);
    }
}

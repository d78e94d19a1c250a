//! What plugins report while their calls run (log lines, stdout and stderr, progress), kept
//! in memory per task for the console and `GET .../tasks/{task}/logs`. Not durable: these
//! are the server's log, not the execution's history, and with several servers each keeps
//! what its own calls reported. Bounded: the last lines of each task, a byte budget for all
//! tasks together, the tasks reported on longest ago forgotten first.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, State};
use harmonia_engine::CallId;
use harmonia_runner::RunObserver;
use http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};

use crate::table::Op;
use crate::{ApiError, AppState};

/// The lines kept per task: its last ones.
pub const LINES_PER_TASK: usize = 200;
/// The longest line kept; a longer one is cut (at a character boundary) and marked.
const MAX_LINE: usize = 2048;
/// What all tasks' reports may take together by default (`serve --max-report-bytes`).
pub const DEFAULT_MAX_BYTES: usize = 16 << 20;

#[derive(Debug, Clone, Serialize)]
struct Line {
    at: u64,
    level: &'static str,
    message: String,
    /// The item of a `for_each` whose call logged it.
    #[serde(skip_serializing_if = "Option::is_none")]
    item: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
struct Progress {
    at: u64,
    percent: u8,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    item: Option<u32>,
}

#[derive(Debug, Default)]
struct TaskReport {
    lines: VecDeque<Line>,
    progress: Option<Progress>,
    /// Lines this task logged that are no longer kept.
    dropped: u64,
    bytes: usize,
}

type TaskKey = (String, String);

#[derive(Default)]
struct Reports {
    tasks: HashMap<TaskKey, TaskReport>,
    /// The tasks in the order they first reported: the first is forgotten first.
    order: VecDeque<TaskKey>,
    bytes: usize,
}

/// The reports of recent calls, by execution and task.
pub struct CallReports {
    reports: Mutex<Reports>,
    max_bytes: usize,
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn cut(message: &str) -> String {
    if message.len() <= MAX_LINE {
        return message.to_string();
    }
    let mut end = MAX_LINE;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &message[..end], message.len())
}

impl CallReports {
    pub fn new(max_bytes: usize) -> Arc<CallReports> {
        Arc::new(CallReports { reports: Mutex::new(Reports::default()), max_bytes })
    }

    /// Changes the report of `exec`'s `task` (made if new), then forgets the oldest tasks
    /// until all fit the budget again.
    fn update(&self, exec: &str, task: &str, change: impl FnOnce(&mut TaskReport)) {
        let mut reports = self.reports.lock().expect("reports lock");
        let reports = &mut *reports;
        let key = (exec.to_string(), task.to_string());
        let report = reports.tasks.entry(key.clone()).or_insert_with(|| {
            reports.order.push_back(key.clone());
            TaskReport::default()
        });
        let before = report.bytes;
        change(report);
        report.bytes = report.lines.iter().map(|l| l.message.len() + 48).sum::<usize>()
            + report.progress.as_ref().map_or(0, |p| p.message.len() + 48);
        reports.bytes = reports.bytes - before + report.bytes;
        while reports.bytes > self.max_bytes && reports.order.len() > 1 {
            let Some(oldest) = reports.order.pop_front() else { break };
            if let Some(gone) = reports.tasks.remove(&oldest) {
                reports.bytes -= gone.bytes;
            }
        }
    }

    /// What `exec`'s `task` reported, as the API answers it.
    fn of(&self, exec: &str, task: &str) -> Value {
        let reports = self.reports.lock().expect("reports lock");
        let report = reports.tasks.get(&(exec.to_string(), task.to_string()));
        json!({
            "execution": exec, "task": task,
            "progress": report.and_then(|r| r.progress.clone()),
            "lines": report.map_or(Vec::new(), |r| r.lines.iter().cloned().collect()),
            "dropped": report.map_or(0, |r| r.dropped),
        })
    }
}

impl RunObserver for CallReports {
    fn progress(&self, exec: &str, call: &CallId, percent: u8, message: &str) {
        let progress = Progress { at: now(), percent, message: cut(message), item: call.item };
        self.update(exec, &call.task, |report| report.progress = Some(progress));
    }

    fn log(&self, exec: &str, call: &CallId, level: tracing::Level, message: &str) {
        let line = Line { at: now(), level: level_name(level), message: cut(message), item: call.item };
        self.update(exec, &call.task, |report| {
            if report.lines.len() == LINES_PER_TASK {
                report.lines.pop_front();
                report.dropped += 1;
            }
            report.lines.push_back(line);
        });
    }
}

fn level_name(level: tracing::Level) -> &'static str {
    match level {
        tracing::Level::TRACE => "trace",
        tracing::Level::DEBUG => "debug",
        tracing::Level::INFO => "info",
        tracing::Level::WARN => "warn",
        tracing::Level::ERROR => "error",
    }
}

pub(super) fn ops() -> Vec<Op> {
    vec![
        Op::get("/api/v1/executions/{id}/tasks/{task}/logs", "getTaskLogs", "What a task's plugin reported while it ran: log lines and progress", task_logs)
            .describe("The last 200 lines the task's calls logged (or wrote to stdout and stderr) and their latest progress, as this server saw them. \
                       Kept in memory, not in the history: a restart forgets them, and the oldest tasks' are forgotten once all take more than `serve --max-report-bytes`.")
            .ok(200, "`progress` (null before any), `lines` (oldest first: `at`, `level`, `message`, `item`), `dropped` (lines no longer kept)", json!({ "type": "object", "required": ["task", "lines"], "properties": {
                "task": { "type": "string" }, "progress": { "type": ["object", "null"] }, "lines": { "type": "array", "items": { "type": "object" } },
                "dropped": { "type": "integer" } } }))
            .errors(&[404]),
    ]
}

async fn task_logs(
    State(state): State<Arc<AppState>>,
    Path((id, task)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    // An unknown execution or task is a 404, as elsewhere: ask the runner.
    let exec = state.runner.get(&id).await?;
    if !exec.tasks.contains_key(&task) {
        let message = format!("execution {id} has no task {task}");
        return Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_task", message));
    }
    Ok(Json(state.reports.of(&id, &task)))
}

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
    /// When it last reported, as a count of reports: see `Reports::order`.
    last: u64,
}

type TaskKey = (String, String);

#[derive(Default)]
struct Reports {
    tasks: HashMap<TaskKey, TaskReport>,
    /// Each report's task and count, oldest first: the first whose count is its task's
    /// `last` is the task reported on longest ago. The others are stale (their task
    /// reported again since); they are skipped, and cleared when they outnumber the tasks.
    order: VecDeque<(TaskKey, u64)>,
    reports: u64,
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

    /// Changes the report of `exec`'s `task` (made if new), then forgets the tasks
    /// reported on longest ago until all fit the budget again (never this one).
    fn update(&self, exec: &str, task: &str, change: impl FnOnce(&mut TaskReport)) {
        let mut reports = self.reports.lock().expect("reports lock");
        let reports = &mut *reports;
        reports.reports += 1;
        let key = (exec.to_string(), task.to_string());
        let report = reports.tasks.entry(key.clone()).or_default();
        let before = report.bytes;
        change(report);
        report.last = reports.reports;
        report.bytes = key.0.len()
            + key.1.len()
            + report.lines.iter().map(|l| l.message.len() + 48).sum::<usize>()
            + report.progress.as_ref().map_or(0, |p| p.message.len() + 48);
        reports.bytes = reports.bytes - before + report.bytes;
        reports.order.push_back((key.clone(), reports.reports));
        while reports.bytes > self.max_bytes {
            let Some((oldest, at)) = reports.order.pop_front() else { break };
            if oldest == key && at == reports.reports {
                // Only this task is left: it stays, over the budget by its own lines.
                reports.order.push_front((oldest, at));
                break;
            }
            if oldest == key || reports.tasks.get(&oldest).is_none_or(|r| r.last != at) {
                continue; // a stale entry
            }
            if let Some(gone) = reports.tasks.remove(&oldest) {
                reports.bytes -= gone.bytes;
            }
        }
        if reports.order.len() > 2 * reports.tasks.len() + 1024 {
            let tasks = &reports.tasks;
            reports.order.retain(|(key, at)| tasks.get(key).is_some_and(|r| r.last == *at));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(reports: &CallReports, exec: &str, task: &str) -> usize {
        reports.of(exec, task)["lines"].as_array().map_or(0, Vec::len)
    }

    #[test]
    fn the_tasks_reported_on_longest_ago_are_forgotten_first_and_the_last_lines_kept() {
        // Room for about three tasks of 10 lines of 100 bytes.
        let reports = CallReports::new(3 * 10 * (100 + 48) + 100);
        let line = "x".repeat(100);
        let log = |task: &str| reports.log("e", &CallId::task(task), tracing::Level::INFO, &line);
        for task in ["a", "b", "c"] {
            for _ in 0..10 {
                log(task);
            }
        }
        // `a` reports again: it is now the latest, and `b` the oldest.
        log("a");
        for _ in 0..10 {
            log("d");
        }
        assert_eq!(lines(&reports, "e", "b"), 0, "b was reported on longest ago");
        assert_eq!(lines(&reports, "e", "a"), 11);
        assert_eq!(lines(&reports, "e", "d"), 10);
        // One task over the budget alone keeps its last lines, up to the per-task limit.
        let big = CallReports::new(10);
        for _ in 0..(LINES_PER_TASK + 5) {
            big.log("e", &CallId::task("t"), tracing::Level::WARN, "hello");
        }
        let report = big.of("e", "t");
        assert_eq!(report["lines"].as_array().unwrap().len(), LINES_PER_TASK);
        assert_eq!(report["dropped"], 5);
        assert!(big.reports.lock().unwrap().order.len() <= 2 + 1024, "stale entries are cleared");
    }

    #[test]
    fn a_long_line_is_cut_at_a_character_boundary() {
        let text = "é".repeat(MAX_LINE);
        let cut = cut(&text);
        assert!(cut.len() < text.len() && cut.ends_with(&format!("({} bytes)", text.len())), "{cut}");
    }
}

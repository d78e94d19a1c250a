//! What the driver hands to plugins and gets back: results of host calls as engine
//! events, and plugin progress forwarded to the runner's observer.

use std::sync::Arc;

use harmonia_engine::{CallId, Event, Failure};
use harmonia_host::{CallError, CallObserver, TaskError};
use serde_json::Value;

use super::RunObserver;

pub(super) struct ProgressForward {
    pub observer: Arc<dyn RunObserver>,
    pub exec: String,
    pub call: CallId,
}

impl CallObserver for ProgressForward {
    fn progress(&self, percent: u8, message: &str) {
        self.observer.progress(&self.exec, &self.call, percent, message);
    }
}

/// The event that reports a finished call.
pub(super) fn call_result(
    call: CallId,
    attempt: u32,
    result: Result<Result<Value, TaskError>, CallError>,
    at: u64,
) -> Event {
    match result {
        Ok(Ok(output)) => Event::CallSucceeded { call, attempt, output, at },
        Ok(Err(error)) => Event::CallFailed { call, attempt, error: task_failure(error), at },
        Err(error) => Event::CallFailed { call, attempt, error: host_failure(&error), at },
    }
}

fn task_failure(e: TaskError) -> Failure {
    let kind = serde_json::to_value(e.kind).ok().and_then(|v| v.as_str().map(str::to_string));
    Failure {
        kind: kind.unwrap_or_else(|| "fatal".into()),
        message: e.message,
        code: e.code,
        details: e.details,
        retry_after_ms: e.retry_after_ms,
        task: None,
    }
}

fn host_failure(e: &CallError) -> Failure {
    let kind = match e {
        CallError::Timeout { .. } => "timeout",
        CallError::UnknownPlugin(_) => "unknown_plugin",
        CallError::UnknownAction { .. } => "unknown_action",
        CallError::Instantiate { .. } => "retryable",
        CallError::MemoryLimit { .. } | CallError::FuelExhausted { .. } | CallError::Trap { .. } => "trap",
    };
    Failure::new(kind, e.to_string())
}

/// A finished child execution as the result of its parent's call.
#[allow(clippy::result_large_err, reason = "a Failure is what the call reports")]
pub(super) fn child_result(name: &str, child: &harmonia_engine::Execution) -> Result<Value, Failure> {
    match (&child.output, &child.error) {
        (_, Some(error)) => Err(error.clone()),
        (Some(output), None) => Ok(output.clone()),
        (None, None) => Err(Failure::new("fatal", format!("workflow {name} ended without output"))),
    }
}

//! Lifecycle events: what happens to executions, as CloudEvents in the log, committed in
//! the same batch as the step they report (so they are never lost nor early):
//! `harmonia.execution.started|completed|failed|cancelled|paused|resumed` and
//! `harmonia.task.started|completed|failed|retrying`, from `harmonia/executions/<id>`,
//! with `executionid`, the task as `subject`, and the workflow in the `workflow` extension.
//! Alerting on failures is a trigger (or, later, a subscription) on
//! `harmonia.execution.failed`.

use harmonia_engine::{Event, ExecStatus};
use serde::Deserialize;
use serde_json::{Value, json};

use super::CloudEvent;

/// Which lifecycle events are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    /// None (the default: they cost throughput; see `RunnerSettings::lifecycle_events`).
    #[default]
    None,
    /// `harmonia.execution.*` only.
    Executions,
    /// Also `harmonia.task.*`.
    All,
}

impl std::str::FromStr for Lifecycle {
    type Err = String;
    fn from_str(text: &str) -> Result<Lifecycle, String> {
        match text {
            "none" => Ok(Lifecycle::None),
            "executions" => Ok(Lifecycle::Executions),
            "all" => Ok(Lifecycle::All),
            _ => Err(format!("{text:?}: expected none, executions or all")),
        }
    }
}

/// The lifecycle event of history event `seq` of `execution`, if it is one `level` keeps.
pub(crate) fn lifecycle(
    level: Lifecycle,
    execution: &str,
    workflow: &str,
    seq: u64,
    event: &Event,
    status: ExecStatus,
) -> Option<CloudEvent> {
    let task_event = matches!(
        event,
        Event::CallStarted { .. }
            | Event::TaskSucceeded { .. }
            | Event::TaskFailed { .. }
            | Event::RetryScheduled { .. }
    );
    match level {
        Lifecycle::None => return None,
        Lifecycle::Executions if task_event => return None,
        _ => {}
    }
    let (kind, subject, data) = match event {
        // The input and output stay in the execution (GET it): copying them into the log
        // too cost a tenth of the throughput of short workflows.
        Event::Started { .. } => ("harmonia.execution.started", None, Value::Null),
        Event::Completed { .. } => ("harmonia.execution.completed", None, Value::Null),
        Event::Failed { error, .. } => ("harmonia.execution.failed", None, json!({ "error": error })),
        // An abort (a limit, a runner failure) ends it failed, without a `failed` event.
        Event::Aborted { error, .. } => ("harmonia.execution.failed", None, json!({ "error": error })),
        Event::Cancelled { reason, .. } if status == ExecStatus::Cancelled => {
            ("harmonia.execution.cancelled", None, json!({ "reason": reason }))
        }
        Event::Paused { .. } => ("harmonia.execution.paused", None, Value::Null),
        Event::Resumed { .. } => ("harmonia.execution.resumed", None, Value::Null),
        Event::CallStarted { call, attempt, .. } => {
            ("harmonia.task.started", Some(call.task.clone()), json!({ "call": call, "attempt": attempt }))
        }
        Event::TaskSucceeded { task, output, .. } => {
            ("harmonia.task.completed", Some(task.clone()), json!({ "output": output }))
        }
        Event::TaskFailed { task, error, tolerated, .. } => {
            ("harmonia.task.failed", Some(task.clone()), json!({ "error": error, "tolerated": tolerated }))
        }
        Event::RetryScheduled { call, attempt, due } => {
            ("harmonia.task.retrying", Some(call.task.clone()), json!({ "call": call, "attempt": attempt, "due": due }))
        }
        _ => return None,
    };
    let mut cloud = CloudEvent::new(format!("{execution}/{seq}"), format!("harmonia/executions/{execution}"), kind);
    cloud.subject = subject;
    cloud.data = (!data.is_null()).then_some(data);
    cloud.extensions.insert("executionid".into(), Value::String(execution.to_string()));
    cloud.extensions.insert("workflow".into(), Value::String(workflow.to_string()));
    Some(cloud)
}

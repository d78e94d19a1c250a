//! Lifecycle events: what happens to executions, as CloudEvents in the log, committed in
//! the same batch as the step they report (so they are never lost nor early):
//! `harmonia.execution.started|completed|failed|cancelled|paused|resumed` and
//! `harmonia.task.started|completed|failed|retrying`, from `harmonia/executions/<id>`,
//! with `executionid`, the task as `subject`, and the workflow in the `workflow` extension.
//! Alerting on failures is a subscription (or a trigger) on `harmonia.execution.failed`.
//!
//! They cost throughput (about 15% of short workflows for the execution ones), so by
//! default (`auto`) only those something wants are written: a type that a trigger's or a
//! subscription's pattern matches, or that a waiting task awaited.

use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};

use harmonia_engine::{Event, ExecStatus};
use harmonia_model::{TriggerOn, pattern_matches};
use serde::Deserialize;
use serde_json::{Value, json};

use super::CloudEvent;
use crate::Runner;

/// Which lifecycle events are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    /// Those a trigger, a subscription or a waiting task wants (the default).
    #[default]
    Auto,
    /// None.
    None,
    /// `harmonia.execution.*`.
    Executions,
    /// Also `harmonia.task.*`.
    All,
}

impl std::str::FromStr for Lifecycle {
    type Err = String;
    fn from_str(text: &str) -> Result<Lifecycle, String> {
        match text {
            "auto" => Ok(Lifecycle::Auto),
            "none" => Ok(Lifecycle::None),
            "executions" => Ok(Lifecycle::Executions),
            "all" => Ok(Lifecycle::All),
            _ => Err(format!("{text:?}: expected auto, none, executions or all")),
        }
    }
}

/// The lifecycle types; a set of them is a mask with bit `i` for `TYPES[i]`.
pub const TYPES: [&str; 10] = [
    "harmonia.execution.started",
    "harmonia.execution.completed",
    "harmonia.execution.failed",
    "harmonia.execution.cancelled",
    "harmonia.execution.paused",
    "harmonia.execution.resumed",
    "harmonia.task.started",
    "harmonia.task.completed",
    "harmonia.task.failed",
    "harmonia.task.retrying",
];

const EXECUTIONS: u16 = 0b00_0011_1111;
const ALL: u16 = 0b11_1111_1111;

/// The lifecycle types `pattern` matches.
pub fn matched_by(pattern: &str) -> u16 {
    TYPES.iter().enumerate().filter(|(_, t)| pattern_matches(pattern, t)).fold(0, |mask, (i, _)| mask | 1 << i)
}

/// How often, at most, `auto` looks again at what the workflows' triggers want (a
/// subscription or a wait that wants more is seen at once).
const RECHECK_MS: u64 = 1_000;

/// What `auto` found wanted, and when.
#[derive(Default)]
pub(crate) struct Demand {
    wanted: AtomicU16,
    /// When `wanted` was worked out (0: never, or to do again).
    checked_at: AtomicU64,
    /// What waiting tasks wanted since the start (never cleared: waits are short-lived and
    /// few ask for lifecycle events).
    waits: AtomicU16,
}

impl Demand {
    /// Have the next step work `wanted` out again.
    pub(crate) fn changed(&self) {
        self.checked_at.store(0, Ordering::Relaxed);
    }

    /// A waiting task awaits events of `pattern`.
    pub(crate) fn awaited(&self, pattern: &str) {
        let wanted = matched_by(pattern);
        if wanted & !self.waits.fetch_or(wanted, Ordering::Relaxed) != 0 {
            self.changed();
        }
    }
}

impl Runner {
    /// The lifecycle types to write now, as a mask of [`TYPES`].
    pub(crate) fn lifecycle_wanted(&self, now: u64) -> u16 {
        match self.inner.settings.lifecycle_events {
            Lifecycle::None => 0,
            Lifecycle::Executions => EXECUTIONS,
            Lifecycle::All => ALL,
            Lifecycle::Auto => {
                let demand = &self.inner.demand;
                let checked = demand.checked_at.load(Ordering::Relaxed);
                if checked != 0 && now.saturating_sub(checked) < RECHECK_MS {
                    return demand.wanted.load(Ordering::Relaxed);
                }
                let wanted = self.work_out_demand();
                demand.wanted.store(wanted, Ordering::Relaxed);
                demand.checked_at.store(now.max(1), Ordering::Relaxed);
                wanted
            }
        }
    }

    /// What the triggers of the workflows, the subscriptions and the waits want.
    fn work_out_demand(&self) -> u16 {
        let mut wanted = self.inner.demand.waits.load(Ordering::Relaxed) | self.subscriptions_want();
        for plan in self.inner.workflows.triggered() {
            for trigger in &plan.workflow.triggers {
                if let TriggerOn::Event { event_type, .. } = &trigger.on {
                    wanted |= matched_by(event_type);
                }
            }
        }
        wanted
    }
}

/// The lifecycle event of history event `seq` of `execution`, if it is one of the types in
/// `wanted` (a mask of [`TYPES`]).
pub(crate) fn lifecycle(
    wanted: u16,
    execution: &str,
    workflow: &str,
    seq: u64,
    event: &Event,
    status: ExecStatus,
) -> Option<CloudEvent> {
    if wanted == 0 {
        return None; // the usual case: nothing else to work out
    }
    let (index, subject, data) = match event {
        // The input and output stay in the execution (GET it): copying them into the log
        // too cost a tenth of the throughput of short workflows.
        Event::Started { .. } => (0, None, Value::Null),
        Event::Completed { .. } => (1, None, Value::Null),
        Event::Failed { error, .. } => (2, None, json!({ "error": error })),
        // An abort (a limit, a runner failure) ends it failed, without a `failed` event.
        Event::Aborted { error, .. } => (2, None, json!({ "error": error })),
        Event::Cancelled { reason, .. } if status == ExecStatus::Cancelled => (3, None, json!({ "reason": reason })),
        Event::Paused { .. } => (4, None, Value::Null),
        Event::Resumed { .. } => (5, None, Value::Null),
        Event::CallStarted { call, attempt, .. } if wanted & 1 << 6 != 0 => {
            (6, Some(call.task.clone()), json!({ "call": call, "attempt": attempt }))
        }
        Event::TaskSucceeded { task, output, .. } if wanted & 1 << 7 != 0 => {
            (7, Some(task.clone()), json!({ "output": output }))
        }
        Event::TaskFailed { task, error, tolerated, .. } if wanted & 1 << 8 != 0 => {
            (8, Some(task.clone()), json!({ "error": error, "tolerated": tolerated }))
        }
        Event::RetryScheduled { call, attempt, due } if wanted & 1 << 9 != 0 => {
            (9, Some(call.task.clone()), json!({ "call": call, "attempt": attempt, "due": due }))
        }
        _ => return None,
    };
    if wanted & 1 << index == 0 {
        return None;
    }
    let mut cloud =
        CloudEvent::new(format!("{execution}/{seq}"), format!("harmonia/executions/{execution}"), TYPES[index]);
    cloud.subject = subject;
    cloud.data = (!data.is_null()).then_some(data);
    cloud.extensions.insert("executionid".into(), Value::String(execution.to_string()));
    cloud.extensions.insert("workflow".into(), Value::String(workflow.to_string()));
    Some(cloud)
}

#[cfg(test)]
mod tests {
    use super::matched_by;

    #[test]
    fn patterns_select_lifecycle_types() {
        assert_eq!(matched_by("harmonia.execution.failed"), 1 << 2);
        assert_eq!(matched_by("harmonia.execution.*"), super::EXECUTIONS);
        assert_eq!(matched_by("*.failed"), 1 << 2 | 1 << 8);
        assert_eq!(matched_by("*"), super::ALL);
        assert_eq!(matched_by("doc.*"), 0);
    }
}

//! Harmonia's execution engine: a pure, deterministic state machine. Given a workflow's
//! [`Plan`], an [`Execution`] and one input [`Event`], [`step`] returns the events that
//! follow and the [`Command`]s for the driver to carry out. No clock, no randomness, no
//! I/O: time arrives in events, and retry jitter is derived from the call's identity.
//!
//! The state is a fold of the history ([`Execution::apply`]); replaying the events of an
//! execution rebuilds its state exactly. A step only looks at the tasks it touches, so
//! its cost does not grow with the length of the history.
//!
//! A paused execution can be changed by a user (set a task's output, skip a task, set
//! variables, move it to another version, add a task, replace a task's input), each change
//! an input event in its history: see [`check_change`], [`migration`] and [`Patch`]. A failed
//! execution can be retried from the tasks that did not succeed: see [`check_retry`].
//!
//! Must not depend on wasmtime, storage or HTTP crates.

mod change;
mod control;
mod event;
mod items;
mod machine;
mod plan;
mod ready;
mod replan;
mod rerun;
mod retry;
mod state;
mod wait;

pub use change::{ChangeError, check_change};
pub use event::{CallId, Command, Event, Failure, Millis, TimerId};
pub use machine::{Output, step};
pub use plan::Plan;
pub use replan::{Patch, migration, patched_plan};
pub use rerun::check_retry;
pub use retry::{delay as retry_delay, retries};
pub use state::{ExecStatus, Execution, Items, TaskLock, TaskState, TaskStatus};
pub use wait::{Await, Correlation};

/// The id of the workflow's `on_failure` task.
pub const ON_FAILURE: &str = "on_failure";

/// A running execution that can never go on: nothing runs, awaits a retry or is queued, no
/// task waits for a mutex, and no open `for_each` waits for items from outside. (An engine
/// bug: a driver ends it.)
pub fn stalled(plan: &Plan, exec: &Execution) -> bool {
    let waits_for_items = |(id, t): (&String, &TaskState)| {
        t.status == TaskStatus::Running
            && t.items.as_ref().is_some_and(|i| !i.closed)
            && plan.workflow.tasks.get(id).and_then(|d| d.for_each.as_ref()).is_some_and(|f| f.open)
    };
    exec.status == ExecStatus::Running
        && exec.in_flight.is_empty()
        && exec.retrying.is_empty()
        && exec.queue.is_empty()
        && !exec.tasks.values().any(|t| t.lock.as_ref().is_some_and(|l| !l.held))
        && !exec.tasks.iter().any(waits_for_items)
}

/// Rebuilds an execution's state from its history.
pub fn replay<'a>(plan: &Plan, id: &str, history: impl IntoIterator<Item = &'a Event>) -> Execution {
    let mut exec = Execution::new(id, &plan.workflow, &plan.fallbacks);
    for event in history {
        exec.apply(event);
    }
    exec
}

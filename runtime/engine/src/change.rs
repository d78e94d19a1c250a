//! Changes a user makes to a paused execution, each recorded in its history as an input
//! event: [`Event::OutputSet`], [`Event::SkipRequested`] and [`Event::VarsChanged`]; and
//! [`Event::ItemsAdded`], which adds items to an open `for_each` while the execution runs
//! (or is paused).
//!
//! [`check_change`] tells whether one is accepted (a server asks it before sending the
//! event, to answer with a clear error); [`crate::step`] asks the same and ignores a change
//! it refuses (no events). What an accepted change does follows it as the engine's usual
//! events, so observers and the state fold need nothing new:
//!
//! - `OutputSet`: the calls of the task (in flight, awaiting a retry, queued) are stopped
//!   (`CancelCall` for those in flight, whose late results are then ignored) and, if it was
//!   recovering, its fallback is cancelled (`TaskCancelled`); then `TaskSucceeded` with the
//!   given output. A `for_each` succeeds as a whole with it, a `repeat` without checking
//!   `until`. The task's `set_vars` are not evaluated (the output comes from a person, not
//!   from a run: send `VarsChanged` too if variables must follow). Its dependants are then
//!   considered as usual; while paused, those ready are queued (`CallQueued`) and start on
//!   `Resumed`, rendering their input from the new output then.
//!   A task that succeeded, or failed with `on_error: continue`, may have its output
//!   replaced: it is `succeeded` from then on (a tolerated failure keeps its `error`, like a
//!   task a fallback stood in for). Dependants that already started or were skipped are not
//!   run again; those that have not started yet (pending, or queued by the pause) see the
//!   new output; a `join: any`/`one` dependant that waited for a real success may run now.
//! - `SkipRequested`: a task that has not finished is stopped the same way, then
//!   `TaskSkipped` with the reason; dependants see it as skipped (`join: all` dependants are
//!   skipped, `join: any`/`one` ones still run if another dependency succeeds), exactly as
//!   for a skip from a false condition.
//! - `VarsChanged`: `VarsSet` with the variables; expressions evaluated from then on
//!   (inputs of calls that start later, conditions, `output`) see them.
//!
//! Not allowed: any change unless the execution is paused (and not failing); setting the
//! output of a task that was skipped, cancelled or failed for good (its dependants were
//! decided on that); skipping a finished task; changing `on_failure` (it only runs while the
//! execution fails) or a fallback-only task (change the task it stands in for instead);
//! setting the output of a `switch` (its output is the branch it chose: skip it, or set the
//! output of the task its cases read before it runs).
//!
//! When the last task resolves through a change, the execution completes, paused or not.

use harmonia_model::{OnError, TaskAction};

use crate::ON_FAILURE;
use crate::event::Event;
use crate::machine::Machine;
use crate::plan::Plan;
use crate::state::{ExecStatus, Execution, TaskStatus};

/// Why a change to an execution (or a retry of it) is refused. [`ChangeError::code`] is a
/// stable machine code; `Display` is a message for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeError {
    /// `not_a_change`: the event is not `OutputSet`, `SkipRequested` or `VarsChanged`.
    NotAChange,
    /// `not_paused`: changes are only accepted while the execution is paused.
    NotPaused { execution: String, status: ExecStatus },
    /// `failing`: the execution is failing (its `on_failure` task runs); it will end failed.
    Failing { execution: String },
    /// `unknown_task`: the workflow has no such task.
    UnknownTask { task: String },
    /// `on_failure_task`: `on_failure` only runs while the execution fails.
    OnFailureTask,
    /// `fallback_task`: the task only runs in place of a failed task (`of`).
    FallbackTask { task: String, of: String },
    /// `switch_task`: a switch's output is the branch it chose.
    SwitchTask { task: String },
    /// `task_finished`: the task's end state no longer allows the change (`skip`: the
    /// change was a skip, else an output).
    TaskFinished { task: String, status: TaskStatus, skip: bool },
    /// `no_vars`: a `VarsChanged` without variables.
    NoVars,
    /// `not_failed`: only a failed execution can be retried (see [`crate::check_retry`]).
    NotFailed { execution: String, status: ExecStatus },
    /// `finished`: items can only be added while the execution runs or is paused.
    Finished { execution: String, status: ExecStatus },
    /// `not_open`: the task has no `for_each` with `open: true`.
    NotOpen { task: String },
    /// `items_closed`: the task's list was closed, or the task has ended.
    ItemsClosed { task: String, status: TaskStatus },
    /// `no_items`: an `ItemsAdded` with no items that does not close the list either.
    NoItems,
    /// `migration_conflicts`: tasks that started are not in the version to move to.
    Conflicts { version: String, conflicts: Vec<String> },
    /// `task_exists`: the execution already has a task of that id.
    TaskExists { task: String },
    /// `task_started`: the task's input can only be replaced before it starts.
    Started { task: String, status: TaskStatus },
}

impl ChangeError {
    /// A stable code for programs (`unknown_task` is a missing resource; `not_a_change` and
    /// `no_vars` a bad request; the others a conflict with the execution's state).
    pub fn code(&self) -> &'static str {
        match self {
            ChangeError::NotAChange => "not_a_change",
            ChangeError::NotPaused { .. } => "not_paused",
            ChangeError::Failing { .. } => "failing",
            ChangeError::UnknownTask { .. } => "unknown_task",
            ChangeError::OnFailureTask => "on_failure_task",
            ChangeError::FallbackTask { .. } => "fallback_task",
            ChangeError::SwitchTask { .. } => "switch_task",
            ChangeError::TaskFinished { .. } => "task_finished",
            ChangeError::NoVars => "no_vars",
            ChangeError::NotFailed { .. } => "not_failed",
            ChangeError::Finished { .. } => "finished",
            ChangeError::NotOpen { .. } => "not_open",
            ChangeError::ItemsClosed { .. } => "items_closed",
            ChangeError::NoItems => "no_items",
            ChangeError::Conflicts { .. } => "migration_conflicts",
            ChangeError::TaskExists { .. } => "task_exists",
            ChangeError::Started { .. } => "task_started",
        }
    }
}

impl std::fmt::Display for ChangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChangeError::NotAChange => {
                write!(f, "not a change: only an output set, a skip or a change of variables can be made")
            }
            ChangeError::NotPaused { execution, status: ExecStatus::Running } => {
                write!(f, "execution {execution} is running: pause it before changing it")
            }
            ChangeError::NotPaused { execution, status } => {
                write!(f, "execution {execution} is {}: only a paused execution can be changed", status.as_str())
            }
            ChangeError::Failing { execution } => write!(
                f,
                "execution {execution} is failing (its on_failure task runs) and will end failed: it can no longer be changed"
            ),
            ChangeError::UnknownTask { task } => write!(f, "the workflow has no task {task}"),
            ChangeError::OnFailureTask => {
                write!(f, "on_failure only runs when the execution fails: it cannot be changed")
            }
            ChangeError::FallbackTask { task, of } => {
                write!(f, "task {task} only runs in place of task {of} when it fails: change {of} instead")
            }
            ChangeError::SwitchTask { task } => write!(
                f,
                "task {task} is a switch: its output is the branch it chooses and cannot be set (skip it, or set the output of the task its cases read)"
            ),
            ChangeError::TaskFinished { task, status, skip: true } => {
                write!(
                    f,
                    "task {task} is already {}: only a task that has not finished can be skipped",
                    status.as_str()
                )
            }
            ChangeError::TaskFinished { task, status, skip: false } => write!(
                f,
                "task {task} is {}: its dependants were decided on that, so its output can no longer be set (only that of a task that has not finished, succeeded, or failed with on_error: continue)",
                status.as_str()
            ),
            ChangeError::NoVars => write!(f, "no variables to change"),
            ChangeError::NotFailed { execution, status: ExecStatus::Cancelled } => write!(
                f,
                "execution {execution} is cancelled: only a failed execution can be retried (a cancelled one was stopped on purpose; start a new one)"
            ),
            ChangeError::NotFailed { execution, status } => {
                write!(f, "execution {execution} is {}: only a failed execution can be retried", status.as_str())
            }
            ChangeError::Finished { execution, status } => {
                write!(f, "execution {execution} is {}: items can only be added while it runs", status.as_str())
            }
            ChangeError::NotOpen { task } => {
                write!(f, "task {task} takes no items while it runs: only a `for_each: {{items, open: true}}` does")
            }
            ChangeError::ItemsClosed { task, status } if status.is_terminal() => {
                write!(f, "task {task} is {}: it takes no more items", status.as_str())
            }
            ChangeError::ItemsClosed { task, .. } => {
                write!(f, "the items of task {task} were closed: it takes no more")
            }
            ChangeError::NoItems => write!(f, "no items to add, and the list is not closed either"),
            ChangeError::Conflicts { version, conflicts } => {
                write!(f, "cannot move to version {version}: {}", conflicts.join("; "))
            }
            ChangeError::TaskExists { task } => write!(f, "the execution already has a task {task}"),
            ChangeError::Started { task, status } => write!(
                f,
                "task {task} is {}: only the input of a task that has not started can be replaced",
                status.as_str()
            ),
        }
    }
}

impl std::error::Error for ChangeError {}

/// Whether `change` (an `OutputSet`, `SkipRequested` or `VarsChanged` event) would be
/// accepted by [`crate::step`] for this execution now. Pure: decides from the plan and the
/// state only. A `Retried` event is checked by [`crate::check_retry`].
pub fn check_change(plan: &Plan, exec: &Execution, change: &Event) -> Result<(), ChangeError> {
    let (task, skip) = match change {
        Event::Retried { .. } => return crate::check_retry(exec),
        Event::ItemsAdded { task, items, close, .. } => {
            return check_items(plan, exec, task, items.is_empty() && !close);
        }
        Event::Migrated { .. } | Event::TaskAdded { .. } | Event::InputReplaced { .. } => {
            check_paused(exec)?;
            return crate::replan::check_replan(plan, exec, change);
        }
        Event::OutputSet { task, .. } => (Some(task), false),
        Event::SkipRequested { task, .. } => (Some(task), true),
        Event::VarsChanged { .. } => (None, false),
        _ => return Err(ChangeError::NotAChange),
    };
    check_paused(exec)?;
    let Some(task) = task else {
        let Event::VarsChanged { vars, .. } = change else { unreachable!("only VarsChanged names no task") };
        return if vars.is_empty() { Err(ChangeError::NoVars) } else { Ok(()) };
    };
    let on_failure = task == ON_FAILURE && plan.workflow.on_failure.is_some();
    let Some(state) = exec.tasks.get(task).filter(|_| on_failure || plan.workflow.tasks.contains_key(task)) else {
        return Err(ChangeError::UnknownTask { task: task.clone() });
    };
    if on_failure {
        return Err(ChangeError::OnFailureTask);
    }
    if plan.fallbacks.contains(task) {
        let of = plan
            .workflow
            .tasks
            .values()
            .chain(plan.workflow.on_failure.as_deref())
            .find(|t| matches!(&t.on_error, OnError::Fallback(f) if f == task));
        let of = of.map_or_else(|| "another task".to_string(), |t| t.id.clone());
        return Err(ChangeError::FallbackTask { task: task.clone(), of });
    }
    if !skip && matches!(plan.task(task).action, TaskAction::Switch { .. }) {
        return Err(ChangeError::SwitchTask { task: task.clone() });
    }
    let allowed = !state.status.is_terminal()
        || (!skip
            && (state.status == TaskStatus::Succeeded || (state.status == TaskStatus::Failed && state.tolerated)));
    if !allowed {
        return Err(ChangeError::TaskFinished { task: task.clone(), status: state.status, skip });
    }
    Ok(())
}

/// Changes are made to a paused execution that is not failing.
fn check_paused(exec: &Execution) -> Result<(), ChangeError> {
    if exec.status != ExecStatus::Paused {
        return Err(ChangeError::NotPaused { execution: exec.id.clone(), status: exec.status });
    }
    if exec.failing.is_some() {
        return Err(ChangeError::Failing { execution: exec.id.clone() });
    }
    Ok(())
}

/// Whether items can be added to `task` now: an open `for_each` whose list is not closed,
/// in an execution that has not finished (running or paused: adding items is not a repair).
fn check_items(plan: &Plan, exec: &Execution, task: &str, empty: bool) -> Result<(), ChangeError> {
    if exec.status.is_finished() {
        return Err(ChangeError::Finished { execution: exec.id.clone(), status: exec.status });
    }
    let (Some(def), Some(state)) = (plan.workflow.tasks.get(task), exec.tasks.get(task)) else {
        return Err(ChangeError::UnknownTask { task: task.to_string() });
    };
    if !def.for_each.as_ref().is_some_and(|f| f.open) {
        return Err(ChangeError::NotOpen { task: task.to_string() });
    }
    if state.status.is_terminal() || state.items.as_ref().is_some_and(|i| i.closed) {
        return Err(ChangeError::ItemsClosed { task: task.to_string(), status: state.status });
    }
    if empty {
        return Err(ChangeError::NoItems);
    }
    Ok(())
}

impl Machine<'_> {
    /// Carries out a change [`check_change`] accepted.
    pub(crate) fn change(&mut self, input: Event) {
        match &input {
            Event::OutputSet { task, output, .. } => {
                let (task, output) = (task.clone(), output.clone());
                self.emit(input);
                self.stop_task(&task);
                self.emit(Event::TaskSucceeded { task: task.clone(), output, at: self.now });
                self.resolved(&task);
            }
            Event::SkipRequested { task, reason, .. } => {
                let task = task.clone();
                let reason = if reason.is_empty() { "skipped on request".to_string() } else { reason.clone() };
                self.emit(input);
                self.stop_task(&task);
                self.skip(&task, reason);
            }
            Event::VarsChanged { vars, .. } => {
                let vars = vars.clone();
                self.emit(input);
                self.emit(Event::VarsSet { vars });
            }
            Event::ItemsAdded { task, .. } => {
                let task = task.clone();
                self.emit(input);
                // Before its list is resolved, the task keeps them for when it starts.
                if self.exec.task(&task).status != TaskStatus::Pending {
                    self.next_items(&task);
                }
            }
            Event::Migrated { .. } | Event::TaskAdded { .. } | Event::InputReplaced { .. } => self.replan(input),
            _ => unreachable!("check_change accepts only changes"),
        }
    }
}

//! Retrying a failed execution ([`Event::Retried`]): it runs again from the tasks that did
//! not succeed because of the failure, keeping what succeeded.
//!
//! [`check_retry`] tells whether a retry is accepted (a server asks it before sending the
//! event, to answer with a clear error); [`crate::step`] asks the same and ignores a retry
//! it refuses (no events). Only a `failed` execution can be retried: a `cancelled` one was
//! stopped on purpose (by a user, or by the server when its workflow was deleted), and
//! running it again would undo that decision; a `completed` one has nothing to run again,
//! and a running or paused one is still running.
//!
//! An accepted retry: `Retried` (the execution is `running` again: no error, no end time;
//! its `timeout` counts from the retry), then one `TaskReset` for each task to run again,
//! then the tasks that are ready start as at the start (`CallStarted`, or `CallQueued`
//! behind `max_parallel`), the others when their dependencies resolve.
//!
//! Run again (back to `pending`):
//! - the tasks that failed (not those that failed with `on_error: continue`: their
//!   dependants went on with the error as output);
//! - the tasks cancelled by the failure (those running, awaiting a retry, queued or
//!   recovering at that moment), but not a task cancelled because it lost a `join: one`
//!   race (a `join: one` dependant started with another dependency): it stays cancelled;
//! - the tasks skipped because one of those did not succeed (`dependency X was ...` naming
//!   a task run again, or `no dependency succeeded` with one of their dependencies run
//!   again), transitively;
//! - a fallback task, with the task it stood in for;
//! - `on_failure`, if it ran: it runs again only if the retry fails too.
//!
//! Kept: tasks that succeeded (their outputs, and the variables their `set_vars` set),
//! tolerated failures, tasks skipped by a false `when`, not chosen by a `switch` or skipped
//! by a user, and the workflow's variables (those of `vars:` are evaluated again only if the
//! execution failed evaluating them). Tasks still pending (the failure came before they
//! were ready) start when ready, as usual; their `when` is evaluated then.
//!
//! A `for_each` task keeps its list of items and the results of the items that succeeded:
//! only the items that did not succeed run again (before those never started), within its
//! concurrency; once every item succeeded, the task succeeds with all results in order (a
//! fallback or `on_failure` task starts over, since what it runs may follow the failure). A
//! `repeat` task starts again from its first iteration (its previous iterations' outputs are
//! not kept: a failed task's output is its error).
//!
//! Attempts: a call's idempotency key is unchanged (`execution/task[/item][/iteration-n]`),
//! so a plugin can recognise the call; its attempt numbers go on growing, so it can tell a
//! new attempt from an earlier one: the first attempt after the retry is the task's highest
//! attempt so far plus one (over every item and iteration of the task), e.g. attempt 2 for a
//! task that failed at its first attempt, and so a sub-workflow call gets a new child
//! execution. Every new call of a task run again (its items never started, its next
//! iterations) starts at that number too; tasks never started before start at 1. The
//! task's retry policy counts attempts from the retry: a task with `max_attempts: 3` that
//! used its three attempts gets three more (attempts 4 to 6). A late result of an attempt
//! from before the retry is ignored, like any stale result.

use std::collections::{BTreeSet, VecDeque};

use harmonia_model::{Join, Rest};

use crate::ON_FAILURE;
use crate::change::ChangeError;
use crate::event::{Command, Event, TimerId};
use crate::machine::Machine;
use crate::ready::NO_DEPENDENCY_SUCCEEDED;
use crate::state::{ExecStatus, Execution, TaskState, TaskStatus};

/// Whether a [`Event::Retried`] would be accepted by [`crate::step`] for this execution now:
/// only if it failed (`not_failed` otherwise). Pure: decides from the state only.
pub fn check_retry(exec: &Execution) -> Result<(), ChangeError> {
    if exec.status != ExecStatus::Failed {
        return Err(ChangeError::NotFailed { execution: exec.id.clone(), status: exec.status });
    }
    Ok(())
}

impl Machine<'_> {
    /// Carries out a retry [`check_retry`] accepted.
    pub(crate) fn retry(&mut self, input: Event) {
        let Event::Retried { at } = &input else { unreachable!("retry takes a Retried event") };
        let at = *at;
        let reset = self.tasks_to_rerun(); // decided on the state the failure left
        self.emit(input);
        if let Some(timeout) = self.plan.workflow.timeout {
            let due = at + timeout.as_millis() as u64;
            self.command(Command::StartTimer { timer: TimerId::ExecutionTimeout, due });
        }
        for task in reset {
            self.emit(Event::TaskReset { task });
        }
        let declared = self.plan.workflow.vars.keys();
        let vars_unset =
            self.exec.vars.as_object().is_none_or(|vars| declared.clone().all(|name| !vars.contains_key(name)));
        if vars_unset && !self.set_workflow_vars() {
            return; // failed again, as at the start
        }
        let plan = self.plan;
        for id in plan.workflow.tasks.keys().filter(|id| !plan.fallbacks.contains(*id)) {
            self.consider(id);
        }
    }

    /// The tasks a retry runs again, in the workflow's order (fallbacks and `on_failure`
    /// after the others).
    fn tasks_to_rerun(&self) -> Vec<String> {
        let (plan, exec) = (self.plan, &*self.exec);
        let mut rerun: BTreeSet<&str> = BTreeSet::new();
        let mut todo: VecDeque<&str> = VecDeque::new();
        for (id, state) in exec.tasks.iter().filter(|(_, t)| t.counted) {
            let again = match state.status {
                TaskStatus::Failed => !state.tolerated,
                TaskStatus::Cancelled => !state.cancelled_on_purpose() && !self.lost_race(id),
                TaskStatus::Running | TaskStatus::Waiting | TaskStatus::Recovering => true, // not after a failure
                TaskStatus::Pending | TaskStatus::Succeeded | TaskStatus::Skipped => false,
            };
            if again {
                rerun.insert(id);
                todo.push_back(id);
            }
        }
        while let Some(id) = todo.pop_front() {
            for dependant in plan.dependants(id) {
                if !rerun.contains(dependant.as_str()) && self.skipped_because_of(dependant, &rerun) {
                    rerun.insert(dependant);
                    todo.push_back(dependant);
                }
            }
        }
        let mut tasks: Vec<String> =
            plan.workflow.tasks.keys().filter(|id| rerun.contains(id.as_str())).cloned().collect();
        let fallbacks = exec.tasks.iter().filter(|(id, t)| {
            t.fallback_for
                .as_deref()
                .is_some_and(|of| rerun.contains(of) || (of == ON_FAILURE && ran(exec, ON_FAILURE)))
                && plan.fallbacks.contains(*id)
        });
        tasks.extend(fallbacks.map(|(id, _)| id.clone()));
        if ran(exec, ON_FAILURE) {
            tasks.push(ON_FAILURE.to_string());
        }
        tasks
    }

    /// A cancelled task lost a `join: one` race: a dependant with `join: one` started with
    /// another dependency that succeeded (the winner), cancelling the others. (Histories
    /// written since cancellations carry a reason say so with it.)
    fn lost_race(&self, id: &str) -> bool {
        let (plan, exec) = (self.plan, &*self.exec);
        plan.dependants(id).iter().any(|d| {
            let task = plan.task(d);
            matches!(task.join, Join::AtLeast { rest: Rest::Cancel, .. })
                && began(exec.task(d))
                && task.depends_on.iter().any(|dep| dep != id && exec.task(dep).status == TaskStatus::Succeeded)
        })
    }

    /// A skipped task was skipped because a dependency that runs again did not succeed.
    fn skipped_because_of(&self, id: &str, rerun: &BTreeSet<&str>) -> bool {
        let state = self.exec.task(id);
        let Some(reason) = state.reason.as_deref().filter(|_| state.status == TaskStatus::Skipped) else {
            return false;
        };
        let deps = &self.plan.task(id).depends_on;
        if reason == NO_DEPENDENCY_SUCCEEDED || reason.starts_with("only ") {
            return deps.iter().any(|d| rerun.contains(d.as_str()));
        }
        let named = reason.strip_prefix("dependency ").and_then(|r| r.rsplit_once(" was ")).map(|(dep, _)| dep);
        named.is_some_and(|dep| rerun.contains(dep) && deps.iter().any(|d| d == dep))
    }
}

/// The task started (a call, a switch's choice, or its items), as opposed to being skipped
/// or cancelled before it was ready.
fn began(t: &TaskState) -> bool {
    use TaskStatus::*;
    matches!(t.status, Running | Waiting | Recovering | Succeeded | Failed)
        || t.started_at.is_some()
        || t.items.is_some()
}

fn ran(exec: &Execution, id: &str) -> bool {
    exec.tasks.get(id).is_some_and(|t| t.status != TaskStatus::Pending)
}

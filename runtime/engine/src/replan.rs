//! Changes to the definition a paused execution runs (the plan's dynamic workflows), each
//! an input event of its history: [`Event::Migrated`] moves it to another version of its
//! workflow, [`Event::TaskAdded`] adds a task, [`Event::InputReplaced`] replaces the input of
//! a task that has not started.
//!
//! The driver steps such an event with the plan it leads to: the new version's, or the
//! current one with the change ([`Patch`]) applied; a task added or replaced is a [`Patch`]
//! kept with the execution, so that its plan is rebuilt after a restart ([`patched_plan`]).
//! A history replays with the plan it ended with: tasks are only ever dropped before they
//! started, and every task that started is in that plan.

use harmonia_model::{Diagnostics, Workflow};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::change::ChangeError;
use crate::event::{Event, Millis};
use crate::machine::Machine;
use crate::plan::Plan;
use crate::state::{Execution, TaskState, TaskStatus};

/// A change to an execution's definition, kept with it (its record) to rebuild its plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Patch {
    AddTask { task: String, definition: Value },
    ReplaceInput { task: String, input: Value },
}

impl Patch {
    /// The workflow with this change, or why it cannot take it.
    pub fn apply(&self, workflow: &Workflow) -> Result<Workflow, Diagnostics> {
        match self {
            Patch::AddTask { task, definition } => harmonia_model::patch::add_task(workflow, task, definition),
            Patch::ReplaceInput { task, input } => harmonia_model::patch::replace_input(workflow, task, input),
        }
    }

    /// The input event that records the change.
    pub fn event(&self, at: Millis) -> Event {
        match self.clone() {
            Patch::AddTask { task, definition } => Event::TaskAdded { task, definition, at },
            Patch::ReplaceInput { task, input } => Event::InputReplaced { task, input, at },
        }
    }
}

/// The plan of `base` with `patches` applied in order.
pub fn patched_plan(base: &Workflow, patches: &[Patch]) -> Result<Plan, Diagnostics> {
    let mut workflow = base.clone();
    for patch in patches {
        workflow = patch.apply(&workflow)?;
    }
    Ok(Plan::new(std::sync::Arc::new(workflow)))
}

/// The event that moves `exec` to `to` (another version of its workflow), or the conflicts
/// that forbid it: every task that has started (or ended) must be in the new version, under
/// the same id.
pub fn migration(to: &Plan, exec: &Execution, at: Millis) -> Result<Event, ChangeError> {
    let tasks = to.workflow.tasks.keys().map(|id| (id.clone(), !to.fallbacks.contains(id)));
    let mut tasks: Vec<(String, bool)> = tasks.collect();
    if to.workflow.on_failure.is_some() {
        tasks.push((crate::ON_FAILURE.to_string(), false));
    }
    let event = Event::Migrated { version: to.workflow.version.clone(), tasks, at };
    crate::check_change(to, exec, &event)?;
    Ok(event)
}

/// A task that has done something: dropping it would lose that.
fn began(t: &TaskState) -> bool {
    t.status != TaskStatus::Pending || t.items.is_some() || t.lock.is_some() || t.started_at.is_some()
}

/// Whether a definition change is accepted for the (paused) execution, with `plan` the plan
/// it leads to.
pub(crate) fn check_replan(plan: &Plan, exec: &Execution, change: &Event) -> Result<(), ChangeError> {
    match change {
        Event::Migrated { version, tasks, .. } => {
            let conflicts: Vec<String> = exec
                .tasks
                .iter()
                .filter(|(id, t)| began(t) && !tasks.iter().any(|(kept, _)| kept == *id))
                .map(|(id, t)| format!("task {id} is {}, and version {version} has no task {id}", t.status.as_str()))
                .collect();
            if conflicts.is_empty() {
                Ok(())
            } else {
                Err(ChangeError::Conflicts { version: version.clone(), conflicts })
            }
        }
        Event::TaskAdded { task, .. } => {
            if exec.tasks.contains_key(task) {
                return Err(ChangeError::TaskExists { task: task.clone() });
            }
            if !plan.workflow.tasks.contains_key(task) {
                return Err(ChangeError::UnknownTask { task: task.clone() });
            }
            Ok(())
        }
        Event::InputReplaced { task, .. } => {
            let Some(state) = exec.tasks.get(task).filter(|_| plan.workflow.tasks.contains_key(task)) else {
                return Err(ChangeError::UnknownTask { task: task.clone() });
            };
            // Pending, or queued by the pause before its first attempt.
            let not_started = state.status == TaskStatus::Pending
                || (state.status == TaskStatus::Waiting && state.max_attempt == 0 && state.lock.is_none());
            if !not_started {
                return Err(ChangeError::Started { task: task.clone(), status: state.status });
            }
            Ok(())
        }
        _ => Err(ChangeError::NotAChange),
    }
}

impl Machine<'_> {
    /// Carries out a definition change [`check_replan`] accepted: the tasks it makes ready
    /// are considered (queued while paused).
    pub(crate) fn replan(&mut self, input: Event) {
        let added = match &input {
            Event::TaskAdded { task, .. } => Some(task.clone()),
            _ => None,
        };
        let migrated = matches!(input, Event::Migrated { .. });
        self.emit(input);
        if let Some(task) = added {
            self.consider(&task);
        }
        if migrated {
            let plan = self.plan;
            for id in plan.workflow.tasks.keys().filter(|id| !plan.fallbacks.contains(*id)) {
                self.consider(id);
            }
        }
    }
}

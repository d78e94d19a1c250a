//! A workflow prepared for execution: who depends on whom, which tasks are roots, which
//! run only as fallbacks. Built once per workflow version and shared by its executions.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use harmonia_model::{Task, TaskAction, WaitOn, Workflow};

use crate::ON_FAILURE;

#[derive(Debug)]
pub struct Plan {
    pub workflow: Arc<Workflow>,
    /// Tasks to consider when a task resolves.
    dependants: HashMap<String, Vec<String>>,
    /// Tasks with no dependencies that start with the execution.
    pub roots: Vec<String>,
    /// Tasks that only ever run as another task's fallback.
    pub fallbacks: BTreeSet<String>,
    /// The task with a `goto` -> the tasks of its loop.
    loops: HashMap<String, Vec<String>>,
    /// A task -> the tasks whose loops it is in.
    in_loops: HashMap<String, Vec<String>>,
    /// Tasks that wait for a condition over the execution (evaluated after every step).
    pub conditions: Vec<String>,
}

impl Plan {
    pub fn new(workflow: Arc<Workflow>) -> Plan {
        let fallbacks: BTreeSet<String> = workflow.fallback_tasks();
        let mut dependants: HashMap<String, Vec<String>> = HashMap::new();
        for task in workflow.tasks.values() {
            for dep in &task.depends_on {
                dependants.entry(dep.clone()).or_default().push(task.id.clone());
            }
        }
        let roots = workflow
            .tasks
            .values()
            .filter(|t| t.depends_on.is_empty() && !fallbacks.contains(&t.id))
            .map(|t| t.id.clone())
            .collect();
        let mut loops = HashMap::new();
        let mut in_loops: HashMap<String, Vec<String>> = HashMap::new();
        for owner in workflow.tasks.values().filter(|t| t.goto.is_some()).map(|t| &t.id) {
            let tasks = workflow.loop_tasks(owner).unwrap_or_default();
            for task in &tasks {
                in_loops.entry(task.clone()).or_default().push(owner.clone());
            }
            loops.insert(owner.clone(), tasks);
        }
        let conditions = workflow
            .tasks
            .values()
            .filter(|t| matches!(&t.action, TaskAction::Wait(w) if matches!(w.on, WaitOn::Condition { .. })))
            .map(|t| t.id.clone())
            .collect();
        Plan { workflow, dependants, roots, fallbacks, loops, in_loops, conditions }
    }

    /// The tasks of the loop of a task with a `goto`.
    pub fn loop_tasks(&self, owner: &str) -> &[String] {
        self.loops.get(owner).map_or(&[], Vec::as_slice)
    }

    /// The tasks with a `goto` whose loops hold `id`.
    pub fn loops_holding(&self, id: &str) -> &[String] {
        self.in_loops.get(id).map_or(&[], Vec::as_slice)
    }

    /// The task definition (the workflow's `on_failure` included).
    pub fn task(&self, id: &str) -> &Task {
        if id == ON_FAILURE
            && let Some(task) = &self.workflow.on_failure
        {
            return task;
        }
        &self.workflow.tasks[id]
    }

    pub fn dependants(&self, id: &str) -> &[String] {
        self.dependants.get(id).map_or(&[], Vec::as_slice)
    }
}

//! What an expression can see at run time. Everything is borrowed: building a scope costs
//! nothing, and an evaluation converts only the parts its expression reads.

use serde_json::Value;

static NULL: Value = Value::Null;

/// The state of one task, as an expression sees it through `tasks.<id>`.
#[derive(Debug, Clone, Copy)]
pub struct TaskView<'a> {
    /// `pending`, `running`, `succeeded`, `failed`, `skipped` ... (the engine's names).
    pub status: &'a str,
    /// None until the task has an output: `tasks.<id>.output` is then `null`.
    pub output: Option<&'a Value>,
    pub error: Option<&'a Value>,
}

/// Looks tasks up by id; the engine implements it over its execution state.
pub trait TaskLookup {
    /// None if the workflow has no such task.
    fn task(&self, id: &str) -> Option<TaskView<'_>>;
}

/// No tasks at all: for expressions evaluated before any task exists (workflow vars,
/// template parameters).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTasks;

impl TaskLookup for NoTasks {
    fn task(&self, _id: &str) -> Option<TaskView<'_>> {
        None
    }
}

/// A JSON object `{ "<id>": { "status": .., "output": .., "error": .. } }` (status defaults
/// to `pending`): handy in tests and for simple callers.
impl TaskLookup for Value {
    fn task(&self, id: &str) -> Option<TaskView<'_>> {
        let task = self.get(id)?;
        Some(TaskView {
            status: task.get("status").and_then(Value::as_str).unwrap_or("pending"),
            output: task.get("output"),
            error: task.get("error"),
        })
    }
}

/// The variables of an evaluation.
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    /// The execution's input (after defaults were filled in).
    pub input: &'a Value,
    /// Workflow variables: an object.
    pub vars: &'a Value,
    pub tasks: &'a dyn TaskLookup,
    /// `{ id, name, version }` of the execution.
    pub workflow: &'a Value,
    /// The current item of a `for_each` task.
    pub item: Option<&'a Value>,
    /// Its 0-based index.
    pub index: Option<u64>,
    /// The task's own output: in `repeat.until` and `set_vars`.
    pub output: Option<&'a Value>,
    /// 1-based iteration of a `repeat` task.
    pub iteration: Option<u64>,
    /// `{ task, error }` in `on_failure` and fallback tasks.
    pub failure: Option<&'a Value>,
    /// The event that started the execution.
    pub event: Option<&'a Value>,
    /// Template parameters (only while rendering a template).
    pub params: Option<&'a Value>,
    /// What an evaluation may spend: the configured budget unless set.
    pub budget: super::Budget,
}

impl<'a> Scope<'a> {
    /// The common case: input, vars, tasks and the workflow; nothing else bound.
    pub fn new(input: &'a Value, vars: &'a Value, tasks: &'a dyn TaskLookup, workflow: &'a Value) -> Self {
        Scope {
            input,
            vars,
            tasks,
            workflow,
            item: None,
            index: None,
            output: None,
            iteration: None,
            failure: None,
            event: None,
            params: None,
            budget: super::Budget::configured(),
        }
    }

    /// A scope where nothing is bound (every root is `null` or absent).
    pub fn empty() -> Scope<'static> {
        Scope::new(&NULL, &NULL, &NoTasks, &NULL)
    }

    /// Binds `item` and `index` (a `for_each` iteration).
    pub fn with_item(mut self, item: &'a Value, index: u64) -> Self {
        self.item = Some(item);
        self.index = Some(index);
        self
    }

    /// Binds `output` (`set_vars`, `repeat.until`).
    pub fn with_output(mut self, output: &'a Value) -> Self {
        self.output = Some(output);
        self
    }

    /// Binds `iteration` (1-based, `repeat`).
    pub fn with_iteration(mut self, iteration: u64) -> Self {
        self.iteration = Some(iteration);
        self
    }

    /// Binds `failure` (`on_failure`, fallback tasks).
    pub fn with_failure(mut self, failure: &'a Value) -> Self {
        self.failure = Some(failure);
        self
    }

    /// Binds `event` (executions started by an event).
    pub fn with_event(mut self, event: &'a Value) -> Self {
        self.event = Some(event);
        self
    }

    /// Binds `params` (template rendering).
    pub fn with_params(mut self, params: &'a Value) -> Self {
        self.params = Some(params);
        self
    }
}

impl std::fmt::Debug for Scope<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope")
            .field("input", self.input)
            .field("vars", self.vars)
            .field("workflow", self.workflow)
            .field("item", &self.item)
            .field("index", &self.index)
            .field("output", &self.output)
            .field("iteration", &self.iteration)
            .field("failure", &self.failure)
            .field("event", &self.event)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

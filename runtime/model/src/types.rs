//! The workflow model: what a parsed and validated workflow file means.
//!
//! Every task keeps the position of its definition so that later errors (an unknown
//! plugin, an expression failing at run time) can point at the file.

use std::time::Duration;

use indexmap::IndexMap;
use serde_json::Value;

use crate::expr::{Expr, Template};

/// A 1-based position in a workflow file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    pub line: u32,
    pub column: u32,
}

/// A workflow definition.
#[derive(Debug, Clone)]
pub struct Workflow {
    pub name: String,
    /// As written: `version: 1.0` is the version "1.0", not a number.
    pub version: String,
    pub description: Option<String>,
    /// Typed parameters of an execution, in file order.
    pub input: IndexMap<String, InputParam>,
    /// Workflow variables and their initial values (may use `${input...}`).
    pub vars: IndexMap<String, Template>,
    /// Tasks in file order.
    pub tasks: IndexMap<String, Task>,
    /// The execution's output, rendered when every task has finished.
    pub output: Option<Template>,
    /// Deadline of the whole execution.
    pub timeout: Option<Duration>,
    /// Retry policy of tasks that give none.
    pub retry: Option<RetryPolicy>,
    /// Timeout of tasks that give none.
    pub task_timeout: Option<Duration>,
    /// How many task calls of one execution may run at once (None: no limit).
    pub max_parallel: Option<u32>,
    /// Runs once when the execution fails; sees `failure` (`task`, `error`) in expressions.
    /// Its id is `on_failure`.
    pub on_failure: Option<Box<Task>>,
    /// What starts executions on its own: events (see [`crate::triggers`]).
    pub triggers: Vec<crate::Trigger>,
    /// Where it was read from, for error messages.
    pub source: Option<std::path::PathBuf>,
    /// Where the values of task inputs were written (`tasks.a.input.name`), so that checks
    /// against the plugins' schemas point at them.
    pub(crate) input_spans: crate::read::SpanTable,
}

/// One input parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct InputParam {
    pub kind: ParamType,
    pub description: Option<String>,
    /// Required unless it has a default (`required: false` makes it optional without one).
    pub required: bool,
    pub default: Option<Value>,
    pub span: Span,
}

/// The JSON type of an input parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    String,
    Number,
    Integer,
    Boolean,
    Object,
    Array,
    Any,
}

/// One task of a workflow.
#[derive(Debug, Clone)]
pub struct Task {
    pub id: String,
    pub span: Span,
    pub description: Option<String>,
    pub action: TaskAction,
    pub depends_on: Vec<String>,
    pub join: Join,
    /// Run only if true; otherwise the task is `skipped`.
    pub when: Option<Expr>,
    /// Run once per item of a list, with `item` and `index` bound.
    pub for_each: Option<ForEach>,
    /// Run again until the condition holds (do-while).
    pub repeat: Option<Repeat>,
    pub retry: Option<RetryPolicy>,
    pub timeout: Option<Duration>,
    pub on_error: OnError,
    /// Workflow variables set when the task succeeds; `output` is bound to its output.
    pub set_vars: IndexMap<String, Template>,
    /// Loop back to an earlier task while a condition holds.
    pub goto: Option<Goto>,
    /// A critical section across executions: the task runs only while it holds a slot of
    /// this key.
    pub mutex: Option<TaskMutex>,
}

/// `mutex: invoices` or `mutex: {key: "${input.customer}", limit: 2}`: at most `limit`
/// tasks holding the same key run at once, across every execution of the server, granted in
/// the order they asked (first come, first served). A task holds its slot from before its
/// first attempt until it ends (its retries included), and the slots survive restarts.
#[derive(Debug, Clone)]
pub struct TaskMutex {
    /// A template: the key is its value as text.
    pub key: Template,
    pub limit: u32,
}

/// `goto: {task, when, max_rounds}` on task X: when X succeeds and `when` holds (with
/// `output` bound to X's output), the tasks from `task` to X (those that depend on `task`
/// and that X depends on, both included: the loop) run again, as a new round, once every
/// one of them has ended; X's dependants wait for the round where `when` does not hold.
/// Only X may have dependants outside the loop.
#[derive(Debug, Clone)]
pub struct Goto {
    /// The first task of the loop: X itself or a task X depends on.
    pub task: String,
    pub when: Expr,
    /// Rounds after the first; reaching it with `when` still holding fails X (`max_rounds`).
    pub max_rounds: u32,
}

/// What a task does.
#[derive(Debug, Clone)]
pub enum TaskAction {
    /// Call a plugin action: `component:` + `action:` + `input:`.
    Call { component: String, action: String, input: Template },
    /// Run another workflow as a child execution: `workflow: name` or `name@version`.
    Workflow { name: String, version: Option<String>, input: Template },
    /// Choose branches: the first case whose `when` holds selects its `then` tasks; the
    /// targets of the other cases (and of `default`, unless it is chosen) are skipped.
    /// Every target must list the switch task in its `depends_on`.
    Switch { cases: Vec<SwitchCase>, default: Vec<String> },
    /// Wait for an event or a signal: the task's output is the event (see [`crate::wait`]).
    Wait(crate::WaitFor),
    /// Emit a CloudEvent: `emit: {type, subject?, data?, correlationid?}`, each a template;
    /// the task's output is the event's `{id, seq, duplicate}`. Once per task of an
    /// execution: its id is the task's idempotency key.
    Emit(Template),
    /// End the execution now (see [`Terminate`]); nothing may depend on this task.
    Terminate(Terminate),
    /// Cancel the listed tasks that have not finished (a cancel region); the task's output
    /// is `{cancelled: [ids]}`, the tasks it did cancel.
    Cancel(Vec<String>),
}

/// `terminate: {output}` completes the execution with `output`; `terminate: {error, code}`
/// fails it (`on_failure` runs). Either way what still runs is cancelled and the tasks not
/// started never will.
#[derive(Debug, Clone)]
pub struct Terminate {
    pub output: Option<Template>,
    /// The failure's message: the execution fails with kind `terminated`.
    pub error: Option<Template>,
    /// The failure's code, for programs.
    pub code: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SwitchCase {
    pub when: Expr,
    pub then: Vec<String>,
}

/// How a task with several `depends_on` waits for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Join {
    /// AND: every dependency succeeded (a skipped dependency skips this task).
    #[default]
    All,
    /// N of M (`join: {at_least: N, rest}`): runs once, as soon as `n` dependencies
    /// succeeded; skipped once that can no longer happen. `join: any` is at least 1 with the
    /// rest left to finish; `join: one` (XOR) at least 1 with the rest cancelled.
    AtLeast { n: u32, rest: Rest },
    /// Synchronizing merge (`join: merge`): waits until every dependency has ended, and runs
    /// if at least one of those that ran succeeded (or failed with `on_error: continue`);
    /// skipped dependencies (a branch not taken) are not waited for in vain.
    Merge,
}

impl Join {
    /// `join: any`.
    pub const ANY: Join = Join::AtLeast { n: 1, rest: Rest::Finish };
    /// `join: one`.
    pub const ONE: Join = Join::AtLeast { n: 1, rest: Rest::Cancel };
}

/// What a partial join does with the dependencies it no longer needs once it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rest {
    /// They finish, and the join does not run again.
    #[default]
    Finish,
    /// Those still running (or not started) are cancelled.
    Cancel,
}

#[derive(Debug, Clone)]
pub struct ForEach {
    /// Must evaluate to a list.
    pub items: Expr,
    /// Items in flight at once (default 32).
    pub concurrency: u32,
    /// Completes the task as soon as this many items succeeded: the items still running are
    /// cancelled and those not started never start (their slots in the output are null).
    pub at_least: Option<u32>,
    /// Items may be added while the task runs (`POST .../tasks/{task}/items`); it ends once
    /// the list is closed and its items have ended.
    pub open: bool,
}

#[derive(Debug, Clone)]
pub struct Repeat {
    /// Evaluated after each iteration with `output` and `iteration` (1-based) bound.
    pub until: Expr,
    /// Reaching it without `until` holding fails the task (`max_iterations` error code).
    pub max_iterations: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub max_attempts: u32,
    pub delay: Duration,
    pub backoff: Backoff,
    /// Growth of the delay: linear adds `delay * factor` per attempt, exponential
    /// multiplies by `factor` (default 2).
    pub factor: f64,
    pub max_delay: Option<Duration>,
    /// 0 to 1: each delay is moved by up to this fraction, up or down.
    pub jitter: f64,
    /// Which failures are retried, by error kind (`retryable`, `timeout`, `fatal`,
    /// `invalid_input`, `trap`) or error code; default `retryable` and `timeout`.
    pub retry_on: Vec<String>,
}

impl Default for RetryPolicy {
    /// `retry: {}`: 3 attempts, 1 s apart and doubling, on `retryable` and `timeout` errors.
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            delay: Duration::from_secs(1),
            backoff: Backoff::Exponential,
            factor: 2.0,
            max_delay: None,
            jitter: 0.0,
            retry_on: DEFAULT_RETRY_ON.iter().map(|kind| kind.to_string()).collect(),
        }
    }
}

/// The error kinds retried when a policy names none.
pub const DEFAULT_RETRY_ON: [&str; 2] = ["retryable", "timeout"];

impl RetryPolicy {
    /// Whether a failure of `kind` (with `code`) is retried: an entry of `retry_on` names its
    /// kind or its code (`*` and `any` name every failure); an empty `retry_on` is the default.
    pub fn retries(&self, kind: &str, code: Option<&str>) -> bool {
        if self.retry_on.is_empty() {
            return DEFAULT_RETRY_ON.contains(&kind);
        }
        self.retry_on
            .iter()
            .any(|entry| entry == "*" || entry == "any" || entry == kind || code == Some(entry.as_str()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backoff {
    Fixed,
    Linear,
    Exponential,
}

/// What happens when a task fails for good (after its retries).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum OnError {
    /// The execution fails.
    #[default]
    Fail,
    /// The task ends `failed`, its output is its error, and `join: all` dependants go on
    /// as if it had succeeded (`join: any`/`one` wait for a real success).
    Continue,
    /// The named task runs in its place (with `failure` bound); if it succeeds, its
    /// output stands for the failed task's. A fallback task is only run as a fallback.
    Fallback(String),
}

impl Workflow {
    /// `name@version`.
    pub fn id(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }

    /// Tasks that are only ever run as the `on_error: { fallback }` of another task: the
    /// engine must not start them on its own (validation ensures they have no `depends_on`
    /// and that no task depends on them).
    pub fn fallback_tasks(&self) -> std::collections::BTreeSet<String> {
        self.tasks
            .values()
            .chain(self.on_failure.as_deref())
            .filter_map(|t| match &t.on_error {
                OnError::Fallback(f) => Some(f.clone()),
                _ => None,
            })
            .collect()
    }

    /// The tasks of the loop a task's `goto` goes back over, in the workflow's order: those
    /// that depend (transitively) on the goto's target and that the task depends on, both
    /// included. None if the task has no `goto`, or its target is not itself or one of its
    /// dependencies.
    pub fn loop_tasks(&self, owner: &str) -> Option<Vec<String>> {
        let goto = self.tasks.get(owner)?.goto.as_ref()?;
        let mut upstream = std::collections::HashSet::from([owner]);
        let mut todo = vec![owner];
        while let Some(id) = todo.pop() {
            for dep in self.tasks.get(id).map_or(&[][..], |t| &t.depends_on[..]) {
                if upstream.insert(dep) {
                    todo.push(dep);
                }
            }
        }
        if !upstream.contains(goto.task.as_str()) {
            return None;
        }
        // Of those, the ones with a path of dependencies from the target.
        let mut dependants: std::collections::HashMap<&str, Vec<&str>> = Default::default();
        for id in &upstream {
            for dep in &self.tasks[*id].depends_on {
                dependants.entry(dep.as_str()).or_default().push(id);
            }
        }
        let mut inside = std::collections::HashSet::from([goto.task.as_str()]);
        let mut todo = vec![goto.task.as_str()];
        while let Some(id) = todo.pop() {
            for d in dependants.get(id).into_iter().flatten() {
                if inside.insert(d) {
                    todo.push(d);
                }
            }
        }
        Some(self.tasks.keys().filter(|id| inside.contains(id.as_str())).cloned().collect())
    }
}

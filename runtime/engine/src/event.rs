//! What happens to an execution (events, kept in its history) and what the engine asks
//! its driver to do (commands, never stored).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Milliseconds since the Unix epoch, as given by the driver's clock.
pub type Millis = u64;

/// One call of a task: the task, and the item of a `for_each` (None otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CallId {
    pub task: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<u32>,
}

impl CallId {
    pub fn task(task: impl Into<String>) -> CallId {
        CallId { task: task.into(), item: None }
    }

    pub fn item(task: impl Into<String>, item: u32) -> CallId {
        CallId { task: task.into(), item: Some(item) }
    }
}

impl std::fmt::Display for CallId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.item {
            Some(i) => write!(f, "{}[{i}]", self.task),
            None => write!(f, "{}", self.task),
        }
    }
}

/// Why a task (or an execution) failed. `kind` is the plugin's error kind (`retryable`,
/// `fatal`, `invalid_input`, `unknown_action`) or one the host or engine adds (`timeout`,
/// `trap`, `expression`, `max_iterations`, `cancelled`, `unknown_plugin`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub kind: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// The task that failed, when an execution fails because of one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
}

impl Failure {
    pub fn new(kind: &str, message: impl Into<String>) -> Failure {
        Failure {
            kind: kind.to_string(),
            message: message.into(),
            code: None,
            details: None,
            retry_after_ms: None,
            task: None,
        }
    }

    /// With a machine-readable code (`kv_quota`, `output_too_large`).
    pub fn with_code(mut self, code: &str) -> Failure {
        self.code = Some(code.to_string());
        self
    }

    pub fn in_task(mut self, task: &str) -> Failure {
        self.task = Some(task.to_string());
        self
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("a failure is JSON")
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(task) = &self.task {
            write!(f, "task {task}: ")?;
        }
        write!(f, "{}: {}", self.kind, self.message)
    }
}

/// A timer the engine asked for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TimerId {
    /// The next attempt of a call.
    Retry { call: CallId, attempt: u32 },
    /// The execution's own deadline.
    ExecutionTimeout,
    /// The `timeout` of a task waiting for a condition (the runner times other waits).
    WaitDeadline { call: CallId, attempt: u32 },
}

/// Something that happened to an execution. The history of an execution is the list of
/// its events; its state is their fold ([`crate::Execution::apply`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    // What comes from outside (the driver, a user, a plugin).
    Started {
        input: Value,
        /// The CloudEvent that started the execution through a trigger (`event` in its
        /// expressions).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event: Option<Value>,
        at: Millis,
    },
    CallSucceeded {
        call: CallId,
        attempt: u32,
        output: Value,
        at: Millis,
    },
    CallFailed {
        call: CallId,
        attempt: u32,
        error: Failure,
        at: Millis,
    },
    TimerFired {
        timer: TimerId,
        at: Millis,
    },
    Paused {
        at: Millis,
    },
    Resumed {
        at: Millis,
    },
    Cancelled {
        reason: String,
        at: Millis,
    },
    /// The runner stopped the execution as failed, for a limit of the server rather than of
    /// the workflow (its history reached `execution_max_events`): calls in flight are
    /// cancelled and `on_failure` does not run (it could only add to what is over a limit).
    Aborted {
        error: Failure,
        at: Millis,
    },
    /// The driver restarted (after a crash or a stop) and picks the execution up again:
    /// calls that were in flight run again with their next attempt, and timers are set again.
    Recovered {
        at: Millis,
    },
    /// The execution rolls back to the state of a checkpoint (taken after event
    /// `checkpoint`) and continues from there; calls in flight then run again.
    Restored {
        checkpoint: u64,
        state: Box<crate::Execution>,
        at: Millis,
    },
    /// A user set (or replaced) a task's output: the task succeeds with it, whatever it was
    /// doing is stopped. Only while paused; see [`crate::check_change`] for what is allowed.
    OutputSet {
        task: String,
        output: Value,
        at: Millis,
    },
    /// A user skipped a task that had not finished; whatever it was doing is stopped.
    SkipRequested {
        task: String,
        reason: String,
        at: Millis,
    },
    /// A user set workflow variables (merged into the others).
    VarsChanged {
        vars: serde_json::Map<String, Value>,
        at: Millis,
    },
    /// Items added to a `for_each` whose list is open (`open: true`), while it runs;
    /// `close`: no more will come (the task ends once its items have).
    ItemsAdded {
        task: String,
        items: Vec<Value>,
        #[serde(default)]
        close: bool,
        at: Millis,
    },
    /// A user moved a paused execution to another version of its workflow: its tasks are
    /// now `tasks` (id, and whether it counts toward completion), those it had that have not
    /// started and are not in the new version are dropped. See [`crate::migration`].
    Migrated {
        version: String,
        tasks: Vec<(String, bool)>,
        at: Millis,
    },
    /// A user added a task (as written in a workflow file) to a paused execution.
    TaskAdded {
        task: String,
        definition: Value,
        at: Millis,
    },
    /// A user replaced the input of a task of a paused execution that has not started.
    InputReplaced {
        task: String,
        input: Value,
        at: Millis,
    },
    /// The runner granted the task the slot of its `mutex` it asked for
    /// ([`Command::Acquire`]): it starts now.
    LockAcquired {
        task: String,
        at: Millis,
    },
    /// A user retries a failed execution: it runs again from the tasks that did not succeed
    /// because of the failure (each reset by a `TaskReset`). See [`crate::check_retry`].
    Retried {
        at: Millis,
    },

    // What the engine decided.
    CallStarted {
        call: CallId,
        attempt: u32,
        input: Value,
        at: Millis,
    },
    /// Ready, but held back by `max_parallel` or a pause.
    CallQueued {
        call: CallId,
        attempt: u32,
    },
    RetryScheduled {
        call: CallId,
        attempt: u32,
        due: Millis,
    },
    /// The list a `for_each` task runs over.
    ItemsResolved {
        task: String,
        items: Vec<Value>,
    },
    /// A `repeat` iteration finished and `until` did not hold: the next one follows.
    IterationDone {
        task: String,
        iteration: u32,
        output: Value,
    },
    SwitchChose {
        task: String,
        case: Option<u32>,
        targets: Vec<String>,
    },
    TaskSucceeded {
        task: String,
        output: Value,
        at: Millis,
    },
    /// `tolerated` (`on_error: continue`): dependants go on; the task's output is its error,
    /// or `output` when given (a `for_each` whose items failed: each item's output or error).
    TaskFailed {
        task: String,
        error: Failure,
        tolerated: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        output: Option<Value>,
        at: Millis,
    },
    TaskSkipped {
        task: String,
        reason: String,
    },
    TaskCancelled {
        task: String,
        /// Why, when it was not the execution's end that cancelled it (a `cancel` task, a
        /// `terminate` task, a partial join that no longer needs it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A task with a `goto` succeeded and its `when` held: it waits with its output until
    /// every task of its loop has ended, then [`Event::RoundStarted`] follows.
    RoundEnded {
        task: String,
        output: Value,
    },
    /// The tasks of `task`'s loop run again: each is pending once more, in a new round (its
    /// calls get new idempotency keys).
    RoundStarted {
        task: String,
        tasks: Vec<String>,
    },
    /// A task with a `mutex` is ready and waits for a slot of `key` (the key's value).
    LockRequested {
        task: String,
        key: String,
    },
    /// An item of a `for_each` with `on_error: continue` failed for good: its slot in the
    /// output holds its error, and the other items go on.
    ItemFailed {
        task: String,
        item: u32,
        error: Failure,
    },
    /// A retry of the execution runs the task again: it is pending once more (a `for_each`
    /// keeps the items that succeeded and runs the others again).
    TaskReset {
        task: String,
    },
    /// `task` failed and `fallback` runs in its place; if it succeeds, `task` succeeds with
    /// its output (and keeps `error`).
    FallbackStarted {
        task: String,
        fallback: String,
        error: Failure,
    },
    VarsSet {
        vars: serde_json::Map<String, Value>,
    },
    /// The execution is failing; `on_failure` (if any) runs before it ends.
    Failing {
        error: Failure,
        at: Millis,
    },
    Completed {
        output: Value,
        at: Millis,
    },
    Failed {
        error: Failure,
        at: Millis,
    },
}

impl Event {
    /// The event's type, as its `type` field in JSON (`task_succeeded`): what event streams
    /// filter on, without serializing the event.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Started { .. } => "started",
            Event::CallSucceeded { .. } => "call_succeeded",
            Event::CallFailed { .. } => "call_failed",
            Event::TimerFired { .. } => "timer_fired",
            Event::Paused { .. } => "paused",
            Event::Resumed { .. } => "resumed",
            Event::Cancelled { .. } => "cancelled",
            Event::Aborted { .. } => "aborted",
            Event::Recovered { .. } => "recovered",
            Event::Restored { .. } => "restored",
            Event::OutputSet { .. } => "output_set",
            Event::SkipRequested { .. } => "skip_requested",
            Event::VarsChanged { .. } => "vars_changed",
            Event::Retried { .. } => "retried",
            Event::ItemsAdded { .. } => "items_added",
            Event::LockAcquired { .. } => "lock_acquired",
            Event::Migrated { .. } => "migrated",
            Event::TaskAdded { .. } => "task_added",
            Event::InputReplaced { .. } => "input_replaced",
            Event::LockRequested { .. } => "lock_requested",
            Event::CallStarted { .. } => "call_started",
            Event::CallQueued { .. } => "call_queued",
            Event::RetryScheduled { .. } => "retry_scheduled",
            Event::ItemsResolved { .. } => "items_resolved",
            Event::IterationDone { .. } => "iteration_done",
            Event::SwitchChose { .. } => "switch_chose",
            Event::TaskSucceeded { .. } => "task_succeeded",
            Event::TaskFailed { .. } => "task_failed",
            Event::TaskSkipped { .. } => "task_skipped",
            Event::TaskCancelled { .. } => "task_cancelled",
            Event::ItemFailed { .. } => "item_failed",
            Event::RoundEnded { .. } => "round_ended",
            Event::RoundStarted { .. } => "round_started",
            Event::TaskReset { .. } => "task_reset",
            Event::FallbackStarted { .. } => "fallback_started",
            Event::VarsSet { .. } => "vars_set",
            Event::Failing { .. } => "failing",
            Event::Completed { .. } => "completed",
            Event::Failed { .. } => "failed",
        }
    }

    /// Comes from outside the engine (the driver, a user, a plugin), as opposed to what the
    /// engine decided: the events to feed to [`crate::step`] again when a step is redone.
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            Event::Started { .. }
                | Event::CallSucceeded { .. }
                | Event::CallFailed { .. }
                | Event::TimerFired { .. }
                | Event::Paused { .. }
                | Event::Resumed { .. }
                | Event::Cancelled { .. }
                | Event::Aborted { .. }
                | Event::Recovered { .. }
                | Event::Restored { .. }
                | Event::OutputSet { .. }
                | Event::SkipRequested { .. }
                | Event::VarsChanged { .. }
                | Event::ItemsAdded { .. }
                | Event::LockAcquired { .. }
                | Event::Migrated { .. }
                | Event::TaskAdded { .. }
                | Event::InputReplaced { .. }
                | Event::Retried { .. }
        )
    }
}

/// Work for the driver: carry it out, then feed back what happened as events.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Call a plugin action; report `CallSucceeded` or `CallFailed`.
    RunCall {
        call: CallId,
        attempt: u32,
        component: String,
        action: String,
        input: Value,
        timeout: Option<Duration>,
        /// Stable across attempts of the same call.
        idempotency_key: String,
    },
    /// Run a child execution of another workflow; report its result like a call's.
    RunChild {
        call: CallId,
        attempt: u32,
        workflow: String,
        version: Option<String>,
        input: Value,
        /// The task's timeout: the child is stopped and the call fails with `timeout`.
        timeout: Option<Duration>,
        idempotency_key: String,
    },
    /// Watch for an event a waiting task waits for; report it as `CallSucceeded` (the
    /// event is the output), or `CallFailed` of kind `timeout` at the wait's deadline.
    Await { call: CallId, attempt: u32, wait: crate::Await },
    /// Put a CloudEvent into the log: `event` holds its `type` and optional `subject`,
    /// `data` and `correlationid`; `idempotency_key` is its id. Report `CallSucceeded` with
    /// `{id, seq, duplicate}`, or `CallFailed`.
    Emit { call: CallId, attempt: u32, event: Value, idempotency_key: String },
    /// Ask for a slot of the mutex `key` (at most `limit` holders at once, first come first
    /// served, across executions); report `LockAcquired` when granted. Asking again (after
    /// a restart) keeps the task's place.
    Acquire { task: String, key: String, limit: u32 },
    /// The task ended: give its slot (or its place in the queue) of `key` back.
    Release { task: String, key: String },
    /// Report `TimerFired` at `due` (or at once if it is past).
    StartTimer { timer: TimerId, due: Millis },
    /// Stop a call in flight; its late result will be ignored.
    CancelCall { call: CallId },
    /// The execution reached an end state (the slots it holds or asked for are given back).
    Finished,
}

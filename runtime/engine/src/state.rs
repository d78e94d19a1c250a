//! The state of one execution: a fold of its events. [`Execution::apply`] is the only
//! place where state changes, so replaying a history always rebuilds the same state.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use harmonia_model::{TaskLookup, TaskView, Workflow};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::event::{CallId, Event, Failure, Millis, TimerId};

/// How the reason of a task cancelled by its execution's end, before it started, begins.
const NEVER_STARTED: &str = "never started";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecStatus {
    Running,
    Paused,
    Completed,
    Failed,
    Cancelled,
}

impl ExecStatus {
    pub fn is_finished(self) -> bool {
        matches!(self, ExecStatus::Completed | ExecStatus::Failed | ExecStatus::Cancelled)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ExecStatus::Running => "running",
            ExecStatus::Paused => "paused",
            ExecStatus::Completed => "completed",
            ExecStatus::Failed => "failed",
            ExecStatus::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Pending,
    Running,
    /// Waiting for a retry (or held back in the queue).
    Waiting,
    /// Failed, and its fallback task is running.
    Recovering,
    Succeeded,
    Failed,
    Skipped,
    Cancelled,
}

impl TaskStatus {
    pub fn is_terminal(self) -> bool {
        matches!(self, TaskStatus::Succeeded | TaskStatus::Failed | TaskStatus::Skipped | TaskStatus::Cancelled)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "pending",
            TaskStatus::Running => "running",
            TaskStatus::Waiting => "waiting",
            TaskStatus::Recovering => "recovering",
            TaskStatus::Succeeded => "succeeded",
            TaskStatus::Failed => "failed",
            TaskStatus::Skipped => "skipped",
            TaskStatus::Cancelled => "cancelled",
        }
    }
}

/// The items of a `for_each` task and how far it got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Items {
    pub values: Vec<Value>,
    /// Outputs by item index (null until the item succeeded).
    pub results: Vec<Value>,
    /// The next item not yet started.
    pub next: u32,
    /// Items started and not finished.
    pub active: u32,
    /// How many items succeeded.
    pub done: u32,
    /// Which items succeeded, by index (empty in states written before it was kept: then
    /// an item with a result succeeded).
    #[serde(default)]
    pub succeeded: Vec<bool>,
    /// After a retry of the execution: the items started before that did not succeed, to
    /// run again (in order, before `next`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub again: Vec<u32>,
    /// Items that failed for good under `on_error: continue` (their result is their error),
    /// in the order they failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<u32>,
    /// An open list (`open: true`) was closed: no more items will be added.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub closed: bool,
    /// Items added before the task started: its own list, resolved when it starts, comes
    /// before them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub early: bool,
}

impl Items {
    fn new(values: Vec<Value>) -> Items {
        let n = values.len();
        Items {
            values,
            results: vec![Value::Null; n],
            next: 0,
            active: 0,
            done: 0,
            succeeded: vec![false; n],
            again: Vec::new(),
            failed: Vec::new(),
            closed: false,
            early: false,
        }
    }

    /// Items added to an open list (and whether it is closed now).
    fn add(&mut self, values: Vec<Value>, close: bool) {
        self.results.extend(values.iter().map(|_| Value::Null));
        self.succeeded.extend(values.iter().map(|_| false));
        self.values.extend(values);
        self.closed |= close;
    }

    pub fn item_succeeded(&self, i: u32) -> bool {
        let i = i as usize;
        self.succeeded.get(i).copied().unwrap_or_else(|| self.results.get(i).is_some_and(|r| !r.is_null()))
    }

    /// Every item has ended: succeeded, or failed under `on_error: continue`.
    pub fn all_ended(&self) -> bool {
        self.done as usize + self.failed.len() == self.values.len()
    }

    /// An item failed for good under `on_error: continue` (it may have failed before it
    /// started: its input did not render).
    fn item_failed(&mut self, i: u32, error: Value) {
        if i >= self.next {
            self.next = i + 1;
        } else if let Some(pos) = self.again.iter().position(|&a| a == i) {
            self.again.remove(pos);
        } else {
            self.active -= 1;
        }
        self.results[i as usize] = error;
        self.failed.push(i);
    }

    /// An item starts (or is queued) for the first time, or again after a retry.
    fn item_starts(&mut self, i: u32) {
        if i >= self.next {
            self.next = i + 1;
            self.active += 1;
        } else if let Some(pos) = self.again.iter().position(|&a| a == i) {
            self.again.remove(pos);
            self.active += 1;
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskState {
    pub status: TaskStatus,
    /// The latest attempt started (of the current iteration or item).
    pub attempt: u32,
    /// The highest attempt any of its calls started with (every item and iteration).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_attempt: u32,
    /// Set when a retry of the execution runs the task again: the attempts made before.
    /// Its calls are numbered from `attempt_offset + 1` from then on (above every earlier
    /// attempt, under the same idempotency key), and its retry policy counts from there.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempt_offset: u32,
    /// `repeat`: the iteration running or last finished, from 1.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub iteration: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// The task's failure, as a JSON object (see [`Failure`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// Failed, but its dependants go on (`on_error: continue`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tolerated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Items>,
    /// Set on a fallback task while it stands in for this failed task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_for: Option<String>,
    /// Counts toward the execution's completion (fallbacks and on_failure do not).
    pub counted: bool,
    /// How many times a loop (`goto`) ran the task again: part of its calls' idempotency keys.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub round: u32,
    /// A task with a `goto`: how many times it went back since its loop began.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub loops: u32,
    /// A task with a `goto` waits for the tasks of its loop to end before the next round.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub looping: bool,
    /// A task with a `mutex`: the key's slot it waits for or holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<TaskLock>,
}

/// The slot of a `mutex` a task asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskLock {
    pub key: String,
    /// Granted: the task runs.
    pub held: bool,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl TaskState {
    fn new(counted: bool) -> TaskState {
        TaskState {
            counted,
            status: TaskStatus::Pending,
            attempt: 0,
            max_attempt: 0,
            attempt_offset: 0,
            iteration: 0,
            output: None,
            error: None,
            tolerated: false,
            reason: None,
            started_at: None,
            finished_at: None,
            items: None,
            fallback_for: None,
            round: 0,
            loops: 0,
            looping: false,
            lock: None,
        }
    }

    /// Cancelled by the workflow itself (a `cancel` or `terminate` task, a partial join that
    /// no longer needed it), not by the execution's end: a retry does not run it again.
    pub fn cancelled_on_purpose(&self) -> bool {
        self.status == TaskStatus::Cancelled && self.reason.as_deref().is_some_and(|r| !r.starts_with(NEVER_STARTED))
    }

    /// Resolved in a way that lets `join: all` dependants run.
    pub fn lets_dependants_run(&self) -> bool {
        self.status == TaskStatus::Succeeded || (self.status == TaskStatus::Failed && self.tolerated)
    }
}

/// One execution of a workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    pub id: String,
    pub workflow: String,
    pub version: String,
    pub status: ExecStatus,
    pub input: Value,
    /// The CloudEvent that started the execution through a trigger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<Value>,
    /// Workflow variables (an object).
    pub vars: Value,
    pub tasks: BTreeMap<String, TaskState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Failure>,
    /// Set while `on_failure` runs: the failure the execution will end with (as JSON, so
    /// that `on_failure` sees it as `failure`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Millis>,
    /// When it was last retried ([`Event::Retried`]): its `timeout` counts from then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retried_at: Option<Millis>,
    /// Events applied so far: the sequence number of the next one.
    pub seq: u64,
    /// Calls running now, with their attempt.
    #[serde(with = "call_map")]
    pub in_flight: BTreeMap<CallId, u32>,
    /// Calls waiting for a retry: attempt and due time.
    #[serde(with = "call_map")]
    pub retrying: BTreeMap<CallId, (u32, Millis)>,
    /// Calls ready to start but held back (max_parallel, or paused), with their attempt.
    pub queue: VecDeque<(CallId, u32)>,
    /// Tasks of the plan not resolved yet; the execution completes when it reaches 0.
    pub unresolved: u32,
    /// `workflow` in expressions: id, name and version.
    pub meta: Value,
}

impl Execution {
    /// A new execution of `workflow`, before its `Started` event. Tasks in `fallbacks`
    /// only run in place of a failed task and do not count toward completion.
    pub fn new(id: &str, workflow: &Workflow, fallbacks: &BTreeSet<String>) -> Execution {
        let mut tasks: BTreeMap<String, TaskState> =
            workflow.tasks.keys().map(|id| (id.clone(), TaskState::new(!fallbacks.contains(id)))).collect();
        if workflow.on_failure.is_some() {
            tasks.insert(crate::ON_FAILURE.to_string(), TaskState::new(false));
        }
        let counted = tasks.values().filter(|t| t.counted).count() as u32;
        Execution {
            id: id.to_string(),
            workflow: workflow.name.clone(),
            version: workflow.version.clone(),
            status: ExecStatus::Running,
            input: Value::Null,
            event: None,
            vars: Value::Object(Map::new()),
            tasks,
            output: None,
            error: None,
            failing: None,
            started_at: None,
            finished_at: None,
            retried_at: None,
            seq: 0,
            in_flight: BTreeMap::new(),
            retrying: BTreeMap::new(),
            queue: VecDeque::new(),
            unresolved: counted,
            meta: serde_json::json!({ "id": id, "name": workflow.name, "version": workflow.version }),
        }
    }

    pub fn task(&self, id: &str) -> &TaskState {
        self.tasks.get(id).unwrap_or_else(|| panic!("task {id} is in the plan"))
    }

    fn task_mut(&mut self, id: &str) -> &mut TaskState {
        self.tasks.get_mut(id).unwrap_or_else(|| panic!("task {id} is in the plan"))
    }

    /// A task reached an end state (`was_terminal`: it already had one): it no longer holds
    /// calls, and counts as resolved once.
    fn resolve(&mut self, task: &str, was_terminal: bool) {
        if self.task(task).counted && !was_terminal {
            self.unresolved = self.unresolved.saturating_sub(1);
        }
        self.task_mut(task).lock = None; // given back (Command::Release)
        self.release_calls(task);
    }

    /// Forgets a task's calls in flight, awaiting a retry, or queued.
    fn release_calls(&mut self, task: &str) {
        self.in_flight.retain(|c, _| c.task != task);
        self.retrying.retain(|c, _| c.task != task);
        self.queue.retain(|(c, _)| c.task != task);
    }

    /// A task goes back to pending to run again after a retry (see [`Event::TaskReset`]):
    /// what it did before is forgotten, except the items of a `for_each` that succeeded
    /// (of a task that counts: a fallback or on_failure starts over); its next attempts are
    /// numbered after every earlier one.
    fn reset(&mut self, task: &str) {
        let t = self.task_mut(task);
        let was_open = !t.status.is_terminal();
        t.attempt_offset = t.max_attempt.max(t.attempt).max(t.attempt_offset);
        t.status = TaskStatus::Pending;
        t.iteration = 0;
        t.output = None;
        t.error = None;
        t.tolerated = false;
        t.reason = None;
        t.started_at = None;
        t.finished_at = None;
        t.fallback_for = None;
        t.looping = false;
        t.lock = None;
        if !t.counted {
            // A fallback or on_failure starts over: what it runs may depend on the failure.
            t.items = None;
        }
        if let Some(items) = t.items.as_mut() {
            items.again = (0..items.next).filter(|&i| !items.item_succeeded(i)).collect();
            items.active = 0;
            for &i in &items.failed {
                items.results[i as usize] = Value::Null;
            }
            items.failed.clear();
        }
        if t.counted && !was_open {
            self.unresolved += 1;
        }
        self.release_calls(task);
    }

    /// Ends the execution from outside (cancelled, or aborted for a limit): nothing runs or
    /// waits any more, and every open task is cancelled.
    fn end(&mut self, status: ExecStatus, error: Failure, at: Millis) {
        self.status = status;
        self.error = Some(error);
        self.finished_at = Some(at);
        self.in_flight.clear();
        self.retrying.clear();
        self.queue.clear();
        self.close_open_tasks(|_| true);
    }

    /// The execution ended: its tasks that have not (`filter`) are cancelled, those that
    /// never started saying so.
    fn close_open_tasks(&mut self, filter: impl Fn(&TaskState) -> bool) {
        let ended = if self.status == ExecStatus::Cancelled { "was cancelled" } else { "failed" };
        let mut closed = 0;
        for task in self.tasks.values_mut().filter(|t| !t.status.is_terminal() && filter(t)) {
            if task.status == TaskStatus::Pending {
                task.reason = Some(format!("{NEVER_STARTED}: the execution {ended}"));
            }
            task.status = TaskStatus::Cancelled;
            closed += u32::from(task.counted);
        }
        // Resolved now: a retry that runs them again counts them open again.
        self.unresolved = self.unresolved.saturating_sub(closed);
    }

    /// Applies one event. Events come from the engine, which only emits valid ones.
    pub fn apply(&mut self, event: &Event) {
        self.seq += 1;
        match event {
            Event::Started { input, event, at } => {
                self.input = input.clone();
                self.event = event.clone();
                self.started_at = Some(*at);
            }
            Event::CallSucceeded { call, output, .. } => {
                self.in_flight.remove(call);
                if let Some(i) = call.item {
                    let items = self.task_mut(&call.task).items.as_mut().expect("for_each items");
                    items.results[i as usize] = output.clone();
                    if let Some(ok) = items.succeeded.get_mut(i as usize) {
                        *ok = true;
                    }
                    items.active -= 1;
                    items.done += 1;
                }
            }
            Event::CallFailed { call, .. } => {
                self.in_flight.remove(call);
            }
            Event::TimerFired { timer, .. } => {
                if let TimerId::Retry { call, .. } = timer {
                    self.retrying.remove(call);
                }
            }
            Event::Paused { .. } => self.status = ExecStatus::Paused,
            Event::Resumed { .. } => self.status = ExecStatus::Running,
            Event::Cancelled { reason, at } => {
                self.end(ExecStatus::Cancelled, Failure::new("cancelled", reason.clone()), *at);
            }
            Event::Aborted { error, at } => self.end(ExecStatus::Failed, error.clone(), *at),
            Event::Recovered { .. } => {
                // The engine starts these calls again (with their next attempt) right after.
                self.in_flight.clear();
            }
            Event::Restored { state, .. } => {
                let seq = self.seq;
                *self = (**state).clone();
                self.seq = seq;
                self.in_flight.clear();
            }
            Event::Retried { at } => {
                // The tasks to run again follow as TaskReset events.
                self.status = ExecStatus::Running;
                self.error = None;
                self.failing = None;
                self.output = None;
                self.finished_at = None;
                self.retried_at = Some(*at);
            }
            Event::TaskReset { task } => self.reset(task),
            Event::OutputSet { .. } | Event::SkipRequested { .. } | Event::VarsChanged { .. } => {
                // What the change does follows as the engine's own events (TaskSucceeded,
                // TaskSkipped, TaskCancelled, VarsSet), so the fold has one path for each.
            }
            Event::CallStarted { call, attempt, at, .. } => {
                self.queue.retain(|(c, _)| c != call);
                self.in_flight.insert(call.clone(), *attempt);
                let task = self.task_mut(&call.task);
                task.status = TaskStatus::Running;
                task.attempt = *attempt;
                task.max_attempt = task.max_attempt.max(*attempt);
                task.started_at.get_or_insert(*at);
                if call.item.is_none() && task.iteration == 0 {
                    task.iteration = 1;
                }
                // A retry or a restart of an item started before does not count it again.
                if let (Some(i), Some(items)) = (call.item, task.items.as_mut()) {
                    items.item_starts(i);
                }
            }
            Event::CallQueued { call, attempt } => {
                self.queue.push_back((call.clone(), *attempt));
                let task = self.task_mut(&call.task);
                if task.status == TaskStatus::Pending {
                    task.status = TaskStatus::Waiting;
                }
                if let (Some(i), Some(items)) = (call.item, task.items.as_mut()) {
                    items.item_starts(i);
                }
            }
            Event::RetryScheduled { call, attempt, due } => {
                self.retrying.insert(call.clone(), (*attempt, *due));
                if call.item.is_none() {
                    self.task_mut(&call.task).status = TaskStatus::Waiting;
                }
            }
            Event::ItemsResolved { task, items } => {
                let t = self.task_mut(task);
                // Items added before the list was resolved come after it.
                let added = t.items.take();
                let mut resolved = Items::new(items.clone());
                if let Some(added) = added {
                    resolved.add(added.values, added.closed);
                }
                if resolved.values.is_empty() && t.status == TaskStatus::Pending {
                    t.status = TaskStatus::Running; // an open list, waiting for items
                }
                t.items = Some(resolved);
            }
            Event::ItemsAdded { task, items, close, .. } => {
                let t = self.task_mut(task);
                let early = || Items { early: true, ..Items::new(Vec::new()) };
                t.items.get_or_insert_with(early).add(items.clone(), *close);
            }
            Event::IterationDone { task, iteration, output } => {
                let t = self.task_mut(task);
                t.output = Some(output.clone());
                t.iteration = iteration + 1;
            }
            Event::SwitchChose { .. } => {}
            Event::TaskSucceeded { task, output, at } => {
                let t = self.task_mut(task);
                let was_terminal = t.status.is_terminal();
                t.status = TaskStatus::Succeeded;
                t.output = Some(output.clone());
                t.finished_at = Some(*at);
                self.resolve(task, was_terminal);
            }
            Event::TaskFailed { task, error, tolerated, output, at } => {
                let t = self.task_mut(task);
                let was_terminal = t.status.is_terminal();
                t.status = TaskStatus::Failed;
                t.tolerated = *tolerated;
                t.error = Some(error.to_value());
                t.output = Some(output.clone().unwrap_or_else(|| error.to_value()));
                t.finished_at = Some(*at);
                self.resolve(task, was_terminal);
            }
            Event::TaskSkipped { task, reason } => {
                let t = self.task_mut(task);
                let was_terminal = t.status.is_terminal();
                t.status = TaskStatus::Skipped;
                t.reason = Some(reason.clone());
                self.resolve(task, was_terminal);
            }
            Event::TaskCancelled { task, reason } => {
                let t = self.task_mut(task);
                let was_terminal = t.status.is_terminal();
                t.status = TaskStatus::Cancelled;
                if reason.is_some() {
                    t.reason = reason.clone();
                }
                self.resolve(task, was_terminal);
            }
            Event::Migrated { version, tasks, .. } => {
                self.version = version.clone();
                self.meta["version"] = Value::String(version.clone());
                let keep: BTreeMap<&str, bool> = tasks.iter().map(|(id, counted)| (id.as_str(), *counted)).collect();
                self.tasks.retain(|id, _| keep.contains_key(id.as_str()));
                for (id, counted) in keep {
                    self.tasks.entry(id.to_string()).or_insert_with(|| TaskState::new(counted)).counted = counted;
                }
                self.unresolved = self.tasks.values().filter(|t| t.counted && !t.status.is_terminal()).count() as u32;
            }
            Event::TaskAdded { task, .. } => {
                if !self.tasks.contains_key(task) {
                    self.tasks.insert(task.clone(), TaskState::new(true));
                    self.unresolved += 1;
                }
            }
            Event::InputReplaced { .. } => {} // the plan holds the new input
            Event::LockRequested { task, key } => {
                let t = self.task_mut(task);
                t.status = TaskStatus::Waiting;
                t.lock = Some(TaskLock { key: key.clone(), held: false });
            }
            Event::LockAcquired { task, .. } => {
                if let Some(lock) = self.task_mut(task).lock.as_mut() {
                    lock.held = true;
                }
            }
            Event::RoundEnded { task, output } => {
                let t = self.task_mut(task);
                t.status = TaskStatus::Waiting;
                t.output = Some(output.clone());
                t.looping = true;
            }
            Event::RoundStarted { task: owner, tasks } => {
                for id in tasks {
                    let t = self.task_mut(id);
                    let was_terminal = t.status.is_terminal();
                    let mut fresh = TaskState::new(t.counted);
                    fresh.round = t.round + 1;
                    fresh.loops = if id == owner { t.loops + 1 } else { 0 };
                    *t = fresh;
                    if t.counted && was_terminal {
                        self.unresolved += 1;
                    }
                    self.release_calls(id);
                }
            }
            Event::ItemFailed { task, item, error } => {
                let items = self.task_mut(task).items.as_mut().expect("for_each items");
                items.item_failed(*item, error.to_value());
            }
            Event::FallbackStarted { task, fallback, error } => {
                // The failed task's other calls (items, retries) stop: the fallback stands in.
                self.release_calls(task);
                let t = self.task_mut(task);
                t.status = TaskStatus::Recovering;
                t.error = Some(error.to_value());
                self.task_mut(fallback).fallback_for = Some(task.clone());
            }
            Event::VarsSet { vars } => {
                if let Value::Object(current) = &mut self.vars {
                    current.extend(vars.clone());
                }
            }
            Event::Failing { error, .. } => self.failing = Some(error.to_value()),
            Event::Completed { output, at } => {
                self.status = ExecStatus::Completed;
                self.output = Some(output.clone());
                self.finished_at = Some(*at);
            }
            Event::Failed { error, at } => {
                self.status = ExecStatus::Failed;
                self.error = Some(error.clone());
                self.failing = None;
                self.finished_at = Some(*at);
                self.in_flight.clear();
                self.retrying.clear();
                self.queue.clear();
                // Fallbacks (not counted) stay pending: a retry may need them.
                self.close_open_tasks(|t| t.counted);
            }
        }
    }
}

impl TaskLookup for Execution {
    fn task(&self, id: &str) -> Option<TaskView<'_>> {
        let t = self.tasks.get(id)?;
        Some(TaskView { status: t.status.as_str(), output: t.output.as_ref(), error: t.error.as_ref() })
    }
}

/// Maps keyed by [`CallId`] are written as lists of `[call, value]` pairs: JSON object
/// keys must be strings.
mod call_map {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::event::CallId;

    pub fn serialize<V: Serialize, S: Serializer>(map: &BTreeMap<CallId, V>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter())
    }

    pub fn deserialize<'de, V: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<CallId, V>, D::Error> {
        let pairs: Vec<(CallId, V)> = Vec::deserialize(d)?;
        Ok(pairs.into_iter().collect())
    }
}

//! The driver of one execution: takes the inputs waiting for it, steps the engine with
//! each, commits what they produced in one batch (shared with other executions' commits by
//! the store's group commit), and only then carries out the engine's commands. A crash
//! between the commit and the commands loses nothing: recovery re-runs what was in flight.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use harmonia_engine::{CallId, Command, Event, ExecStatus, Execution, Failure, Plan, step};
use harmonia_store::StoreError;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::AbortHandle;

use crate::children::{ChildCall, child_id};
use crate::log::LoggedEvent;
use crate::records::{self, Checkpoint, CheckpointInfo, ExecRecord, StepWrite};
use crate::runner::{CommitRetry, Input, Live, Replan, RunError, Runner, blocking_in_place, panic_message};
use crate::tasks::{CallForward, TaskCall, call_result};

/// The most inputs handled in one round (one commit).
const MAX_ROUND: usize = 256;

/// Where a driver announces the final state; handed to the next driver when one panics, so
/// that whoever waits for the end keeps waiting.
pub(crate) type Done = Arc<watch::Sender<Option<Arc<Execution>>>>;

/// Whom a new driver tells: the creator of a new execution, once its first commit is done
/// (or failed), and, when it takes over from a driver that panicked, that driver's waiters.
pub(crate) struct Announce {
    pub created: Option<oneshot::Sender<Result<(), RunError>>>,
    /// The channel of a driver that panicked, to announce this one's end on.
    pub done: Option<Done>,
}

/// Starts the driver of `exec` (stored at `version`, or new if `None`) with `first` as its
/// first input, and registers it as running here.
pub(crate) fn spawn(
    runner: &Runner,
    plan: Arc<Plan>,
    exec: Execution,
    version: Option<u64>,
    record: ExecRecord,
    first: Input,
    announce: Announce,
) -> Result<Live, RunError> {
    let Announce { created, done } = announce;
    // No driver may commit while the indexes are being built.
    runner.index_executions()?;
    let (tx, rx) = mpsc::unbounded_channel();
    let done_tx = done.unwrap_or_else(|| Arc::new(watch::channel(None).0));
    let done = done_tx.subscribe();
    let (retry_tx, retry) = watch::channel(None);
    let live = Live { workflow: Arc::from(exec.workflow.as_str()), tx: tx.clone(), done, retry };
    {
        let mut running = runner.inner.live.lock().expect("live lock");
        if running.contains_key(&exec.id) {
            return Err(RunError::Exists(exec.id.clone()));
        }
        running.insert(exec.id.clone(), live.clone());
    }
    let panic_tx = tx.clone();
    let driver = Driver {
        runner: runner.clone(),
        plan,
        exec,
        version,
        record,
        rx,
        tx,
        done: done_tx,
        retry: retry_tx,
        created,
        spawned: Spawned::default(),
        steps: 0,
        auto_checkpoints: None,
    };
    if !driver.exec.status.is_finished() {
        gauge_status(None, Some(driver.exec.status));
    }
    // A panic (a bug) must not leave the execution registered here with no driver.
    let (runner, id, done) = (runner.clone(), driver.exec.id.clone(), driver.done.clone());
    tokio::spawn(async move {
        use futures_util::FutureExt;
        if let Err(panic) = std::panic::AssertUnwindSafe(driver.run(first)).catch_unwind().await {
            runner.driver_panicked(&id, &panic_tx, &panic_message(&*panic), done);
        }
    });
    Ok(live)
}

/// Moves an execution between the `harmonia_executions{state}` gauges (running, paused);
/// a finished one is counted in `harmonia_executions_finished_total{state}`.
fn gauge_status(from: Option<ExecStatus>, to: Option<ExecStatus>) {
    if from == to {
        return;
    }
    if let Some(from) = from.filter(|s| !s.is_finished()) {
        metrics::gauge!("harmonia_executions", "state" => from.as_str()).decrement(1);
    }
    match to {
        Some(to) if to.is_finished() => {
            metrics::counter!("harmonia_executions_finished_total", "state" => to.as_str()).increment(1)
        }
        Some(to) => metrics::gauge!("harmonia_executions", "state" => to.as_str()).increment(1),
        None => {}
    }
}

struct Driver {
    runner: Runner,
    plan: Arc<Plan>,
    exec: Execution,
    /// The version committed (None: not stored yet).
    version: Option<u64>,
    record: ExecRecord,
    rx: mpsc::UnboundedReceiver<Input>,
    /// For results of calls and timers.
    tx: mpsc::UnboundedSender<Input>,
    done: Done,
    /// The commit being tried again, for readers.
    retry: watch::Sender<Option<CommitRetry>>,
    /// Told the result of the first commit, which creates the execution.
    created: Option<oneshot::Sender<Result<(), RunError>>>,
    spawned: Spawned,
    /// Steps since the last checkpoint.
    steps: u32,
    /// The automatic checkpoints kept, oldest first (read from the store when first needed).
    auto_checkpoints: Option<VecDeque<u64>>,
}

/// What a round must answer once committed.
enum Reply {
    Snapshot(oneshot::Sender<Execution>),
    Checkpoint(oneshot::Sender<Result<CheckpointInfo, RunError>>),
    Restored(oneshot::Sender<Result<(), RunError>>),
}

/// What one round decided.
#[derive(Default)]
struct Round {
    events: Vec<Event>,
    commands: Vec<Command>,
    replies: Vec<Reply>,
    /// A checkpoint was asked for, with this label.
    checkpoint: Option<Option<String>>,
    /// The checkpoint the commit included.
    taken: Option<CheckpointInfo>,
    steps: u32,
}

impl Driver {
    async fn run(mut self, first: Input) {
        let mut inputs = vec![first];
        loop {
            while inputs.len() < MAX_ROUND {
                match self.rx.try_recv() {
                    Ok(input) => inputs.push(input),
                    Err(_) => break,
                }
            }
            if inputs.iter().any(|input| matches!(input, Input::Stop)) {
                return self.finish(false);
            }
            let Some(finished) = self.round(std::mem::take(&mut inputs)).await else { break };
            if finished || self.exec.status.is_finished() {
                break;
            }
            let max_history = self.runner.inner.settings.max_history;
            if self.exec.seq >= max_history {
                let message = format!(
                    "the execution's history reached the limit of {max_history} events (execution_max_events; an operator can raise it)"
                );
                tracing::warn!(execution = %self.exec.id, "{message}");
                inputs.push(Input::Event(Event::Aborted {
                    error: Failure::new("history_limit", message),
                    at: self.runner.now(),
                }));
                continue;
            }
            if harmonia_engine::stalled(&self.plan, &self.exec) {
                // Nothing runs and nothing will: an engine bug. End it rather than hang.
                tracing::error!(execution = %self.exec.id, "execution stalled with nothing to run");
                let reason = "the engine stalled with nothing to run (a bug)".to_string();
                inputs.push(Input::Event(Event::Cancelled { reason, at: self.runner.now() }));
                continue;
            }
            match self.rx.recv().await {
                Some(input) => inputs.push(input),
                None => break,
            }
        }
        let ended = self.exec.status.is_finished();
        self.finish(ended);
    }

    /// Leaves the registry of running executions, then announces the end (so that whoever
    /// wakes up on it no longer finds this driver). Requests that came too late are answered
    /// with the final state or refused; a restore sent here is refused and the caller
    /// starts a new driver.
    fn finish(mut self, ended: bool) {
        if !ended {
            gauge_status(Some(self.exec.status), None); // stopped, not finished
        }
        let id = self.exec.id.clone();
        self.runner.inner.waits.forget(&id, None);
        {
            let mut running = self.runner.inner.live.lock().expect("live lock");
            if running.get(&id).is_some_and(|live| live.tx.same_channel(&self.tx)) {
                running.remove(&id);
            }
        }
        self.rx.close();
        while let Ok(input) = self.rx.try_recv() {
            if let Input::Snapshot(reply) = input {
                let _ = reply.send(self.exec.clone());
            }
        }
        if ended {
            let _ = self.done.send(Some(Arc::new(self.exec)));
        }
    }

    /// Steps, commits and carries out one round of inputs. `Some(true)` when the execution
    /// ended, `None` when the driver must stop (its creation failed, or another writer
    /// finished it).
    async fn round(&mut self, inputs: Vec<Input>) -> Option<bool> {
        let mut round = Round::default();
        let before = self.exec.status;
        for input in inputs {
            self.handle(input, &mut round);
        }
        if !round.events.is_empty() || round.checkpoint.is_some() {
            self.commit(&mut round).await?;
        }
        gauge_status(Some(before), Some(self.exec.status));
        if let Some(observer) = &self.runner.inner.observer {
            for event in &round.events {
                observer.event(&self.exec, event);
            }
        }
        for reply in round.replies {
            match reply {
                Reply::Snapshot(reply) => drop(reply.send(self.exec.clone())),
                Reply::Restored(reply) => drop(reply.send(Ok(()))),
                Reply::Checkpoint(reply) => {
                    let taken = round.taken.clone().ok_or_else(|| RunError::NotRunning(self.exec.id.clone()));
                    let _ = reply.send(taken);
                }
            }
        }
        let mut finished = false;
        for command in round.commands {
            finished |= self.carry_out(command);
        }
        self.spawned.calls.retain(|call, _| self.exec.in_flight.contains_key(call));
        self.spawned.children.retain(|call, _| self.exec.in_flight.contains_key(call));
        self.spawned.timers.retain(|timer| !timer.is_finished());
        Some(finished)
    }

    fn handle(&mut self, input: Input, round: &mut Round) {
        match input {
            Input::Stop => {}
            Input::Event(event) => self.step(event, round),
            Input::Snapshot(reply) => round.replies.push(Reply::Snapshot(reply)),
            Input::Checkpoint { label, reply } => {
                round.checkpoint = Some(label);
                round.replies.push(Reply::Checkpoint(reply));
            }
            Input::Change { event, reply } => {
                let checked = match self.over_limit(&event) {
                    Some(over) => Err(over),
                    None => harmonia_engine::check_change(&self.plan, &self.exec, &event).map_err(RunError::Change),
                };
                match checked {
                    Ok(()) => {
                        self.step(event, round);
                        round.replies.push(Reply::Restored(reply));
                    }
                    Err(e) => drop(reply.send(Err(e))),
                }
            }
            Input::Replan { change, reply } => match self.replanned(change) {
                Ok((plan, event, patch)) => {
                    self.plan = plan;
                    match patch {
                        Some(patch) => self.record.patches.push(patch),
                        None => {
                            self.record.version = self.plan.workflow.version.clone();
                            self.record.patches.clear();
                        }
                    }
                    self.step(event, round);
                    round.replies.push(Reply::Restored(reply));
                }
                Err(e) => drop(reply.send(Err(e))),
            },
            Input::Restore { seq, reply } => {
                let store = &*self.runner.inner.store;
                match blocking_in_place(|| records::read_checkpoint(store, &self.exec.id, seq)) {
                    Ok(Some(checkpoint)) => {
                        let at = self.runner.now();
                        self.step(Event::Restored { checkpoint: seq, state: Box::new(checkpoint.state), at }, round);
                        round.replies.push(Reply::Restored(reply));
                    }
                    Ok(None) => drop(reply.send(Err(RunError::NoCheckpoint { id: self.exec.id.clone(), seq }))),
                    Err(e) => drop(reply.send(Err(e.into()))),
                }
            }
        }
    }

    /// Why a change would take the execution over a limit of the server: an open
    /// `for_each` past `for_each_max_items`.
    fn over_limit(&self, change: &Event) -> Option<RunError> {
        let Event::ItemsAdded { task, items, .. } = change else { return None };
        let limit = self.runner.inner.settings.max_items;
        let have = self.exec.tasks.get(task).and_then(|t| t.items.as_ref()).map_or(0, |i| i.values.len());
        (have + items.len() > limit).then(|| RunError::OverLimit {
            code: "too_many_items",
            message: format!(
                "task {task} would hold {} items, over the limit of {limit} (for_each_max_items; an operator can raise it)",
                have + items.len()
            ),
        })
    }

    /// The plan a definition change leads to, the event that records it, and the patch to
    /// keep; or why it is refused.
    fn replanned(&self, change: Replan) -> Result<(Arc<Plan>, Event, Option<harmonia_engine::Patch>), RunError> {
        let at = self.runner.now();
        match change {
            Replan::Version(plan) => {
                let event = harmonia_engine::migration(&plan, &self.exec, at).map_err(RunError::Change)?;
                Ok((plan, event, None))
            }
            Replan::Patch(patch) => {
                if let harmonia_engine::Patch::AddTask { task, .. } = &patch
                    && (self.exec.tasks.contains_key(task) || self.plan.workflow.tasks.contains_key(task))
                {
                    return Err(RunError::Change(harmonia_engine::ChangeError::TaskExists { task: task.clone() }));
                }
                let max_tasks = self.runner.inner.settings.limits.max_tasks;
                if matches!(patch, harmonia_engine::Patch::AddTask { .. })
                    && self.plan.workflow.tasks.len() >= max_tasks
                {
                    return Err(RunError::OverLimit {
                        code: "too_many_tasks",
                        message: format!(
                            "the execution has {} tasks: one more exceeds the limit of {max_tasks} (workflow_max_tasks; an operator can raise it)",
                            self.plan.workflow.tasks.len()
                        ),
                    });
                }
                let workflow = patch.apply(&self.plan.workflow).map_err(|e| RunError::InvalidChange(e.to_string()))?;
                let plan = Arc::new(Plan::new(Arc::new(workflow)));
                let event = patch.event(at);
                harmonia_engine::check_change(&plan, &self.exec, &event).map_err(RunError::Change)?;
                Ok((plan, event, Some(patch)))
            }
        }
    }

    fn step(&mut self, event: Event, round: &mut Round) {
        let out = step(&self.plan, &mut self.exec, event);
        if !out.events.is_empty() {
            round.steps += 1;
        }
        round.events.extend(out.events);
        round.commands.extend(out.commands);
    }

    /// Commits the round. On a conflict (another writer moved the execution on), starts
    /// again from the stored state with the same inputs; on another error (a full disk),
    /// keeps the state last committed and tries again, reporting each failure.
    async fn commit(&mut self, round: &mut Round) -> Option<()> {
        let mut backoff = Duration::from_millis(50);
        // What the indexes hold of the stored version, read before the record is changed
        // below (a failed attempt changes it too).
        let mut before = self.version.map(|_| self.record.indexed());
        loop {
            let now = self.runner.now();
            let checkpoint = self.checkpoint_to_take(round, now);
            let forget = checkpoint.as_ref().filter(|c| c.auto).map(|c| self.keep_auto(c.seq)).unwrap_or_default();
            self.record.status = self.exec.status;
            self.record.updated_at = now;
            self.record.state = self.exec.status.is_finished().then(|| Box::new(self.exec.clone()));
            let write = StepWrite {
                id: &self.exec.id,
                from: self.version,
                before,
                events: &round.events,
                record: &self.record,
                exec: &self.exec,
                checkpoint: checkpoint.as_ref(),
                forget: &forget,
            };
            let first_seq = self.exec.seq - round.events.len() as u64 + 1;
            let (first_log, result) = match write.batch() {
                Ok(batch) => {
                    let log = &self.runner.inner.log;
                    let (id, workflow, n) = (&self.exec.id, &self.exec.workflow, round.events.len());
                    let wanted = self.runner.lifecycle_wanted(now);
                    let status = self.exec.status;
                    let events = (first_seq..)
                        .zip(&round.events)
                        .filter_map(|(seq, e)| {
                            crate::events::lifecycle::lifecycle(wanted, id, workflow, seq, e, status)
                        })
                        .collect();
                    let lifecycle = Some(crate::log::Lifecycle { log: &self.runner.inner.events, events, now });
                    let step = crate::log::Step { execution: id, workflow, first_seq, count: n };
                    log.commit(&*self.runner.inner.store, batch, step, lifecycle).await
                }
                Err(e) => (0, Err(e)),
            };
            match result {
                Ok(()) => {
                    if self.runner.inner.log.has_subscribers() {
                        for (n, event) in round.events.iter().enumerate() {
                            self.runner.inner.log.publish(LoggedEvent {
                                log_seq: first_log + n as u64,
                                execution: self.exec.id.clone(),
                                workflow: self.exec.workflow.clone(),
                                seq: first_seq + n as u64,
                                event: event.clone(),
                            });
                        }
                    }
                    self.version = Some(self.exec.seq);
                    self.retry.send_if_modified(|retry| retry.take().is_some());
                    self.steps += round.steps;
                    if let Some(checkpoint) = &checkpoint {
                        self.steps = 0;
                        round.taken = Some(checkpoint.info());
                    }
                    if let Some(created) = self.created.take() {
                        let _ = created.send(Ok(()));
                    }
                    return Some(());
                }
                Err(StoreError::Conflict { .. }) if self.version.is_none() => {
                    let created = self.created.take();
                    created.map(|c| c.send(Err(RunError::Exists(self.exec.id.clone()))));
                    return None;
                }
                Err(StoreError::Conflict { .. }) => {
                    tracing::warn!(execution = %self.exec.id, "another writer moved the execution on: stepping again from the stored state");
                    self.reload_and_replay(round)?;
                    before = Some(self.record.indexed());
                }
                Err(error) if self.created.is_some() => {
                    let _ = self.created.take().map(|c| c.send(Err(error.into())));
                    return None;
                }
                Err(error) => {
                    tracing::error!(execution = %self.exec.id, "cannot commit (retrying in {backoff:?}): {error}");
                    self.retry.send_modify(|retry| {
                        let retry =
                            retry.get_or_insert_with(|| CommitRetry { since: now, attempts: 0, error: String::new() });
                        retry.attempts += 1;
                        retry.error = error.to_string();
                    });
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// After a conflict: the stored state, with this round's inputs stepped again.
    fn reload_and_replay(&mut self, round: &mut Round) -> Option<()> {
        let store = &*self.runner.inner.store;
        let (version, record, exec) = match blocking_in_place(|| records::load_state(store, &self.plan, &self.exec.id))
        {
            Ok(loaded) => loaded,
            Err(e) => {
                tracing::error!(execution = %self.exec.id, "cannot reload after a conflict: {e}");
                return None;
            }
        };
        if record.status.is_finished() {
            return None;
        }
        let inputs: Vec<Event> = round.events.drain(..).filter(Event::is_input).collect();
        (self.version, self.record, self.exec) = (Some(version), record, exec);
        round.commands.clear();
        round.steps = 0;
        for event in inputs {
            self.step(event, round);
        }
        Some(())
    }

    /// The checkpoint this round's commit includes: one asked for, or an automatic one
    /// every N steps.
    fn checkpoint_to_take(&self, round: &Round, at: u64) -> Option<Checkpoint> {
        let every = self.runner.inner.settings.checkpoint_every;
        let label = match &round.checkpoint {
            Some(label) => Some(label.clone()),
            None if every > 0 && self.steps + round.steps >= every && !self.exec.status.is_finished() => None,
            None => return None,
        };
        let auto = round.checkpoint.is_none();
        Some(Checkpoint { seq: self.exec.seq, at, auto, label: label.flatten(), state: self.exec.clone() })
    }

    /// Counts a new automatic checkpoint; the older ones to delete.
    fn keep_auto(&mut self, seq: u64) -> Vec<u64> {
        let keep = self.runner.inner.settings.keep_checkpoints.max(1);
        let id = self.exec.id.clone();
        let kept = self.auto_checkpoints.get_or_insert_with(|| {
            let stored =
                blocking_in_place(|| records::list_checkpoints(&*self.runner.inner.store, &id)).unwrap_or_default();
            stored.iter().filter(|c| c.auto).map(|c| c.seq).collect()
        });
        kept.push_back(seq);
        let mut forget = Vec::new();
        while kept.len() > keep {
            forget.extend(kept.pop_front());
        }
        forget
    }

    /// Carries out one command; true if the execution ended.
    fn carry_out(&mut self, command: Command) -> bool {
        match command {
            Command::Finished => {
                let id = self.exec.id.clone();
                blocking_in_place(|| self.runner.release_all(&id));
                return true;
            }
            Command::Acquire { task, key, limit } => {
                let id = self.exec.id.clone();
                blocking_in_place(|| self.runner.acquire(&id, &task, &key, limit));
            }
            Command::Release { task, key } => {
                let id = self.exec.id.clone();
                blocking_in_place(|| self.runner.release(&id, &task, &key));
            }
            Command::CancelCall { call } => {
                if let Some(handle) = self.spawned.calls.remove(&call) {
                    handle.abort();
                }
                self.runner.inner.waits.forget(&self.exec.id, Some(&call));
                if let Some(child) = self.spawned.children.remove(&call) {
                    let _ = self.runner.cancel(&child, "its parent's task was cancelled");
                }
            }
            Command::Emit { call, attempt, event, idempotency_key } => {
                let emitted =
                    crate::events::emitted_by_workflow(&self.exec.workflow, &self.exec.id, &idempotency_key, &event);
                let (runner, tx, key) = (self.runner.clone(), self.tx.clone(), call.clone());
                let handle = tokio::spawn(async move {
                    let result = match emitted {
                        Err(e) => Err(Failure::new("fatal", format!("cannot emit: {e}")).with_code("invalid_event")),
                        Ok(event) => match runner.accept(vec![event]).await {
                            Ok(accepted) => Ok(serde_json::to_value(&accepted[0]).expect("an acceptance is JSON")),
                            Err(e) => Err(Failure::new("retryable", format!("cannot keep the event: {e}"))),
                        },
                    };
                    let at = runner.now();
                    let _ = tx.send(Input::Event(call_result(call, attempt, result, at)));
                });
                self.spawned.calls.insert(key, handle.abort_handle());
            }
            Command::Await { call, attempt, wait } => {
                let handle = self.runner.start_wait(&self.exec.id, call.clone(), attempt, wait, self.tx.clone());
                self.spawned.calls.insert(call, handle);
            }
            Command::StartTimer { timer, due } => {
                let (tx, clock) = (self.tx.clone(), self.runner.inner.clock.clone());
                let handle = tokio::spawn(async move {
                    clock.sleep_until(due).await;
                    let _ = tx.send(Input::Event(Event::TimerFired { timer, at: clock.now_ms() }));
                });
                self.spawned.timers.push(handle.abort_handle());
            }
            Command::RunCall { call, attempt, component, action, input, timeout, idempotency_key } => {
                let forward = Arc::new(CallForward {
                    observer: self.runner.inner.observer.clone(),
                    exec: self.exec.id.clone(),
                    call: call.clone(),
                    emitted: Default::default(),
                });
                let (emitter, key_of_call) = (forward.clone(), idempotency_key.clone());
                let observer = Some(forward as Arc<dyn crate::CallObserver>);
                let task_call = TaskCall {
                    component,
                    action,
                    input,
                    execution_id: self.exec.id.clone(),
                    task_id: call.task.clone(),
                    attempt,
                    idempotency_key,
                    timeout,
                    observer,
                };
                let (runner, tx, key) = (self.runner.clone(), self.tx.clone(), call.clone());
                let handle = tokio::spawn(async move {
                    let started = std::time::Instant::now();
                    let labels = [("plugin", task_call.component.clone()), ("action", task_call.action.clone())];
                    let result = runner.inner.tasks.run(task_call).await;
                    metrics::histogram!("harmonia_task_duration_seconds", &labels)
                        .record(started.elapsed().as_secs_f64());
                    let outcome = match &result {
                        Ok(_) => "ok".to_string(),
                        Err(failure) => failure.kind.clone(),
                    };
                    let [plugin, action] = labels;
                    let events = emitter.take_events(&plugin.1, &key_of_call, attempt);
                    metrics::counter!("harmonia_plugin_calls_total", &[plugin, action, ("result", outcome)])
                        .increment(1);
                    // Kept before the result: what a task emitted is in the log once it is done.
                    // Not kept (the store fails): the call fails, to be retried, emitting again.
                    let result = match events.is_empty() {
                        true => result,
                        false => match runner.accept(events).await {
                            Ok(_) => result,
                            Err(e) => {
                                Err(Failure::new("retryable", format!("the events it emitted could not be kept: {e}")))
                            }
                        },
                    };
                    let at = runner.now();
                    let _ = tx.send(Input::Event(call_result(call, attempt, result, at)));
                });
                self.spawned.calls.insert(key, handle.abort_handle());
            }
            Command::RunChild { call, attempt, workflow, version, input, timeout, idempotency_key } => {
                let child = ChildCall { workflow, version, input, timeout, key: idempotency_key, attempt };
                self.spawned.children.insert(call.clone(), child_id(&child.key, attempt));
                let (runner, tx, key) = (self.runner.clone(), self.tx.clone(), call.clone());
                let (parent, depth) = (self.exec.id.clone(), self.record.depth);
                let handle = tokio::spawn(async move {
                    let result = runner.child(&parent, depth, child).await;
                    let at = runner.now();
                    let _ = tx.send(Input::Event(match result {
                        Ok(output) => Event::CallSucceeded { call, attempt, output, at },
                        Err(error) => Event::CallFailed { call, attempt, error, at },
                    }));
                });
                self.spawned.calls.insert(key, handle.abort_handle());
            }
        }
        false
    }
}

/// The calls, children and timers one execution spawned, aborted together when its driver
/// ends.
#[derive(Default)]
struct Spawned {
    calls: HashMap<CallId, AbortHandle>,
    /// Child executions of sub-workflow calls, by call.
    children: HashMap<CallId, String>,
    timers: Vec<AbortHandle>,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        self.calls.values().chain(&self.timers).for_each(AbortHandle::abort);
    }
}

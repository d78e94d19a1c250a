//! The decisions: given the plan, the state and one input event, which events follow and
//! what the driver must do. Every event is applied as soon as it is decided, so each
//! decision sees the state the previous ones made.

use harmonia_model::{EvalError, OnError, Scope, TaskAction, TaskLookup};
use serde_json::{Map, Value};

use crate::ON_FAILURE;
use crate::event::{CallId, Command, Event, Failure, Millis, TimerId};
use crate::plan::Plan;
use crate::retry;
use crate::state::{ExecStatus, Execution, TaskStatus};

/// What one step decided.
#[derive(Debug, Default)]
pub struct Output {
    /// The input event (if it was accepted) and every event that followed from it, in order.
    pub events: Vec<Event>,
    pub commands: Vec<Command>,
}

/// Feeds one input event to the execution. A stale input (the result of a call that was
/// cancelled or already reported, a timer no longer awaited) is ignored: no events.
pub fn step(plan: &Plan, exec: &mut Execution, input: Event) -> Output {
    let now = input_time(&input).unwrap_or(exec.started_at.unwrap_or(0));
    let mut machine = Machine { plan, exec, now, out: Output::default(), starting_items: false };
    machine.handle(input);
    machine.out
}

fn input_time(event: &Event) -> Option<Millis> {
    match event {
        Event::Started { at, .. }
        | Event::CallSucceeded { at, .. }
        | Event::CallFailed { at, .. }
        | Event::TimerFired { at, .. }
        | Event::Paused { at }
        | Event::Resumed { at }
        | Event::Cancelled { at, .. }
        | Event::Aborted { at, .. }
        | Event::Recovered { at }
        | Event::Restored { at, .. }
        | Event::OutputSet { at, .. }
        | Event::SkipRequested { at, .. }
        | Event::VarsChanged { at, .. }
        | Event::ItemsAdded { at, .. }
        | Event::LockAcquired { at, .. }
        | Event::Migrated { at, .. }
        | Event::TaskAdded { at, .. }
        | Event::InputReplaced { at, .. }
        | Event::Retried { at } => Some(*at),
        _ => None,
    }
}

pub(crate) struct Machine<'a> {
    pub(crate) plan: &'a Plan,
    pub(crate) exec: &'a mut Execution,
    pub(crate) now: Millis,
    out: Output,
    /// Set while [`Machine::next_items`] starts items: an item that fails as it starts does
    /// not start the next ones itself (the loop does), so the stack stays flat.
    pub(crate) starting_items: bool,
}

pub(crate) fn expression_failure(task: &str, e: &EvalError) -> Failure {
    Failure::new("expression", format!("task {task}: {e}")).in_task(task)
}

impl Machine<'_> {
    pub(crate) fn emit(&mut self, event: Event) {
        // A task that ends gives back the slot of its mutex (or its place in the queue).
        let released = match &event {
            Event::TaskSucceeded { task, .. }
            | Event::TaskFailed { task, .. }
            | Event::TaskSkipped { task, .. }
            | Event::TaskCancelled { task, .. } => {
                self.exec.tasks.get(task).and_then(|t| t.lock.clone()).map(|l| (task.clone(), l.key))
            }
            _ => None,
        };
        self.exec.apply(&event);
        self.out.events.push(event);
        if let Some((task, key)) = released {
            self.command(Command::Release { task, key });
        }
    }

    pub(crate) fn command(&mut self, command: Command) {
        self.out.commands.push(command);
    }

    fn handle(&mut self, input: Event) {
        if let Event::Restored { .. } = &input {
            // Rolls back even a finished execution, which then runs again.
            self.restore(input);
            self.drain();
            return self.check_done();
        }
        if let Event::Retried { .. } = &input {
            // Only a failed execution (finished) is retried: it runs again.
            if crate::check_retry(self.exec).is_ok() {
                self.retry(input);
                self.drain();
                self.check_done();
            }
            return;
        }
        if self.exec.status.is_finished() {
            return;
        }
        match &input {
            Event::Started { .. } => {
                if self.exec.seq != 0 {
                    return;
                }
                self.emit(input);
                self.start();
            }
            Event::CallSucceeded { call, attempt, output, .. } => {
                if self.exec.in_flight.get(call) != Some(attempt) {
                    return;
                }
                let (call, output) = (call.clone(), output.clone());
                self.emit(input);
                self.call_succeeded(&call, output);
            }
            Event::CallFailed { call, attempt, error, .. } => {
                if self.exec.in_flight.get(call) != Some(attempt) {
                    return;
                }
                let (call, attempt, error) = (call.clone(), *attempt, error.clone());
                self.emit(input);
                self.call_failed(&call, attempt, error);
            }
            Event::TimerFired { timer: TimerId::Retry { call, attempt }, .. } => {
                if self.exec.retrying.get(call).map(|(a, _)| a) != Some(attempt) {
                    return;
                }
                let (call, attempt) = (call.clone(), *attempt);
                self.emit(input);
                self.launch(&call, attempt);
            }
            Event::TimerFired { timer: TimerId::WaitDeadline { call, attempt }, .. } => {
                if self.exec.in_flight.get(call) != Some(attempt) {
                    return;
                }
                let call = call.clone();
                self.emit(input);
                self.condition_timed_out(&call);
            }
            Event::TimerFired { timer: TimerId::ExecutionTimeout, .. } => {
                self.emit(input);
                let after = self.plan.workflow.timeout.map_or(0, |t| t.as_millis());
                self.fail_execution(Failure::new("timeout", format!("the execution timed out after {after} ms")));
            }
            Event::Paused { .. } => {
                if self.exec.status == ExecStatus::Running {
                    self.emit(input);
                }
            }
            Event::Resumed { .. } => {
                if self.exec.status == ExecStatus::Paused {
                    self.emit(input);
                }
            }
            Event::LockAcquired { task, .. } => {
                let waiting = self.exec.tasks.get(task).and_then(|t| t.lock.as_ref()).is_some_and(|l| !l.held);
                if !waiting {
                    return; // granted again after a restart, or the task has ended
                }
                let task = task.clone();
                self.emit(input);
                self.begin(&task);
            }
            Event::Recovered { .. } => {
                let interrupted = self.exec.in_flight.clone();
                self.emit(input);
                self.resume_after_interruption(interrupted);
            }
            Event::OutputSet { .. }
            | Event::SkipRequested { .. }
            | Event::VarsChanged { .. }
            | Event::ItemsAdded { .. }
            | Event::Migrated { .. }
            | Event::TaskAdded { .. }
            | Event::InputReplaced { .. } => {
                if crate::check_change(self.plan, self.exec, &input).is_err() {
                    return;
                }
                self.change(input);
            }
            Event::Cancelled { .. } | Event::Aborted { .. } => {
                let calls: Vec<CallId> = self.exec.in_flight.keys().cloned().collect();
                for call in calls {
                    self.command(Command::CancelCall { call });
                }
                self.emit(input);
                self.command(Command::Finished);
                return;
            }
            _ => return, // the engine's own events are not inputs
        }
        self.check_conditions();
        self.drain();
        self.check_done();
    }

    fn start(&mut self) {
        if let Some(timeout) = self.plan.workflow.timeout {
            let due = self.now + timeout.as_millis() as u64;
            self.command(Command::StartTimer { timer: TimerId::ExecutionTimeout, due });
        }
        if !self.set_workflow_vars() {
            return;
        }
        for root in &self.plan.roots {
            self.consider(root);
        }
    }

    /// Evaluates the workflow's `vars`; false if one fails (and so does the execution).
    pub(crate) fn set_workflow_vars(&mut self) -> bool {
        let workflow = &self.plan.workflow;
        if workflow.vars.is_empty() {
            return true;
        }
        let mut vars = Map::new();
        for (name, template) in &workflow.vars {
            let scope = Scope::new(&self.exec.input, &self.exec.vars, &*self.exec, &self.exec.meta);
            match template.render(&scope) {
                Ok(v) => {
                    vars.insert(name.clone(), v);
                }
                Err(e) => {
                    self.fail_execution(Failure::new("expression", format!("vars.{name}: {e}")));
                    return false;
                }
            }
        }
        self.emit(Event::VarsSet { vars });
        true
    }

    /// Rolls back to a checkpoint: the calls in flight now are cancelled, those in flight
    /// at the checkpoint run again.
    fn restore(&mut self, input: Event) {
        for call in self.exec.in_flight.keys().cloned().collect::<Vec<_>>() {
            self.command(Command::CancelCall { call });
        }
        let Event::Restored { state, .. } = &input else { unreachable!("restore takes a Restored event") };
        let interrupted = state.in_flight.clone();
        self.emit(input);
        if !self.exec.status.is_finished() {
            self.resume_after_interruption(interrupted);
        }
    }

    /// After a restart or a rollback: the calls that were in flight (their results never
    /// arrived) start again with their next attempt, under the same idempotency key, and
    /// the timers the execution waits for are set again (those already due fire at once).
    fn resume_after_interruption(&mut self, interrupted: std::collections::BTreeMap<CallId, u32>) {
        let started = self.exec.retried_at.or(self.exec.started_at);
        if let (Some(timeout), Some(started)) = (self.plan.workflow.timeout, started) {
            let due = started + timeout.as_millis() as u64;
            self.command(Command::StartTimer { timer: TimerId::ExecutionTimeout, due });
        }
        // Ask again for the slots of mutexes: the runner keeps each task's place. (After a
        // rollback to a checkpoint taken while a task held its slot, the slot may have been
        // given back since: the task asks again but goes on running meanwhile.)
        let locks: Vec<(String, String)> =
            self.exec.tasks.iter().filter_map(|(id, t)| t.lock.as_ref().map(|l| (id.clone(), l.key.clone()))).collect();
        for (task, key) in locks {
            let limit = self.plan.task(&task).mutex.as_ref().map_or(1, |m| m.limit);
            self.command(Command::Acquire { task, key, limit });
        }
        let retries: Vec<(CallId, u32, Millis)> =
            self.exec.retrying.iter().map(|(call, (attempt, due))| (call.clone(), *attempt, *due)).collect();
        for (call, attempt, due) in retries {
            self.command(Command::StartTimer { timer: TimerId::Retry { call, attempt }, due });
        }
        for (call, attempt) in interrupted {
            if call.task == ON_FAILURE {
                self.start_call(&call, attempt + 1); // runs even while paused
            } else {
                self.launch(&call, attempt + 1);
            }
        }
    }

    pub(crate) fn running(&self) -> bool {
        self.exec.failing.is_none() && !self.exec.status.is_finished()
    }

    pub(crate) fn can_start(&self) -> bool {
        self.exec.status == ExecStatus::Running
            && self.plan.workflow.max_parallel.is_none_or(|max| self.exec.in_flight.len() < max as usize)
    }

    /// The attempt a new call of the task starts with: 1, or after the attempts made before
    /// the execution was retried.
    pub(crate) fn first_attempt(&self, id: &str) -> u32 {
        self.exec.task(id).attempt_offset + 1
    }

    /// Starts a call now, or queues it behind `max_parallel` or a pause.
    pub(crate) fn launch(&mut self, call: &CallId, attempt: u32) {
        if self.can_start() {
            self.start_call(call, attempt);
        } else {
            self.emit(Event::CallQueued { call: call.clone(), attempt });
        }
    }

    /// Starts queued calls while there is room.
    fn drain(&mut self) {
        while self.can_start() && self.running() {
            let Some(front) = self.exec.queue.front().cloned() else { return };
            self.start_call(&front.0, front.1);
            if self.exec.queue.front() == Some(&front) {
                unreachable!("starting a queued call always takes it off the queue");
            }
        }
    }

    fn start_call(&mut self, call: &CallId, attempt: u32) {
        let plan = self.plan;
        let task = plan.task(&call.task);
        let template = match &task.action {
            TaskAction::Call { input, .. } | TaskAction::Workflow { input, .. } | TaskAction::Emit(input) => input,
            TaskAction::Wait(wait) => return self.start_wait(call, attempt, wait),
            TaskAction::Switch { .. } | TaskAction::Terminate(_) | TaskAction::Cancel(_) => {
                unreachable!("a switch, terminate or cancel makes no calls")
            }
        };
        let input = match template.render(&self.scope_for(call)) {
            Ok(input) => input,
            Err(e) => {
                // An input that cannot be rendered will not render on a retry either.
                return self.call_failed_for_good(call, expression_failure(&call.task, &e));
            }
        };
        let key = self.idempotency_key(call);
        self.emit(Event::CallStarted { call: call.clone(), attempt, input: input.clone(), at: self.now });
        let command = match &task.action {
            TaskAction::Call { component, action, .. } => Command::RunCall {
                call: call.clone(),
                attempt,
                component: component.clone(),
                action: action.clone(),
                input,
                timeout: task.timeout.or(plan.workflow.task_timeout),
                idempotency_key: key,
            },
            TaskAction::Workflow { name, version, .. } => Command::RunChild {
                call: call.clone(),
                attempt,
                workflow: name.clone(),
                version: version.clone(),
                input,
                timeout: task.timeout.or(plan.workflow.task_timeout),
                idempotency_key: key,
            },
            TaskAction::Emit(_) => Command::Emit { call: call.clone(), attempt, event: input, idempotency_key: key },
            _ => unreachable!("a switch, terminate or cancel makes no calls, a wait waits"),
        };
        self.command(command);
    }

    fn idempotency_key(&self, call: &CallId) -> String {
        let mut key = format!("{}/{}", self.exec.id, call.task);
        if let Some(i) = call.item {
            key.push_str(&format!("/{i}"));
        }
        let task = self.exec.task(&call.task);
        if task.round > 0 {
            key.push_str(&format!("/round-{}", task.round));
        }
        if self.plan.task(&call.task).repeat.is_some() {
            key.push_str(&format!("/iteration-{}", task.iteration.max(1)));
        }
        key
    }

    fn call_succeeded(&mut self, call: &CallId, output: Value) {
        let plan = self.plan;
        let id = call.task.as_str();
        let task = plan.task(id);
        if call.item.is_some() {
            return self.next_items(id);
        }
        let Some(repeat) = &task.repeat else { return self.succeed(id, output) };
        let iteration = self.exec.task(id).iteration;
        // Each iteration's `set_vars` first: the next iteration and `until` see them.
        if let Err(e) = self.set_vars(id, &output, Some(iteration)) {
            return self.fail_task(id, e);
        }
        let done = {
            let mut scope = self.scope(id);
            scope.output = Some(&output);
            scope.iteration = Some(u64::from(iteration));
            repeat.until.eval_bool(&scope)
        };
        match done {
            Ok(true) => self.succeed(id, output),
            Ok(false) if iteration >= repeat.max_iterations => {
                let mut f = Failure::new(
                    "max_iterations",
                    format!(
                        "task {id}: repeat reached max_iterations ({}) before ${{{}}} held",
                        repeat.max_iterations, repeat.until.source
                    ),
                );
                f.code = Some("max_iterations".into());
                self.fail_task(id, f);
            }
            Ok(false) => {
                self.emit(Event::IterationDone { task: id.to_string(), iteration, output });
                self.launch(&CallId::task(id), self.first_attempt(id));
            }
            Err(e) => self.fail_task(id, expression_failure(id, &e)),
        }
    }

    fn call_failed(&mut self, call: &CallId, attempt: u32, error: Failure) {
        if let TaskAction::Wait(wait) = &self.plan.task(&call.task).action {
            return self.wait_failed(call, error, wait);
        }
        let workflow = &self.plan.workflow;
        let policy = self.plan.task(&call.task).retry.as_ref().or(workflow.retry.as_ref());
        // After a retry of the execution, the policy counts the attempts made since.
        let tried = attempt.saturating_sub(self.exec.task(&call.task).attempt_offset);
        if let Some(policy) = policy
            && tried < policy.max_attempts
            && retry::retries(policy, &error)
            && (self.running() || call.task == ON_FAILURE)
        {
            let delay = retry::delay(policy, &self.exec.id, call, tried).as_millis() as u64;
            let due = self.now + delay.max(error.retry_after_ms.unwrap_or(0));
            let next = attempt + 1;
            self.emit(Event::RetryScheduled { call: call.clone(), attempt: next, due });
            self.command(Command::StartTimer { timer: TimerId::Retry { call: call.clone(), attempt: next }, due });
            return;
        }
        self.call_failed_for_good(call, error);
    }

    pub(crate) fn call_failed_for_good(&mut self, call: &CallId, mut error: Failure) {
        if let Some(i) = call.item
            && matches!(self.plan.task(&call.task).on_error, OnError::Continue)
        {
            return self.item_failed(&call.task, i, error);
        }
        if let Some(i) = call.item {
            error.message = format!("item {i}: {}", error.message);
        }
        self.fail_task(&call.task, error);
    }

    /// Applies the task's `set_vars` to `output` (of `iteration`, for a repeat).
    #[allow(clippy::result_large_err, reason = "a Failure is what fails the task")]
    fn set_vars(&mut self, id: &str, output: &Value, iteration: Option<u32>) -> Result<(), Failure> {
        let task = self.plan.task(id);
        if task.set_vars.is_empty() {
            return Ok(());
        }
        let mut vars = Map::new();
        for (name, template) in &task.set_vars {
            let mut scope = self.scope(id);
            scope.output = Some(output);
            scope.iteration = iteration.map(u64::from);
            let value = template.render(&scope).map_err(|e| expression_failure(id, &e))?;
            vars.insert(name.clone(), value);
        }
        self.emit(Event::VarsSet { vars });
        Ok(())
    }

    pub(crate) fn succeed(&mut self, id: &str, output: Value) {
        let plan = self.plan;
        // A repeat's `set_vars` were applied after each of its iterations.
        if plan.task(id).repeat.is_none()
            && let Err(e) = self.set_vars(id, &output, None)
        {
            return self.fail_task(id, e);
        }
        if let Some(goto) = &plan.task(id).goto {
            let mut scope = self.scope(id);
            scope.output = Some(&output);
            match goto.when.eval_bool(&scope) {
                Ok(true) => return self.loop_back(id, output),
                Ok(false) => {}
                Err(e) => return self.fail_task(id, expression_failure(id, &e)),
            }
        }
        self.emit(Event::TaskSucceeded { task: id.to_string(), output: output.clone(), at: self.now });
        if id == ON_FAILURE {
            return self.finish_failure();
        }
        if let Some(original) = self.exec.task(id).fallback_for.clone() {
            if self.exec.task(&original).status == TaskStatus::Recovering {
                self.emit(Event::TaskSucceeded { task: original.clone(), output, at: self.now });
                self.resolved(&original);
            }
            return;
        }
        self.resolved(id);
    }

    pub(crate) fn fail_task(&mut self, id: &str, mut error: Failure) {
        error.task.get_or_insert_with(|| id.to_string());
        self.cancel_calls_of(id);
        if id == ON_FAILURE {
            self.task_failed(id, error, false);
            return self.finish_failure();
        }
        if let Some(original) = self.exec.task(id).fallback_for.clone() {
            self.task_failed(id, error.clone(), false);
            if self.exec.task(&original).status != TaskStatus::Recovering {
                return; // the task it stood in for was cancelled meanwhile
            }
            let mut both = Failure::new(
                "fallback_failed",
                format!("task {original} failed, and so did its fallback {id}: {}", error.message),
            );
            both.task = Some(original.clone());
            self.task_failed(&original, both.clone(), false);
            return self.fail_execution(both);
        }
        match &self.plan.task(id).on_error {
            OnError::Continue => {
                self.task_failed(id, error, true);
                self.resolved(id);
            }
            OnError::Fallback(fallback) if self.exec.task(fallback).status == TaskStatus::Pending => {
                let fallback = fallback.clone();
                self.emit(Event::FallbackStarted { task: id.to_string(), fallback: fallback.clone(), error });
                self.begin(&fallback);
            }
            _ => {
                self.task_failed(id, error.clone(), false);
                self.fail_execution(error);
            }
        }
    }

    /// A task failed (`tolerated`: its dependants go on), its output its error.
    pub(crate) fn task_failed(&mut self, id: &str, error: Failure, tolerated: bool) {
        self.emit(Event::TaskFailed { task: id.to_string(), error, tolerated, output: None, at: self.now });
    }

    /// Cancels the calls a task still has in flight (other items of a `for_each`).
    pub(crate) fn cancel_calls_of(&mut self, id: &str) {
        let calls: Vec<CallId> = self.exec.in_flight.keys().filter(|c| c.task == id).cloned().collect();
        for call in calls {
            self.command(Command::CancelCall { call });
        }
    }

    fn cancel_task(&mut self, id: &str) {
        self.stop_task(id);
        self.emit(Event::TaskCancelled { task: id.to_string(), reason: None });
    }

    /// Stops what a task is doing before it is given an end state: its calls in flight
    /// and, while it is recovering, its fallback (cancelled).
    pub(crate) fn stop_task(&mut self, id: &str) {
        if self.exec.task(id).status == TaskStatus::Recovering {
            // Its fallback is what runs now: stop it too.
            let fallback =
                self.exec.tasks.iter().find(|(_, t)| t.fallback_for.as_deref() == Some(id)).map(|(f, _)| f.clone());
            if let Some(fallback) = fallback.filter(|f| !self.exec.task(f).status.is_terminal()) {
                self.cancel_calls_of(&fallback);
                self.emit(Event::TaskCancelled { task: fallback, reason: None });
            }
        }
        self.cancel_calls_of(id);
    }

    pub(crate) fn fail_execution(&mut self, error: Failure) {
        if !self.running() {
            return;
        }
        let open: Vec<String> = self
            .exec
            .tasks
            .iter()
            .filter(|(_, t)| matches!(t.status, TaskStatus::Running | TaskStatus::Waiting | TaskStatus::Recovering))
            .map(|(id, _)| id.clone())
            .collect();
        for id in open {
            self.cancel_task(&id);
        }
        if self.plan.workflow.on_failure.is_some() {
            self.emit(Event::Failing { error, at: self.now });
            // on_failure runs even if the execution was paused.
            self.start_call(&CallId::task(ON_FAILURE), self.first_attempt(ON_FAILURE));
        } else {
            self.emit(Event::Failed { error, at: self.now });
            self.command(Command::Finished);
        }
    }

    fn finish_failure(&mut self) {
        let failing = self.exec.failing.clone().expect("on_failure runs while failing");
        let error = serde_json::from_value(failing).expect("failing holds a failure");
        self.emit(Event::Failed { error, at: self.now });
        self.command(Command::Finished);
    }

    fn check_done(&mut self) {
        if !self.running() || self.exec.unresolved > 0 {
            return;
        }
        let output = match &self.plan.workflow.output {
            Some(template) => match template.render(&self.scope("output")) {
                Ok(output) => output,
                Err(e) => return self.fail_execution(Failure::new("expression", format!("output: {e}"))),
            },
            None => self.leaf_outputs(),
        };
        self.complete(output);
    }

    pub(crate) fn complete(&mut self, output: Value) {
        self.emit(Event::Completed { output, at: self.now });
        self.command(Command::Finished);
    }

    /// Without an `output:` section, the outputs of the tasks nothing depends on.
    fn leaf_outputs(&self) -> Value {
        let plan = self.plan;
        let leaves = plan.workflow.tasks.keys().filter(|id| plan.dependants(id).is_empty());
        let map: Map<String, Value> = leaves
            .filter_map(|id| {
                let t = self.exec.task(id);
                (t.status == TaskStatus::Succeeded).then(|| (id.clone(), t.output.clone().unwrap_or(Value::Null)))
            })
            .collect();
        Value::Object(map)
    }

    /// What an expression of task `id` (or of the workflow's `output`) sees. `failure` is
    /// bound for `on_failure` and for a fallback task standing in for a failed one.
    pub(crate) fn scope(&self, id: &str) -> Scope<'_> {
        let exec = &*self.exec;
        let mut scope = Scope::new(&exec.input, &exec.vars, exec as &dyn TaskLookup, &exec.meta);
        // Bound in every execution: null unless a trigger's event started it.
        scope.event = Some(exec.event.as_ref().unwrap_or(&Value::Null));
        scope.failure = if id == ON_FAILURE {
            exec.failing.as_ref()
        } else {
            let original = exec.tasks.get(id).and_then(|t| t.fallback_for.as_ref());
            original.and_then(|o| exec.task(o).error.as_ref())
        };
        scope
    }

    pub(crate) fn scope_for(&self, call: &CallId) -> Scope<'_> {
        let mut scope = self.scope(&call.task);
        if let Some(i) = call.item {
            let items = self.exec.task(&call.task).items.as_ref().expect("for_each items");
            scope.item = items.values.get(i as usize);
            scope.index = Some(u64::from(i));
        }
        let task = self.exec.task(&call.task);
        if self.plan.task(&call.task).repeat.is_some() {
            scope.iteration = Some(u64::from(task.iteration.max(1)));
            scope.output = task.output.as_ref();
        }
        scope
    }
}

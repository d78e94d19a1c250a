//! The in-process executor: drives one execution (and its child executions) with the
//! engine, carrying out its commands against the plugin host on the async runtime.
//! Nothing is stored yet; durability comes with the store.

use std::collections::HashMap;
use std::sync::Arc;

use harmonia_engine::{CallId, Command, Event, Execution, Failure, Plan, step};
use harmonia_host::{Call, CallError, CallObserver, Host, TaskError};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::clock::Clock;

/// Finds workflows by name (and version) for sub-workflow tasks.
pub trait WorkflowSource: Send + Sync {
    fn plan(&self, name: &str, version: Option<&str>) -> Option<Arc<Plan>>;
}

/// Sees an execution as it runs: every event, and plugin progress.
pub trait RunObserver: Send + Sync {
    fn event(&self, _exec: &Execution, _event: &Event) {}
    fn progress(&self, _exec: &str, _call: &CallId, _percent: u8, _message: &str) {}
}

/// Runs executions in process.
#[derive(Clone)]
pub struct Runner {
    host: Host,
    workflows: Arc<dyn WorkflowSource>,
    clock: Arc<dyn Clock>,
    observer: Option<Arc<dyn RunObserver>>,
}

/// How deep sub-workflows may nest, so that a workflow calling itself ends.
const MAX_DEPTH: u32 = 32;

impl Runner {
    pub fn new(host: Host, workflows: Arc<dyn WorkflowSource>, clock: Arc<dyn Clock>) -> Runner {
        Runner { host, workflows, clock, observer: None }
    }

    pub fn with_observer(mut self, observer: Arc<dyn RunObserver>) -> Runner {
        self.observer = Some(observer);
        self
    }

    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Runs an execution of `plan` with `input` (already checked) to its end.
    pub async fn run(&self, plan: Arc<Plan>, id: &str, input: Value) -> Execution {
        self.run_at_depth(plan, id.to_string(), input, 0).await
    }

    fn run_boxed(&self, plan: Arc<Plan>, id: String, input: Value, depth: u32) -> futures_box::BoxFuture<Execution> {
        let runner = self.clone();
        Box::pin(async move { runner.run_at_depth(plan, id, input, depth).await })
    }

    async fn run_at_depth(&self, plan: Arc<Plan>, id: String, input: Value, depth: u32) -> Execution {
        let mut exec = Execution::new(&id, &plan.workflow, &plan.fallbacks);
        let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
        // Aborted when this execution ends or its future is dropped (a cancelled child).
        let mut spawned = Spawned::default();
        let mut next = Some(Event::Started { input, at: self.clock.now_ms() });
        loop {
            let Some(input) = next.take() else {
                match rx.recv().await {
                    Some(event) => next = Some(event),
                    None => break,
                }
                continue;
            };
            let out = step(&plan, &mut exec, input);
            if let Some(observer) = &self.observer {
                for event in &out.events {
                    observer.event(&exec, event);
                }
            }
            let mut finished = false;
            for command in out.commands {
                match command {
                    Command::Finished => finished = true,
                    Command::CancelCall { call } => {
                        if let Some(handle) = spawned.calls.remove(&call) {
                            handle.abort();
                        }
                    }
                    Command::StartTimer { timer, due } => {
                        let (tx, clock) = (tx.clone(), self.clock.clone());
                        let handle = tokio::spawn(async move {
                            clock.sleep_until(due).await;
                            let _ = tx.send(Event::TimerFired { timer, at: clock.now_ms() });
                        });
                        spawned.timers.push(handle.abort_handle());
                    }
                    Command::RunCall { call, attempt, component, action, input, timeout, idempotency_key } => {
                        let host_call = Call {
                            action,
                            input,
                            execution_id: exec.id.clone(),
                            task_id: call.task.clone(),
                            attempt,
                            idempotency_key,
                            timeout,
                            observer: self.progress_observer(&exec.id, &call),
                        };
                        let (runner, tx, key) = (self.clone(), tx.clone(), call.clone());
                        let handle = tokio::spawn(async move {
                            let result = runner.host.invoke(&component, host_call).await;
                            let at = runner.clock.now_ms();
                            let _ = tx.send(call_result(call, attempt, result.map(|o| o.output), at));
                        });
                        spawned.calls.insert(key, handle.abort_handle());
                    }
                    Command::RunChild { call, attempt, workflow, version, input, timeout, idempotency_key } => {
                        let child = self.start_child(&workflow, version.as_deref(), input, idempotency_key, depth);
                        let (tx, clock, key) = (tx.clone(), self.clock.clone(), call.clone());
                        let handle = tokio::spawn(async move {
                            let result = match timeout {
                                Some(limit) => tokio::time::timeout(limit, child).await.unwrap_or_else(|_| {
                                    let ms = limit.as_millis();
                                    Err(Failure::new("timeout", format!("sub-workflow timed out after {ms} ms")))
                                }),
                                None => child.await,
                            };
                            let at = clock.now_ms();
                            let _ = tx.send(match result {
                                Ok(output) => Event::CallSucceeded { call, attempt, output, at },
                                Err(error) => Event::CallFailed { call, attempt, error, at },
                            });
                        });
                        spawned.calls.insert(key, handle.abort_handle());
                    }
                }
            }
            spawned.calls.retain(|call, _| exec.in_flight.contains_key(call));
            spawned.timers.retain(|t| !t.is_finished());
            if finished {
                break;
            }
            if stalled(&exec) {
                // Nothing runs and nothing will: an engine bug. End it rather than hang.
                tracing::error!(execution = %exec.id, "execution stalled with nothing to run");
                next = Some(Event::Cancelled { reason: "the engine stalled with nothing to run (a bug)".into(), at: self.clock.now_ms() });
            }
        }
        exec
    }

    /// A child execution's output, or why it failed.
    fn start_child(
        &self,
        workflow: &str,
        version: Option<&str>,
        input: Value,
        key: String,
        depth: u32,
    ) -> futures_box::BoxFuture<Result<Value, Failure>> {
        let name = match version {
            Some(v) => format!("{workflow}@{v}"),
            None => workflow.to_string(),
        };
        let plan = self.workflows.plan(workflow, version);
        let runner = self.clone();
        Box::pin(async move {
            let plan = plan.ok_or_else(|| Failure::new("fatal", format!("no workflow named {name}")))?;
            if depth + 1 >= MAX_DEPTH {
                return Err(Failure::new("fatal", format!("sub-workflows nest deeper than {MAX_DEPTH}")));
            }
            let input = harmonia_model::check_input(&plan.workflow, &input)
                .map_err(|e| Failure::new("invalid_input", format!("input of workflow {name}: {e}")))?;
            // The child's id is the task's idempotency key, stable across attempts, so that
            // its own calls keep their idempotency keys when the parent task is retried.
            let child = runner.run_boxed(plan, key, input, depth + 1).await;
            match (child.output, child.error) {
                (_, Some(error)) => Err(error),
                (Some(output), None) => Ok(output),
                (None, None) => Err(Failure::new("fatal", format!("workflow {name} ended without output"))),
            }
        })
    }

    fn progress_observer(&self, exec: &str, call: &CallId) -> Option<Arc<dyn CallObserver>> {
        let observer = self.observer.clone()?;
        Some(Arc::new(ProgressForward { observer, exec: exec.to_string(), call: call.clone() }))
    }
}

/// The calls and timers one execution spawned, aborted together when it ends or when its
/// future is dropped (a cancelled child execution).
#[derive(Default)]
struct Spawned {
    calls: HashMap<CallId, AbortHandle>,
    timers: Vec<AbortHandle>,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        self.calls.values().chain(&self.timers).for_each(AbortHandle::abort);
    }
}

/// Running, yet nothing in flight, awaiting a retry, or queued.
fn stalled(exec: &Execution) -> bool {
    exec.status == harmonia_engine::ExecStatus::Running
        && exec.in_flight.is_empty()
        && exec.retrying.is_empty()
        && exec.queue.is_empty()
}

struct ProgressForward {
    observer: Arc<dyn RunObserver>,
    exec: String,
    call: CallId,
}

impl CallObserver for ProgressForward {
    fn progress(&self, percent: u8, message: &str) {
        self.observer.progress(&self.exec, &self.call, percent, message);
    }
}

/// The event that reports a finished call.
fn call_result(call: CallId, attempt: u32, result: Result<Result<Value, TaskError>, CallError>, at: u64) -> Event {
    match result {
        Ok(Ok(output)) => Event::CallSucceeded { call, attempt, output, at },
        Ok(Err(error)) => Event::CallFailed { call, attempt, error: task_failure(error), at },
        Err(error) => Event::CallFailed { call, attempt, error: host_failure(&error), at },
    }
}

fn task_failure(e: TaskError) -> Failure {
    let kind = serde_json::to_value(e.kind).ok().and_then(|v| v.as_str().map(str::to_string));
    Failure {
        kind: kind.unwrap_or_else(|| "fatal".into()),
        message: e.message,
        code: e.code,
        details: e.details,
        retry_after_ms: e.retry_after_ms,
        task: None,
    }
}

fn host_failure(e: &CallError) -> Failure {
    let kind = match e {
        CallError::Timeout { .. } => "timeout",
        CallError::UnknownPlugin(_) => "unknown_plugin",
        CallError::UnknownAction { .. } => "unknown_action",
        CallError::Instantiate { .. } => "retryable",
        CallError::MemoryLimit { .. } | CallError::FuelExhausted { .. } | CallError::Trap { .. } => "trap",
    };
    Failure::new(kind, e.to_string())
}

mod futures_box {
    pub type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;
}

//! The task-runner seam: how the runner has a task call carried out and learns which
//! components and actions exist. The wasmtime host implements it (`harmonia-host`); a test
//! implements it in a few lines. The runner knows nothing else of what runs a task.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use harmonia_engine::{CallId, Event, Failure};
use harmonia_model::PluginCatalog;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::runner::RunObserver;

/// A task call's result: the output, or why it failed (the kind decides retries).
pub type TaskResult = Result<Value, Failure>;

/// The future of a running task call.
pub type TaskFuture = Pin<Box<dyn Future<Output = TaskResult> + Send>>;

/// Carries out task calls. `check` (from [`PluginCatalog`]) says whether a component offers
/// an action, so that workflows naming unknown ones are refused when stored.
pub trait TaskRunner: PluginCatalog + Send + Sync + 'static {
    /// Runs one call to its end. A failure the task runner itself meets (the component is
    /// missing, it trapped or ran out of time) is a [`Failure`] too, of its own kind.
    fn run(&self, call: TaskCall) -> TaskFuture;
}

/// One call of a component's action, for one attempt of a task.
#[derive(Clone)]
pub struct TaskCall {
    pub component: String,
    pub action: String,
    pub input: Value,
    pub execution_id: String,
    pub task_id: String,
    /// Starts at 1.
    pub attempt: u32,
    /// The same for every attempt of the task in its execution: what the component may use
    /// to do an effect once, since a call interrupted by a crash runs again.
    pub idempotency_key: String,
    /// The call's timeout; without one, the task runner's default for the component.
    pub timeout: Option<Duration>,
    /// Receives progress, events and log lines while the call runs.
    pub observer: Option<Arc<dyn CallObserver>>,
}

impl TaskCall {
    /// A call outside any workflow (for the CLI, tests and benchmarks).
    pub fn new(component: impl Into<String>, action: impl Into<String>, input: Value) -> TaskCall {
        TaskCall {
            component: component.into(),
            action: action.into(),
            input,
            execution_id: String::new(),
            task_id: String::new(),
            attempt: 1,
            idempotency_key: String::new(),
            timeout: None,
            observer: None,
        }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> TaskCall {
        self.timeout = Some(timeout);
        self
    }
}

/// Sees what a component reports while a call runs.
pub trait CallObserver: Send + Sync {
    fn progress(&self, _percent: u8, _message: &str) {}
    fn event(&self, _event: &EmittedEvent) {}
    fn log(&self, _component: &str, _level: tracing::Level, _message: &str) {}
}

/// An event a component emitted while a call ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmittedEvent {
    #[serde(rename = "type")]
    pub event_type: String,
    pub data: Value,
}

/// What a call reports while it runs: progress goes to the runner's observer; emitted
/// events are kept, and go into the CloudEvents log when the call returns (before its result
/// is committed), as events from `harmonia/plugins/<component>`.
pub(crate) struct CallForward {
    pub observer: Option<Arc<dyn RunObserver>>,
    pub exec: String,
    pub call: CallId,
    pub emitted: std::sync::Mutex<Vec<EmittedEvent>>,
}

impl CallObserver for CallForward {
    fn progress(&self, percent: u8, message: &str) {
        if let Some(observer) = &self.observer {
            observer.progress(&self.exec, &self.call, percent, message);
        }
    }

    fn log(&self, _component: &str, level: tracing::Level, message: &str) {
        if let Some(observer) = &self.observer {
            observer.log(&self.exec, &self.call, level, message);
        }
    }

    fn event(&self, event: &EmittedEvent) {
        self.emitted.lock().expect("emitted lock").push(event.clone());
    }
}

impl CallForward {
    /// The events the call emitted, as CloudEvents: each unique by the call's idempotency
    /// key, attempt and order. One that is not a valid CloudEvent (an empty type) is left
    /// out, and logged.
    pub(crate) fn take_events(&self, component: &str, key: &str, attempt: u32) -> Vec<crate::CloudEvent> {
        let emitted = std::mem::take(&mut *self.emitted.lock().expect("emitted lock"));
        if emitted.is_empty() {
            return Vec::new(); // most calls: nothing to build
        }
        let source = format!("harmonia/plugins/{component}");
        emitted
            .into_iter()
            .enumerate()
            .filter_map(|(n, emitted)| {
                let id = format!("{key}/{attempt}/{}", n + 1);
                let mut event = crate::CloudEvent::new(id, source.clone(), emitted.event_type);
                event.data = Some(emitted.data);
                event.extensions.insert("executionid".into(), Value::String(self.exec.clone()));
                event.extensions.insert("taskid".into(), Value::String(self.call.task.clone()));
                match event.check() {
                    Ok(()) => Some(event),
                    Err(e) => {
                        tracing::warn!(plugin = component, execution = %self.exec, "an emitted event left out: {e}");
                        None
                    }
                }
            })
            .collect()
    }
}

/// The event that reports a finished call.
pub(crate) fn call_result(call: CallId, attempt: u32, result: TaskResult, at: u64) -> Event {
    match result {
        Ok(output) => Event::CallSucceeded { call, attempt, output, at },
        Err(error) => Event::CallFailed { call, attempt, error, at },
    }
}

/// A finished child execution as the result of its parent's call.
#[allow(clippy::result_large_err, reason = "a Failure is what the call reports")]
pub(crate) fn child_result(name: &str, child: &harmonia_engine::Execution) -> TaskResult {
    match (&child.output, &child.error) {
        (_, Some(error)) => Err(error.clone()),
        (Some(output), None) => Ok(output.clone()),
        (None, None) => Err(Failure::new("fatal", format!("workflow {name} ended without output"))),
    }
}

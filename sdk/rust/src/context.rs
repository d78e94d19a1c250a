//! [`Context`]: the invocation an action runs for, and the host's services.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::host::{self, Level};
use crate::TaskError;

/// What an action gets besides its input: where the call comes from (execution, task,
/// attempt, idempotency key, deadline) and the host's services (log, progress, events,
/// key-value store, secrets).
///
/// The SDK builds it from the host's invocation. Tests build one with [`Context::new`] and
/// the `with_*` methods.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Context {
    action: String,
    execution_id: String,
    task_id: String,
    attempt: u32,
    idempotency_key: String,
    deadline_ms: Option<u64>,
}

impl Context {
    /// A context for a call of `action` outside any workflow: empty execution and task ids,
    /// attempt 1, an empty idempotency key and no deadline. Meant for tests.
    pub fn new(action: impl Into<String>) -> Self {
        Context {
            action: action.into(),
            execution_id: String::new(),
            task_id: String::new(),
            attempt: 1,
            idempotency_key: String::new(),
            deadline_ms: None,
        }
    }

    /// Sets the execution id.
    pub fn with_execution_id(mut self, id: impl Into<String>) -> Self {
        self.execution_id = id.into();
        self
    }

    /// Sets the task id.
    pub fn with_task_id(mut self, id: impl Into<String>) -> Self {
        self.task_id = id.into();
        self
    }

    /// Sets the attempt number (1 for the first attempt).
    pub fn with_attempt(mut self, attempt: u32) -> Self {
        self.attempt = attempt;
        self
    }

    /// Sets the idempotency key.
    pub fn with_idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = key.into();
        self
    }

    /// Sets the deadline, in milliseconds since the Unix epoch.
    pub fn with_deadline_ms(mut self, deadline_ms: u64) -> Self {
        self.deadline_ms = Some(deadline_ms);
        self
    }

    /// The action being run.
    pub fn action(&self) -> &str {
        &self.action
    }

    /// The execution this task belongs to (empty when called outside a workflow).
    pub fn execution_id(&self) -> &str {
        &self.execution_id
    }

    /// The task's id within its workflow (empty when called outside a workflow).
    pub fn task_id(&self) -> &str {
        &self.task_id
    }

    /// Which attempt this is, starting at 1.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Stable across every attempt of the same task of the same execution: pass it to
    /// external services so that a repeated call is harmless.
    pub fn idempotency_key(&self) -> &str {
        &self.idempotency_key
    }

    /// When the host stops this call, in milliseconds since the Unix epoch, if the task
    /// has a timeout.
    pub fn deadline_ms(&self) -> Option<u64> {
        self.deadline_ms
    }

    /// The deadline as a [`SystemTime`], if the task has a timeout.
    pub fn deadline(&self) -> Option<SystemTime> {
        self.deadline_ms.map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
    }

    /// The time left until the deadline (zero once it passed), if the task has a timeout.
    /// Use it to bound outgoing calls.
    pub fn remaining(&self) -> Option<Duration> {
        let deadline = self.deadline()?;
        Some(deadline.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
    }

    /// Writes a line to the host's log at `level`.
    pub fn log(&self, level: Level, message: impl AsRef<str>) {
        host::log(level, message.as_ref())
    }

    /// Writes a `trace` line to the host's log.
    pub fn trace(&self, message: impl AsRef<str>) {
        self.log(Level::Trace, message)
    }

    /// Writes a `debug` line to the host's log.
    pub fn debug(&self, message: impl AsRef<str>) {
        self.log(Level::Debug, message)
    }

    /// Writes an `info` line to the host's log.
    pub fn info(&self, message: impl AsRef<str>) {
        self.log(Level::Info, message)
    }

    /// Writes a `warn` line to the host's log.
    pub fn warn(&self, message: impl AsRef<str>) {
        self.log(Level::Warn, message)
    }

    /// Writes an `error` line to the host's log.
    pub fn error(&self, message: impl AsRef<str>) {
        self.log(Level::Error, message)
    }

    /// Reports how far the task is (0 to 100, clamped) with a short message.
    pub fn progress(&self, percent: u8, message: impl AsRef<str>) {
        host::progress(percent, message.as_ref())
    }

    /// Publishes an event of `event_type` with `data` serialized as JSON, correlated with
    /// the current execution and task. Fails (fatal) only if `data` cannot be serialized.
    pub fn emit_event<T: Serialize + ?Sized>(&self, event_type: &str, data: &T) -> Result<(), TaskError> {
        let json = serde_json::to_string(data)
            .map_err(|e| TaskError::fatal(format_args!("cannot serialize the data of event `{event_type}`: {e}")))?;
        host::emit_event_json(event_type, &json);
        Ok(())
    }

    /// Reads raw bytes from the plugin's durable key-value space; `None` when not set.
    pub fn kv_get(&self, key: &str) -> Option<Vec<u8>> {
        host::kv_get(key)
    }

    /// Writes raw bytes into the plugin's key-value space, replacing any earlier value.
    pub fn kv_set(&self, key: &str, value: impl AsRef<[u8]>) {
        host::kv_set(key, value.as_ref())
    }

    /// Removes a key from the plugin's key-value space; removing a missing key is fine.
    pub fn kv_delete(&self, key: &str) {
        host::kv_delete(key)
    }

    /// Reads a JSON value from the key-value space; `Ok(None)` when not set, a fatal error
    /// naming the key when the stored bytes are not a `T` in JSON.
    pub fn kv_get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, TaskError> {
        match host::kv_get(key) {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                TaskError::fatal(format_args!("the value stored under key `{key}` is not the expected JSON: {e}"))
            }),
        }
    }

    /// Stores `value` as JSON under `key`. Fails (fatal) only if it cannot be serialized.
    pub fn kv_set_json<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<(), TaskError> {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| TaskError::fatal(format_args!("cannot serialize the value for key `{key}`: {e}")))?;
        host::kv_set(key, &bytes);
        Ok(())
    }

    /// The value of a secret that the plugin's manifest grants, or `None`.
    pub fn secret(&self, name: &str) -> Option<String> {
        host::secret(name)
    }

    /// The value of a secret, or a fatal error with code `missing-secret` naming it.
    pub fn require_secret(&self, name: &str) -> Result<String, TaskError> {
        self.secret(name).ok_or_else(|| {
            TaskError::fatal(format_args!("secret `{name}` is not granted to this plugin or not configured"))
                .with_code("missing-secret")
        })
    }
}

//! [`TaskError`]: why a task failed, in the shape of the WIT `task-error` record.

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

/// What kind of failure a [`TaskError`] is; the engine decides from it whether to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The input does not fit the action; retrying with the same input cannot help.
    InvalidInput,
    /// A transient failure (a timeout, a 503, a lost connection): the engine may retry.
    Retryable,
    /// A permanent failure: the engine does not retry unless the workflow asks it to.
    Fatal,
    /// The action is not one this plugin offers (the SDK reports this by itself).
    UnknownAction,
}

impl ErrorKind {
    /// The kebab-case name used by the WIT contract and in workflow conditions.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid-input",
            ErrorKind::Retryable => "retryable",
            ErrorKind::Fatal => "fatal",
            ErrorKind::UnknownAction => "unknown-action",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A task failure as a workflow author sees it (`tasks.<id>.error`).
///
/// Build one with [`TaskError::invalid_input`], [`TaskError::retryable`] or
/// [`TaskError::fatal`], then add detail with the `with_*` methods:
///
/// ```
/// use harmonia_sdk::TaskError;
/// use std::time::Duration;
///
/// let err = TaskError::retryable("the service answered 503")
///     .with_code("http-503")
///     .with_details(serde_json::json!({ "body": "try later" }))
///     .with_retry_after(Duration::from_secs(30));
/// assert_eq!(err.code(), Some("http-503"));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct TaskError {
    kind: ErrorKind,
    message: String,
    code: Option<String>,
    details: Option<Value>,
    retry_after_ms: Option<u64>,
}

impl TaskError {
    /// An error of the given kind with a message for people.
    pub fn new(kind: ErrorKind, message: impl fmt::Display) -> Self {
        TaskError { kind, message: message.to_string(), code: None, details: None, retry_after_ms: None }
    }

    /// The input does not fit the action; the engine will not retry.
    pub fn invalid_input(message: impl fmt::Display) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    /// A transient failure; the engine may retry the task.
    pub fn retryable(message: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Retryable, message)
    }

    /// A permanent failure; the engine does not retry unless the workflow asks it to.
    pub fn fatal(message: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Fatal, message)
    }

    /// The action named `action` does not exist. The SDK returns this by itself for
    /// calls to actions that were not registered.
    pub fn unknown_action(action: &str) -> Self {
        Self::new(ErrorKind::UnknownAction, format_args!("unknown action `{action}`"))
    }

    /// Sets a short machine-readable code (for `retry_on` and conditions), e.g. `http-503`.
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Attaches structured detail (a response body, a validation report).
    ///
    /// A value that cannot be serialized is stored as its error message, as a JSON string.
    pub fn with_details(mut self, details: impl Serialize) -> Self {
        self.details = Some(
            serde_json::to_value(details).unwrap_or_else(|e| Value::String(format!("unserializable details: {e}"))),
        );
        self
    }

    /// For retryable errors: the earliest time to retry, counted from now, when the failing
    /// service said so (an HTTP `Retry-After`, for example).
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after_ms = Some(u64::try_from(after.as_millis()).unwrap_or(u64::MAX));
        self
    }

    /// Replaces the message, keeping kind, code, details and retry hint.
    pub fn with_message(mut self, message: impl fmt::Display) -> Self {
        self.message = message.to_string();
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message for people.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The machine-readable code, if one was set.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// The structured detail, if any was attached.
    pub fn details(&self) -> Option<&Value> {
        self.details.as_ref()
    }

    /// The retry hint, if one was set.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after_ms.map(Duration::from_millis)
    }

    /// Whether the engine may retry the task after this error.
    pub fn is_retryable(&self) -> bool {
        self.kind == ErrorKind::Retryable
    }

    pub(crate) fn into_parts(self) -> (ErrorKind, String, Option<String>, Option<Value>, Option<u64>) {
        (self.kind, self.message, self.code, self.details, self.retry_after_ms)
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if let Some(code) = &self.code {
            write!(f, " [{code}]")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for TaskError {}

/// I/O errors become [`ErrorKind::Retryable`] when they look transient (timeouts,
/// interrupted or reset connections) and [`ErrorKind::Fatal`] otherwise, with the OS
/// message. Map them yourself when a missing file is the caller's fault (invalid input).
impl From<std::io::Error> for TaskError {
    fn from(err: std::io::Error) -> Self {
        use std::io::ErrorKind as Io;
        let transient = matches!(
            err.kind(),
            Io::TimedOut
                | Io::Interrupted
                | Io::WouldBlock
                | Io::ConnectionReset
                | Io::ConnectionAborted
                | Io::ConnectionRefused
                | Io::NotConnected
                | Io::BrokenPipe
        );
        if transient {
            TaskError::retryable(err)
        } else {
            TaskError::fatal(err)
        }
    }
}

/// A `Result` whose error is a [`TaskError`].
pub type Result<T, E = TaskError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_fill_every_field() {
        let err = TaskError::retryable("busy")
            .with_code("http-503")
            .with_details(serde_json::json!({"a": 1}))
            .with_retry_after(Duration::from_millis(1500));
        assert_eq!(err.kind(), ErrorKind::Retryable);
        assert!(err.is_retryable());
        assert_eq!(err.message(), "busy");
        assert_eq!(err.code(), Some("http-503"));
        assert_eq!(err.details(), Some(&serde_json::json!({"a": 1})));
        assert_eq!(err.retry_after(), Some(Duration::from_millis(1500)));
        assert_eq!(err.to_string(), "retryable [http-503]: busy");
    }

    #[test]
    fn io_errors_are_classified() {
        let timed_out = std::io::Error::new(std::io::ErrorKind::TimedOut, "slow");
        assert_eq!(TaskError::from(timed_out).kind(), ErrorKind::Retryable);
        let denied = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "no");
        let err = TaskError::from(denied);
        assert_eq!(err.kind(), ErrorKind::Fatal);
        assert_eq!(err.message(), "no");
    }
}

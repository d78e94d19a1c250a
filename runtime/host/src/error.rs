//! Errors of the host: loading plugins, and calling them.

use std::path::PathBuf;
use std::time::Duration;

/// A plugin could not be loaded, or the host could not start.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The wasmtime engine could not be configured.
    #[error("cannot start the WebAssembly engine: {0}")]
    Engine(String),
    /// A `.wasm` file could not be loaded; the other plugins are not affected.
    #[error("{}: {reason}", file.display())]
    Load { file: PathBuf, reason: String },
    /// A manifest is malformed.
    #[error("{}: {message}", file.display())]
    Manifest { file: PathBuf, message: String },
    /// The plugins directory could not be read or watched.
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
}

/// A call failed in the host rather than in the plugin's own logic: the plugin is missing,
/// or it trapped, ran out of time or memory. The caller sees it as a failed task.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum CallError {
    #[error("no plugin named {0:?} is loaded")]
    UnknownPlugin(String),
    #[error("plugin {plugin:?} has no action {action:?} (it has: {})", available.join(", "))]
    UnknownAction { plugin: String, action: String, available: Vec<String> },
    #[error("plugin {plugin:?} action {action:?} timed out after {} ms", after.as_millis())]
    Timeout { plugin: String, action: String, after: Duration },
    #[error("plugin {plugin:?} action {action:?} exceeded its memory limit of {} MiB", limit_bytes >> 20)]
    MemoryLimit { plugin: String, action: String, limit_bytes: u64 },
    #[error("plugin {plugin:?} action {action:?} ran out of fuel")]
    FuelExhausted { plugin: String, action: String },
    #[error("plugin {plugin:?} action {action:?} trapped: {message}")]
    Trap { plugin: String, action: String, message: String },
    #[error("plugin {plugin:?} could not be instantiated: {message}")]
    Instantiate { plugin: String, message: String },
}

impl CallError {
    /// Whether running the call again may succeed (timeouts may; traps and bad names do not).
    pub fn is_retryable(&self) -> bool {
        matches!(self, CallError::Timeout { .. } | CallError::Instantiate { .. })
    }
}

/// A host failure as the task's: the kind says whether a retry may help (`timeout`,
/// `retryable`) or not (`trap`, `unknown_plugin`, `unknown_action`).
impl From<CallError> for harmonia_runner::Failure {
    fn from(e: CallError) -> harmonia_runner::Failure {
        let kind = match &e {
            CallError::Timeout { .. } => "timeout",
            CallError::UnknownPlugin(_) => "unknown_plugin",
            CallError::UnknownAction { .. } => "unknown_action",
            CallError::Instantiate { .. } => "retryable",
            CallError::MemoryLimit { .. } | CallError::FuelExhausted { .. } | CallError::Trap { .. } => "trap",
        };
        harmonia_runner::Failure::new(kind, e.to_string())
    }
}

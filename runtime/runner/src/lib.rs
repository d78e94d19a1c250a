//! Harmonia's runner: drives executions with the engine, keeps every step in a store before
//! any of its effects is visible, and has task calls carried out through a [`TaskRunner`].
//! It also keeps what executions need around them: workflow definitions and templates,
//! retention, API tokens and the audit log.
//!
//! It knows no wasmtime, no HTTP and no command line, so that a program can embed it: the
//! wasmtime host (`harmonia-host`) implements [`TaskRunner`], the API (`harmonia-api`) and
//! the `harmonia` binary call the [`Runner`].

pub mod audit;
pub mod catalog;
mod children;
pub mod clock;
pub mod definitions;
mod driver;
pub mod events;
mod locks;
mod log;
pub mod records;
pub mod retention;
mod runner;
pub mod tasks;
pub mod templates;
pub mod tokens;

pub use catalog::{WorkflowDirs, compare_versions, is_workflow_file};
pub use clock::{Clock, SystemClock};
pub use events::{Acceptance, Accepted, CloudEvent, EventError, EventLog};
pub use harmonia_engine::{Event, ExecStatus, Execution, Failure, Plan};
pub use log::{LoggedEvent, read_log};
pub use runner::{
    CommitRetry, DEFAULT_EVENT_LOOKBACK, DEFAULT_MAX_HISTORY, Recovery, RunError, RunObserver, Runner, RunnerSettings,
    WorkflowSource,
};
pub use tasks::{CallObserver, EmittedEvent, TaskCall, TaskFuture, TaskResult, TaskRunner};

/// A fresh execution id: time and randomness, hex.
pub fn new_execution_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(now.as_nanos());
    format!("{:011x}-{:08x}", now.as_millis(), h.finish() as u32)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(now.as_millis()).unwrap_or(u64::MAX)
}

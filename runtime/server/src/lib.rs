//! The Harmonia server side: the executor that drives the engine against the plugin host,
//! and where workflows and plugins are looked up. The `harmonia` binary builds on it.

pub mod catalog;
pub mod clock;
pub mod runner;

pub use catalog::{HostCatalog, WorkflowDirs};
pub use clock::{Clock, SystemClock};
pub use runner::{RunObserver, Runner, WorkflowSource};

//! The Harmonia server side: the executor that drives the engine against the plugin host,
//! and where workflows and plugins are looked up. The `harmonia` binary builds on it.

pub mod api;
pub mod catalog;
pub mod clock;
pub mod definitions;
pub mod records;
pub mod retention;
pub mod runner;
pub mod store_kv;
pub mod templates;
pub mod tls;

pub use catalog::{HostCatalog, WorkflowDirs};
pub use clock::{Clock, SystemClock};
pub use runner::{Recovery, RunError, RunObserver, Runner, RunnerSettings, WorkflowSource};
pub use store_kv::StoreKv;

/// A fresh execution id: time and randomness, hex.
pub fn new_execution_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(now.as_nanos());
    format!("{:011x}-{:08x}", now.as_millis(), h.finish() as u32)
}

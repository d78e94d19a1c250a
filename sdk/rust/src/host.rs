//! The raw host interface (`harmonia:plugin/host`), for code that has no [`Context`] at hand.
//!
//! Inside a component these call the Harmonia host. On other targets (`cargo test` on your
//! machine) they act on an in-memory stand-in that [`crate::testing`] lets you prepare and
//! inspect, so actions can be unit-tested without a host.
//!
//! [`Context`]: crate::Context

use serde::{Deserialize, Serialize};

/// The severity of a log line. In JSON it is the lower-case name (`"info"`); `"warning"`
/// is read as `warn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Very detailed tracing, off unless asked for.
    Trace,
    /// Detail useful while developing a plugin.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected that the plugin handled.
    #[serde(alias = "warning")]
    Warn,
    /// Something failed.
    Error,
}

/// Writes a line to the host's log, tagged with the plugin, action, execution and task.
pub fn log(level: Level, message: &str) {
    imp::log(level, message)
}

/// Reports how far the current task is (0 to 100; larger values are clamped to 100).
pub fn progress(percent: u8, message: &str) {
    imp::progress(percent.min(100), message)
}

/// Publishes an event with a payload that is already JSON text (`data` must be valid JSON).
pub fn emit_event_json(event_type: &str, data: &str) {
    imp::emit_event(event_type, data)
}

/// Reads a value from the plugin's own durable key-value space; `None` when not set.
pub fn kv_get(key: &str) -> Option<Vec<u8>> {
    imp::kv_get(key)
}

/// Writes a value into the plugin's key-value space, replacing any earlier value.
pub fn kv_set(key: &str, value: &[u8]) {
    imp::kv_set(key, value)
}

/// Removes a key from the plugin's key-value space; removing a missing key is fine.
pub fn kv_delete(key: &str) {
    imp::kv_delete(key)
}

/// The value of a secret that the plugin's manifest grants, or `None`.
pub fn secret(name: &str) -> Option<String> {
    imp::secret(name)
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::Level;
    use crate::__private::bindings::harmonia::plugin::host as wit;

    pub fn log(level: Level, message: &str) {
        let level = match level {
            Level::Trace => wit::Level::Trace,
            Level::Debug => wit::Level::Debug,
            Level::Info => wit::Level::Info,
            Level::Warn => wit::Level::Warn,
            Level::Error => wit::Level::Error,
        };
        wit::log(level, message)
    }
    pub fn progress(percent: u8, message: &str) {
        wit::progress(percent, message)
    }
    pub fn emit_event(event_type: &str, data: &str) {
        wit::emit_event(event_type, data)
    }
    pub fn kv_get(key: &str) -> Option<Vec<u8>> {
        wit::kv_get(key)
    }
    pub fn kv_set(key: &str, value: &[u8]) {
        wit::kv_set(key, value)
    }
    pub fn kv_delete(key: &str) {
        wit::kv_delete(key)
    }
    pub fn secret(name: &str) -> Option<String> {
        wit::secret(name)
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::Level;
    use crate::testing::with_mock;

    pub fn log(level: Level, message: &str) {
        with_mock(|m| m.logs.push((level, message.to_owned())))
    }
    pub fn progress(percent: u8, message: &str) {
        with_mock(|m| m.progress.push((percent, message.to_owned())))
    }
    pub fn emit_event(event_type: &str, data: &str) {
        let data = serde_json::from_str(data).expect("emit-event data must be valid JSON");
        with_mock(|m| m.events.push((event_type.to_owned(), data)))
    }
    pub fn kv_get(key: &str) -> Option<Vec<u8>> {
        with_mock(|m| m.kv.get(key).cloned())
    }
    pub fn kv_set(key: &str, value: &[u8]) {
        with_mock(|m| {
            m.kv.insert(key.to_owned(), value.to_vec());
        })
    }
    pub fn kv_delete(key: &str) {
        with_mock(|m| {
            m.kv.remove(key);
        })
    }
    pub fn secret(name: &str) -> Option<String> {
        with_mock(|m| m.secrets.get(name).cloned())
    }
}

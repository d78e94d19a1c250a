//! The generated bindings of the `adapter` world, and the host side of its `host` interface.

use tracing::Level as TraceLevel;

use crate::EmittedEvent;
use crate::state::State;

mod generated {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "adapter",
        // kv-get reads the store: async, so that the read runs on the blocking pool instead
        // of the async worker the call runs on.
        imports: { "harmonia:plugin/host.kv-get": async | trappable, default: trappable },
        exports: { default: async },
    });
}

use generated::harmonia::plugin::host::{Host, Level};
pub use generated::harmonia::plugin::types::{ActionInfo, ErrorKind, Invocation, PluginInfo, TaskError};
pub(crate) use generated::{Adapter, AdapterPre};

/// Largest key a plugin may use, in bytes.
const MAX_KV_KEY: usize = 1024;
/// Largest value a plugin may store under one key, in bytes.
const MAX_KV_VALUE: usize = 4 * 1024 * 1024;

impl generated::harmonia::plugin::types::Host for State {}

macro_rules! plugin_event {
    ($level:expr, $scope:expr, $message:expr) => {
        tracing::event!(
            target: "harmonia::plugin",
            $level,
            plugin = %$scope.plugin,
            action = %$scope.action,
            execution = %$scope.execution_id,
            task = %$scope.task_id,
            "{}",
            $message
        )
    };
}

/// Writes one plugin log line (or a line of its stdout/stderr) as a tracing event.
pub(crate) fn log_line(scope: &crate::state::CallScope, level: TraceLevel, message: &str) {
    match level {
        TraceLevel::TRACE => plugin_event!(TraceLevel::TRACE, scope, message),
        TraceLevel::DEBUG => plugin_event!(TraceLevel::DEBUG, scope, message),
        TraceLevel::INFO => plugin_event!(TraceLevel::INFO, scope, message),
        TraceLevel::WARN => plugin_event!(TraceLevel::WARN, scope, message),
        TraceLevel::ERROR => plugin_event!(TraceLevel::ERROR, scope, message),
    }
}

impl State {
    /// Keeps a kv write for when the call returns; a call cannot hold more writes than its
    /// plugin's quota.
    fn pend_kv(&mut self, key: String, value: Option<Vec<u8>>) -> wasmtime::Result<()> {
        let scope = &mut self.scope;
        let size = |key: &str, value: &Option<Vec<u8>>| (key.len() + value.as_ref().map_or(0, Vec::len)) as u64;
        let replaced = scope.kv_writes.get(&key).map_or(0, |old| size(&key, old));
        let written = scope.kv_written - replaced + size(&key, &value);
        if written > scope.limits.max_kv_bytes {
            wasmtime::bail!(
                "kv writes of {written} bytes in one call are over the plugin's limit of {} (max_kv_bytes)",
                scope.limits.max_kv_bytes
            );
        }
        scope.kv_written = written;
        scope.kv_writes.insert(key, value);
        Ok(())
    }
}

fn check_key(key: &str) -> wasmtime::Result<()> {
    if key.len() > MAX_KV_KEY {
        wasmtime::bail!("kv key of {} bytes is over the limit of {MAX_KV_KEY}", key.len());
    }
    Ok(())
}

impl Host for State {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            Level::Trace => TraceLevel::TRACE,
            Level::Debug => TraceLevel::DEBUG,
            Level::Info => TraceLevel::INFO,
            Level::Warn => TraceLevel::WARN,
            Level::Error => TraceLevel::ERROR,
        };
        if !self.scope.admit_line() {
            return Ok(());
        }
        log_line(&self.scope, level, &message);
        if let Some(observer) = &self.scope.observer {
            observer.log(&self.scope.plugin, level, &message);
        }
        Ok(())
    }

    fn progress(&mut self, percent: u8, message: String) -> wasmtime::Result<()> {
        let percent = percent.min(100);
        tracing::debug!(plugin = %self.scope.plugin, task = %self.scope.task_id, percent, %message, "progress");
        if let Some(observer) = &self.scope.observer {
            observer.progress(percent, &message);
        }
        Ok(())
    }

    fn emit_event(&mut self, event_type: String, data: String) -> wasmtime::Result<()> {
        if self.scope.events.len() >= self.scope.limits.max_events as usize {
            self.scope.dropped_events += 1;
            return Ok(());
        }
        // A plugin that sends malformed JSON still gets its event out, as a string.
        let data = serde_json::from_str(&data).unwrap_or(serde_json::Value::String(data));
        let event = EmittedEvent { event_type, data };
        if let Some(observer) = &self.scope.observer {
            observer.event(&event);
        }
        self.scope.events.push(event);
        Ok(())
    }

    async fn kv_get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        check_key(&key)?;
        // The call's own writes first: they are applied when it returns.
        if let Some(pending) = self.scope.kv_writes.get(&key) {
            return Ok(pending.clone());
        }
        // A store read may wait for the disk: off the async workers.
        let (kv, plugin) = (self.scope.kv.clone(), self.scope.plugin.clone());
        let read = tokio::task::spawn_blocking(move || kv.get(&plugin, &key)).await;
        read.map_err(|e| wasmtime::format_err!("the kv read stopped: {e}"))?.map_err(wasmtime::Error::from_anyhow)
    }

    fn kv_set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<()> {
        check_key(&key)?;
        if value.len() > MAX_KV_VALUE {
            wasmtime::bail!("kv value of {} bytes is over the limit of {MAX_KV_VALUE}", value.len());
        }
        self.pend_kv(key, Some(value))
    }

    fn kv_delete(&mut self, key: String) -> wasmtime::Result<()> {
        check_key(&key)?;
        self.pend_kv(key, None)
    }

    fn secret(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        Ok(self.secrets.get(&name).cloned())
    }
}

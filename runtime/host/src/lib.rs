//! The Harmonia component host: loads WebAssembly components from a plugins directory,
//! sandboxes them according to their manifests, and calls their actions, one fresh and
//! limited instance per call.
//!
//! It implements the runner's task-runner seam ([`harmonia_runner::TaskRunner`]): the runner
//! hands it task calls and gets their results or failures. It knows nothing of HTTP
//! serving; plugins' durable key-value storage comes in through [`KvStore`] ([`StoreKv`]
//! keeps it in a `harmonia_store::Store`).

mod bindings;
mod engine;
mod error;
mod install;
mod kv;
mod manifest;
mod plugin;
mod registry;
mod state;
mod stdio;
mod store_kv;
mod warm;
mod watch;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use wasmtime::Engine;
use wasmtime::component::{HasSelf, Linker};

pub use error::{CallError, HostError};
use harmonia_model::PluginCatalog;
pub use harmonia_runner::{CallObserver, EmittedEvent, Failure, TaskCall};
use harmonia_runner::{TaskFuture, TaskRunner};
pub use install::{InstallError, Installed, ManifestChange, RemoveError, Removed, check_plugin_name};
pub use kv::{KvQuotaExceeded, KvStore, KvWrites, MemKv, size_after};
pub use manifest::{DirGrant, HostPattern, Manifest};
pub use plugin::Plugin;
pub use registry::{LoadFailure, LoadReport};
pub use store_kv::StoreKv;
pub use watch::Watcher;

use engine::CompileCache;
use registry::Registry;
use state::{Sandbox, State};

/// How the host is set up.
#[derive(Clone)]
pub struct HostConfig {
    /// Where `*.wasm` plugins and their `*.toml` manifests are.
    pub plugins_dir: PathBuf,
    /// Where compiled components are cached (their key is made there too); `None`
    /// disables the cache. Never in the plugins directory: [`Host::new`] refuses that.
    pub cache_dir: Option<PathBuf>,
    /// The directory relative manifest paths are taken from (the process's working directory).
    pub work_dir: PathBuf,
    /// Values of secrets by name; a plugin reads only those its manifest grants.
    /// `HARMONIA_SECRET_<NAME>` environment variables fill in the ones not given here.
    pub secrets: HashMap<String, String>,
    /// How many instances may exist at once (the size of the instance pool).
    pub slots: u32,
    /// Count fuel, so that manifests may set a `fuel` budget per call (costs some speed).
    pub fuel: bool,
    /// Where plugins' `kv-get`/`kv-set` go.
    pub kv: Arc<dyn KvStore>,
    /// What one call may produce, at most; a manifest may only lower these.
    pub call_limits: CallLimits,
    /// Directories no plugin may see (the server's data directory: other plugins' kv data,
    /// workflows, inputs, tokens): a manifest granting one of them, or a directory that
    /// holds one, fails its plugin's load. The compile cache is always among them.
    pub protected: Vec<PathBuf>,
}

impl HostConfig {
    /// Defaults for a plugins directory: the user's compile cache ([`user_cache_dir`]),
    /// in-memory kv.
    pub fn new(plugins_dir: impl Into<PathBuf>) -> HostConfig {
        let plugins_dir = plugins_dir.into();
        HostConfig {
            cache_dir: user_cache_dir(),
            plugins_dir,
            work_dir: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            secrets: HashMap::new(),
            slots: 256,
            fuel: false,
            kv: Arc::new(MemKv::default()),
            protected: Vec::new(),
            call_limits: CallLimits::default(),
        }
    }
}

/// A call that ran to its end: the plugin's output or the failure it reported.
#[derive(Debug)]
pub struct CallOutcome {
    pub output: Result<Value, Failure>,
    pub events: Vec<EmittedEvent>,
    pub duration: Duration,
}

/// An action a plugin offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionInfo {
    pub name: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
}

impl From<bindings::ActionInfo> for ActionInfo {
    fn from(a: bindings::ActionInfo) -> ActionInfo {
        let parse = |s: Option<String>| s.map(|s| serde_json::from_str(&s).unwrap_or(Value::String(s)));
        ActionInfo {
            name: a.name,
            description: a.description,
            input_schema: parse(a.input_schema),
            output_schema: parse(a.output_schema),
        }
    }
}

/// A task failure a plugin reported (`task-error` in the WIT): a [`Failure`] of the kind
/// the WIT names (`invalid_input`, `retryable`, `fatal`, `unknown_action`).
impl From<bindings::TaskError> for Failure {
    fn from(e: bindings::TaskError) -> Failure {
        let kind = match e.kind {
            bindings::ErrorKind::InvalidInput => "invalid_input",
            bindings::ErrorKind::Retryable => "retryable",
            bindings::ErrorKind::Fatal => "fatal",
            bindings::ErrorKind::UnknownAction => "unknown_action",
        };
        Failure {
            code: e.code,
            details: e.details.map(|d| serde_json::from_str(&d).unwrap_or(Value::String(d))),
            retry_after_ms: e.retry_after_ms,
            ..Failure::new(kind, e.message)
        }
    }
}

/// What every plugin and call shares.
pub(crate) struct HostShared {
    pub engine: Engine,
    pub cache: Arc<CompileCache>,
    pub kv: Arc<dyn KvStore>,
    pub work_dir: PathBuf,
    pub secrets: HashMap<String, String>,
    pub slots: u32,
    pub slots_sem: Arc<tokio::sync::Semaphore>,
    /// Places for parked warm instances: at most a quarter of the slots and never all of
    /// them, so that calls waiting for a slot always get one from a finishing call.
    pub warm_places: Arc<tokio::sync::Semaphore>,
    pub fuel: bool,
    pub pooling: bool,
    /// [`HostConfig::protected`] and the compile cache, canonical.
    pub protected: Vec<PathBuf>,
    pub call_limits: CallLimits,
}

impl HostShared {
    /// Refuses granted directories that are protected, in one, or hold one.
    fn check_grants(&self, dirs: &[manifest::ResolvedDir]) -> Result<(), String> {
        for dir in dirs {
            if let Some(protected) = self.protected.iter().find(|p| p.starts_with(&dir.host) || dir.host.starts_with(p))
            {
                return Err(format!(
                    "its manifest grants {}, which would expose {} (the server's data or compiled plugins): \
                     grant a directory that neither holds it nor is in it",
                    dir.host.display(),
                    protected.display()
                ));
            }
        }
        Ok(())
    }

    /// The sandbox a manifest describes, with `memory_limit` (the manifest's, within the
    /// operator's cap).
    fn sandbox_for(&self, manifest: &Manifest, memory_limit: u64) -> Sandbox {
        // A granted directory that does not exist here (the bundled reader's documents, run
        // from another directory) is left out: the plugin loads, and sees nothing there.
        let (dirs, missing): (Vec<_>, Vec<_>) =
            manifest.resolved_dirs(&self.work_dir).into_iter().partition(|d| d.host.is_dir());
        for dir in missing {
            tracing::warn!(dir = %dir.host.display(), "a granted directory does not exist: left out of the sandbox");
        }
        let mut env: Vec<(String, String)> =
            manifest.env.iter().filter_map(|k| std::env::var(k).ok().map(|v| (k.clone(), v))).collect();
        // A plugin that sees the host's working directory, or a directory at its own host
        // path (so that the guest shares the host's paths), resolves relative paths from the
        // host's working directory.
        let work_dir = std::fs::canonicalize(&self.work_dir).unwrap_or_else(|_| self.work_dir.clone());
        let cwd = dirs.iter().find(|d| d.host == work_dir).map(|d| d.guest.clone()).or_else(|| {
            let same_paths = dirs.iter().any(|d| Path::new(&d.guest) == d.host);
            same_paths.then(|| work_dir.to_string_lossy().into_owned())
        });
        if let Some(cwd) = &cwd {
            env.push(("PWD".into(), cwd.clone()));
        }
        let secrets = manifest
            .secrets
            .iter()
            .filter_map(|name| {
                let value = self
                    .secrets
                    .get(name)
                    .cloned()
                    .or_else(|| std::env::var(format!("HARMONIA_SECRET_{}", name.to_ascii_uppercase())).ok());
                value.map(|v| (name.clone(), v))
            })
            .collect();
        Sandbox {
            dirs,
            env,
            cwd,
            allowed_hosts: Arc::new(manifest.host_patterns()),
            secrets: Arc::new(secrets),
            memory_limit,
        }
    }
}

/// Drops warm instances that sat unused for [`warm::WARM_IDLE`], once a second, until
/// the host is dropped.
fn start_warm_sweeper(host: std::sync::Weak<HostInner>) {
    std::thread::Builder::new()
        .name("harmonia-warm-sweeper".into())
        .spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(1));
                let Some(host) = host.upgrade() else { return };
                let plugins = host.registry.read().expect("registry lock").all();
                for plugin in plugins {
                    plugin.evict_idle(warm::WARM_IDLE);
                }
            }
        })
        .expect("spawn warm sweeper thread");
}

/// The component host. Cheap to clone; all clones share plugins and the engine.
#[derive(Clone)]
pub struct Host {
    inner: Arc<HostInner>,
}

struct HostInner {
    config: HostConfig,
    shared: HostShared,
    linker: Linker<State>,
    registry: std::sync::RwLock<Registry>,
    stop_ticker: Arc<AtomicBool>,
}

impl Drop for HostInner {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

/// What one call may produce: a bigger output fails the call with a clear error; log lines
/// (with stdout and stderr lines) and events past their limit are dropped, and one line
/// says how many. Operator-wide (`HostConfig::call_limits`); a manifest may only lower them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CallLimits {
    /// Bytes of the output's JSON (`max_task_output`, 4 MiB by default).
    pub max_output_bytes: usize,
    /// Log lines, stdout and stderr lines included (`max_log_lines`, 1,000 by default).
    pub max_log_lines: u32,
    /// Events emitted (`max_events`, 1,000 by default).
    pub max_events: u32,
    /// Bytes of keys and values a plugin's kv space holds (`max_kv_bytes`, 64 MiB).
    pub max_kv_bytes: u64,
    /// Linear memory of one instance (`max_plugin_memory_mb`, 1 GiB): a manifest's
    /// `memory_mb` above it is lowered to it.
    pub max_memory_bytes: u64,
    /// Calls of one plugin at once (`max_plugin_concurrency`, 64): a manifest's
    /// `max_concurrency` above it is lowered to it.
    pub max_concurrency: u32,
}

impl Default for CallLimits {
    fn default() -> CallLimits {
        CallLimits {
            max_output_bytes: 4 << 20,
            max_log_lines: 1_000,
            max_events: 1_000,
            max_kv_bytes: 64 << 20,
            max_memory_bytes: 1 << 30,
            max_concurrency: 64,
        }
    }
}

impl CallLimits {
    /// These limits, lowered where `manifest` lowers them.
    pub(crate) fn lowered_by(self, manifest: &Manifest) -> CallLimits {
        CallLimits {
            max_output_bytes: manifest.max_output_bytes.map_or(self.max_output_bytes, |m| m.min(self.max_output_bytes)),
            max_log_lines: manifest.max_log_lines.map_or(self.max_log_lines, |m| m.min(self.max_log_lines)),
            max_events: manifest.max_events.map_or(self.max_events, |m| m.min(self.max_events)),
            max_kv_bytes: manifest.max_kv_bytes.map_or(self.max_kv_bytes, |m| m.min(self.max_kv_bytes)),
            max_memory_bytes: manifest.memory_limit_bytes().min(self.max_memory_bytes),
            max_concurrency: manifest.max_concurrency.map_or(self.max_concurrency, |m| m.min(self.max_concurrency)),
        }
    }
}

/// The user's compile cache: `$XDG_CACHE_HOME/harmonia/compiled`, else
/// `$HOME/.cache/harmonia/compiled`; none without either.
pub fn user_cache_dir() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").filter(|v| !v.is_empty())?).join(".cache"),
    };
    Some(base.join("harmonia").join("compiled"))
}

impl Host {
    /// Starts the engine. Plugins are loaded by [`Host::load_all`].
    pub fn new(mut config: HostConfig) -> Result<Host, HostError> {
        // One spelling of every plugin path: the watcher reports absolute paths, and the
        // registry keys plugins by file.
        if let Ok(dir) = std::fs::canonicalize(&config.plugins_dir) {
            config.plugins_dir = dir;
        }
        let (engine, pooling) = engine::build_engine(config.slots, config.fuel)?;
        let mut linker = Linker::<State>::new(&engine);
        let link_err = |e: wasmtime::Error| HostError::Engine(format!("{e:#}"));
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(link_err)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(link_err)?;
        bindings::Adapter::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s).map_err(link_err)?;
        let stop_ticker = Arc::new(AtomicBool::new(false));
        engine::start_epoch_ticker(engine.clone(), stop_ticker.clone());
        let cache = CompileCache::new(&engine, config.cache_dir.clone(), &config.plugins_dir)?;
        let mut protected: Vec<PathBuf> =
            config.protected.iter().map(|p| manifest::resolve(&config.work_dir, p)).collect();
        protected.extend(cache.dir().map(Path::to_path_buf));
        let shared = HostShared {
            cache: Arc::new(cache),
            protected,
            call_limits: config.call_limits,
            engine,
            kv: config.kv.clone(),
            work_dir: config.work_dir.clone(),
            secrets: config.secrets.clone(),
            slots: config.slots,
            slots_sem: Arc::new(tokio::sync::Semaphore::new(config.slots as usize)),
            warm_places: Arc::new(tokio::sync::Semaphore::new(config.slots.saturating_sub(1) as usize / 4)),
            fuel: config.fuel,
            pooling,
        };
        let inner = HostInner { config, shared, linker, registry: Default::default(), stop_ticker };
        let inner = Arc::new(inner);
        start_warm_sweeper(Arc::downgrade(&inner));
        Ok(Host { inner })
    }

    /// The plugins directory.
    pub fn plugins_dir(&self) -> &std::path::Path {
        &self.inner.config.plugins_dir
    }

    /// Whether instances come from the pooling allocator (else on-demand).
    pub fn uses_pooling(&self) -> bool {
        self.inner.shared.pooling
    }

    /// The loaded plugin of that name.
    pub fn plugin(&self, name: &str) -> Option<Arc<Plugin>> {
        self.inner.registry.read().expect("registry lock").get(name)
    }

    /// Every loaded plugin, by name.
    pub fn plugins(&self) -> Vec<Arc<Plugin>> {
        self.inner.registry.read().expect("registry lock").all()
    }

    /// Files that failed to load, with the reason.
    pub fn failures(&self) -> Vec<LoadFailure> {
        self.inner.registry.read().expect("registry lock").failures()
    }

    /// Calls one action of a plugin in a fresh instance.
    pub async fn invoke(&self, call: TaskCall) -> Result<CallOutcome, CallError> {
        let plugin = self.plugin(&call.component).ok_or_else(|| CallError::UnknownPlugin(call.component.clone()))?;
        plugin.call(&self.inner.shared, call).await
    }
}

/// The host carries out the runner's task calls: a call's failure, the plugin's or the
/// host's (a trap, a timeout), is the task's.
impl TaskRunner for Host {
    #[allow(clippy::result_large_err, reason = "a Failure is what the call reports")]
    fn run(&self, call: TaskCall) -> TaskFuture {
        let host = self.clone();
        Box::pin(async move { host.invoke(call).await.map_err(Failure::from).and_then(|outcome| outcome.output) })
    }
}

/// The loaded plugins, for checking workflows.
impl PluginCatalog for Host {
    fn check(&self, component: &str, action: &str) -> Result<(), String> {
        let Some(plugin) = self.plugin(component) else {
            let names: Vec<String> = self.plugins().iter().map(|p| p.name.clone()).collect();
            return Err(format!("unknown plugin `{component}` (loaded: {})", names.join(", ")));
        };
        if plugin.actions.iter().any(|a| a.name == action) {
            return Ok(());
        }
        let actions: Vec<&str> = plugin.actions.iter().map(|a| a.name.as_str()).collect();
        Err(format!("plugin `{component}` has no action `{action}` (it has: {})", actions.join(", ")))
    }

    fn input_schema(&self, component: &str, action: &str) -> Option<Value> {
        let plugin = self.plugin(component)?;
        plugin.actions.iter().find(|a| a.name == action)?.input_schema.clone()
    }
}

//! One loaded plugin: its compiled, pre-linked component, what it says about itself, its
//! sandbox, and the per-call path (fresh or warm instance, limits, deadline, result mapping).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Semaphore;
use wasmtime::component::Linker;
use wasmtime::{Store, UpdateDeadline};

use crate::bindings::{self, AdapterPre, Invocation};
use crate::engine::CompileCache;
use crate::error::{CallError, HostError};
use crate::manifest::{DEFAULT_TIMEOUT_MS, Manifest};
use crate::state::{CallScope, Sandbox, State};
use crate::warm::{Instance, WarmPool};
use crate::{ActionInfo, CallOutcome, Failure, HostShared, TaskCall};

/// How long `describe` may take when a plugin is loaded.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(10);

/// A plugin that loaded: ready to be called.
#[derive(Serialize)]
pub struct Plugin {
    pub name: String,
    pub version: String,
    pub description: String,
    pub actions: Vec<ActionInfo>,
    /// What the plugin says it needs.
    pub capabilities: Vec<String>,
    /// What its manifest grants (`fs-ro:/path`, `http:host`, `env:NAME`, `secret:NAME`).
    pub grants: Vec<String>,
    pub file: PathBuf,
    pub size_bytes: u64,
    /// The content hash of the `.wasm` (sha-256, first 16 bytes).
    pub hash: String,
    /// Whether the compiled artifact came from the on-disk cache.
    pub from_cache: bool,
    pub memory_limit_bytes: u64,
    pub max_concurrency: u32,
    #[serde(skip)]
    pub(crate) manifest: Manifest,
    #[serde(skip)]
    pre: AdapterPre<State>,
    #[serde(skip)]
    sandbox: Sandbox,
    #[serde(skip)]
    permits: Arc<Semaphore>,
    /// Calls one instance may serve (manifest `reuse_instance`; 1: a fresh one each call).
    pub reuse_instance: u32,
    /// What one call may produce (the host's limits, lowered by the manifest).
    pub limits: crate::CallLimits,
    #[serde(skip)]
    warm: WarmPool,
}

/// What a guest entry point returned.
enum Entry {
    Describe,
    Invoke(Invocation),
}

enum Returned {
    Info(bindings::PluginInfo),
    Output(Result<String, bindings::TaskError>),
}

/// The first bytes of a file tell a component from a core module or from garbage.
fn check_header(bytes: &[u8]) -> Result<(), String> {
    match bytes.get(..8) {
        Some([0, b'a', b's', b'm', 0x0d, 0, 1, 0]) => Ok(()),
        Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => Err("this is a core WebAssembly module, not a component; \
             build it as a component (for example `--target wasm32-wasip2`, or `wasm-tools component new`)"
            .into()),
        Some([0, b'a', b's', b'm', ..]) => Err("unsupported WebAssembly version or layer".into()),
        _ => Err("not a WebAssembly file (it does not start with \\0asm)".into()),
    }
}

/// A plugin name must be usable in workflows and file names.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    let ok =
        !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok { Ok(()) } else { Err(format!("plugin name {name:?} must be 1-64 characters of a-z, 0-9, - and _")) }
}

impl Plugin {
    /// Loads, compiles (or takes from the cache), links and describes one `.wasm` file.
    pub(crate) async fn load(shared: &HostShared, linker: &Linker<State>, path: &Path) -> Result<Plugin, HostError> {
        let fail = |reason: String| HostError::Load { file: path.to_path_buf(), reason };
        let bytes = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
        check_header(&bytes).map_err(fail)?;
        let manifest_path = path.with_extension("toml");
        let manifest = if manifest_path.exists() { Manifest::load(&manifest_path)? } else { Manifest::default() };
        // What its calls may produce and hold: the operator's limits, lowered by the manifest.
        let limits = shared.call_limits.lowered_by(&manifest);
        // The directories the plugin would see, resolved once: checked before the compile.
        let sandbox = shared.sandbox_for(&manifest, limits.max_memory_bytes);
        shared.check_grants(&sandbox.dirs).map_err(fail)?;
        let hash = CompileCache::content_hash(&bytes);
        let size_bytes = bytes.len() as u64;
        let engine = shared.engine.clone();
        let cache = shared.cache.clone();
        let hash2 = hash.clone();
        // Compiling takes milliseconds to seconds of CPU: keep it off the async workers.
        let (component, from_cache) = tokio::task::spawn_blocking(move || cache.load(&engine, &bytes, &hash2))
            .await
            .map_err(|e| fail(e.to_string()))?
            .map_err(|e| fail(format!("not a valid component: {e:#}")))?;
        let instance_pre = linker
            .instantiate_pre(&component)
            .map_err(|e| fail(format!("needs imports the host does not offer: {e:#}")))?;
        let pre = AdapterPre::new(instance_pre)
            .map_err(|e| fail(format!("does not implement the harmonia:plugin/adapter world: {e:#}")))?;
        let max_concurrency = limits.max_concurrency.min(shared.slots);
        let reuse_instance = manifest.reuse_instance.unwrap_or(1);
        let mut plugin = Plugin {
            name: String::new(),
            version: String::new(),
            description: String::new(),
            actions: Vec::new(),
            capabilities: Vec::new(),
            grants: manifest.grants(&shared.work_dir),
            file: path.to_path_buf(),
            size_bytes,
            hash,
            from_cache,
            memory_limit_bytes: limits.max_memory_bytes,
            max_concurrency,
            limits,
            manifest,
            pre,
            sandbox,
            permits: Arc::new(Semaphore::new(max_concurrency as usize)),
            reuse_instance,
            warm: WarmPool::new(reuse_instance, max_concurrency),
        };
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let scope_name: Arc<str> = Arc::from(stem.as_str());
        let info = match plugin.run_entry(shared, scope_name, "describe", Entry::Describe, DESCRIBE_TIMEOUT).await {
            Ok((Returned::Info(info), _)) => info,
            Ok(_) => unreachable!("describe returns plugin info"),
            Err(e) => return Err(fail(format!("describe failed: {e}"))),
        };
        check_name(&info.name).map_err(fail)?;
        plugin.name = info.name;
        plugin.version = info.version;
        plugin.description = info.description;
        plugin.capabilities = info.capabilities;
        plugin.actions = info.actions.into_iter().map(ActionInfo::from).collect();
        Ok(plugin)
    }

    /// Runs one task call.
    pub(crate) async fn call(&self, shared: &HostShared, call: TaskCall) -> Result<CallOutcome, CallError> {
        if !self.actions.iter().any(|a| a.name == call.action) {
            return Err(CallError::UnknownAction {
                plugin: self.name.clone(),
                action: call.action,
                available: self.actions.iter().map(|a| a.name.clone()).collect(),
            });
        }
        let timeout = call
            .timeout
            .or(self.manifest.timeout_ms.map(Duration::from_millis))
            .unwrap_or(Duration::from_millis(DEFAULT_TIMEOUT_MS));
        let deadline_ms = std::time::SystemTime::now()
            .checked_add(timeout)
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as u64);
        let invocation = Invocation {
            action: call.action.clone(),
            input: call.input.to_string(),
            execution_id: call.execution_id.clone(),
            task_id: call.task_id.clone(),
            attempt: call.attempt,
            idempotency_key: call.idempotency_key.clone(),
            deadline_ms,
        };
        let _permit = self.permits.acquire().await.expect("plugin semaphore is never closed");
        let started = Instant::now();
        let scope = CallScope {
            execution_id: call.execution_id,
            task_id: call.task_id,
            observer: call.observer,
            ..CallScope::new(Arc::from(self.name.as_str()), call.action.clone(), self.limits, shared.kv.clone())
        };
        let (returned, events, kv_writes) = self.run_scoped(shared, scope, Entry::Invoke(invocation), timeout).await?;
        let Returned::Output(result) = returned else { unreachable!("invoke returns an output") };
        // The call returned: its kv writes take effect, all of them or (over the quota) none.
        let result = self.write_kv(shared, kv_writes).await.and(result.map_err(Failure::from));
        let output = match result {
            // Refused before it is parsed: a 120 MB output stalled every other call while it
            // was parsed, stored and sent.
            Ok(text) if text.len() > self.limits.max_output_bytes => Err(Failure::new(
                "fatal",
                format!(
                    "the output is {} bytes, over the limit of {} a call (max_task_output, or the manifest's max_output_bytes)",
                    text.len(),
                    self.limits.max_output_bytes
                ),
            )
            .with_code("output_too_large")),
            Ok(text) => Ok(serde_json::from_str(&text).map_err(|e| CallError::Trap {
                plugin: self.name.clone(),
                action: call.action.clone(),
                message: format!("the plugin returned invalid JSON: {e}"),
            })?),
            Err(e) => Err(e),
        };
        Ok(CallOutcome { output, events, duration: started.elapsed() })
    }

    /// Applies a returned call's kv writes (off the async workers: the store syncs); a
    /// refusal is the call's error.
    async fn write_kv(&self, shared: &HostShared, writes: crate::KvWrites) -> Result<(), Failure> {
        if writes.is_empty() {
            return Ok(());
        }
        let (kv, plugin, max) = (shared.kv.clone(), self.name.clone(), self.limits.max_kv_bytes);
        let written = tokio::task::spawn_blocking(move || kv.write(&plugin, &writes, max)).await;
        let error = match written {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => e,
            Err(e) => anyhow::anyhow!("the kv write stopped: {e}"),
        };
        let quota = error.downcast_ref::<crate::KvQuotaExceeded>().is_some();
        let kind = if quota { "fatal" } else { "retryable" };
        Err(Failure::new(kind, format!("{error:#}")).with_code(if quota { "kv_quota" } else { "kv_write" }))
    }

    async fn run_entry(
        &self,
        shared: &HostShared,
        plugin: Arc<str>,
        action: &str,
        entry: Entry,
        timeout: Duration,
    ) -> Result<(Returned, Vec<crate::EmittedEvent>), CallError> {
        let scope = CallScope::new(plugin, action.to_string(), self.limits, shared.kv.clone());
        let (returned, events, _writes) = self.run_scoped(shared, scope, entry, timeout).await?;
        Ok((returned, events))
    }

    /// Calls one export in a warm instance (when the manifest allows reuse and one is
    /// parked) or in a fresh one, within the call's limits and deadline.
    async fn run_scoped(
        &self,
        shared: &HostShared,
        scope: CallScope,
        entry: Entry,
        timeout: Duration,
    ) -> Result<(Returned, Vec<crate::EmittedEvent>, crate::KvWrites), CallError> {
        let plugin_name = scope.plugin.to_string();
        let action = scope.action.clone();
        let mut instance = match self.warm.take() {
            Some(mut warm) => {
                warm.store.data_mut().begin(scope);
                warm
            }
            None => self.new_instance(shared, scope).await?,
        };
        instance.calls += 1;
        self.arm(shared, &mut instance.store, timeout);
        let store = &mut instance.store;
        let adapter = instance.adapter.take();
        let run = async {
            let adapter = match adapter {
                Some(adapter) => adapter,
                None => self.pre.instantiate_async(&mut *store).await?,
            };
            let returned = match entry {
                Entry::Describe => adapter.call_describe(&mut *store).await.map(Returned::Info),
                Entry::Invoke(inv) => adapter.call_invoke(&mut *store, &inv).await.map(Returned::Output),
            }?;
            Ok::<_, wasmtime::Error>((adapter, returned))
        };
        // The epoch callback stops guest code; this also stops a guest waiting in the host
        // (a sleep, an HTTP request), where no epoch check runs.
        let result = tokio::time::timeout(timeout, run).await;
        let stderr = flush_stdio(instance.store.data_mut());
        let state = instance.store.data_mut();
        note_dropped(&state.scope);
        let events = std::mem::take(&mut state.scope.events);
        let kv_writes = std::mem::take(&mut state.scope.kv_writes);
        match result {
            Ok(Ok((adapter, returned))) => {
                // An instance that reached its memory limit cannot shrink: the next call
                // would start at the limit, so it is not kept.
                if !state.limiter.hit {
                    state.end();
                    instance.adapter = Some(adapter);
                    self.warm.park(instance, &shared.warm_places);
                }
                Ok((returned, events, kv_writes))
            }
            // A trapped or interrupted instance is never used again; its kv writes are
            // dropped with it.
            Err(_elapsed) => Err(CallError::Timeout { plugin: plugin_name, action, after: timeout }),
            Ok(Err(e)) => Err(classify_trap(state, e, plugin_name, action, timeout, &stderr)),
        }
    }

    /// A new limited store holding a pool slot; the component is instantiated in it by
    /// the call, inside the call's deadline.
    async fn new_instance(&self, shared: &HostShared, scope: CallScope) -> Result<Instance, CallError> {
        let slot = shared.slots_sem.clone().acquire_owned().await.expect("slot semaphore is never closed");
        let state = State::new(&self.sandbox, scope)
            .map_err(|e| CallError::Instantiate { plugin: self.name.clone(), message: format!("{e:#}") })?;
        let mut store = Store::new(&shared.engine, state);
        store.limiter(|s| &mut s.limiter);
        Ok(Instance { store, adapter: None, calls: 0, _slot: slot })
    }

    /// Sets the call's fuel and deadline on a store.
    fn arm(&self, shared: &HostShared, store: &mut Store<State>, timeout: Duration) {
        if shared.fuel {
            store.set_fuel(self.manifest.fuel.unwrap_or(u64::MAX)).expect("fuel is enabled");
        }
        let deadline = Instant::now() + timeout;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |mut ctx| {
            if Instant::now() >= deadline {
                ctx.data_mut().timed_out = true;
                wasmtime::bail!("deadline exceeded");
            }
            Ok(UpdateDeadline::Yield(1))
        });
    }

    /// Drops warm instances unused for `idle`.
    pub(crate) fn evict_idle(&self, idle: Duration) {
        self.warm.evict_idle(idle);
    }

    /// How many warm instances are parked, ready for the next call.
    pub fn warm_instances(&self) -> usize {
        self.warm.parked()
    }
}

/// Turns a wasmtime error into the call error that says what happened: the trap in a few
/// words (its wasm backtrace goes to the debug log, not to the task), with what the plugin
/// said last on stderr, where a Rust guest writes its panic message before it traps.
fn classify_trap(
    state: &State,
    e: wasmtime::Error,
    plugin: String,
    action: String,
    timeout: Duration,
    stderr: &str,
) -> CallError {
    if state.timed_out {
        return CallError::Timeout { plugin, action, after: timeout };
    }
    if state.limiter.hit {
        return CallError::MemoryLimit { plugin, action, limit_bytes: state.limiter.limit() };
    }
    let trap = e.downcast_ref::<wasmtime::Trap>();
    if matches!(trap, Some(wasmtime::Trap::OutOfFuel)) {
        return CallError::FuelExhausted { plugin, action };
    }
    tracing::debug!(%plugin, %action, "trap: {e:?}");
    let what = match trap {
        Some(wasmtime::Trap::StackOverflow) => {
            "stack overflow: the plugin recursed deeper than its stack allows".to_owned()
        }
        // A Rust or C guest's own stack lives in its linear memory: running off its end is
        // an out-of-bounds access, deep in a recursion.
        Some(wasmtime::Trap::MemoryOutOfBounds) => match recursion(&e) {
            Some(function) => {
                let in_function = function.map(|f| format!(" (in {f})")).unwrap_or_default();
                format!("stack overflow: the plugin recursed deeper than its stack allows{in_function}")
            }
            None => "out of bounds memory access".to_owned(),
        },
        Some(trap) => trap.to_string(),
        None => format!("{:#}", e.root_cause()),
    };
    let message = match last_words(stderr) {
        Some(words) => format!("{what}; {words}"),
        None => what,
    };
    CallError::Trap { plugin, action, message }
}

/// Whether a trap's wasm backtrace is a recursion: the 16 innermost frames (wasmtime keeps
/// 20) all one function; with its name, where the component kept names.
fn recursion(e: &wasmtime::Error) -> Option<Option<String>> {
    let frames = e.downcast_ref::<wasmtime::WasmBacktrace>()?.frames();
    let innermost = frames.get(..16)?;
    let first = innermost[0].func_index();
    innermost.iter().all(|f| f.func_index() == first).then(|| innermost[0].func_name().map(short_name))
}

/// A function name without its path and Rust hash (`core::control::recurse::h0123456789abcdef`
/// is `recurse`).
fn short_name(name: &str) -> String {
    let name = name.rsplit_once("::h").filter(|(_, hash)| hash.len() == 16).map_or(name, |(n, _)| n);
    format!("`{}`", name.rsplit("::").next().unwrap_or(name))
}

/// What a trapping guest said last on stderr: a Rust panic's location and message, or the
/// last few lines (at most 500 bytes).
fn last_words(stderr: &str) -> Option<String> {
    if let Some(at) = stderr.rfind("panicked at ") {
        let panic: Vec<&str> =
            stderr[at..].lines().filter(|l| !l.is_empty() && !l.starts_with("note: run with")).collect();
        return Some(format!("the plugin {}", bounded(&panic.join(" "), 500)));
    }
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(3)..].join(" | ");
    (!tail.is_empty()).then(|| format!("its stderr ended with: {}", bounded(&tail, 500)))
}

/// At most `max` bytes of `text`, cut at a character.
fn bounded(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// One line in the call's log saying what went over the call's limits, if anything did.
fn note_dropped(scope: &crate::state::CallScope) {
    if scope.dropped_lines == 0 && scope.dropped_events == 0 {
        return;
    }
    let limits = scope.limits;
    let line = format!(
        "{} log lines and {} events of this call were dropped: over the limits of {} lines and {} events a call \
         (max_log_lines, max_events)",
        scope.dropped_lines, scope.dropped_events, limits.max_log_lines, limits.max_events
    );
    bindings::log_line(scope, tracing::Level::WARN, &line);
    if let Some(observer) = &scope.observer {
        observer.log(&scope.plugin, tracing::Level::WARN, &line);
    }
}

/// Sends what the guest wrote to stdout and stderr to the log, line by line (within the
/// call's limit of lines); returns what it wrote to stderr.
fn flush_stdio(state: &mut State) -> String {
    let (stdout, stderr) = (state.stdout.drain(), state.stderr.drain());
    for (bytes, level) in [(&stdout, tracing::Level::INFO), (&stderr, tracing::Level::WARN)] {
        for line in String::from_utf8_lossy(bytes).lines().filter(|l| !l.is_empty()) {
            if !state.scope.admit_line() {
                continue;
            }
            bindings::log_line(&state.scope, level, line);
            if let Some(observer) = &state.scope.observer {
                observer.log(&state.scope.plugin, level, line);
            }
        }
    }
    String::from_utf8_lossy(&stderr).into_owned()
}

//! The wasmtime engine: configuration, the pooling allocator with its on-demand fallback,
//! the epoch ticker behind call deadlines, and the on-disk cache of compiled components.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::error::HostError;

/// How often the epoch advances: the granularity of deadlines and of cooperative yields.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Builds the engine: pooling allocator sized for `slots` concurrent instances, falling
/// back to on-demand allocation where the address space is too small for the pool.
pub(crate) fn build_engine(slots: u32, fuel: bool) -> Result<(Engine, bool), HostError> {
    let mut config = base_config(fuel);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling_config(slots)));
    match Engine::new(&config) {
        Ok(engine) => Ok((engine, true)),
        Err(e) => {
            tracing::warn!(error = %e, "pooling allocator unavailable, using on-demand allocation");
            let config = base_config(fuel);
            let engine = Engine::new(&config).map_err(|e| HostError::Engine(e.to_string()))?;
            Ok((engine, false))
        }
    }
}

fn base_config(fuel: bool) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.consume_fuel(fuel);
    // Fresh instances map their memory image copy-on-write instead of copying it.
    config.memory_init_cow(true);
    config.cranelift_opt_level(wasmtime::OptLevel::Speed);
    // Interpreters compiled to wasm (QuickJS, CPython) recurse on the wasm stack: the
    // default 512 KiB stops QuickJS at about 700 nested JavaScript calls. 1 MiB still
    // leaves half of the 2 MiB async stack to the host functions the guest calls.
    config.max_wasm_stack(1 << 20);
    config
}

fn pooling_config(slots: u32) -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::default();
    // Components made by componentize-py and componentize-js hold several core instances,
    // memories and tables; a Rust guest holds one of each.
    pool.total_component_instances(slots)
        .total_core_instances(slots * 4)
        .total_memories(slots * 2)
        .total_tables(slots * 4)
        .total_stacks(slots)
        .max_core_instances_per_component(32)
        .max_memories_per_component(4)
        .max_tables_per_component(16)
        .max_memory_size(4 << 30)
        .table_elements(100_000)
        .max_component_instance_size(1 << 20)
        .max_core_instance_size(1 << 20)
        // Reset only the pages an instance dirtied, with memset, and keep them resident:
        // a fresh instance then takes no page faults. Measured: 8.5 faults and 55 us per
        // call without, none and 26 us with (host-call, loaded 2-core machine).
        .pagemap_scan(wasmtime::Enabled::Auto)
        .linear_memory_keep_resident(8 << 20)
        .table_keep_resident(1 << 20);
    pool
}

/// Starts the thread that advances the engine's epoch; it stops when `stop` is set.
pub(crate) fn start_epoch_ticker(engine: Engine, stop: Arc<AtomicBool>) {
    std::thread::Builder::new()
        .name("harmonia-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })
        .expect("spawn epoch ticker thread");
}

/// Compiled components on disk, keyed by the wasm's content hash and the engine's
/// compatibility hash, so that a restart with unchanged plugins compiles nothing.
pub(crate) struct CompileCache {
    dir: Option<PathBuf>,
    engine_key: String,
}

impl CompileCache {
    pub fn new(engine: &Engine, dir: Option<PathBuf>) -> CompileCache {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        env!("CARGO_PKG_VERSION").hash(&mut hasher);
        CompileCache { dir, engine_key: format!("{:016x}", hasher.finish()) }
    }

    /// The content hash of a component's bytes.
    pub fn content_hash(bytes: &[u8]) -> String {
        let digest = Sha256::digest(bytes);
        digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
    }

    /// Returns the compiled component and whether it came from the cache.
    pub fn load(&self, engine: &Engine, bytes: &[u8], hash: &str) -> wasmtime::Result<(Component, bool)> {
        let Some(dir) = &self.dir else {
            return Ok((Component::new(engine, bytes)?, false));
        };
        let path = dir.join(format!("{hash}-{}.cwasm", self.engine_key));
        // One compile per artifact at a time in this process: hosts started together (a
        // test suite, a server and its reload) wait for the first compile and then read
        // its result, instead of each spending seconds of CPU on a large guest.
        let lock = compile_lock(&path);
        let _compiling = lock.lock().unwrap_or_else(|e| e.into_inner());
        if path.exists() {
            // SAFETY: the file was written by `Component::serialize` of an engine with the
            // same compatibility hash (it is in the file name) into our own cache directory.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok((component, true)),
                Err(e) => tracing::warn!(file = %path.display(), error = %e, "ignoring unusable cached component"),
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Err(e) = write_atomically(dir, &path, &component.serialize()?) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot write the compile cache");
        }
        Ok((component, false))
    }
}

/// The process-wide lock of one cache file.
fn compile_lock(path: &Path) -> Arc<Mutex<()>> {
    static LOCKS: LazyLock<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>> = LazyLock::new(Default::default);
    let mut locks = LOCKS.lock().unwrap_or_else(|e| e.into_inner());
    locks.entry(path.to_path_buf()).or_default().clone()
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

//! The wasmtime engine: configuration, the pooling allocator with its on-demand fallback,
//! the epoch ticker behind call deadlines, and the on-disk cache of compiled components.
//!
//! A compiled component is native code that wasmtime maps and runs as it is, unchecked:
//! whoever can put a file where the host takes compiled components from runs code outside
//! the sandbox. So the cache is never in the plugins directory (a drop-in directory others
//! may write to: the host refuses such a cache), and every artefact carries an HMAC-SHA256
//! tag, keyed by a secret made in the cache directory on first use (readable by its owner
//! only), over the component's hash, the engine's key and the artefact. One without a valid
//! tag is compiled again and replaced.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use ring::hmac;
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
    /// The directory and the key of its tags.
    dir: Option<(PathBuf, hmac::Key)>,
    engine_key: String,
}

/// The file in the cache directory that holds the key of the tags.
const KEY_FILE: &str = "key";
/// Bytes of a tag, before the artefact in each file.
const TAG_LEN: usize = 32;

impl CompileCache {
    /// The cache in `dir` (made if missing, with its key), or none. Refused in the plugins
    /// directory or under it.
    pub fn new(engine: &Engine, dir: Option<PathBuf>, plugins_dir: &Path) -> Result<CompileCache, HostError> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        env!("CARGO_PKG_VERSION").hash(&mut hasher);
        let engine_key = format!("{:016x}", hasher.finish());
        let Some(dir) = dir else {
            return Ok(CompileCache { dir: None, engine_key });
        };
        let io = |e: std::io::Error| HostError::Io { path: dir.clone(), message: format!("compile cache: {e}") };
        std::fs::create_dir_all(&dir).map_err(io)?;
        let canonical = std::fs::canonicalize(&dir).map_err(io)?;
        if canonical.starts_with(plugins_dir) {
            return Err(HostError::Io {
                path: dir,
                message: "the compile cache must not be in the plugins directory: whoever may add a plugin could \
                          put native code there"
                    .into(),
            });
        }
        let key = cache_key(&canonical).map_err(io)?;
        Ok(CompileCache { dir: Some((canonical, key)), engine_key })
    }

    /// The directory of the cache, if there is one (canonical).
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_ref().map(|(dir, _)| dir.as_path())
    }

    /// The content hash of a component's bytes.
    pub fn content_hash(bytes: &[u8]) -> String {
        let digest = Sha256::digest(bytes);
        digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
    }

    /// Returns the compiled component and whether it came from the cache.
    pub fn load(&self, engine: &Engine, bytes: &[u8], hash: &str) -> wasmtime::Result<(Component, bool)> {
        let Some((dir, key)) = &self.dir else {
            return Ok((Component::new(engine, bytes)?, false));
        };
        let path = dir.join(format!("{hash}-{}.cwasm", self.engine_key));
        // One compile per artifact at a time in this process: hosts started together (a
        // test suite, a server and its reload) wait for the first compile and then read
        // its result, instead of each spending seconds of CPU on a large guest.
        let lock = compile_lock(&path);
        let _compiling = lock.lock().unwrap_or_else(|e| e.into_inner());
        if let Ok(file) = std::fs::read(&path) {
            match self.verified(key, hash, &file) {
                // SAFETY: the tag proves the artefact was written by `Component::serialize`
                // of a host holding this cache's key, for this component, and an engine
                // with the same compatibility hash (in the file name and the tag).
                Some(artefact) => match unsafe { Component::deserialize(engine, artefact) } {
                    Ok(component) => return Ok((component, true)),
                    Err(e) => {
                        tracing::warn!(file = %path.display(), error = %e, "ignoring an unusable cached component")
                    }
                },
                None => {
                    tracing::warn!(file = %path.display(), "ignoring a cached component whose tag does not match: compiling it again")
                }
            }
        }
        let component = Component::new(engine, bytes)?;
        let artefact = component.serialize()?;
        let tag = hmac::sign(key, &self.tagged(hash, &artefact));
        if let Err(e) = write_atomically(dir, &path, &[tag.as_ref(), &artefact].concat()) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot write the compile cache");
        }
        Ok((component, false))
    }

    /// What a tag covers: the component's hash, the engine's key and the artefact.
    fn tagged(&self, hash: &str, artefact: &[u8]) -> Vec<u8> {
        [hash.as_bytes(), b"\0", self.engine_key.as_bytes(), b"\0", artefact].concat()
    }

    /// The artefact of a cache file whose tag is right.
    fn verified<'f>(&self, key: &hmac::Key, hash: &str, file: &'f [u8]) -> Option<&'f [u8]> {
        let (tag, artefact) = file.split_at_checked(TAG_LEN)?;
        hmac::verify(key, &self.tagged(hash, artefact), tag).ok()?;
        Some(artefact)
    }
}

/// The key of a cache directory's tags: read from its key file, or made (random, written
/// readable by its owner only) on first use.
fn cache_key(dir: &Path) -> std::io::Result<hmac::Key> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(KEY_FILE);
    let secret = match std::fs::read(&path) {
        Ok(secret) if secret.len() == TAG_LEN => secret,
        Ok(_) => return Err(std::io::Error::other(format!("{} is not a key of {TAG_LEN} bytes", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut secret = vec![0u8; TAG_LEN];
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret)
                .map_err(|_| std::io::Error::other("no random numbers for the cache key"))?;
            let tmp = dir.join(format!("{KEY_FILE}.tmp{}", std::process::id()));
            let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
            std::io::Write::write_all(&mut file, &secret)?;
            // Two hosts starting at once: the first key written stays, and both use it.
            match std::fs::hard_link(&tmp, &path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
            std::fs::remove_file(&tmp)?;
            std::fs::read(&path)?
        }
        Err(e) => return Err(e),
    };
    Ok(hmac::Key::new(hmac::HMAC_SHA256, &secret))
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

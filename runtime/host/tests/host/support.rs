//! Shared test helpers: the built bundled plugins, temporary plugin directories, a host.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use harmonia_host::{CallObserver, EmittedEvent, Host, HostConfig};

/// The repo's `plugins/` directory, where `plugins/build.sh` puts the bundled plugins.
pub fn bundled_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins").canonicalize().expect("plugins dir")
}

/// The bytes of a built bundled plugin.
pub fn bundled(name: &str) -> Vec<u8> {
    let path = bundled_dir().join(format!("{name}.wasm"));
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; build the plugins first with `bash plugins/build.sh`", path.display()))
}

/// A temporary plugins directory.
pub struct Dir {
    pub tmp: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Dir {
        Dir { tmp: tempfile::tempdir().expect("temp dir") }
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// Copies a bundled plugin in as `<file>.wasm`.
    pub fn add_bundled(&self, name: &str) -> &Dir {
        self.write(&format!("{name}.wasm"), &bundled(name))
    }

    pub fn write(&self, file: &str, bytes: &[u8]) -> &Dir {
        std::fs::write(self.path().join(file), bytes).expect("write plugin file");
        self
    }

    /// A host over this directory, with the bundled plugins' compile cache so that tests
    /// do not compile the same component again and again.
    pub fn config(&self) -> HostConfig {
        let mut config = HostConfig::new(self.path());
        config.cache_dir = Some(shared_cache());
        config.slots = 32;
        config
    }

    pub async fn host(&self) -> Host {
        let host = Host::new(self.config()).expect("host");
        host.load_all().await.expect("load plugins");
        host
    }
}

/// The tests' compile cache (`target/compile-cache`), which `scripts/test.sh` fills with
/// the bundled plugins before the tests: large guests (Python, JavaScript) compile in seconds.
pub fn shared_cache() -> PathBuf {
    bundled_dir().join("../target/compile-cache")
}

/// Records what a call reports.
#[derive(Default)]
pub struct Recorder {
    pub logs: Mutex<Vec<(String, tracing::Level, String)>>,
    pub progress: Mutex<Vec<(u8, String)>>,
    pub events: Mutex<Vec<EmittedEvent>>,
}

impl CallObserver for Recorder {
    fn progress(&self, percent: u8, message: &str) {
        self.progress.lock().unwrap().push((percent, message.to_string()));
    }
    fn event(&self, event: &EmittedEvent) {
        self.events.lock().unwrap().push(event.clone());
    }
    fn log(&self, plugin: &str, level: tracing::Level, message: &str) {
        self.logs.lock().unwrap().push((plugin.to_string(), level, message.to_string()));
    }
}

impl Recorder {
    pub fn arc() -> Arc<Recorder> {
        Arc::new(Recorder::default())
    }
}

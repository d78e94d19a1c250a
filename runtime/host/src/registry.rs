//! Which plugins are loaded, from which files, and which files failed.
//!
//! Every `.wasm` file is loaded on its own: a broken one is recorded with its reason and the
//! others load. Calls hold an `Arc<Plugin>`, so a reload never disturbs a call in flight.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::Host;
use crate::error::HostError;
use crate::plugin::Plugin;

/// A file that did not load, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadFailure {
    pub file: PathBuf,
    pub reason: String,
}

/// The result of loading a directory.
#[derive(Debug, Default, Serialize)]
pub struct LoadReport {
    pub loaded: Vec<String>,
    pub failed: Vec<LoadFailure>,
}

#[derive(Default)]
pub(crate) struct Registry {
    by_name: HashMap<String, Arc<Plugin>>,
    name_of_file: HashMap<PathBuf, String>,
    failures: BTreeMap<PathBuf, String>,
}

impl Registry {
    pub fn get(&self, name: &str) -> Option<Arc<Plugin>> {
        self.by_name.get(name).cloned()
    }

    pub fn all(&self) -> Vec<Arc<Plugin>> {
        let mut all: Vec<_> = self.by_name.values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    pub fn failures(&self) -> Vec<LoadFailure> {
        self.failures.iter().map(|(file, reason)| LoadFailure { file: file.clone(), reason: reason.clone() }).collect()
    }

    /// Registers a loaded plugin for its file, replacing that file's earlier version. A
    /// plugin's name is bound to its file: `core.wasm` can only be plugin `core`, so no file
    /// can take the name (and the kv data and grants) of another, whatever the load order.
    pub(crate) fn insert(&mut self, plugin: Plugin) -> Result<(), String> {
        if plugin.file.file_stem().and_then(|stem| stem.to_str()) != Some(plugin.name.as_str()) {
            return Err(format!(
                "the component describes itself as plugin {:?}; a plugin's file is named after it, so plugin {0:?} must be {0}.wasm",
                plugin.name
            ));
        }
        self.remove_file(&plugin.file);
        self.name_of_file.insert(plugin.file.clone(), plugin.name.clone());
        self.by_name.insert(plugin.name.clone(), Arc::new(plugin));
        Ok(())
    }

    pub(crate) fn remove_file(&mut self, file: &Path) -> Option<String> {
        self.failures.remove(file);
        let name = self.name_of_file.remove(file)?;
        self.by_name.remove(&name);
        Some(name)
    }
}

/// The `.wasm` files directly in a directory, sorted so that loading is deterministic.
fn wasm_files(dir: &Path) -> Result<Vec<PathBuf>, HostError> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| HostError::Io { path: dir.to_path_buf(), message: e.to_string() })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm") && p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

impl Host {
    /// Loads every `.wasm` in the plugins directory. Only a missing or unreadable directory
    /// is an error; a bad plugin is reported in the [`LoadReport`] and in the log.
    pub async fn load_all(&self) -> Result<LoadReport, HostError> {
        crate::install::sweep_staging(self.plugins_dir());
        let mut report = LoadReport::default();
        for file in wasm_files(self.plugins_dir())? {
            match self.load_file(&file).await {
                Ok(name) => report.loaded.push(name),
                Err(reason) => report.failed.push(LoadFailure { file, reason }),
            }
        }
        Ok(report)
    }

    /// Loads (or reloads) one file and returns the plugin's name; on failure the reason is
    /// logged, recorded among the failures, and an earlier version of the file stays loaded.
    pub async fn load_file(&self, file: &Path) -> Result<String, String> {
        let inner = &self.inner;
        let result = match Plugin::load(&inner.shared, &inner.linker, file).await {
            Ok(plugin) => {
                let name = plugin.name.clone();
                let (version, from_cache) = (plugin.version.clone(), plugin.from_cache);
                let mut registry = inner.registry.write().expect("registry lock");
                registry.insert(plugin).map(|()| {
                    tracing::info!(plugin = %name, %version, file = %file.display(), from_cache, "plugin loaded");
                    name
                })
            }
            Err(e) => Err(match e {
                HostError::Load { reason, .. } => reason,
                other => other.to_string(),
            }),
        };
        if let Err(reason) = &result {
            tracing::error!(file = %file.display(), %reason, "plugin not loaded");
            let mut registry = inner.registry.write().expect("registry lock");
            registry.failures.insert(file.to_path_buf(), reason.clone());
        }
        result
    }

    /// Unloads the plugin that came from `file`, if any; returns its name.
    pub fn unload_file(&self, file: &Path) -> Option<String> {
        let name = self.inner.registry.write().expect("registry lock").remove_file(file);
        if let Some(name) = &name {
            tracing::info!(plugin = %name, file = %file.display(), "plugin unloaded");
        }
        name
    }

    /// Brings the registry in line with the file: loads it if present, unloads it if gone.
    /// A file whose content and manifest did not change is left alone.
    pub async fn sync_file(&self, file: &Path) {
        if !file.is_file() {
            self.unload_file(file);
            return;
        }
        if self.is_current(file) {
            return;
        }
        let _ = self.load_file(file).await;
    }

    fn is_current(&self, file: &Path) -> bool {
        let registry = self.inner.registry.read().expect("registry lock");
        let Some(plugin) = registry.name_of_file.get(file).and_then(|n| registry.by_name.get(n)) else {
            return false;
        };
        let Ok(bytes) = std::fs::read(file) else { return false };
        let manifest_path = file.with_extension("toml");
        let manifest = if manifest_path.exists() {
            match crate::Manifest::load(&manifest_path) {
                Ok(m) => m,
                Err(_) => return false,
            }
        } else {
            crate::Manifest::default()
        };
        crate::engine::CompileCache::content_hash(&bytes) == plugin.hash && manifest == plugin.manifest
    }
}

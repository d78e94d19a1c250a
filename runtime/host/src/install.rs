//! Installing and removing plugins by name (the HTTP API's `PUT` and `DELETE
//! /plugins/{name}`).
//!
//! An upload is written to a staging directory inside the plugins directory and loaded in
//! full there (compiled, linked, described) before anything the host serves from changes:
//! a bad upload leaves the plugins directory and the loaded version as they were. Only then
//! are the files renamed into place — the same filesystem, so each rename is atomic and the
//! watcher never sees a half-written `.wasm` — and the plugin registered. The staging
//! directory is hidden and not a `.wasm` file, so neither `load_all` nor the watcher (which
//! looks at files directly in the plugins directory) ever takes it for a plugin.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;

use crate::Host;
use crate::error::HostError;
use crate::manifest::Manifest;
use crate::plugin::{Plugin, check_name};

/// The staging directory, inside the plugins directory.
const STAGING_DIR: &str = ".staging";

/// Staged uploads older than this are left over from a crash and are swept away, whoever
/// made them (a process id may have been reused since).
const STALE_STAGING: Duration = Duration::from_secs(3600);

/// What an install does with the plugin's `<name>.toml` manifest.
#[derive(Debug, Clone, PartialEq)]
pub enum ManifestChange {
    /// Keep the manifest there is (or none).
    Keep,
    /// Write this manifest text (checked before anything changes).
    Replace(String),
    /// Delete the manifest: the plugin gets the defaults (no grants).
    Remove,
}

/// Why an install was refused; nothing in the plugins directory changed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("{0}")]
    InvalidName(String),
    #[error("the component describes itself as plugin {described:?}, not {expected:?}")]
    NameMismatch { expected: String, described: String },
    #[error("invalid manifest: {0}")]
    InvalidManifest(String),
    #[error("invalid component: {0}")]
    InvalidComponent(String),
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
}

impl InstallError {
    /// A short machine-readable code (`invalid_component`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            InstallError::InvalidName(_) => "invalid_name",
            InstallError::NameMismatch { .. } => "name_mismatch",
            InstallError::InvalidManifest(_) => "invalid_manifest",
            InstallError::InvalidComponent(_) => "invalid_component",
            InstallError::Io { .. } => "io",
        }
    }
}

/// Why a removal was refused.
#[derive(Debug, thiserror::Error)]
pub enum RemoveError {
    #[error("{0}")]
    InvalidName(String),
    #[error("no plugin named {0:?} is loaded or in the plugins directory")]
    UnknownPlugin(String),
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
}

/// A plugin installed by [`Host::install`].
pub struct Installed {
    pub plugin: Arc<Plugin>,
    /// Whether it replaced a file of that name (else it is new).
    pub replaced: bool,
}

/// What [`Host::remove`] removed.
#[derive(Debug, Clone, PartialEq)]
pub struct Removed {
    /// The files deleted (the `.wasm`, and its manifest if there was one).
    pub files: Vec<PathBuf>,
    /// Whether a loaded plugin was unloaded (else only a file that had not loaded was removed).
    pub unloaded: bool,
}

/// Checks that `name` can be a plugin's name (and so a file name in the plugins directory).
pub fn check_plugin_name(name: &str) -> Result<(), String> {
    check_name(name)
}

impl Host {
    /// Installs `component` as plugin `name`: `<name>.wasm` in the plugins directory, with
    /// its manifest kept, replaced or removed. Refused, with nothing changed and the earlier
    /// version still serving, unless the component loads in full and describes itself as `name`.
    pub async fn install(
        &self,
        name: &str,
        component: impl Into<Bytes>,
        manifest: ManifestChange,
    ) -> Result<Installed, InstallError> {
        check_name(name).map_err(InstallError::InvalidName)?;
        if let ManifestChange::Replace(text) = &manifest {
            Manifest::parse(text).map_err(InstallError::InvalidManifest)?;
        }
        let target = self.target_file(name);
        let staging = Staging::new(self.plugins_dir())?;
        let staged = staging.stage(name, component.into(), &manifest, &target).await?;
        let mut plugin =
            Plugin::load(&self.inner.shared, &self.inner.linker, &staged).await.map_err(|e| load_error(e, &target))?;
        if plugin.name != name {
            return Err(InstallError::NameMismatch { expected: name.into(), described: plugin.name });
        }
        // The registry stays locked while the files move, so that another install, a
        // removal or the watcher never sees the files and the registry disagree.
        let mut registry = self.inner.registry.write().expect("registry lock");
        let replaced = target.is_file();
        commit(&staged, &target, &manifest, staging.path())?;
        plugin.file = target.clone();
        registry.insert(plugin).map_err(|message| InstallError::Io { path: target.clone(), message })?;
        let plugin = registry.get(name).expect("just registered");
        tracing::info!(plugin = %name, version = %plugin.version, file = %target.display(), replaced, "plugin installed");
        Ok(Installed { plugin, replaced })
    }

    /// Deletes plugin `name`'s `.wasm` and manifest and unloads it. Calls in flight finish:
    /// they hold the plugin. A `<name>.wasm` that failed to load is removed too.
    pub fn remove(&self, name: &str) -> Result<Removed, RemoveError> {
        check_name(name).map_err(RemoveError::InvalidName)?;
        let mut registry = self.inner.registry.write().expect("registry lock");
        let loaded = registry.get(name).is_some();
        let target = self.target_file(name);
        if !loaded && !target.is_file() {
            return Err(RemoveError::UnknownPlugin(name.into()));
        }
        let io = |path: &Path, e: std::io::Error| RemoveError::Io { path: path.to_path_buf(), message: e.to_string() };
        let mut files = Vec::new();
        // The component first: if it cannot be deleted, nothing changed.
        match std::fs::remove_file(&target) {
            Ok(()) => files.push(target.clone()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&target, e)),
        }
        let unloaded = registry.remove_file(&target).is_some();
        let manifest = target.with_extension("toml");
        match std::fs::remove_file(&manifest) {
            Ok(()) => files.push(manifest),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&manifest, e)),
        }
        tracing::info!(plugin = %name, file = %target.display(), unloaded, "plugin removed");
        Ok(Removed { files, unloaded })
    }

    /// The file plugin `name` is in, if it is loaded or its file exists: `<name>.wasm`.
    pub fn plugin_file(&self, name: &str) -> Option<PathBuf> {
        check_name(name).ok()?;
        let loaded = self.inner.registry.read().expect("registry lock").get(name).is_some();
        Some(self.target_file(name)).filter(|file| loaded || file.is_file())
    }

    /// Where plugin `name` is: `<name>.wasm`, the only file it can load from.
    fn target_file(&self, name: &str) -> PathBuf {
        self.plugins_dir().join(format!("{name}.wasm"))
    }
}

/// A failed staged load, in the words of the install: the staged paths mean nothing to the
/// caller, so a kept manifest is named by its real place.
fn load_error(e: HostError, target: &Path) -> InstallError {
    match e {
        HostError::Load { reason, .. } => InstallError::InvalidComponent(reason),
        HostError::Manifest { message, .. } => {
            InstallError::InvalidManifest(format!("{}: {message}", target.with_extension("toml").display()))
        }
        HostError::Io { path, message } => InstallError::Io { path, message },
        HostError::Engine(message) => InstallError::Io { path: target.to_path_buf(), message },
    }
}

/// Moves the staged files into place. The manifest goes first, and is put back if the
/// component cannot follow, so that a failure leaves the directory as it was.
fn commit(staged: &Path, target: &Path, manifest: &ManifestChange, staging: &Path) -> Result<(), InstallError> {
    let io = |path: &Path, e: std::io::Error| InstallError::Io { path: path.to_path_buf(), message: e.to_string() };
    let live_manifest = target.with_extension("toml");
    let backup = staging.join("previous.toml");
    let had_manifest = live_manifest.is_file();
    if *manifest != ManifestChange::Keep {
        if had_manifest {
            std::fs::hard_link(&live_manifest, &backup).map_err(|e| io(&live_manifest, e))?;
        }
        match manifest {
            ManifestChange::Replace(_) => std::fs::rename(staged.with_extension("toml"), &live_manifest),
            _ if had_manifest => std::fs::remove_file(&live_manifest),
            _ => Ok(()),
        }
        .map_err(|e| io(&live_manifest, e))?;
    }
    if let Err(e) = std::fs::rename(staged, target) {
        if *manifest != ManifestChange::Keep {
            let restored = if had_manifest {
                std::fs::rename(&backup, &live_manifest)
            } else {
                std::fs::remove_file(&live_manifest)
            };
            if let Err(e) = restored {
                tracing::error!(file = %live_manifest.display(), error = %e, "cannot put the manifest back");
            }
        }
        return Err(io(target, e));
    }
    Ok(())
}

/// One upload's own directory under `.staging`, deleted when dropped.
struct Staging {
    dir: PathBuf,
}

impl Staging {
    fn new(plugins_dir: &Path) -> Result<Staging, InstallError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let root = plugins_dir.join(STAGING_DIR);
        let io = |e: std::io::Error| InstallError::Io { path: root.clone(), message: e.to_string() };
        std::fs::create_dir_all(&root).map_err(io)?;
        sweep_staging(plugins_dir);
        // The process id keeps hosts of several processes on one directory apart.
        let unique = format!("{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let dir = root.join(unique);
        std::fs::create_dir(&dir).map_err(io)?;
        Ok(Staging { dir })
    }

    fn path(&self) -> &Path {
        &self.dir
    }

    /// Writes the component as `<name>.wasm` with the manifest that will apply beside it
    /// (where `Plugin::load` looks for it); returns the staged `.wasm`.
    async fn stage(
        &self,
        name: &str,
        component: Bytes,
        manifest: &ManifestChange,
        target: &Path,
    ) -> Result<PathBuf, InstallError> {
        let wasm = self.dir.join(format!("{name}.wasm"));
        let toml = wasm.with_extension("toml");
        let text = match manifest {
            ManifestChange::Keep => std::fs::read(target.with_extension("toml")).ok(),
            ManifestChange::Replace(text) => Some(text.clone().into_bytes()),
            ManifestChange::Remove => None,
        };
        let staged = wasm.clone();
        // Components reach hundreds of MB: keep the write off the async workers.
        tokio::task::spawn_blocking(move || {
            std::fs::write(&wasm, &component).map_err(|e| (wasm.clone(), e))?;
            match text {
                Some(text) => std::fs::write(&toml, text).map_err(|e| (toml, e)),
                None => Ok(()),
            }
        })
        .await
        .map_err(|e| InstallError::Io { path: staged.clone(), message: e.to_string() })?
        .map_err(|(path, e)| InstallError::Io { path, message: e.to_string() })?;
        Ok(staged)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "cannot remove the staging directory");
        }
    }
}

/// Removes the staged uploads that no upload will finish: those of processes that are gone
/// (an upload's directory is named `<pid>-<n>`, and a killed server leaves its own), and any
/// older than [`STALE_STAGING`]. Run at start ([`Host::load_all`]) and before each upload.
pub(crate) fn sweep_staging(plugins_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(plugins_dir.join(STAGING_DIR)) else { return };
    for entry in entries.filter_map(Result::ok) {
        let owner =
            entry.file_name().to_str().and_then(|name| name.split_once('-')).and_then(|(pid, _)| pid.parse().ok());
        let orphan = owner.is_some_and(|pid: u32| pid != std::process::id() && !process_exists(pid));
        let age = entry.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
        if orphan || age.is_some_and(|age| age > STALE_STAGING) {
            match std::fs::remove_dir_all(entry.path()) {
                Ok(()) => tracing::info!(dir = %entry.path().display(), "removed an upload left unfinished"),
                Err(e) => {
                    tracing::warn!(dir = %entry.path().display(), error = %e, "cannot remove an unfinished upload")
                }
            }
        }
    }
}

/// Whether a process with this id runs. Where `/proc` is not there to ask, every process
/// counts as running, and only age sweeps.
fn process_exists(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HostConfig, TaskCall};
    use serde_json::json;

    /// The bytes of a bundled plugin built by `plugins/build.sh`.
    fn bundled(name: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../plugins/{name}.wasm"));
        std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; build the plugins with plugins/build.sh", path.display()))
    }

    /// A host over an empty temporary plugins directory, with the tests' compile cache
    /// (`target/compile-cache`) so that nothing is compiled twice.
    async fn host() -> (tempfile::TempDir, Host) {
        let dir = tempfile::tempdir().unwrap();
        let mut config = HostConfig::new(dir.path());
        config.cache_dir = Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/compile-cache"));
        config.slots = 8;
        let host = Host::new(config).unwrap();
        host.load_all().await.unwrap();
        (dir, host)
    }

    /// Every file in the plugins directory with its content, the staging area included.
    fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut files = Vec::new();
        let mut todo = vec![dir.to_path_buf()];
        while let Some(d) = todo.pop() {
            for entry in std::fs::read_dir(&d).unwrap().map(Result::unwrap) {
                let path = entry.path();
                if path.is_dir() {
                    todo.push(path);
                } else {
                    files.push((path.clone(), std::fs::read(&path).unwrap()));
                }
            }
        }
        files.sort();
        files
    }

    async fn echo(host: &Host, text: &str) -> serde_json::Value {
        let outcome = host.invoke(TaskCall::new("core", "echo", json!({ "text": text }))).await.unwrap();
        outcome.output.unwrap()
    }

    #[tokio::test]
    async fn installs_a_new_plugin_then_replaces_it() {
        let (dir, host) = host().await;
        let installed = host.install("core", bundled("core"), ManifestChange::Keep).await.unwrap();
        assert!(!installed.replaced);
        assert_eq!(installed.plugin.file, host.plugins_dir().join("core.wasm"));
        assert_eq!(std::fs::read(dir.path().join("core.wasm")).unwrap(), bundled("core"));
        assert_eq!(echo(&host, "hi").await, json!({ "text": "hi" }));
        let again = host.install("core", bundled("core"), ManifestChange::Keep).await.unwrap();
        assert!(again.replaced);
        // Only the component and the (empty) staging area are left in the directory.
        let staging: Vec<_> = std::fs::read_dir(dir.path().join(STAGING_DIR)).unwrap().collect();
        assert!(staging.is_empty(), "{staging:?}");
        assert_eq!(snapshot(dir.path()).len(), 1);
    }

    #[tokio::test]
    async fn a_refused_upload_changes_nothing_and_the_old_version_keeps_serving() {
        let (dir, host) = host().await;
        host.install("core", bundled("core"), ManifestChange::Replace("memory_mb = 32\n".into())).await.unwrap();
        let before = snapshot(dir.path());
        let module = wat::parse_str("(module)").unwrap();
        let empty_component = wat::parse_str("(component)").unwrap();
        let cases: Vec<(Vec<u8>, ManifestChange, &str, &str)> = vec![
            (b"not wasm at all".to_vec(), ManifestChange::Remove, "invalid_component", "not a WebAssembly file"),
            (module, ManifestChange::Remove, "invalid_component", "core WebAssembly module"),
            (empty_component, ManifestChange::Remove, "invalid_component", "harmonia:plugin/adapter"),
            (bundled("digest"), ManifestChange::Remove, "name_mismatch", "\"digest\""),
            (bundled("core"), ManifestChange::Replace("memory_mb = 0\n".into()), "invalid_manifest", "memory_mb"),
            (
                bundled("core"),
                ManifestChange::Replace("allowed_host = []\n".into()),
                "invalid_manifest",
                "line 1, column 1",
            ),
        ];
        for (bytes, manifest, code, says) in cases {
            let err = host.install("core", bytes, manifest).await.err().expect("refused");
            assert_eq!(err.code(), code, "{err}");
            assert!(err.to_string().contains(says), "{err}");
            assert_eq!(snapshot(dir.path()), before, "after {err}");
            assert_eq!(echo(&host, "still here").await, json!({ "text": "still here" }));
            assert_eq!(host.plugin("core").unwrap().memory_limit_bytes, 32 << 20);
        }
        assert!(host.failures().is_empty(), "{:?}", host.failures());
    }

    #[tokio::test]
    async fn the_manifest_is_kept_replaced_or_removed() {
        let (dir, host) = host().await;
        let grant = "allowed_hosts = [\"api.example.com\"]\n";
        let p = host.install("core", bundled("core"), ManifestChange::Replace(grant.into())).await.unwrap().plugin;
        assert_eq!(p.grants, ["http:api.example.com"]);
        assert_eq!(std::fs::read_to_string(dir.path().join("core.toml")).unwrap(), grant);
        let p = host.install("core", bundled("core"), ManifestChange::Keep).await.unwrap().plugin;
        assert_eq!(p.grants, ["http:api.example.com"]);
        assert_eq!(host.plugin("core").unwrap().grants, ["http:api.example.com"]);
        let p = host.install("core", bundled("core"), ManifestChange::Remove).await.unwrap().plugin;
        assert!(p.grants.is_empty());
        assert!(!dir.path().join("core.toml").exists());
    }

    #[tokio::test]
    async fn a_plugin_is_installed_in_the_file_named_after_it() {
        // `core-v1.wasm` holding core is refused at load (the name is bound to the file):
        // installing core writes core.wasm beside it.
        let (dir, host) = host().await;
        std::fs::write(dir.path().join("core-v1.wasm"), bundled("core")).unwrap();
        host.load_all().await.unwrap();
        assert!(host.plugin("core").is_none());
        let installed = host.install("core", bundled("core"), ManifestChange::Keep).await.unwrap();
        assert!(!installed.replaced);
        assert_eq!(installed.plugin.file, host.plugins_dir().join("core.wasm"));
        // `digest.wasm` holding core is refused too; installing digest replaces that file.
        let (dir, host) = self::host().await;
        std::fs::write(dir.path().join("digest.wasm"), bundled("core")).unwrap();
        host.load_all().await.unwrap();
        let installed = host.install("digest", bundled("digest"), ManifestChange::Keep).await.unwrap();
        assert!(installed.replaced);
        assert_eq!(installed.plugin.name, "digest");
        assert!(host.plugin("core").is_none());
    }

    #[tokio::test]
    async fn uploads_left_by_a_process_that_is_gone_are_removed_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let staging = dir.path().join(STAGING_DIR);
        // A killed server's upload (no process has that id: it is over Linux's pid_max), a
        // running process's (pid 1) and one of this process: all just written.
        let killed = staging.join("4194305-0");
        let running = staging.join("1-0");
        let ours = staging.join(format!("{}-7", std::process::id()));
        for upload in [&killed, &running, &ours] {
            std::fs::create_dir_all(upload).unwrap();
            std::fs::write(upload.join("core.wasm"), b"half a component").unwrap();
        }
        let host = Host::new(HostConfig::new(dir.path())).unwrap();
        host.load_all().await.unwrap();
        assert!(!killed.exists(), "the killed process's upload is removed");
        assert!(running.join("core.wasm").exists(), "a running process's upload is left alone");
        assert!(ours.join("core.wasm").exists(), "this process's upload is left alone");
        assert!(host.plugins().is_empty(), "nothing staged was loaded");
    }

    #[tokio::test]
    async fn names_that_are_not_plugin_names_are_refused() {
        let (dir, host) = host().await;
        for name in ["../core", "", "a/b", "co re"] {
            let err = host.install(name, bundled("core"), ManifestChange::Keep).await.err().unwrap();
            assert_eq!(err.code(), "invalid_name", "{name:?}: {err}");
            assert!(matches!(host.remove(name), Err(RemoveError::InvalidName(_))));
        }
        assert!(snapshot(dir.path()).is_empty());
    }

    #[tokio::test]
    async fn remove_deletes_the_files_and_unloads_but_calls_in_flight_finish() {
        let (dir, host) = host().await;
        host.install("core", bundled("core"), ManifestChange::Replace("memory_mb = 32\n".into())).await.unwrap();
        let slow = {
            let host = host.clone();
            tokio::spawn(async move { host.invoke(TaskCall::new("core", "sleep", json!({ "ms": 300 }))).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let removed = host.remove("core").unwrap();
        let files = vec![host.plugins_dir().join("core.wasm"), host.plugins_dir().join("core.toml")];
        assert_eq!(removed, Removed { files, unloaded: true });
        assert!(host.plugin("core").is_none());
        assert!(snapshot(dir.path()).is_empty());
        assert_eq!(slow.await.unwrap().unwrap().output.unwrap(), json!({ "slept_ms": 300 }));
        assert!(matches!(host.remove("core"), Err(RemoveError::UnknownPlugin(_))));
        assert_eq!(host.plugin_file("core"), None);
    }

    #[tokio::test]
    async fn remove_also_takes_a_file_that_failed_to_load() {
        let (dir, host) = host().await;
        std::fs::write(dir.path().join("broken.wasm"), b"garbage").unwrap();
        host.load_all().await.unwrap();
        assert_eq!(host.failures().len(), 1);
        assert_eq!(host.plugin_file("broken"), Some(host.plugins_dir().join("broken.wasm")));
        let removed = host.remove("broken").unwrap();
        assert!(!removed.unloaded);
        assert_eq!(removed.files, [host.plugins_dir().join("broken.wasm")]);
        assert!(host.failures().is_empty());
    }
}

//! Hot reload: watches the plugins directory and loads, reloads or unloads plugins as
//! their `.wasm` files and manifests change, without a restart.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use notify::{RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

use crate::Host;
use crate::error::HostError;

/// Changes are applied once the directory has been quiet this long, so that a file being
/// copied is loaded once, complete.
const SETTLE: Duration = Duration::from_millis(200);

/// Keeps the plugins directory watched; dropping it stops the watching.
pub struct Watcher {
    _watcher: notify::RecommendedWatcher,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Host {
    /// Starts watching the plugins directory (needs a tokio runtime).
    pub fn watch(&self) -> Result<Watcher, HostError> {
        let dir = self.plugins_dir().to_path_buf();
        let io_err = |e: notify::Error| HostError::Io { path: dir.clone(), message: e.to_string() };
        let (tx, mut rx) = mpsc::unbounded_channel::<PathBuf>();
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            // Not opens and reads (notify reports them too): loading or checking a file opens
            // it, and each open would load it again, a failing file logging every 0.2 s.
            if let Ok(event) = event
                && !matches!(event.kind, notify::EventKind::Access(_))
            {
                for path in event.paths {
                    let _ = tx.send(path);
                }
            }
        })
        .map_err(io_err)?;
        watcher.watch(&dir, RecursiveMode::NonRecursive).map_err(io_err)?;
        let host = self.clone();
        let task = tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut changed = BTreeSet::new();
                changed.extend(plugin_file(first));
                // Gather the burst of events one copy or build makes.
                while let Ok(Some(path)) = tokio::time::timeout(SETTLE, rx.recv()).await {
                    changed.extend(plugin_file(path));
                }
                for file in changed {
                    host.sync_file(&file).await;
                }
            }
        });
        Ok(Watcher { _watcher: watcher, task })
    }
}

/// The `.wasm` file a changed path concerns: itself, or the plugin of a changed manifest.
fn plugin_file(path: PathBuf) -> Option<PathBuf> {
    match path.extension()?.to_str()? {
        "wasm" => Some(path),
        "toml" => Some(path.with_extension("wasm")),
        _ => None,
    }
}

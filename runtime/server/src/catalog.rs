//! Where workflows and plugins are looked up: workflow files in directories (for
//! sub-workflows), and the plugin host (to check `component:` and `action:`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use harmonia_engine::Plan;
use harmonia_host::Host;
use harmonia_model::{Diagnostics, PluginCatalog, Workflow, WorkflowCatalog};

use crate::runner::WorkflowSource;

/// Whether a file name looks like a workflow file.
pub fn is_workflow_file(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json"))
}

/// Compares versions part by part, numerically where both parts are numbers.
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    let parts = |v: &str| v.split(['.', '-']).map(str::to_string).collect::<Vec<_>>();
    for (x, y) in parts(a).iter().zip(parts(b).iter()) {
        let order = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => x.cmp(y),
        };
        if order.is_ne() {
            return order;
        }
    }
    parts(a).len().cmp(&parts(b).len())
}

/// Workflows read from files (or the store), by name and version.
#[derive(Default)]
pub struct WorkflowDirs {
    by_name: BTreeMap<String, BTreeMap<String, Arc<Plan>>>,
    /// The text each version was read from, where known, to store it.
    texts: BTreeMap<(String, String), Arc<str>>,
}

impl WorkflowDirs {
    /// Reads every workflow file directly in each directory; files that do not parse are
    /// skipped here (they are reported when used on their own).
    pub fn load(dirs: &[PathBuf]) -> WorkflowDirs {
        Self::load_checked(dirs, |_| Ok(())).0
    }

    /// Like [`WorkflowDirs::load`], with a further check per workflow; returns the errors of
    /// the files that were skipped.
    pub fn load_checked(
        dirs: &[PathBuf],
        check: impl Fn(&Workflow) -> Result<(), Diagnostics>,
    ) -> (WorkflowDirs, Vec<Diagnostics>) {
        let mut found = WorkflowDirs::default();
        let mut errors = Vec::new();
        for dir in dirs {
            let Ok(entries) = std::fs::read_dir(dir) else { continue };
            let mut files: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
            files.sort();
            for file in files.into_iter().filter(|f| is_workflow_file(f)) {
                let text = match std::fs::read_to_string(&file) {
                    Ok(text) => text,
                    Err(_) => {
                        errors.extend(harmonia_model::load_workflow(&file).err()); // says why
                        continue;
                    }
                };
                match harmonia_model::parse_workflow(&text, Some(&file)).and_then(|w| check(&w).map(|()| w)) {
                    Ok(workflow) => found.insert_text(workflow, text.into()),
                    Err(e) => errors.push(e),
                }
            }
        }
        (found, errors)
    }

    /// Names with their versions, oldest first.
    pub fn list(&self) -> Vec<(String, Vec<String>)> {
        self.by_name
            .iter()
            .map(|(name, versions)| {
                let mut v: Vec<String> = versions.keys().cloned().collect();
                v.sort_by(|a, b| compare_versions(a, b));
                (name.clone(), v)
            })
            .collect()
    }

    /// Adds a workflow read from `text`, unless that version is there already.
    pub fn insert_text(&mut self, workflow: Workflow, text: Arc<str>) {
        let key = (workflow.name.clone(), workflow.version.clone());
        if !self.texts.contains_key(&key) && self.plan_exact(&key.0, &key.1).is_none() {
            self.texts.insert(key, text);
        }
        self.insert(workflow);
    }

    /// Every version with the text it was read from.
    pub fn texts(&self) -> impl Iterator<Item = (&str, &str, &Arc<str>)> {
        self.texts.iter().map(|((name, version), text)| (name.as_str(), version.as_str(), text))
    }

    /// Replaces a version (with the stored text it must keep).
    pub fn replace(&mut self, workflow: Workflow, text: Arc<str>) {
        let key = (workflow.name.clone(), workflow.version.clone());
        self.texts.insert(key, text);
        let versions = self.by_name.entry(workflow.name.clone()).or_default();
        versions.insert(workflow.version.clone(), Arc::new(Plan::new(Arc::new(workflow))));
    }

    pub fn insert(&mut self, workflow: Workflow) {
        let versions = self.by_name.entry(workflow.name.clone()).or_default();
        versions.entry(workflow.version.clone()).or_insert_with(|| Arc::new(Plan::new(Arc::new(workflow))));
    }
}

impl WorkflowDirs {
    /// Forgets every version of `name`; true if there was one.
    pub fn remove(&mut self, name: &str) -> bool {
        self.texts.retain(|(n, _), _| n != name);
        self.by_name.remove(name).is_some()
    }

    /// The text a version was read from.
    pub fn text(&self, name: &str, version: &str) -> Option<Arc<str>> {
        self.texts.get(&(name.to_string(), version.to_string())).cloned()
    }

    /// Exactly this version.
    pub fn plan_exact(&self, name: &str, version: &str) -> Option<Arc<Plan>> {
        self.by_name.get(name)?.get(version).cloned()
    }
}

impl WorkflowSource for WorkflowDirs {
    fn plan(&self, name: &str, version: Option<&str>) -> Option<Arc<Plan>> {
        let versions = self.by_name.get(name)?;
        match version {
            Some(v) => versions.get(v).cloned(),
            None => versions.iter().max_by(|a, b| compare_versions(a.0, b.0)).map(|(_, p)| p.clone()),
        }
    }
}

impl WorkflowCatalog for WorkflowDirs {
    fn exists(&self, name: &str, version: Option<&str>) -> bool {
        self.plan(name, version).is_some()
    }
}

/// The loaded plugins, for checking workflows.
pub struct HostCatalog<'a>(pub &'a Host);

impl PluginCatalog for HostCatalog<'_> {
    fn check(&self, component: &str, action: &str) -> Result<(), String> {
        let Some(plugin) = self.0.plugin(component) else {
            let names: Vec<String> = self.0.plugins().iter().map(|p| p.name.clone()).collect();
            return Err(format!("unknown plugin `{component}` (loaded: {})", names.join(", ")));
        };
        if plugin.actions.iter().any(|a| a.name == action) {
            return Ok(());
        }
        let actions: Vec<&str> = plugin.actions.iter().map(|a| a.name.as_str()).collect();
        Err(format!("plugin `{component}` has no action `{action}` (it has: {})", actions.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::compare_versions;
    use std::cmp::Ordering::*;

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(compare_versions("1.10", "1.9"), Greater);
        assert_eq!(compare_versions("2", "1.5"), Greater);
        assert_eq!(compare_versions("1.0", "1.0"), Equal);
        assert_eq!(compare_versions("1.0", "1.0.1"), Less);
    }
}

//! Where workflows are looked up: workflow files in directories (for sub-workflows, and
//! the versions stored with executions).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use harmonia_engine::Plan;
use harmonia_model::{Diagnostics, Limits, Workflow, WorkflowCatalog};

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
        Self::load_checked(dirs, &Limits::default(), |_| Ok(())).0
    }

    /// Like [`WorkflowDirs::load`], with a further check per workflow; returns the errors of
    /// the files that were skipped.
    pub fn load_checked(
        dirs: &[PathBuf],
        limits: &Limits,
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
                match harmonia_model::parse_workflow_with(&text, Some(&file), limits)
                    .and_then(|w| check(&w).map(|()| w))
                {
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

impl WorkflowDirs {
    /// The workflows that call plugin `plugin` in some version: in a task of their own, or
    /// through a sub-workflow that does. Sorted by name.
    pub fn using_plugin(&self, plugin: &str) -> Vec<String> {
        use harmonia_model::TaskAction;
        let calls = |name: &str, wanted: &dyn Fn(&TaskAction) -> bool| {
            self.by_name[name].values().any(|plan| plan.workflow.tasks.values().any(|t| wanted(&t.action)))
        };
        let mut users: std::collections::BTreeSet<String> = self
            .by_name
            .keys()
            .filter(|name| calls(name, &|a| matches!(a, TaskAction::Call { component, .. } if component == plugin)))
            .cloned()
            .collect();
        // Add the callers of users until none is new (sub-workflows nest, and may recurse).
        loop {
            let callers: Vec<String> = self
                .by_name
                .keys()
                .filter(|name| !users.contains(*name))
                .filter(|name| calls(name, &|a| matches!(a, TaskAction::Workflow { name, .. } if users.contains(name))))
                .cloned()
                .collect();
            if callers.is_empty() {
                return users.into_iter().collect();
            }
            users.extend(callers);
        }
    }
}

impl WorkflowSource for WorkflowDirs {
    fn triggered(&self) -> Vec<Arc<Plan>> {
        WorkflowDirs::triggered(self)
    }

    fn plan(&self, name: &str, version: Option<&str>) -> Option<Arc<Plan>> {
        let versions = self.by_name.get(name)?;
        match version {
            Some(v) => versions.get(v).cloned(),
            None => versions.iter().max_by(|a, b| compare_versions(a.0, b.0)).map(|(_, p)| p.clone()),
        }
    }
}

impl WorkflowDirs {
    /// The latest version of each workflow, if it has triggers.
    pub fn triggered(&self) -> Vec<Arc<Plan>> {
        let latest = self
            .by_name
            .values()
            .filter_map(|versions| versions.iter().max_by(|a, b| compare_versions(a.0, b.0)).map(|(_, plan)| plan));
        crate::events::triggers::with_triggers(latest)
    }
}

impl WorkflowCatalog for WorkflowDirs {
    fn exists(&self, name: &str, version: Option<&str>) -> bool {
        self.plan(name, version).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::{WorkflowDirs, compare_versions};
    use std::cmp::Ordering::*;

    #[test]
    fn workflows_using_a_plugin_include_those_calling_them_as_sub_workflows() {
        let mut dirs = WorkflowDirs::default();
        for text in [
            "name: direct\nversion: 1\ntasks:\n  a: { component: core, action: echo }\n",
            "name: parent\nversion: 1\ntasks:\n  a: { workflow: direct }\n",
            "name: grandparent\nversion: 1\ntasks:\n  a: { workflow: parent }\n",
            "name: other\nversion: 1\ntasks:\n  a: { component: digest, action: sha256 }\n",
            "name: old\nversion: 1\ntasks:\n  a: { component: core, action: echo }\n",
            "name: old\nversion: 2\ntasks:\n  a: { component: digest, action: sha256 }\n",
        ] {
            dirs.insert(harmonia_model::parse_workflow(text, None).unwrap());
        }
        assert_eq!(dirs.using_plugin("core"), ["direct", "grandparent", "old", "parent"]);
        assert_eq!(dirs.using_plugin("digest"), ["old", "other"]);
        assert!(dirs.using_plugin("textstats").is_empty());
    }

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(compare_versions("1.10", "1.9"), Greater);
        assert_eq!(compare_versions("2", "1.5"), Greater);
        assert_eq!(compare_versions("1.0", "1.0"), Equal);
        assert_eq!(compare_versions("1.0", "1.0.1"), Less);
    }
}

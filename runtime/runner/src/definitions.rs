//! Workflow definitions in the store, every version: an execution picked up after a
//! restart runs the definition it started with, even if its file changed or went away.

use std::sync::Arc;

use harmonia_model::Limits;
use harmonia_store::{Batch, Space, Store, StoreError, keys, scan_pages};

use crate::catalog::WorkflowDirs;

/// Stores every version of `dirs` not stored yet, and adds the stored versions `dirs` does
/// not have. A file whose version is stored with other content is reported, and the
/// stored content kept: a version, once used, does not change (give the file a new one).
/// Stored versions are read within `limits`; one over them is reported and stays stored.
pub fn sync(store: &dyn Store, dirs: &mut WorkflowDirs, limits: &Limits) -> Result<Vec<String>, StoreError> {
    let mut warnings = Vec::new();
    let mut batch = Batch::new();
    let mut changed = Vec::new();
    for (name, version, text) in dirs.texts() {
        batch.delete(Space::Workflows, deleted_key(name)); // a file brings it back
        let key = keys::workflow_key(name, version)?;
        match store.get(Space::Workflows, &key)? {
            None => {
                batch.put(Space::Workflows, key, text.as_bytes().to_vec());
            }
            Some(stored) if stored == text.as_bytes() => {}
            Some(stored) => {
                warnings.push(format!(
                    "workflow {name} version {version} differs from the one stored under that version; \
                     the stored one is kept (give the file a new version to use it)"
                ));
                changed.push(String::from_utf8_lossy(&stored).into_owned());
            }
        }
    }
    store.commit(batch)?;
    for text in changed {
        if let Ok(workflow) = harmonia_model::parse_workflow_with(&text, None, limits) {
            dirs.replace(workflow, text.into());
        }
    }
    let mut deleted = std::collections::HashSet::new();
    scan_pages(store, Space::Workflows, &deleted_prefix(), None, 256, |key, _| {
        deleted.insert(key[deleted_prefix().len()..].to_vec());
        Ok::<_, StoreError>(true)
    })?;
    for (name, text) in versions(store)? {
        if deleted.contains(name.as_bytes()) {
            continue; // deleted over the API: kept for its executions, not offered for new ones
        }
        match harmonia_model::parse_workflow_with(&text, None, limits) {
            Ok(workflow) if dirs.plan_exact(&workflow.name, &workflow.version).is_none() => {
                dirs.insert_text(workflow, Arc::from(text));
            }
            Ok(_) => {}
            Err(e) => warnings.push(format!("a stored version of workflow {name} does not parse: {e}")),
        }
    }
    Ok(warnings)
}

/// Every stored version: its workflow's name and its text (deletion markers left out).
fn versions(store: &dyn Store) -> Result<Vec<(String, String)>, StoreError> {
    let mut found = Vec::new();
    scan_pages(store, Space::Workflows, b"", None, 256, |key, value| {
        if key.first() != Some(&0) {
            let name = key.split(|&b| b == 0).next().unwrap_or_default();
            found.push((String::from_utf8_lossy(name).into_owned(), String::from_utf8_lossy(&value).into_owned()));
        }
        Ok::<_, StoreError>(true)
    })?;
    Ok(found)
}

/// The text of every stored version, those of workflows deleted over the API included.
pub fn stored_versions(store: &dyn Store) -> Result<Vec<String>, StoreError> {
    Ok(versions(store)?.into_iter().map(|(_, text)| text).collect())
}

/// What [`store_version`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Stored {
    /// A new version.
    Created,
    /// The same version with the same text was there already.
    Unchanged,
    /// The version is stored with other text: versions do not change.
    Conflict,
}

/// Stores one version read from `text`, unless that version is stored already.
pub fn store_version(store: &dyn Store, name: &str, version: &str, text: &str) -> Result<Stored, StoreError> {
    let key = keys::workflow_key(name, version)?;
    match store.get(Space::Workflows, &key)? {
        Some(stored) if stored == text.as_bytes() => Ok(Stored::Unchanged),
        Some(_) => Ok(Stored::Conflict),
        None => {
            let mut batch = Batch::new();
            batch.put(Space::Workflows, key, text.as_bytes().to_vec());
            batch.delete(Space::Workflows, deleted_key(name));
            store.commit(batch)?;
            Ok(Stored::Created)
        }
    }
}

/// Keys of deletion markers start with a NUL byte, which no workflow name has.
fn deleted_prefix() -> Vec<u8> {
    b"\0deleted\0".to_vec()
}

fn deleted_key(name: &str) -> Vec<u8> {
    let mut key = deleted_prefix();
    key.extend_from_slice(name.as_bytes());
    key
}

/// Marks a workflow deleted: its stored versions stay (for its executions) but are not
/// offered for new executions after a restart, unless a file or a new version brings it back.
pub fn mark_deleted(store: &dyn Store, name: &str) -> Result<(), StoreError> {
    let mut batch = Batch::new();
    batch.put(Space::Workflows, deleted_key(name), Vec::new());
    store.commit(batch)
}

#[cfg(test)]
mod tests {
    use harmonia_store::MemStore;

    use super::*;
    use crate::WorkflowSource;

    const V1: &str = "name: wf\nversion: \"1\"\ntasks:\n  a: { component: core, action: echo }\n";

    fn dirs_with(files: &[(&str, &str)]) -> (tempfile::TempDir, WorkflowDirs) {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let dirs = WorkflowDirs::load(&[dir.path().to_path_buf()]);
        (dir, dirs)
    }

    #[test]
    fn every_version_is_stored_a_changed_version_is_refused_and_gone_files_stay_usable() {
        let store = MemStore::new();
        let (_d, mut dirs) = dirs_with(&[("wf.yaml", V1)]);
        assert!(sync(&store, &mut dirs, &Limits::default()).unwrap().is_empty());

        // The file gets a second task under the same version, and a version 2 appears.
        let changed = V1.replace("tasks:\n", "tasks:\n  b: { component: core, action: echo }\n");
        let v2 = changed.replace("\"1\"", "\"2\"");
        let (_d, mut dirs) = dirs_with(&[("wf.yaml", &changed), ("wf2.yaml", &v2)]);
        let warnings = sync(&store, &mut dirs, &Limits::default()).unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("workflow wf version 1 differs"), "{warnings:?}");
        assert_eq!(dirs.plan("wf", Some("1")).unwrap().workflow.tasks.len(), 1, "the stored v1 is kept");
        assert_eq!(dirs.plan("wf", Some("2")).unwrap().workflow.tasks.len(), 2);

        // Without any file, both stored versions are there (for executions picked up later).
        let (_d, mut dirs) = dirs_with(&[]);
        assert!(sync(&store, &mut dirs, &Limits::default()).unwrap().is_empty());
        assert_eq!(dirs.list(), [("wf".to_string(), vec!["1".to_string(), "2".to_string()])]);
    }
}

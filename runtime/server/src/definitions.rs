//! Workflow definitions in the store, every version: an execution picked up after a
//! restart runs the definition it started with, even if its file changed or went away.

use std::sync::Arc;

use harmonia_store::{Batch, Space, Store, StoreError, keys};

use crate::catalog::WorkflowDirs;

/// Stores every version of `dirs` not stored yet, and adds the stored versions `dirs` does
/// not have. A file whose version is stored with other content is reported, and the
/// stored content kept: a version, once used, does not change (give the file a new one).
pub fn sync(store: &dyn Store, dirs: &mut WorkflowDirs) -> Result<Vec<String>, StoreError> {
    let mut warnings = Vec::new();
    let mut batch = Batch::new();
    let mut changed = Vec::new();
    for (name, version, text) in dirs.texts() {
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
        if let Ok(workflow) = harmonia_model::parse_workflow(&text, None) {
            dirs.replace(workflow, text.into());
        }
    }
    for (key, value) in store.scan_prefix(Space::Workflows, b"", None, usize::MAX)? {
        let text = String::from_utf8_lossy(&value).into_owned();
        match harmonia_model::parse_workflow(&text, None) {
            Ok(workflow) if dirs.plan_exact(&workflow.name, &workflow.version).is_none() => {
                dirs.insert_text(workflow, Arc::from(text));
            }
            Ok(_) => {}
            Err(e) => warnings.push(format!("stored workflow {} does not parse: {e}", String::from_utf8_lossy(&key).replace('\0', "@"))),
        }
    }
    Ok(warnings)
}

/// Stores one version read from `text` if it is not stored yet.
pub fn store_one(store: &dyn Store, name: &str, version: &str, text: &str) -> Result<(), StoreError> {
    let key = keys::workflow_key(name, version)?;
    if store.get(Space::Workflows, &key)?.is_none() {
        let mut batch = Batch::new();
        batch.put(Space::Workflows, key, text.as_bytes().to_vec());
        store.commit(batch)?;
    }
    Ok(())
}

//! Workflow templates in the store ([`Space::Templates`]), by name: a versioned record (see
//! [`harmonia_store::versioned`]) holding JSON with the template's text and when it was
//! stored. Unlike a workflow version, a template may be replaced; the workflows made from it
//! are stored as versions, which never change. The files of `WORKFLOWS_DIR/templates/` are
//! stored at start ([`store_dir`]).
//!
//! Callers check a template ([`harmonia_model::check_template`]) before storing it.

use std::path::Path;

use harmonia_store::{Batch, Space, Store, StoreError, keys, scan_pages, split_versioned};
use serde::{Deserialize, Serialize};

/// One stored template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateRecord {
    pub name: String,
    /// As sent: YAML or JSON.
    pub text: String,
    /// When it was last stored with other text, in milliseconds since the Unix epoch.
    pub updated_at: u64,
}

/// What [`put`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    Created,
    Replaced,
    /// The same text was stored already (its `updated_at` is kept).
    Unchanged,
}

/// Read-modify-write attempts before giving up on a template that keeps changing.
const ATTEMPTS: usize = 8;

/// Stores `text` as template `name` at time `now` (ms), replacing any other text.
pub fn put(store: &dyn Store, name: &str, text: &str, now: u64) -> Result<(Put, TemplateRecord), StoreError> {
    let key = keys::template_key(name)?;
    retry_conflicts(|| {
        let found = read(store, &key)?;
        if let Some((_, record)) = found.as_ref().filter(|(_, r)| r.text == text) {
            return Ok((Put::Unchanged, record.clone()));
        }
        let record = TemplateRecord { name: name.to_owned(), text: text.to_owned(), updated_at: now };
        let json = serde_json::to_vec(&record).expect("a template record is JSON");
        let mut batch = Batch::new();
        // Guarded: of two writers, one sees the other's record and says "replaced".
        let version = found.as_ref().map(|(v, _)| *v);
        batch.expect_version(Space::Templates, key.clone(), version);
        batch.put_versioned(Space::Templates, key.clone(), version.map_or(1, |v| v + 1), &json);
        store.commit(batch)?;
        Ok((if found.is_some() { Put::Replaced } else { Put::Created }, record))
    })
}

/// The template `name`, if stored.
pub fn get(store: &dyn Store, name: &str) -> Result<Option<TemplateRecord>, StoreError> {
    Ok(read(store, &keys::template_key(name)?)?.map(|(_, record)| record))
}

/// Every stored template, by name.
pub fn list(store: &dyn Store) -> Result<Vec<TemplateRecord>, StoreError> {
    let mut found = Vec::new();
    scan_pages(store, Space::Templates, b"", None, 256, |key, value| {
        found.push(decode(&key, &value)?.1);
        Ok::<_, StoreError>(true)
    })?;
    Ok(found)
}

/// Removes the template `name`; false if there was none.
pub fn delete(store: &dyn Store, name: &str) -> Result<bool, StoreError> {
    let key = keys::template_key(name)?;
    retry_conflicts(|| {
        let Some((version, _)) = read(store, &key)? else { return Ok(false) };
        let mut batch = Batch::new();
        batch.expect_version(Space::Templates, key.clone(), Some(version));
        batch.delete(Space::Templates, key.clone());
        store.commit(batch)?;
        Ok(true)
    })
}

/// Stores every template file of `dir` (`*.yaml`, `*.yml`, `*.json`) under its file stem,
/// replacing a stored template of that name. A file that cannot be read, is badly named or
/// is no valid template is skipped: the warnings say which and why. No directory, no
/// templates.
pub fn store_dir(store: &dyn Store, dir: &Path, now: u64) -> Result<Vec<String>, StoreError> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(Vec::new()) };
    let mut files: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    files.sort();
    let mut warnings = Vec::new();
    for file in files.iter().filter(|f| matches!(f.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json")))
    {
        let name = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        if !harmonia_model::template::is_template_name(name) {
            warnings.push(format!(
                "template {} skipped: its name (the file name without extension) must be letters, digits, `_` and `-`",
                file.display()
            ));
            continue;
        }
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) => {
                warnings.push(format!("template {} skipped: cannot read it: {e}", file.display()));
                continue;
            }
        };
        match harmonia_model::check_template(&text, Some(file)) {
            Ok(_) => drop(put(store, name, &text, now)?),
            Err(d) => warnings.push(format!("template {} skipped:\n{d}", file.display())),
        }
    }
    Ok(warnings)
}

/// Runs `attempt` again while it fails on a guard: someone else wrote the record meanwhile.
fn retry_conflicts<T>(mut attempt: impl FnMut() -> Result<T, StoreError>) -> Result<T, StoreError> {
    let mut tries = 1;
    loop {
        match attempt() {
            Err(StoreError::Conflict { .. }) if tries < ATTEMPTS => tries += 1,
            done => return done,
        }
    }
}

fn read(store: &dyn Store, key: &[u8]) -> Result<Option<(u64, TemplateRecord)>, StoreError> {
    match store.get(Space::Templates, key)? {
        Some(value) => decode(key, &value).map(Some),
        None => Ok(None),
    }
}

fn decode(key: &[u8], value: &[u8]) -> Result<(u64, TemplateRecord), StoreError> {
    let (version, json) = split_versioned(Space::Templates, key, value)?;
    let record = serde_json::from_slice(json).map_err(|e| StoreError::Corrupt {
        space: Space::Templates,
        key: String::from_utf8_lossy(key).into_owned(),
        reason: e.to_string(),
    })?;
    Ok((version, record))
}

#[cfg(test)]
mod tests {
    use harmonia_store::MemStore;

    use super::*;

    const T: &str = "parameters:\n  name: string\nname: ${params.name}\nversion: 1\ntasks:\n  a: { component: core, action: echo }\n";

    #[test]
    fn put_creates_replaces_or_keeps_and_delete_removes() {
        let store = MemStore::new();
        let (put1, first) = put(&store, "t", T, 10).unwrap();
        assert_eq!((put1, first.updated_at), (Put::Created, 10));
        let (again, kept) = put(&store, "t", T, 20).unwrap();
        assert_eq!((again, kept.updated_at), (Put::Unchanged, 10), "the same text is no change");
        let other = T.replace("version: 1", "version: 2");
        let (replaced, record) = put(&store, "t", &other, 30).unwrap();
        assert_eq!((replaced, record.updated_at), (Put::Replaced, 30));
        assert_eq!(get(&store, "t").unwrap().unwrap().text, other);
        put(&store, "a", T, 40).unwrap();
        let names: Vec<String> = list(&store).unwrap().into_iter().map(|r| r.name).collect();
        assert_eq!(names, ["a", "t"]);
        assert!(delete(&store, "t").unwrap());
        assert!(!delete(&store, "t").unwrap());
        assert_eq!(get(&store, "t").unwrap(), None);
    }

    #[test]
    fn a_directory_stores_good_files_by_stem_and_reports_the_others() {
        let store = MemStore::new();
        put(&store, "good", "parameters: {}\nname: old\nversion: 1\ntasks: {}\n", 1).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("good.yaml"), T).unwrap();
        std::fs::write(dir.path().join("broken.yaml"), "parameters:\n  x: { type: strin }\n").unwrap();
        std::fs::write(dir.path().join("bad name.yaml"), T).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a template").unwrap();
        let warnings = store_dir(&store, dir.path(), 5).unwrap();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("bad name.yaml") && warnings[0].contains("must be letters"), "{warnings:?}");
        assert!(warnings[1].contains("broken.yaml:2:"), "the file and the place: {warnings:?}");
        let stored = list(&store).unwrap();
        assert_eq!(stored.len(), 1, "{stored:?}");
        assert_eq!((stored[0].name.as_str(), stored[0].text.as_str()), ("good", T), "the file replaces the stored one");
        assert!(store_dir(&store, &dir.path().join("none"), 6).unwrap().is_empty());
    }
}

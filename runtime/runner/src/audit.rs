//! The audit log as stored: one entry per state-changing request, in the store's `audit`
//! space under a global sequence number: who, what (method, path and query, never the
//! body), when, and the result. The API decides what is recorded; this keeps the order.

use std::sync::{Arc, Mutex};

use harmonia_store::{Batch, Space, Store, StoreError, keys};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::now_ms;

/// The longest path (with its query) an entry keeps; a longer one is cut, with its length.
pub const MAX_PATH: usize = 512;

/// One entry: who did what, and how it ended.
pub struct Entry<'a> {
    pub who: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub result: &'a str,
    pub details: Option<Value>,
}

impl Entry<'_> {
    fn to_json(&self, seq: u64) -> Value {
        let mut entry = json!({ "seq": seq, "at": now_ms(), "who": self.who, "method": self.method, "path": bounded(self.path),
                                "status": self.status, "result": self.result });
        if self.path.len() > MAX_PATH {
            entry["path_bytes"] = json!(self.path.len());
        }
        if let Some(details) = &self.details {
            entry["details"] = details.clone();
        }
        entry
    }
}

/// At most [`MAX_PATH`] bytes of `path` (cut at a character), marked when cut.
pub fn bounded(path: &str) -> String {
    if path.len() <= MAX_PATH {
        return path.to_owned();
    }
    let mut end = MAX_PATH;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &path[..end])
}

/// Appends entries to a store's audit space, in sequence order.
pub struct AuditTrail {
    store: Arc<dyn Store>,
    /// The next sequence number, read from the store on first use. Held while a batch is
    /// handed to the store, so that entries are committed in sequence order and a reader
    /// paging with `after` never skips one committed late.
    next: Mutex<Option<u64>>,
}

impl AuditTrail {
    pub fn new(store: Arc<dyn Store>) -> AuditTrail {
        AuditTrail { store, next: Mutex::new(None) }
    }

    /// Appends `entry`; returns once it is committed.
    pub async fn write(&self, entry: &Entry<'_>) -> Result<(), StoreError> {
        let done = self.append(entry)?;
        done.await.unwrap_or_else(|_| Err(StoreError::Io { message: "the store's writer stopped".to_owned() }))
    }

    /// Hands the entry to the store; the receiver gets the result.
    fn append(&self, entry: &Entry<'_>) -> Result<oneshot::Receiver<Result<(), StoreError>>, StoreError> {
        let mut next = self.next.lock().expect("audit lock");
        let seq = match *next {
            Some(seq) => seq,
            None => next_seq(&*self.store)?,
        };
        let mut batch = Batch::new();
        batch.put(Space::Audit, keys::log_key(seq), serde_json::to_vec(&entry.to_json(seq)).expect("an entry is JSON"));
        let (done, result) = oneshot::channel();
        self.store.commit_then(batch, Box::new(move |r| drop(done.send(r))));
        // A failed commit leaves a gap in the sequence, never a reused number.
        *next = Some(seq + 1);
        Ok(result)
    }
}

/// At most `limit` entries after sequence number `after`, oldest first, and the `after` of
/// the next page (`None` at the end). An entry that cannot be read says so in its place.
pub fn read(store: &dyn Store, after: u64, limit: usize) -> Result<(Vec<Value>, Option<u64>), StoreError> {
    let start = (after > 0).then(|| keys::log_key(after));
    let page = store.scan_prefix(Space::Audit, b"", start.as_deref(), limit)?;
    let full = page.len() == limit;
    let next = page.last().and_then(|(key, _)| keys::seq_of(key)).filter(|_| full);
    let entries = page
        .into_iter()
        .map(|(key, value)| {
            serde_json::from_slice(&value)
                .unwrap_or_else(|e| json!({ "seq": keys::seq_of(&key), "corrupt": e.to_string() }))
        })
        .collect();
    Ok((entries, next))
}

fn next_seq(store: &dyn Store) -> Result<u64, StoreError> {
    Ok(match store.last(Space::Audit, b"")? {
        Some((key, _)) => keys::seq_of(&key).map_or(1, |s| s + 1),
        None => 1,
    })
}

/// Appends one entry to the audit log of a store no server holds (the CLI's `harmonia
/// token` commands, which run while the server is stopped).
pub fn append_offline(store: &dyn Store, entry: &Entry<'_>) -> Result<(), StoreError> {
    let mut batch = Batch::new();
    let seq = next_seq(store)?;
    batch.put(Space::Audit, keys::log_key(seq), serde_json::to_vec(&entry.to_json(seq)).expect("an entry is JSON"));
    store.commit(batch)
}

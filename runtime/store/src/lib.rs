//! Harmonia's durable state: the [`Store`] trait and its two backends, [`RocksStore`] (the
//! default, on disk) and [`MemStore`] (in memory, for fast tests). One conformance suite
//! (`tests/conformance.rs`) runs on both, so they keep the same semantics.
//!
//! The data is split into [`Space`]s (one RocksDB column family each): workflow definitions,
//! executions, history, checkpoints, plugin key-value data, the event log, the audit log,
//! API tokens, workflow templates and the indexes of executions.
//! Keys are built by the helpers of [`keys`], so a prefix scan of one execution never leaks
//! into another.
//!
//! Writes go through a [`Batch`]: its puts and deletes are committed together or not at all,
//! and its guards ([`Batch::expect_version`]) give optimistic concurrency: a batch built from
//! a stale version fails with [`StoreError::Conflict`] instead of overwriting. [`RocksStore`]
//! groups the batches of many threads into one disk write (group commit).
//!
//! Knows nothing of the engine, wasmtime or HTTP: values are bytes, encoded by the caller.
#![deny(missing_docs)]

mod batch;
mod error;
pub mod keys;
mod mem;
mod rocks;

pub use batch::Batch;
pub use error::StoreError;
pub use mem::MemStore;
pub use rocks::{RocksStore, StoreOptions, SyncMode, WriteStats};

use std::fmt;

/// The result of a store operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A separate key space: one RocksDB column family, one map of [`MemStore`].
/// Names are part of the on-disk format: never rename or reuse one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Space {
    /// Workflow definitions, every version: [`keys::workflow_key`].
    Workflows,
    /// The current state of each execution, a versioned record: [`keys::execution_key`].
    Executions,
    /// Append-only events of each execution, in order: [`keys::history_key`].
    History,
    /// Snapshots of execution state: [`keys::checkpoint_key`].
    Checkpoints,
    /// Key-value data of plugins: [`keys::kv_key`].
    Kv,
    /// The global event log: [`keys::log_key`].
    Events,
    /// The audit log: [`keys::log_key`].
    Audit,
    /// The executions not finished yet, by id (empty values): what recovery resumes
    /// without reading every execution ever run.
    Unfinished,
    /// API tokens by name: each a JSON record with the role and the SHA-256 of the secret
    /// (never the secret itself).
    Tokens,
    /// Workflow templates by name ([`keys::template_key`]): each a JSON record with its
    /// text. Unlike workflow versions, a template may be replaced.
    Templates,
    /// Secondary indexes of [`Space::Executions`] (empty values): the ids of executions by
    /// workflow, by status, by both, and the finished ones by when they finished
    /// ([`keys::exec_index`]), so that a filtered listing or a retention sweep reads what
    /// it returns rather than every execution ever run.
    ExecIndex,
}

impl Space {
    /// Every space, in a fixed order.
    pub const ALL: [Space; 11] = [
        Space::Workflows,
        Space::Executions,
        Space::History,
        Space::Checkpoints,
        Space::Kv,
        Space::Events,
        Space::Audit,
        Space::Unfinished,
        Space::Tokens,
        Space::Templates,
        Space::ExecIndex,
    ];

    /// The name of the space, and of its column family.
    pub fn name(self) -> &'static str {
        match self {
            Space::Workflows => "workflows",
            Space::Executions => "executions",
            Space::History => "history",
            Space::Checkpoints => "checkpoints",
            Space::Kv => "kv",
            Space::Events => "events",
            Space::Audit => "audit",
            Space::Unfinished => "unfinished",
            Space::Tokens => "tokens",
            Space::Templates => "templates",
            Space::ExecIndex => "exec_index",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Space {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Durable, ordered key-value storage with atomic, guarded batches.
///
/// Reads see only committed batches, never part of one. Keys are compared as bytes.
/// Object-safe: share one as `Arc<dyn Store>`.
pub trait Store: Send + Sync {
    /// The value under `key`, if any.
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Up to `limit` entries whose key starts with `prefix`, in key order, starting after
    /// the key `start_after` if given (to page through a long prefix).
    fn scan_prefix(
        &self,
        space: Space,
        prefix: &[u8],
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;

    /// The entry with the greatest key starting with `prefix`, for example the last event of
    /// an execution's history (whose sequence number the next event follows).
    fn last(&self, space: Space, prefix: &[u8]) -> Result<Option<(Vec<u8>, Vec<u8>)>>;

    /// Commits `batch` atomically: all of it or, on an error, none of it. Blocks until it is
    /// committed (and, with [`SyncMode::Always`], on disk).
    fn commit(&self, batch: Batch) -> Result<()>;

    /// Commits `batch` like [`Store::commit`] without waiting: `done` gets the result once
    /// the batch is committed, on the store's writer thread (or on this one, before
    /// returning). For async callers, which must not block their threads on a disk sync.
    fn commit_then(&self, batch: Batch, done: Box<dyn FnOnce(Result<()>) + Send>) {
        done(self.commit(batch));
    }

    /// Makes everything committed so far durable on disk, whatever the [`SyncMode`].
    fn flush(&self) -> Result<()>;

    /// A versioned record (see [`versioned`]): its version and its payload.
    fn get_versioned(&self, space: Space, key: &[u8]) -> Result<Option<(u64, Vec<u8>)>> {
        match self.get(space, key)? {
            None => Ok(None),
            Some(value) => {
                let (version, payload) = split_versioned(space, key, &value)?;
                Ok(Some((version, payload.to_vec())))
            }
        }
    }
}

/// Visits the entries whose key starts with `prefix`, in key order, after the key
/// `start_after` if given, reading `page` entries at a time so that a large space is never
/// held in memory at once (a short page is the last: no further read). `visit` returns
/// `Ok(false)` to stop early.
pub fn scan_pages<E: From<StoreError>>(
    store: &dyn Store,
    space: Space,
    prefix: &[u8],
    start_after: Option<&[u8]>,
    page: usize,
    mut visit: impl FnMut(Vec<u8>, Vec<u8>) -> Result<bool, E>,
) -> Result<(), E> {
    let mut after = start_after.map(<[u8]>::to_vec);
    loop {
        let entries = store.scan_prefix(space, prefix, after.as_deref(), page)?;
        let full = entries.len() == page;
        after = entries.last().map(|(key, _)| key.clone());
        for (key, value) in entries {
            if !visit(key, value)? {
                return Ok(());
            }
        }
        if !full {
            return Ok(());
        }
    }
}

/// Encodes a versioned record: the version as 8 big-endian bytes, then the payload.
/// Records guarded by [`Batch::expect_version`] must have this layout.
pub fn versioned(version: u64, payload: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(8 + payload.len());
    value.extend_from_slice(&version.to_be_bytes());
    value.extend_from_slice(payload);
    value
}

/// Decodes a versioned record read from `key` of `space`; a record too short to hold a
/// version is [`StoreError::Corrupt`], naming the key.
pub fn split_versioned<'a>(space: Space, key: &[u8], value: &'a [u8]) -> Result<(u64, &'a [u8])> {
    match value.split_first_chunk::<8>() {
        Some((version, payload)) => Ok((u64::from_be_bytes(*version), payload)),
        None => Err(StoreError::corrupt(
            space,
            key,
            format!("a versioned record needs 8 bytes of version, it has {} bytes", value.len()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A data directory written before a space existed gets its column family on the next
    /// open, and what it held is still there.
    #[test]
    fn a_store_without_a_newer_space_opens_and_gains_it() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut options = rocksdb::Options::default();
            options.create_if_missing(true);
            options.create_missing_column_families(true);
            let newer = [Space::Templates, Space::ExecIndex];
            let older: Vec<&str> = Space::ALL.iter().filter(|s| !newer.contains(s)).map(|s| s.name()).collect();
            let db = rocksdb::DB::open_cf(&options, dir.path(), &older).unwrap();
            db.put_cf(db.cf_handle("tokens").unwrap(), b"alice", b"record").unwrap();
        }
        let reader = RocksStore::open_read_only(dir.path()).unwrap();
        assert_eq!(reader.get(Space::Templates, b"t").unwrap(), None, "a missing space reads as empty");
        assert_eq!(reader.scan_prefix(Space::ExecIndex, b"", None, 10).unwrap(), vec![]);
        assert_eq!(reader.last(Space::ExecIndex, b"").unwrap(), None);
        drop(reader);
        let store = RocksStore::open(dir.path(), StoreOptions::default()).unwrap();
        assert_eq!(store.get(Space::Tokens, b"alice").unwrap(), Some(b"record".to_vec()));
        let mut batch = Batch::new();
        batch.put(Space::Templates, keys::template_key("t").unwrap(), b"text".to_vec());
        store.commit(batch).unwrap();
        assert_eq!(store.get(Space::Templates, b"t").unwrap(), Some(b"text".to_vec()));
        let mut batch = Batch::new();
        batch.put(Space::ExecIndex, keys::exec_index::BUILT, Vec::new());
        store.commit(batch).unwrap();
        assert_eq!(store.get(Space::ExecIndex, keys::exec_index::BUILT).unwrap(), Some(vec![]));
    }
}

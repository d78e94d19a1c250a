//! Harmonia's durable state, whatever keeps it: the [`Store`] trait that the server writes
//! through, its data model ([`Space`], [`keys`], [`Batch`], [`StoreError`], versioned
//! records) and [`MemStore`], a backend in memory for fast tests.
//!
//! This crate depends on no storage backend. Each backend is a sibling crate implementing
//! [`Store`] with the API of [`backend`], whose tests run the shared suite of
//! [`conformance`] so that all backends keep the same semantics. The server runs on
//! `harmonia-store-rocksdb` (`RocksStore`: RocksDB on disk, with group commit).
//!
//! The data is split into [`Space`]s, which every backend keeps apart: workflow definitions,
//! executions, history, checkpoints, plugin key-value data, the event log, the audit log,
//! API tokens, workflow templates and the indexes of executions. Keys are built by the
//! helpers of [`keys`], so a prefix scan of one execution never leaks into another.
//!
//! Writes go through a [`Batch`]: its puts and deletes are committed together or not at all,
//! and its guards ([`Batch::expect_version`]) give optimistic concurrency: a batch built from
//! a stale version fails with [`StoreError::Conflict`] instead of overwriting.
//!
//! Knows nothing of the engine, wasmtime or HTTP: values are bytes, encoded by the caller.
#![deny(missing_docs)]

pub mod backend;
mod batch;
pub mod conformance;
mod error;
pub mod keys;
mod mem;

pub use batch::Batch;
pub use error::StoreError;
pub use mem::MemStore;

use std::fmt;

/// The result of a store operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A separate key space, kept apart by each backend (one RocksDB column family, one map of
/// [`MemStore`]). Names are part of the stored format: never rename or reuse one.
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
    /// The CloudEvents log: every event accepted (sent over the API, emitted by a plugin or
    /// a workflow, a signal), in order of acceptance: [`keys::log_key`].
    CloudEvents,
    /// The CloudEvents accepted, by `source` and `id` ([`keys::event_id_key`]; the value is
    /// the event's position in the log): an event sent again is acknowledged, not accepted
    /// twice.
    EventIds,
    /// The CloudEvents by type and time of acceptance ([`keys::event_type_key`], empty
    /// values): what a wait reached late looks back through.
    EventTypes,
    /// Small records of the runner's own, by name: how far the trigger dispatcher got in the
    /// CloudEvents log, say.
    Meta,
}

impl Space {
    /// Every space, in a fixed order: the order of [`Space::index`].
    pub const ALL: [Space; 15] = [
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
        Space::CloudEvents,
        Space::EventIds,
        Space::EventTypes,
        Space::Meta,
    ];

    /// The name of the space, under which backends store it (the name of its RocksDB
    /// column family).
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
            Space::CloudEvents => "cloud_events",
            Space::EventIds => "event_ids",
            Space::EventTypes => "event_types",
            Space::Meta => "meta",
        }
    }

    /// The position of the space in [`Space::ALL`], from 0: for a backend that keeps one
    /// thing per space in an array.
    pub fn index(self) -> usize {
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

    /// How many keys start with `prefix`: the size of an index's part (a key per entry),
    /// for counts. A backend counts them where they are, without reading them out; this
    /// default reads them a page at a time.
    fn count_prefix(&self, space: Space, prefix: &[u8]) -> Result<u64> {
        let mut count = 0;
        scan_pages(self, space, prefix, None, 4096, |_, _| {
            count += 1;
            Ok::<_, StoreError>(true)
        })?;
        Ok(count)
    }

    /// The entry with the greatest key starting with `prefix`, for example the last event of
    /// an execution's history (whose sequence number the next event follows).
    fn last(&self, space: Space, prefix: &[u8]) -> Result<Option<(Vec<u8>, Vec<u8>)>>;

    /// Commits `batch` atomically: all of it or, on an error, none of it. Blocks until it is
    /// committed (and, if the backend is set to sync every commit, on disk).
    fn commit(&self, batch: Batch) -> Result<()>;

    /// Commits `batch` like [`Store::commit`] without waiting: `done` gets the result once
    /// the batch is committed, on the store's writer thread (or on this one, before
    /// returning). For async callers, which must not block their threads on a disk sync.
    fn commit_then(&self, batch: Batch, done: Box<dyn FnOnce(Result<()>) + Send>) {
        done(self.commit(batch));
    }

    /// Makes everything committed so far durable on disk, however the backend is set to
    /// sync its commits.
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
    store: &(impl Store + ?Sized),
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

//! How executions are kept in the store: a small versioned record per execution (its
//! version is the sequence number of its last event), the append-only history, snapshots
//! of the state (checkpoints), the index of unfinished executions, and the indexes of
//! executions by workflow, status and finish time (`Space::ExecIndex`), written in the
//! same batches as the records they index.
//!
//! The state of a running execution is its latest checkpoint plus the events after it;
//! once finished, the record holds the final state, so reading it is one lookup. Writing a
//! step costs its events and a record of a few hundred bytes, whatever the size of the state.

use harmonia_engine::{Event, ExecStatus, Execution, Millis, Plan};
use harmonia_store::keys::{self, exec_index};
use harmonia_store::{Batch, Space, Store, StoreError, scan_pages, split_versioned};
use serde::{Deserialize, Serialize};

/// The record of one execution (`Space::Executions`), under a version: its last event's
/// sequence number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecRecord {
    pub workflow: String,
    pub version: String,
    pub status: ExecStatus,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// The execution whose task started this one (a sub-workflow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    #[serde(default)]
    pub depth: u32,
    /// The final state, once finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<Box<Execution>>,
    /// Changes to its definition made while paused (tasks added, inputs replaced), applied
    /// to its workflow version in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<harmonia_engine::Patch>,
}

/// What the indexes of executions say of one besides its workflow, which never changes:
/// its status and, once finished, when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Indexed {
    pub status: ExecStatus,
    pub finished_at: Option<Millis>,
}

impl ExecRecord {
    /// When it finished; `None` while it has not.
    pub fn finished_at(&self) -> Option<Millis> {
        let at = self.state.as_ref().and_then(|s| s.finished_at).unwrap_or(self.updated_at);
        self.status.is_finished().then_some(at)
    }

    /// What the indexes hold of it.
    pub fn indexed(&self) -> Indexed {
        Indexed { status: self.status, finished_at: self.finished_at() }
    }

    pub fn new(exec: &Execution, at: Millis, parent: Option<String>, depth: u32) -> ExecRecord {
        ExecRecord {
            workflow: exec.workflow.clone(),
            version: exec.version.clone(),
            status: exec.status,
            created_at: at,
            updated_at: at,
            parent,
            depth,
            state: None,
            patches: Vec::new(),
        }
    }
}

/// A snapshot of an execution's state after event `seq` (`Space::Checkpoints`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub seq: u64,
    pub at: Millis,
    /// Taken by the engine every N steps, rather than asked for.
    pub auto: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub state: Execution,
}

/// A checkpoint without its state, for listings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointInfo {
    pub seq: u64,
    pub at: Millis,
    pub auto: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub status: ExecStatus,
}

impl Checkpoint {
    pub fn info(&self) -> CheckpointInfo {
        CheckpointInfo {
            seq: self.seq,
            at: self.at,
            auto: self.auto,
            label: self.label.clone(),
            status: self.state.status,
        }
    }
}

/// Why an execution cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("no execution {0}")]
    NotFound(String),
    /// One of its records does not decode or its history has a gap: this execution fails,
    /// the others go on.
    #[error("execution {id} is corrupt: {reason}")]
    Corrupt { id: String, reason: String },
    #[error("execution {id}: {source}")]
    Store { id: String, source: StoreError },
}

impl ReadError {
    fn corrupt(id: &str, reason: impl Into<String>) -> ReadError {
        ReadError::Corrupt { id: id.to_string(), reason: reason.into() }
    }

    fn store(id: &str, source: StoreError) -> ReadError {
        match source {
            StoreError::Corrupt { .. } => ReadError::corrupt(id, source.to_string()),
            // An id no key can hold (a NUL byte) names no execution.
            StoreError::InvalidKey(_) => ReadError::NotFound(id.to_string()),
            source => ReadError::Store { id: id.to_string(), source },
        }
    }
}

fn key(id: &str) -> Result<Vec<u8>, ReadError> {
    keys::execution_key(id).map_err(|e| ReadError::store(id, e))
}

/// The record of `id` and its version.
pub fn read_record(store: &dyn Store, id: &str) -> Result<(u64, ExecRecord), ReadError> {
    let key = key(id)?;
    let (version, payload) = store
        .get_versioned(Space::Executions, &key)
        .map_err(|e| ReadError::store(id, e))?
        .ok_or_else(|| ReadError::NotFound(id.to_string()))?;
    let record = serde_json::from_slice(&payload)
        .map_err(|e| ReadError::corrupt(id, format!("its record does not decode: {e}")))?;
    Ok((version, record))
}

/// At most `limit` events of `id` after event `after` (0: from the first), checked to
/// follow each other without a gap.
pub fn read_history(store: &dyn Store, id: &str, after: u64, limit: usize) -> Result<Vec<Event>, ReadError> {
    let prefix = keys::execution_prefix(id).map_err(|e| ReadError::store(id, e))?;
    let start = (after > 0).then(|| keys::history_key(id, after)).transpose().map_err(|e| ReadError::store(id, e))?;
    let mut events = Vec::new();
    let mut broken = None;
    scan_pages::<StoreError>(store, Space::History, &prefix, start.as_deref(), 1024, |key, value| {
        let expected = after + events.len() as u64 + 1;
        let seq = keys::seq_of(&key).unwrap_or(0);
        if seq != expected {
            broken = Some(format!("its history has a gap: event {expected} is missing (found {seq})"));
            return Ok(false);
        }
        match serde_json::from_slice(&value) {
            Ok(event) => events.push(event),
            Err(e) => {
                broken = Some(format!("history event {seq} does not decode: {e}"));
                return Ok(false);
            }
        }
        Ok(events.len() < limit)
    })
    .map_err(|e| ReadError::store(id, e))?;
    match broken {
        Some(reason) => Err(ReadError::corrupt(id, reason)),
        None => Ok(events),
    }
}

/// The latest checkpoint of `id`, if any.
pub fn latest_checkpoint(store: &dyn Store, id: &str) -> Result<Option<Checkpoint>, ReadError> {
    let prefix = keys::execution_prefix(id).map_err(|e| ReadError::store(id, e))?;
    let Some((key, value)) = store.last(Space::Checkpoints, &prefix).map_err(|e| ReadError::store(id, e))? else {
        return Ok(None);
    };
    decode_checkpoint(id, &key, &value).map(Some)
}

fn decode_checkpoint(id: &str, key: &[u8], value: &[u8]) -> Result<Checkpoint, ReadError> {
    let seq = keys::seq_of(key).unwrap_or(0);
    serde_json::from_slice(value).map_err(|e| ReadError::corrupt(id, format!("checkpoint {seq} does not decode: {e}")))
}

/// The checkpoint of `id` taken after event `seq`.
pub fn read_checkpoint(store: &dyn Store, id: &str, seq: u64) -> Result<Option<Checkpoint>, ReadError> {
    let key = keys::checkpoint_key(id, seq).map_err(|e| ReadError::store(id, e))?;
    match store.get(Space::Checkpoints, &key).map_err(|e| ReadError::store(id, e))? {
        Some(value) => decode_checkpoint(id, &key, &value).map(Some),
        None => Ok(None),
    }
}

/// Every checkpoint of `id`, oldest first.
pub fn list_checkpoints(store: &dyn Store, id: &str) -> Result<Vec<Checkpoint>, ReadError> {
    let prefix = keys::execution_prefix(id).map_err(|e| ReadError::store(id, e))?;
    let mut entries = Vec::new();
    scan_pages::<StoreError>(store, Space::Checkpoints, &prefix, None, 64, |key, value| {
        entries.push((key, value));
        Ok(true)
    })
    .map_err(|e| ReadError::store(id, e))?;
    entries.iter().map(|(key, value)| decode_checkpoint(id, key, value)).collect()
}

/// The state of `id` as stored: the final state, or the latest checkpoint (or the start)
/// with the events after it applied. Checks the result is at the record's version.
pub fn load_state(store: &dyn Store, plan: &Plan, id: &str) -> Result<(u64, ExecRecord, Execution), ReadError> {
    let (version, record) = read_record(store, id)?;
    load_state_of(store, plan, id, version, record)
}

/// [`load_state`] from a record already read.
pub fn load_state_of(
    store: &dyn Store,
    plan: &Plan,
    id: &str,
    version: u64,
    record: ExecRecord,
) -> Result<(u64, ExecRecord, Execution), ReadError> {
    if let Some(state) = &record.state {
        return Ok((version, record.clone(), (**state).clone()));
    }
    let mut exec = match latest_checkpoint(store, id)? {
        Some(checkpoint) => checkpoint.state,
        None => Execution::new(id, &plan.workflow, &plan.fallbacks),
    };
    for event in read_history(store, id, exec.seq, usize::MAX)? {
        exec.apply(&event);
    }
    if exec.seq != version {
        let reason = format!("its record is at event {version} but its history ends at event {}", exec.seq);
        return Err(ReadError::corrupt(id, reason));
    }
    Ok((version, record, exec))
}

/// The writes of one commit of an execution: its new events, its record, and the indexes
/// (unfinished executions; by workflow, status and finish time), guarded by the version
/// they follow.
pub struct StepWrite<'a> {
    pub id: &'a str,
    /// The version the events follow (None: the execution is new).
    pub from: Option<u64>,
    /// What the indexes hold of the stored version `from` (None: the execution is new).
    /// Index keys are written only when the record's differs, so most steps write none.
    pub before: Option<Indexed>,
    pub events: &'a [Event],
    pub record: &'a ExecRecord,
    /// The state after the events.
    pub exec: &'a Execution,
    pub checkpoint: Option<&'a Checkpoint>,
    /// Automatic checkpoints to remove (older ones beyond those kept).
    pub forget: &'a [u64],
}

impl StepWrite<'_> {
    pub fn batch(&self) -> Result<Batch, StoreError> {
        let id = self.id;
        let key = keys::execution_key(id)?;
        let mut batch = Batch::new();
        batch.expect_version(Space::Executions, key.clone(), self.from);
        let first = self.exec.seq - self.events.len() as u64;
        for (n, event) in self.events.iter().enumerate() {
            let value = serde_json::to_vec(event).expect("an event is JSON");
            batch.put(Space::History, keys::history_key(id, first + 1 + n as u64)?, value);
        }
        let record = serde_json::to_vec(self.record).expect("a record is JSON");
        batch.put_versioned(Space::Executions, key.clone(), self.exec.seq, &record);
        if self.record.status.is_finished() {
            batch.delete(Space::Unfinished, key);
        } else if self.from.is_none()
            || self.events.iter().any(|e| matches!(e, Event::Restored { .. } | Event::Retried { .. }))
        {
            batch.put(Space::Unfinished, key, Vec::new());
        }
        reindex(&mut batch, id, &self.record.workflow, self.before, self.record.indexed())?;
        if let Some(checkpoint) = self.checkpoint {
            let value = serde_json::to_vec(checkpoint).expect("a checkpoint is JSON");
            batch.put(Space::Checkpoints, keys::checkpoint_key(id, checkpoint.seq)?, value);
        }
        for seq in self.forget {
            batch.delete(Space::Checkpoints, keys::checkpoint_key(id, *seq)?);
        }
        Ok(batch)
    }
}

/// The keys of execution `id` in the indexes that depend on `indexed` (all but the
/// workflow's). Only a finished execution has any: the running and paused ones are those of
/// `Space::Unfinished`, which is written anyway, so an execution costs its index keys once
/// when it starts and once when it ends, and a pause or resume costs none.
fn state_keys(id: &str, workflow: &str, indexed: Indexed) -> Result<Vec<Vec<u8>>, StoreError> {
    if !indexed.status.is_finished() {
        return Ok(Vec::new());
    }
    let status = indexed.status.as_str();
    let mut found = vec![
        exec_index::entry(&exec_index::by_status(status)?, id)?,
        exec_index::entry(&exec_index::by_workflow_status(workflow, status)?, id)?,
    ];
    if let Some(at) = indexed.finished_at {
        found.push(exec_index::finished(at, id)?);
    }
    Ok(found)
}

/// Adds to `batch` the index changes of execution `id` going from `before` (None: a new
/// execution) to `after`; nothing if they are the same.
fn reindex(
    batch: &mut Batch,
    id: &str,
    workflow: &str,
    before: Option<Indexed>,
    after: Indexed,
) -> Result<(), StoreError> {
    match before {
        Some(before) if before == after => return Ok(()),
        Some(before) => {
            // Deleted first: a key both have is put back after.
            for key in state_keys(id, workflow, before)? {
                batch.delete(Space::ExecIndex, key);
            }
        }
        None => {
            batch.put(Space::ExecIndex, exec_index::entry(&exec_index::by_workflow(workflow)?, id)?, Vec::new());
        }
    }
    for key in state_keys(id, workflow, after)? {
        batch.put(Space::ExecIndex, key, Vec::new());
    }
    Ok(())
}

/// True once the indexes of executions hold every execution (see [`build_index`]).
pub fn index_ready(store: &dyn Store) -> Result<bool, StoreError> {
    Ok(store.get(Space::ExecIndex, exec_index::BUILT)?.is_some())
}

/// Records read at a time by the one-time build of the indexes, each page one batch.
const BUILD_PAGE: usize = 1024;

/// Builds the indexes of executions from the records if the store has none (a data
/// directory written before they existed): returns how many executions it indexed, or
/// `None` if they were there. Whatever the space held is cleared first (keys written by a
/// run that never built it, an interrupted build), so the result is exact. Must not run
/// beside writers of executions.
pub fn build_index(store: &dyn Store) -> Result<Option<usize>, StoreError> {
    if index_ready(store)? {
        return Ok(None);
    }
    let mut batch = Batch::new();
    batch.delete_prefix(Space::ExecIndex, Vec::new());
    let mut indexed = 0;
    scan_pages(store, Space::Executions, b"", None, BUILD_PAGE, |key, value| {
        // A record that does not decode is left out: it cannot be listed by its fields.
        if let Some(record) = decode_record(&key, &value) {
            reindex(&mut batch, &String::from_utf8_lossy(&key), &record.workflow, None, record.indexed())?;
            indexed += 1;
            if indexed % BUILD_PAGE == 0 {
                store.commit(std::mem::take(&mut batch))?;
            }
        }
        Ok::<_, StoreError>(true)
    })?;
    batch.put(Space::ExecIndex, exec_index::BUILT, Vec::new());
    store.commit(batch)?;
    Ok(Some(indexed))
}

/// The ids of the unfinished executions, in id order.
pub fn unfinished(store: &dyn Store) -> Result<Vec<String>, StoreError> {
    let mut ids = Vec::new();
    scan_pages(store, Space::Unfinished, b"", None, 4096, |key, _| {
        ids.push(String::from_utf8_lossy(&key).into_owned());
        Ok::<_, StoreError>(true)
    })?;
    Ok(ids)
}

/// Everything stored about one execution, as one JSON document: to move it to another
/// server or to look at it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecExport {
    pub format: String,
    pub id: String,
    pub version: u64,
    pub record: ExecRecord,
    pub history: Vec<Event>,
    pub checkpoints: Vec<Checkpoint>,
    /// The text of the workflow version it runs, so that the importing side can run it on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition: Option<String>,
}

/// The format name of [`ExecExport`].
pub const EXPORT_FORMAT: &str = "harmonia-execution/1";

pub fn export(store: &dyn Store, id: &str) -> Result<ExecExport, ReadError> {
    let (version, record) = read_record(store, id)?;
    let history = read_history(store, id, 0, usize::MAX)?;
    let checkpoints = list_checkpoints(store, id)?;
    let definition_key = keys::workflow_key(&record.workflow, &record.version).map_err(|e| ReadError::store(id, e))?;
    let definition = store.get(Space::Workflows, &definition_key).map_err(|e| ReadError::store(id, e))?;
    let definition = definition.map(|text| String::from_utf8_lossy(&text).into_owned());
    Ok(ExecExport {
        format: EXPORT_FORMAT.to_string(),
        id: id.to_string(),
        version,
        record,
        history,
        checkpoints,
        definition,
    })
}

/// Why an import was refused.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("not an execution export: format is {0:?}, expected {EXPORT_FORMAT:?}")]
    Format(String),
    #[error("the export of {id} is inconsistent: {reason}")]
    Inconsistent { id: String, reason: String },
    #[error("an execution {0} already exists")]
    Exists(String),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// Writes an exported execution into `store`, all of it or nothing; refused if an
/// execution with its id exists. The caller resumes it if it is unfinished.
pub fn import(store: &dyn Store, export: &ExecExport) -> Result<(), ImportError> {
    if export.format != EXPORT_FORMAT {
        return Err(ImportError::Format(export.format.clone()));
    }
    let id = export.id.as_str();
    let inconsistent = |reason: String| ImportError::Inconsistent { id: id.to_string(), reason };
    if export.history.len() as u64 != export.version {
        return Err(inconsistent(format!("version {} but {} events", export.version, export.history.len())));
    }
    let key = keys::execution_key(id)?;
    let mut batch = Batch::new();
    batch.expect_version(Space::Executions, key.clone(), None);
    for (n, event) in export.history.iter().enumerate() {
        let value = serde_json::to_vec(event).expect("an event is JSON");
        batch.put(Space::History, keys::history_key(id, n as u64 + 1)?, value);
    }
    for checkpoint in &export.checkpoints {
        if checkpoint.seq > export.version || checkpoint.state.id != id {
            return Err(inconsistent(format!("checkpoint {} does not belong to it", checkpoint.seq)));
        }
        let value = serde_json::to_vec(checkpoint).expect("a checkpoint is JSON");
        batch.put(Space::Checkpoints, keys::checkpoint_key(id, checkpoint.seq)?, value);
    }
    let record = serde_json::to_vec(&export.record).expect("a record is JSON");
    batch.put_versioned(Space::Executions, key.clone(), export.version, &record);
    if !export.record.status.is_finished() {
        batch.put(Space::Unfinished, key, Vec::new());
    }
    reindex(&mut batch, id, &export.record.workflow, None, export.record.indexed())?;
    if let Some(text) = &export.definition {
        // A version stored here already wins: versions do not change.
        let key = keys::workflow_key(&export.record.workflow, &export.record.version)?;
        if store.get(Space::Workflows, &key)?.is_none() {
            batch.put(Space::Workflows, key, text.as_bytes().to_vec());
        }
    }
    match store.commit(batch) {
        Err(StoreError::Conflict { .. }) => Err(ImportError::Exists(id.to_string())),
        other => Ok(other?),
    }
}

/// Deletes a finished execution with its history, checkpoints and index keys: `record`
/// as read at `version`, which tells which index keys it has. Guarded by that version, so
/// that an execution brought back to life meanwhile (a restore) is not deleted: the commit
/// fails with a conflict instead.
pub fn delete_batch(id: &str, version: u64, record: &ExecRecord) -> Result<Batch, StoreError> {
    let key = keys::execution_key(id)?;
    let prefix = keys::execution_prefix(id)?;
    let mut batch = Batch::new();
    batch.expect_version(Space::Executions, key.clone(), Some(version));
    batch.delete(Space::Executions, key.clone()).delete(Space::Unfinished, key);
    batch.delete_prefix(Space::History, prefix.clone()).delete_prefix(Space::Checkpoints, prefix);
    batch.delete(Space::ExecIndex, exec_index::entry(&exec_index::by_workflow(&record.workflow)?, id)?);
    for key in state_keys(id, &record.workflow, record.indexed())? {
        batch.delete(Space::ExecIndex, key);
    }
    Ok(batch)
}

/// Execution records by id, and the id to continue after if there may be more.
pub type RecordPage = (Vec<(String, ExecRecord)>, Option<String>);

/// Which executions to list: those of a workflow, in a status, or both (or all).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordFilter<'a> {
    pub workflow: Option<&'a str>,
    pub status: Option<ExecStatus>,
}

impl RecordFilter<'_> {
    pub fn accepts(&self, record: &ExecRecord) -> bool {
        self.workflow.is_none_or(|w| w == record.workflow) && self.status.is_none_or(|s| s == record.status)
    }

    /// The prefix of the index listing exactly these executions; `None` without a filter.
    fn index_prefix(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let status = self.status.map(ExecStatus::as_str);
        Ok(Some(match (self.workflow, status) {
            (None, None) => return Ok(None),
            (Some(workflow), None) => exec_index::by_workflow(workflow)?,
            (None, Some(status)) => exec_index::by_status(status)?,
            (Some(workflow), Some(status)) => exec_index::by_workflow_status(workflow, status)?,
        }))
    }
}

/// One page of execution records in id order, after the id `after`, those `filter`
/// accepts; the id to continue from if there may be more (the page is full). A filtered
/// page reads the index (then each record by id), so it costs what it returns; without
/// one, or before the index is built (a read-only store from before it), the records are
/// scanned.
pub fn list_records(
    store: &dyn Store,
    filter: RecordFilter<'_>,
    after: Option<&str>,
    limit: usize,
) -> Result<RecordPage, StoreError> {
    list_range(store, filter, IdRange { after, ..IdRange::default() }, limit)
}

/// A part of the id order: ids start with their start time, and a sub-workflow's with its
/// parent's id and `/`, so times and parents are ranges of ids.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IdRange<'a> {
    /// Only ids greater than this (where the previous page ended).
    pub after: Option<&'a str>,
    /// Only ids less than this: the scan stops there.
    pub before: Option<&'a str>,
    /// Only the executions this one started (its sub-workflows', which share its ids'
    /// prefix, are left out).
    pub parent: Option<&'a str>,
}

impl IdRange<'_> {
    /// Whether the scan, in id order, is past the range.
    fn past(&self, id: &str) -> bool {
        self.before.is_some_and(|before| id >= before)
    }

    fn accepts(&self, record: &ExecRecord) -> bool {
        self.parent.is_none_or(|parent| record.parent.as_deref() == Some(parent))
    }
}

/// [`list_records`] within `range`: a page costs what it reads from the range's start,
/// and no more than its end.
pub fn list_range(
    store: &dyn Store,
    filter: RecordFilter<'_>,
    range: IdRange<'_>,
    limit: usize,
) -> Result<RecordPage, StoreError> {
    if filter.status.is_some_and(|status| !status.is_finished()) {
        // Running and paused executions are listed by the unfinished ones (few, next to all).
        return list_indexed(store, Space::Unfinished, filter, b"", range, limit);
    }
    match filter.index_prefix() {
        Ok(Some(prefix)) if index_ready(store)? => list_indexed(store, Space::ExecIndex, filter, &prefix, range, limit),
        // A workflow name the index cannot hold (a NUL) names no execution either.
        Err(StoreError::InvalidKey(_)) => Ok((Vec::new(), None)),
        Err(e) => Err(e),
        Ok(_) => list_scanned(store, filter, range, limit),
    }
}

/// How many executions are in each status (of `workflow`, or all): the finished ones
/// counted from the index keys alone, where the store keeps them (`Store::count_prefix`: no
/// key or record is read out), the running and paused ones from their records (few, next
/// to all). Before the index is built, every record is read.
pub fn count_records(store: &dyn Store, workflow: Option<&str>) -> Result<Vec<(ExecStatus, u64)>, StoreError> {
    let mut counts: Vec<(ExecStatus, u64)> =
        [ExecStatus::Running, ExecStatus::Paused, ExecStatus::Completed, ExecStatus::Failed, ExecStatus::Cancelled]
            .into_iter()
            .map(|status| (status, 0))
            .collect();
    let mut add = |status: ExecStatus, found: u64| {
        if let Some((_, n)) = counts.iter_mut().find(|(s, _)| *s == status) {
            *n += found;
        }
    };
    let filter = RecordFilter { workflow, status: None };
    if !index_ready(store)? {
        scan_pages(store, Space::Executions, b"", None, 1024, |key, value| {
            match decode_record(&key, &value) {
                Some(record) if filter.accepts(&record) => add(record.status, 1),
                _ => {}
            }
            Ok::<_, StoreError>(true)
        })?;
        return Ok(counts);
    }
    scan_pages(store, Space::Unfinished, b"", None, 1024, |key, _| {
        match get_record(store, &String::from_utf8_lossy(&key))? {
            Some((_, record)) if filter.accepts(&record) && !record.status.is_finished() => add(record.status, 1),
            _ => {}
        }
        Ok::<_, StoreError>(true)
    })?;
    for status in [ExecStatus::Completed, ExecStatus::Failed, ExecStatus::Cancelled] {
        let prefix = match workflow {
            Some(workflow) => match exec_index::by_workflow_status(workflow, status.as_str()) {
                Ok(prefix) => prefix,
                // A workflow name the index cannot hold (a NUL) names no execution.
                Err(StoreError::InvalidKey(_)) => return Ok(counts),
                Err(e) => return Err(e),
            },
            None => exec_index::by_status(status.as_str())?,
        };
        add(status, store.count_prefix(Space::ExecIndex, &prefix)?);
    }
    Ok(counts)
}

/// Collects records into a page: true while it wants more.
struct PageBuilder {
    found: Vec<(String, ExecRecord)>,
    next: Option<String>,
    limit: usize,
}

impl PageBuilder {
    fn new(limit: usize) -> PageBuilder {
        PageBuilder { found: Vec::new(), next: None, limit }
    }

    fn push(&mut self, id: String, record: ExecRecord) -> bool {
        self.found.push((id, record));
        if self.found.len() < self.limit {
            return true;
        }
        self.next = self.found.last().map(|(id, _)| id.clone());
        false
    }
}

/// A page of the executions whose ids are the keys under `prefix` in `space` (an index),
/// read by id and kept if `filter` accepts them.
fn list_indexed(
    store: &dyn Store,
    space: Space,
    filter: RecordFilter<'_>,
    prefix: &[u8],
    range: IdRange<'_>,
    limit: usize,
) -> Result<RecordPage, StoreError> {
    let start = range.after.map(|after| [prefix, after.as_bytes()].concat());
    let mut page = PageBuilder::new(limit);
    scan_pages(store, space, prefix, start.as_deref(), limit.clamp(16, 1024), |key, _| {
        let id = String::from_utf8_lossy(&key[prefix.len()..]).into_owned();
        if range.past(&id) {
            return Ok(false);
        }
        // The record may have changed (or gone) since the index was read: it decides.
        match get_record(store, &id)? {
            Some((_, record)) if filter.accepts(&record) && range.accepts(&record) => {
                Ok::<_, StoreError>(page.push(id, record))
            }
            _ => Ok(true),
        }
    })?;
    Ok((page.found, page.next))
}

fn list_scanned(
    store: &dyn Store,
    filter: RecordFilter<'_>,
    range: IdRange<'_>,
    limit: usize,
) -> Result<RecordPage, StoreError> {
    let mut page = PageBuilder::new(limit);
    scan_pages(store, Space::Executions, b"", range.after.map(str::as_bytes), 256, |key, value| {
        let id = String::from_utf8_lossy(&key).into_owned();
        if range.past(&id) {
            return Ok(false);
        }
        match decode_record(&key, &value) {
            Some(record) if filter.accepts(&record) && range.accepts(&record) => {
                Ok::<_, StoreError>(page.push(id, record))
            }
            _ => Ok(true),
        }
    })?;
    Ok((page.found, page.next))
}

/// The record of `id` and its version; `None` if there is none or it does not decode.
pub fn get_record(store: &dyn Store, id: &str) -> Result<Option<(u64, ExecRecord)>, StoreError> {
    let key = keys::execution_key(id)?;
    Ok(store.get(Space::Executions, &key)?.and_then(|value| decode_versioned(&key, &value)))
}

/// An execution record as stored under `key`, if it decodes.
pub fn decode_record(key: &[u8], value: &[u8]) -> Option<ExecRecord> {
    decode_versioned(key, value).map(|(_, record)| record)
}

/// An execution record as stored under `key` with its version, if it decodes.
pub fn decode_versioned(key: &[u8], value: &[u8]) -> Option<(u64, ExecRecord)> {
    let (version, payload) = split_versioned(Space::Executions, key, value).ok()?;
    Some((version, serde_json::from_slice(payload).ok()?))
}

//! [`RocksStore`]: Harmonia's store on disk, in RocksDB, with group commit. The default
//! backend of [`harmonia_store::Store`], in a crate of its own so that `harmonia-store` (and
//! what depends only on it) does not link RocksDB; built on [`harmonia_store::backend`], and
//! its tests run the shared [`harmonia_store::conformance`] suite with each [`SyncMode`].
//!
//! The data directory holds one RocksDB column family per [`Space`], named by
//! [`Space::name`].
//!
//! Every commit is handed to one writer thread. The writer takes all the batches waiting
//! (up to [`StoreOptions::max_group`]), checks each batch's guards against the database plus
//! the writes of the batches before it in the group, and writes the batches that pass in one
//! RocksDB write, synced once. Threads committing at the same time share one disk sync.
//! Reads go straight to the database: a group becomes visible all at once.
#![deny(missing_docs)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, DB, DBCompressionType, ErrorKind, Options, ReadOptions, WriteBatch,
    WriteOptions,
};

use harmonia_store::backend::{Op, check_guards, prefix_end, show_key};
use harmonia_store::{Batch, Result, Space, Store, StoreError};

/// When a commit counts as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// A group is synced to disk before its commits return: nothing acknowledged is lost,
    /// even on a power loss. Costs one disk sync per group.
    #[default]
    Always,
    /// A commit returns once RocksDB's write-ahead log is handed to the operating system:
    /// it survives a crash of the process, but the last moments may be lost on a power
    /// loss or an OS crash. [`Store::flush`] syncs on demand.
    None,
}

/// Settings of [`RocksStore::open`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// When a commit is synced to disk.
    pub sync: SyncMode,
    /// The most batches written in one group.
    pub max_group: usize,
    /// Writes are refused (each commit fails with an error saying so, nothing of it
    /// written) while the disk has less free space than this. RocksDB must never run out
    /// of space itself: after a failed write-ahead-log write it cannot go on (the Debian
    /// build even aborts the process on the next write).
    pub min_free_bytes: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self { sync: SyncMode::Always, max_group: 1024, min_free_bytes: 64 << 20 }
    }
}

/// Counts of the writes a [`RocksStore`] made: `batches / groups` is the number of commits
/// that shared each disk write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Disk writes (groups of batches).
    pub groups: u64,
    /// Batches committed.
    pub batches: u64,
}

#[derive(Debug, Default)]
struct Counters {
    groups: AtomicU64,
    batches: AtomicU64,
}

/// A [`Store`] in a RocksDB database: one column family per [`Space`].
pub struct RocksStore {
    db: Arc<DB>,
    dir: PathBuf,
    counters: Arc<Counters>,
    writer: Option<Writer>,
}

struct Writer {
    queue: mpsc::Sender<Request>,
    thread: JoinHandle<()>,
}

struct Request {
    batch: Batch,
    reply: Reply,
}

/// Where the result of a commit goes.
enum Reply {
    /// A thread blocked in [`Store::commit`].
    Wait(mpsc::SyncSender<Result<()>>),
    /// [`Store::commit_then`]'s callback, called on the writer thread.
    Call(Box<dyn FnOnce(Result<()>) + Send>),
}

impl Reply {
    fn send(self, result: Result<()>) {
        match self {
            Reply::Wait(sender) => {
                let _ = sender.send(result); // the submitter may have gone
            }
            Reply::Call(done) => done(result),
        }
    }
}

impl RocksStore {
    /// Opens (or creates) the database in `dir`, creating missing column families.
    /// Fails with [`StoreError::Locked`] if another process has it open.
    pub fn open(dir: impl AsRef<Path>, options: StoreOptions) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let mut db_options = Options::default();
        db_options.create_if_missing(true);
        db_options.create_missing_column_families(true);
        db_options.set_keep_log_file_num(4);
        // Open every existing column family too: RocksDB refuses to open a database without
        // all of them, and a newer version may have added one.
        let mut names = DB::list_cf(&db_options, &dir).unwrap_or_default();
        for space in Space::ALL {
            if !names.iter().any(|name| name == space.name()) {
                names.push(space.name().to_owned());
            }
        }
        let families = names.into_iter().map(|name| {
            let mut family = Options::default();
            family.set_compression_type(DBCompressionType::Lz4);
            ColumnFamilyDescriptor::new(name, family)
        });
        let db = DB::open_cf_descriptors(&db_options, &dir, families).map_err(|err| open_error(&dir, err))?;
        let db = Arc::new(db);

        let counters = Arc::new(Counters::default());
        let (queue, requests) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("harmonia-store-writer".to_owned())
            .spawn({
                let (db, counters) = (db.clone(), counters.clone());
                move || write_loop(&db, &requests, &options, &counters)
            })
            .map_err(|err| StoreError::Io { message: format!("cannot start the store's writer thread: {err}") })?;
        Ok(Self { db, dir, counters, writer: Some(Writer { queue, thread }) })
    }

    /// Opens the database in `dir` for reading only, beside a process that may have it open
    /// for writing (it takes no LOCK): reads see what was committed when it was opened.
    /// Commits fail.
    pub fn open_read_only(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.join("CURRENT").exists() {
            return Err(StoreError::Io { message: format!("no store in {}", dir.display()) });
        }
        let db_options = Options::default();
        let names = DB::list_cf(&db_options, &dir).map_err(|err| open_error(&dir, err))?;
        let db = DB::open_cf_for_read_only(&db_options, &dir, names, false).map_err(|err| open_error(&dir, err))?;
        Ok(Self { db: Arc::new(db), dir, counters: Arc::default(), writer: None })
    }

    /// Queues `batch` for the writer thread.
    fn submit(&self, batch: Batch, reply: Reply) {
        let stopped = || StoreError::Io {
            message: format!("the store in {} is read-only or its writer has stopped", self.dir.display()),
        };
        let Some(writer) = self.writer.as_ref() else { return reply.send(Err(stopped())) };
        if let Err(mpsc::SendError(request)) = writer.queue.send(Request { batch, reply }) {
            request.reply.send(Err(stopped()));
        }
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How many groups and batches were written since the store was opened.
    pub fn stats(&self) -> WriteStats {
        WriteStats {
            groups: self.counters.groups.load(Ordering::Relaxed),
            batches: self.counters.batches.load(Ordering::Relaxed),
        }
    }
}

fn open_error(dir: &Path, err: rocksdb::Error) -> StoreError {
    let message = err.into_string();
    // "While lock file: <dir>/LOCK: Resource temporarily unavailable" (another process),
    // "lock hold by current process ...: <dir>/LOCK: No locks available" (this one).
    if message.contains("LOCK:") {
        return StoreError::Locked { dir: dir.to_path_buf() };
    }
    StoreError::Io { message: format!("cannot open the data directory {}: {message}", dir.display()) }
}

/// The column family of a space that a read-only open may lack (a store written by an
/// older version): reads of it find nothing.
fn readable(db: &DB, space: Space) -> Option<&ColumnFamily> {
    db.cf_handle(space.name())
}

fn family(db: &DB, space: Space) -> &ColumnFamily {
    db.cf_handle(space.name()).expect("open creates a column family for every space")
}

fn read_error(space: Space, key: &[u8], err: rocksdb::Error) -> StoreError {
    if err.kind() == ErrorKind::Corruption {
        return StoreError::corrupt(space, key, err.into_string());
    }
    StoreError::Io { message: format!("reading {space} key {}: {err}", show_key(key)) }
}

fn read(db: &DB, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>> {
    let Some(cf) = readable(db, space) else { return Ok(None) };
    db.get_cf(cf, key).map_err(|err| read_error(space, key, err))
}

/// The greatest key of `space` that is at least `from`.
fn last_key(db: &DB, space: Space, from: &[u8]) -> Result<Option<Vec<u8>>> {
    let mut options = ReadOptions::default();
    options.set_iterate_lower_bound(from);
    let Some(cf) = readable(db, space) else { return Ok(None) };
    let mut iter = db.raw_iterator_cf_opt(cf, options);
    iter.seek_to_last();
    let key = iter.key().map(<[u8]>::to_vec);
    iter.status().map_err(|err| read_error(space, from, err))?;
    Ok(key)
}

impl Store for RocksStore {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>> {
        read(&self.db, space, key)
    }

    fn scan_prefix(
        &self,
        space: Space,
        prefix: &[u8],
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut options = ReadOptions::default();
        if let Some(end) = prefix_end(prefix) {
            options.set_iterate_upper_bound(end);
        }
        let Some(cf) = readable(&self.db, space) else { return Ok(Vec::new()) };
        let mut iter = self.db.raw_iterator_cf_opt(cf, options);
        match start_after {
            Some(after) if after >= prefix => {
                iter.seek(after);
                if iter.key() == Some(after) {
                    iter.next();
                }
            }
            _ => iter.seek(prefix),
        }
        let mut found = Vec::new();
        while found.len() < limit {
            match iter.item() {
                Some((key, value)) if key.starts_with(prefix) => found.push((key.to_vec(), value.to_vec())),
                _ => break,
            }
            iter.next();
        }
        iter.status().map_err(|err| read_error(space, prefix, err))?;
        Ok(found)
    }

    fn count_prefix(&self, space: Space, prefix: &[u8]) -> Result<u64> {
        // One iterator over the keys, nothing copied out (a scan copies each key and value).
        let mut options = ReadOptions::default();
        if let Some(end) = prefix_end(prefix) {
            options.set_iterate_upper_bound(end);
        }
        let Some(cf) = readable(&self.db, space) else { return Ok(0) };
        let mut iter = self.db.raw_iterator_cf_opt(cf, options);
        iter.seek(prefix);
        let mut count = 0;
        while iter.key().is_some_and(|key| key.starts_with(prefix)) {
            count += 1;
            iter.next();
        }
        iter.status().map_err(|err| read_error(space, prefix, err))?;
        Ok(count)
    }

    fn last(&self, space: Space, prefix: &[u8]) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let mut options = ReadOptions::default();
        options.set_iterate_lower_bound(prefix);
        if let Some(end) = prefix_end(prefix) {
            options.set_iterate_upper_bound(end);
        }
        let Some(cf) = readable(&self.db, space) else { return Ok(None) };
        let mut iter = self.db.raw_iterator_cf_opt(cf, options);
        iter.seek_to_last();
        let last = iter.item().filter(|(key, _)| key.starts_with(prefix));
        let last = last.map(|(key, value)| (key.to_vec(), value.to_vec()));
        iter.status().map_err(|err| read_error(space, prefix, err))?;
        Ok(last)
    }

    fn commit(&self, batch: Batch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let (reply, answer) = mpsc::sync_channel(1);
        self.submit(batch, Reply::Wait(reply));
        answer.recv().map_err(|_| StoreError::Io {
            message: format!("the writer of the store in {} has stopped", self.dir.display()),
        })?
    }

    fn commit_then(&self, batch: Batch, done: Box<dyn FnOnce(Result<()>) + Send>) {
        if batch.is_empty() {
            return done(Ok(()));
        }
        self.submit(batch, Reply::Call(done));
    }

    fn flush(&self) -> Result<()> {
        self.db.flush_wal(true).map_err(|err| StoreError::Io {
            message: format!("cannot sync the write-ahead log in {}: {err}", self.dir.display()),
        })
    }
}

impl Drop for RocksStore {
    fn drop(&mut self) {
        // Let the writer finish what is queued; the database closes (and releases its
        // LOCK) once the writer's handle and ours are gone.
        if let Some(Writer { queue, thread }) = self.writer.take() {
            drop(queue);
            let _ = thread.join();
        }
    }
}

fn write_loop(db: &DB, requests: &mpsc::Receiver<Request>, options: &StoreOptions, counters: &Counters) {
    let mut write_options = WriteOptions::default();
    write_options.set_sync(options.sync == SyncMode::Always);
    while let Ok(first) = requests.recv() {
        let mut group = vec![first];
        while group.len() < options.max_group {
            match requests.try_recv() {
                Ok(request) => group.push(request),
                Err(_) => break,
            }
        }
        let batches: Vec<&Batch> = group.iter().map(|request| &request.batch).collect();
        let results = match disk_full(db.path(), options.min_free_bytes) {
            Some(error) => vec![Err(error); batches.len()],
            None => write_group(db, &batches, &write_options, counters),
        };
        metrics::histogram!("harmonia_store_commit_group_size").record(batches.len() as f64);
        for (request, result) in group.into_iter().zip(results) {
            request.reply.send(result);
        }
    }
}

/// An error if the disk holding `dir` has less than `reserve` bytes free.
fn disk_full(dir: &Path, reserve: u64) -> Option<StoreError> {
    if reserve == 0 {
        return None;
    }
    let stats = rustix::fs::statvfs(dir).ok()?;
    let free = stats.f_bavail.saturating_mul(stats.f_frsize);
    (free < reserve).then(|| StoreError::Io {
        message: format!(
            "the disk holding {} is full ({} KiB free, {} KiB kept in reserve): the write was refused, \
             the last committed state is kept",
            dir.display(),
            free >> 10,
            reserve >> 10
        ),
    })
}

/// Writes the batches that pass their guards in one RocksDB write; one result per batch.
/// A failed write fails every batch of the group and changes nothing.
fn write_group(db: &DB, batches: &[&Batch], options: &WriteOptions, counters: &Counters) -> Vec<Result<()>> {
    let mut overlay = Overlay::default();
    let mut write = WriteBatch::default();
    let mut written = 0;
    let mut results = Vec::with_capacity(batches.len());
    for batch in batches {
        let result = check_guards(batch, |space, key| match overlay.get(space, key) {
            Some(value) => Ok(value),
            None => read(db, space, key),
        })
        .and_then(|()| add_ops(db, &overlay, batch, &mut write));
        if result.is_ok() {
            overlay.apply(batch);
            written += 1;
        }
        results.push(result);
    }
    if written == 0 {
        return results;
    }
    match db.write_opt(write, options) {
        Ok(()) => {
            counters.groups.fetch_add(1, Ordering::Relaxed);
            counters.batches.fetch_add(written, Ordering::Relaxed);
        }
        Err(err) => {
            let error = StoreError::Io { message: format!("cannot write to {}: {err}", db.path().display()) };
            for result in results.iter_mut().filter(|result| result.is_ok()) {
                *result = Err(error.clone());
            }
        }
    }
    results
}

/// Adds the writes of `batch` to `write`, all of them or (on a read error) none.
fn add_ops(db: &DB, overlay: &Overlay, batch: &Batch, write: &mut WriteBatch) -> Result<()> {
    let mut ranges = Vec::new();
    for op in batch.ops() {
        if let Op::DeletePrefix { space, prefix } = op {
            ranges.push(delete_end(db, overlay, batch, *space, prefix)?);
        }
    }
    let mut ranges = ranges.into_iter();
    for op in batch.ops() {
        match op {
            Op::Put { space, key, value } => write.put_cf(family(db, *space), key, value),
            Op::Delete { space, key } => write.delete_cf(family(db, *space), key),
            Op::DeletePrefix { space, prefix } => {
                if let Some(end) = ranges.next().flatten() {
                    write.delete_range_cf(family(db, *space), prefix.as_slice(), end.as_slice());
                }
            }
        }
    }
    Ok(())
}

/// The end of the range deleting `prefix`: the key after the prefix or, when there is none
/// (an empty or all-`0xff` prefix), just after the greatest key the space may hold by then.
/// `None` when there is nothing to delete.
fn delete_end(db: &DB, overlay: &Overlay, batch: &Batch, space: Space, prefix: &[u8]) -> Result<Option<Vec<u8>>> {
    if let Some(end) = prefix_end(prefix) {
        return Ok(Some(end));
    }
    let in_batch = batch.ops().iter().filter_map(|op| match op {
        Op::Put { space: s, key, .. } if *s == space => Some(key.clone()),
        _ => None,
    });
    let greatest = last_key(db, space, prefix)?.into_iter().chain(overlay.keys(space)).chain(in_batch).max();
    Ok(greatest.map(|mut key| {
        key.push(0);
        key
    }))
}

/// What the earlier batches of a group wrote, so later guards see it before the disk does.
#[derive(Default)]
struct Overlay {
    values: HashMap<(Space, Vec<u8>), Option<Vec<u8>>>,
    cleared: Vec<(Space, Vec<u8>)>,
}

impl Overlay {
    /// `Some(value)` if the group wrote the key (`Some(None)`: deleted it).
    fn get(&self, space: Space, key: &[u8]) -> Option<Option<Vec<u8>>> {
        if let Some(value) = self.values.get(&(space, key.to_vec())) {
            return Some(value.clone());
        }
        // Values written after a prefix delete were kept in `values`, checked first.
        let cleared = self.cleared.iter().any(|(s, prefix)| *s == space && key.starts_with(prefix));
        cleared.then_some(None)
    }

    fn keys(&self, space: Space) -> impl Iterator<Item = Vec<u8>> + '_ {
        self.values.keys().filter(move |(s, _)| *s == space).map(|(_, key)| key.clone())
    }

    fn apply(&mut self, batch: &Batch) {
        for op in batch.ops() {
            match op {
                Op::Put { space, key, value } => {
                    self.values.insert((*space, key.clone()), Some(value.clone()));
                }
                Op::Delete { space, key } => {
                    self.values.insert((*space, key.clone()), None);
                }
                Op::DeletePrefix { space, prefix } => {
                    self.values.retain(|(s, key), _| !(s == space && key.starts_with(prefix)));
                    self.cleared.push((*space, prefix.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;

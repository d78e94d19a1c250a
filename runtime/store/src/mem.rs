//! [`MemStore`]: the store in memory, for fast tests. Same semantics as every backend (the
//! conformance suite runs on each), nothing durable. Built on [`crate::backend`] alone, as a
//! backend crate is.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

use crate::backend::{Op, check_guards, prefix_end};
use crate::{Batch, Result, Space, Store};

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

/// An in-memory [`Store`]: one ordered map per space, behind one lock.
#[derive(Debug, Default)]
pub struct MemStore {
    spaces: Mutex<[Map; Space::ALL.len()]>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, [Map; Space::ALL.len()]> {
        // A commit checks everything before it changes anything, so a panic elsewhere
        // cannot leave half a batch behind: the data is still consistent.
        self.spaces.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The keys starting with `prefix`, as range bounds.
fn prefix_range(prefix: &[u8]) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let end = prefix_end(prefix).map_or(Bound::Unbounded, Bound::Excluded);
    (Bound::Included(prefix.to_vec()), end)
}

impl Store for MemStore {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.lock()[space.index()].get(key).cloned())
    }

    fn scan_prefix(
        &self,
        space: Space,
        prefix: &[u8],
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let (mut start, end) = prefix_range(prefix);
        if let Some(after) = start_after.filter(|after| *after >= prefix) {
            if matches!(&end, Bound::Excluded(end) if after >= end.as_slice()) {
                return Ok(Vec::new()); // past the prefix; `range` would panic
            }
            start = Bound::Excluded(after.to_vec());
        }
        let spaces = self.lock();
        let found =
            spaces[space.index()].range((start, end)).take(limit).map(|(k, v)| (k.clone(), v.clone())).collect();
        Ok(found)
    }

    fn last(&self, space: Space, prefix: &[u8]) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let spaces = self.lock();
        let last = spaces[space.index()].range(prefix_range(prefix)).next_back();
        Ok(last.map(|(k, v)| (k.clone(), v.clone())))
    }

    fn commit(&self, batch: Batch) -> Result<()> {
        let mut spaces = self.lock();
        check_guards(&batch, |space, key| Ok(spaces[space.index()].get(key).cloned()))?;
        let (ops, _guards) = batch.into_parts();
        for op in ops {
            match op {
                Op::Put { space, key, value } => {
                    spaces[space.index()].insert(key, value);
                }
                Op::Delete { space, key } => {
                    spaces[space.index()].remove(&key);
                }
                Op::DeletePrefix { space, prefix } => {
                    let map = &mut spaces[space.index()];
                    let doomed: Vec<Vec<u8>> = map.range(prefix_range(&prefix)).map(|(k, _)| k.clone()).collect();
                    for key in doomed {
                        map.remove(&key);
                    }
                }
            }
        }
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        Ok(())
    }
}

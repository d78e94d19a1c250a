//! [`Batch`]: the writes of one engine step, committed together, and the guards that
//! make them conditional on the versions they were computed from.

use crate::error::show_key;
use crate::{Result, Space, StoreError, split_versioned};

/// Writes committed atomically, under guards checked first.
///
/// Guards see the state before the batch; the writes then apply in the order they were
/// added (a `put` after a `delete_prefix` survives it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    pub(crate) ops: Vec<Op>,
    pub(crate) guards: Vec<Guard>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    Put { space: Space, key: Vec<u8>, value: Vec<u8> },
    Delete { space: Space, key: Vec<u8> },
    DeletePrefix { space: Space, prefix: Vec<u8> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Guard {
    pub space: Space,
    pub key: Vec<u8>,
    pub expected: Option<u64>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes `value` under `key`, replacing any value.
    pub fn put(&mut self, space: Space, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> &mut Self {
        self.ops.push(Op::Put { space, key: key.into(), value: value.into() });
        self
    }

    /// Writes a versioned record (see [`crate::versioned`]).
    pub fn put_versioned(&mut self, space: Space, key: impl Into<Vec<u8>>, version: u64, payload: &[u8]) -> &mut Self {
        self.put(space, key, crate::versioned(version, payload))
    }

    /// Removes `key`, if present.
    pub fn delete(&mut self, space: Space, key: impl Into<Vec<u8>>) -> &mut Self {
        self.ops.push(Op::Delete { space, key: key.into() });
        self
    }

    /// Removes every key starting with `prefix` (an empty prefix clears the space).
    pub fn delete_prefix(&mut self, space: Space, prefix: impl Into<Vec<u8>>) -> &mut Self {
        self.ops.push(Op::DeletePrefix { space, prefix: prefix.into() });
        self
    }

    /// Commits the batch only if the versioned record under `key` has version `expected`
    /// (`None`: only if there is no record). Otherwise the commit fails with
    /// [`StoreError::Conflict`] and nothing of the batch is written.
    pub fn expect_version(&mut self, space: Space, key: impl Into<Vec<u8>>, expected: Option<u64>) -> &mut Self {
        self.guards.push(Guard { space, key: key.into(), expected });
        self
    }

    /// True if the batch neither writes nor checks anything.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.guards.is_empty()
    }
}

/// Checks the guards of `batch` against `current`, which reads the value of a key as the
/// batch would see it.
pub(crate) fn check_guards(
    batch: &Batch,
    mut current: impl FnMut(Space, &[u8]) -> Result<Option<Vec<u8>>>,
) -> Result<()> {
    for guard in &batch.guards {
        let found = match current(guard.space, &guard.key)? {
            None => None,
            Some(value) => Some(split_versioned(guard.space, &guard.key, &value)?.0),
        };
        if found != guard.expected {
            return Err(StoreError::Conflict {
                space: guard.space,
                key: show_key(&guard.key),
                expected: guard.expected,
                found,
            });
        }
    }
    Ok(())
}

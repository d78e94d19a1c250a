//! [`Batch`]: the writes of one engine step, committed together, and the guards that
//! make them conditional on the versions they were computed from.

use crate::error::show_key;
use crate::{Result, Space, StoreError, split_versioned};

/// Writes committed atomically, under guards checked first.
///
/// Guards see the state before the batch; the writes then apply in the order they were
/// added (a `put` after a `delete_prefix` survives it).
///
/// A backend reads what a batch holds with [`Batch::guards`] and [`Batch::ops`] (or takes
/// it apart with [`Batch::into_parts`]); see [`crate::backend`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    ops: Vec<Op>,
    guards: Vec<Guard>,
}

/// One write of a [`Batch`], as a backend applies it. Every backend handles every kind: a
/// new kind of write is a change to each backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// [`Batch::put`]: `value` under `key`, replacing any value.
    Put {
        /// Where to write.
        space: Space,
        /// The key written.
        key: Vec<u8>,
        /// Its new value.
        value: Vec<u8>,
    },
    /// [`Batch::delete`]: `key` removed, if present.
    Delete {
        /// Where to delete.
        space: Space,
        /// The key removed.
        key: Vec<u8>,
    },
    /// [`Batch::delete_prefix`]: every key starting with `prefix` removed (an empty prefix
    /// clears the space), including keys written by earlier ops of the same batch.
    DeletePrefix {
        /// Where to delete.
        space: Space,
        /// The prefix of the keys removed.
        prefix: Vec<u8>,
    },
}

/// A condition of a [`Batch`] ([`Batch::expect_version`]): the versioned record under `key`
/// has version `expected` (`None`: there is no record), as seen before the batch's writes.
/// [`crate::backend::check_guards`] checks them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    /// Where the guarded record is.
    pub space: Space,
    /// Its key.
    pub key: Vec<u8>,
    /// The version it must have, `None` for an absent record.
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

    /// The writes, in the order they apply: for backends.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// The guards, checked before any write: for backends.
    pub fn guards(&self) -> &[Guard] {
        &self.guards
    }

    /// The writes and the guards, taken out of the batch: for backends that apply the
    /// writes by value.
    pub fn into_parts(self) -> (Vec<Op>, Vec<Guard>) {
        (self.ops, self.guards)
    }
}

/// Checks the guards of `batch` against `current`, which reads the value of a key as the
/// batch would see it (the committed state, plus what earlier batches of the same write
/// wrote). The first guard that does not hold is [`StoreError::Conflict`]; a guarded record
/// too short to hold a version is [`StoreError::Corrupt`]; an error of `current` is returned
/// as is.
pub fn check_guards(batch: &Batch, mut current: impl FnMut(Space, &[u8]) -> Result<Option<Vec<u8>>>) -> Result<()> {
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

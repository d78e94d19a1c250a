//! The one error type of the store.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::Space;

/// A store operation failed. Callers branch on `Conflict` (retry from fresh state) and
/// `Locked` (another process owns the data); the rest are reported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A guard of the batch did not hold: the record changed since it was read. Nothing of
    /// the batch was written. Versions are `None` for an absent record.
    #[error(
        "conflict on {space} key {key}: expected version {}, found {}",
        show_version(*expected),
        show_version(*found)
    )]
    Conflict {
        /// Where the guarded record is.
        space: Space,
        /// Its key, printable.
        key: String,
        /// The version the batch expected.
        expected: Option<u64>,
        /// The version found.
        found: Option<u64>,
    },
    /// Another process (or another store in this one) holds the data directory.
    #[error("the data directory {} is in use by another process (RocksDB LOCK file)", dir.display())]
    Locked {
        /// The data directory.
        dir: PathBuf,
    },
    /// One record cannot be decoded; only the read of that record fails.
    #[error("corrupt record in {space} key {key}: {reason}")]
    Corrupt {
        /// Where the record is.
        space: Space,
        /// Its key, printable.
        key: String,
        /// Why it does not decode.
        reason: String,
    },
    /// The disk or the database failed (full disk, I/O error, cannot open); the last
    /// committed state is kept.
    #[error("{message}")]
    Io {
        /// What failed, as the disk or the database said it.
        message: String,
    },
    /// A key cannot be built from these parts (see [`crate::keys`]).
    #[error("invalid key: {0}")]
    InvalidKey(String),
}

impl StoreError {
    /// [`StoreError::Corrupt`] for the record under `key` of `space`, the key made
    /// printable with [`show_key`](crate::backend::show_key).
    pub fn corrupt(space: Space, key: &[u8], reason: impl Into<String>) -> Self {
        StoreError::Corrupt { space, key: show_key(key), reason: reason.into() }
    }
}

fn show_version(version: Option<u64>) -> String {
    version.map_or_else(|| "none (absent)".to_owned(), |v| v.to_string())
}

/// A key for messages: printable ASCII as is, other bytes escaped (`\0`, `\x02`). The form
/// of the keys in [`StoreError`]s.
pub fn show_key(key: &[u8]) -> String {
    let mut out = String::with_capacity(key.len());
    for &byte in key {
        match byte {
            0 => out.push_str("\\0"),
            b'\\' => out.push_str("\\\\"),
            b' '..=b'~' => out.push(byte as char),
            _ => {
                let _ = write!(out, "\\x{byte:02x}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_in_messages_are_readable() {
        assert_eq!(show_key(b"run-1\0\0\x01"), "run-1\\0\\0\\x01");
        let err =
            StoreError::Conflict { space: Space::Executions, key: show_key(b"run-1"), expected: Some(3), found: None };
        assert_eq!(err.to_string(), "conflict on executions key run-1: expected version 3, found none (absent)");
    }
}

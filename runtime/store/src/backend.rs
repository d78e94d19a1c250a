//! What a backend needs to implement [`Store`](crate::Store) outside this crate, as
//! `harmonia-store-rocksdb` does: each backend is a sibling crate built on this module, so
//! that this crate depends on none of them.
//!
//! A backend's [`Store::commit`](crate::Store::commit) takes a [`Batch`](crate::Batch) apart
//! with [`Batch::guards`](crate::Batch::guards) and [`Batch::ops`](crate::Batch::ops) (or
//! [`Batch::into_parts`](crate::Batch::into_parts)), then:
//!
//! 1. checks every [`Guard`] with [`check_guards`], against the committed state as the batch
//!    would see it (the state before the batch, plus the writes of the batches committed
//!    before it in the same write, for a backend that groups batches);
//! 2. applies every [`Op`] in order (a put after a delete of its prefix survives it), all
//!    of them or, on any error, none.
//!
//! Keys are compared as bytes; a prefix scan covers the keys from the prefix up to
//! [`prefix_end`] (excluded). Each [`Space`](crate::Space) is kept apart under its
//! [`name`](crate::Space::name), which is part of the stored format;
//! [`Space::ALL`](crate::Space::ALL) and [`Space::index`](crate::Space::index) list and
//! number them. Errors: [`StoreError::corrupt`](crate::StoreError::corrupt) for a record that
//! cannot be read, [`StoreError::Locked`](crate::StoreError::Locked) when another process
//! owns the data, [`StoreError::Io`](crate::StoreError::Io) for the rest, keys in messages
//! printed with [`show_key`].
//!
//! The backend's tests run the shared suite, [`conformance_tests!`](crate::conformance_tests),
//! so that every backend keeps the semantics of [`MemStore`](crate::MemStore).

pub use crate::batch::{Guard, Op, check_guards};
pub use crate::error::show_key;

/// The first key after every key starting with `prefix` (the exclusive end of a prefix
/// scan), or `None` when there is none (an empty prefix, or only `0xff` bytes): then the
/// scan runs to the end of the space.
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let last = prefix.iter().rposition(|&b| b != 0xff)?;
    let mut end = prefix[..=last].to_vec();
    end[last] += 1;
    Some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_the_first_key_after_the_prefix() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
        assert_eq!(prefix_end(b""), None);
    }
}

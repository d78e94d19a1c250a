//! Key layouts of the spaces. Ids are followed by a NUL byte, so the prefix of `a` (`a\0`)
//! never matches the keys of `ab`; sequence numbers and versions are 8 big-endian bytes, so
//! byte order is numeric order (2 before 10). Ids therefore must not contain NUL: the
//! builders return [`StoreError::InvalidKey`] if one does.

use crate::{Result, StoreError};

/// The byte that ends an id inside a key.
pub const SEPARATOR: u8 = 0;

fn check_id<'a>(what: &str, id: &'a str) -> Result<&'a [u8]> {
    if id.as_bytes().contains(&SEPARATOR) {
        return Err(StoreError::InvalidKey(format!("{what} {id:?} contains a NUL byte")));
    }
    Ok(id.as_bytes())
}

fn id_prefix(what: &str, id: &str) -> Result<Vec<u8>> {
    let id = check_id(what, id)?;
    let mut key = Vec::with_capacity(id.len() + 9);
    key.extend_from_slice(id);
    key.push(SEPARATOR);
    Ok(key)
}

fn with_seq(mut key: Vec<u8>, seq: u64) -> Vec<u8> {
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// `name\0`: the prefix of every version of a workflow.
pub fn workflow_prefix(name: &str) -> Result<Vec<u8>> {
    id_prefix("workflow name", name)
}

/// `name\0version` ([`Space::Workflows`](crate::Space::Workflows)); the version is the
/// workflow's own version string (`1.0`, `2024-06-01`).
pub fn workflow_key(name: &str, version: &str) -> Result<Vec<u8>> {
    let mut key = workflow_prefix(name)?;
    key.extend_from_slice(check_id("workflow version", version)?);
    Ok(key)
}

/// The execution id itself ([`Space::Executions`](crate::Space::Executions)).
pub fn execution_key(id: &str) -> Result<Vec<u8>> {
    Ok(check_id("execution id", id)?.to_vec())
}

/// `id\0`: the prefix of an execution's history and checkpoints.
pub fn execution_prefix(id: &str) -> Result<Vec<u8>> {
    id_prefix("execution id", id)
}

/// `id\0seq` ([`Space::History`](crate::Space::History)): a prefix scan of
/// [`execution_prefix`] yields the events in order.
pub fn history_key(id: &str, seq: u64) -> Result<Vec<u8>> {
    Ok(with_seq(execution_prefix(id)?, seq))
}

/// `id\0seq` ([`Space::Checkpoints`](crate::Space::Checkpoints)), `seq` being the last
/// history event the checkpoint includes.
pub fn checkpoint_key(id: &str, seq: u64) -> Result<Vec<u8>> {
    Ok(with_seq(execution_prefix(id)?, seq))
}

/// `plugin\0`: the prefix of all key-value data of a plugin.
pub fn kv_prefix(plugin: &str) -> Result<Vec<u8>> {
    id_prefix("plugin name", plugin)
}

/// `plugin\0key` ([`Space::Kv`](crate::Space::Kv)); the plugin's key may hold any bytes.
pub fn kv_key(plugin: &str, key: &[u8]) -> Result<Vec<u8>> {
    let mut full = kv_prefix(plugin)?;
    full.extend_from_slice(key);
    Ok(full)
}

/// The template's name itself ([`Space::Templates`](crate::Space::Templates)).
pub fn template_key(name: &str) -> Result<Vec<u8>> {
    Ok(check_id("template name", name)?.to_vec())
}

/// `seq` ([`Space::Events`](crate::Space::Events), [`Space::Audit`](crate::Space::Audit)):
/// the logs are ordered by a global sequence number.
pub fn log_key(seq: u64) -> Vec<u8> {
    seq.to_be_bytes().to_vec()
}

/// The sequence number (or version) ending a key built with one, such as a history key.
pub fn seq_of(key: &[u8]) -> Option<u64> {
    let (_, seq) = key.split_last_chunk::<8>()?;
    Some(u64::from_be_bytes(*seq))
}

/// The first key after every key starting with `prefix`, or `None` when there is none
/// (an empty prefix, or only `0xff` bytes).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let last = prefix.iter().rposition(|&b| b != 0xff)?;
    let mut end = prefix[..=last].to_vec();
    end[last] += 1;
    Some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keys_sort_by_sequence_and_carry_it() {
        let two = history_key("run", 2).unwrap();
        let ten = history_key("run", 10).unwrap();
        assert!(two < ten);
        assert!(two.starts_with(&execution_prefix("run").unwrap()));
        assert_eq!(seq_of(&ten), Some(10));
        assert_eq!(execution_key("run").unwrap(), b"run");
    }

    #[test]
    fn ids_with_nul_are_refused() {
        let err = history_key("a\0b", 1).unwrap_err();
        assert_eq!(err.to_string(), "invalid key: execution id \"a\\0b\" contains a NUL byte");
        assert!(matches!(kv_key("p\0", b"k"), Err(StoreError::InvalidKey(_))));
        // The plugin's own key may hold NUL: the plugin name is already terminated.
        assert_eq!(kv_key("p", b"a\0b").unwrap(), b"p\0a\0b");
    }

    #[test]
    fn prefix_end_is_the_first_key_after_the_prefix() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
        assert_eq!(prefix_end(b""), None);
    }
}

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

/// `source\0id` ([`Space::EventIds`](crate::Space::EventIds)): what makes a CloudEvent
/// unique.
pub fn event_id_key(source: &str, id: &str) -> Result<Vec<u8>> {
    let mut key = id_prefix("event source", source)?;
    key.extend_from_slice(check_id("event id", id)?);
    Ok(key)
}

/// `type\0`: the prefix of the [`Space::EventTypes`](crate::Space::EventTypes) entries of
/// one event type.
pub fn event_type_prefix(event_type: &str) -> Result<Vec<u8>> {
    id_prefix("event type", event_type)
}

/// `type\0at seq` ([`Space::EventTypes`](crate::Space::EventTypes)): the events of a type in
/// order of acceptance (`at`, milliseconds since the Unix epoch), then of position.
pub fn event_type_key(event_type: &str, at: u64, seq: u64) -> Result<Vec<u8>> {
    Ok(with_seq(with_seq(event_type_prefix(event_type)?, at), seq))
}

/// The time and position of an [`event_type_key`].
pub fn event_type_entry(key: &[u8]) -> Option<(u64, u64)> {
    let tail = key.len().checked_sub(16).map(|start| &key[start..])?;
    let at = u64::from_be_bytes(tail[..8].try_into().ok()?);
    let seq = u64::from_be_bytes(tail[8..].try_into().ok()?);
    Some((at, seq))
}

/// The template's name itself ([`Space::Templates`](crate::Space::Templates)).
pub fn template_key(name: &str) -> Result<Vec<u8>> {
    Ok(check_id("template name", name)?.to_vec())
}

/// Keys of [`Space::ExecIndex`](crate::Space::ExecIndex), empty-valued. Each index has its
/// own tag; then come the fields it is keyed by, each ended by NUL, and last the execution
/// id. So the keys under one prefix ([`by_workflow`](exec_index::by_workflow),
/// [`by_status`](exec_index::by_status), [`by_workflow_status`](exec_index::by_workflow_status))
/// are the ids of those executions in id order, and [`FINISHED`](exec_index::FINISHED)
/// holds the finished ones by when they finished (8 big-endian bytes of milliseconds),
/// oldest first.
pub mod exec_index {
    use super::{check_id, id_prefix};
    use crate::Result;

    /// Present once the index holds every execution: a data directory written before
    /// there was one gets it built once, and until then readers scan the executions.
    pub const BUILT: &[u8] = b"built";
    /// The prefix of the finished executions, by finish time: [`finished`].
    pub const FINISHED: &[u8] = b"f\0";

    fn tagged(tag: &str, fields: &[(&str, &str)]) -> Result<Vec<u8>> {
        let mut key = id_prefix("index tag", tag)?;
        for (what, field) in fields {
            key.extend(id_prefix(what, field)?);
        }
        Ok(key)
    }

    /// `w\0workflow\0`: the executions of a workflow (any version).
    pub fn by_workflow(workflow: &str) -> Result<Vec<u8>> {
        tagged("w", &[("workflow name", workflow)])
    }

    /// `s\0status\0`: the executions in a finished status (`completed`, `failed`,
    /// `cancelled`; the running and paused ones are those of `Space::Unfinished`).
    pub fn by_status(status: &str) -> Result<Vec<u8>> {
        tagged("s", &[("status", status)])
    }

    /// `ws\0workflow\0status\0`: the executions of a workflow in a finished status.
    pub fn by_workflow_status(workflow: &str, status: &str) -> Result<Vec<u8>> {
        tagged("ws", &[("workflow name", workflow), ("status", status)])
    }

    /// The key of execution `id` under `prefix`, one of the prefixes above.
    pub fn entry(prefix: &[u8], id: &str) -> Result<Vec<u8>> {
        let mut key = prefix.to_vec();
        key.extend_from_slice(check_id("execution id", id)?);
        Ok(key)
    }

    /// `f\0at id`: execution `id`, finished at `at` (milliseconds).
    pub fn finished(at: u64, id: &str) -> Result<Vec<u8>> {
        let mut key = FINISHED.to_vec();
        key.extend_from_slice(&at.to_be_bytes());
        key.extend_from_slice(check_id("execution id", id)?);
        Ok(key)
    }

    /// The finish time and id of a key made by [`finished`].
    pub fn split_finished(key: &[u8]) -> Option<(u64, &[u8])> {
        let (at, id) = key.strip_prefix(FINISHED)?.split_first_chunk::<8>()?;
        Some((u64::from_be_bytes(*at), id))
    }
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
    fn index_keys_group_by_their_fields_and_end_with_the_id() {
        use exec_index::*;
        let of_a = by_workflow("a").unwrap();
        let key = entry(&of_a, "01-x").unwrap();
        assert_eq!(key, b"w\0a\x0001-x");
        // The prefix of workflow `a` holds none of workflow `ab`'s executions, nor of
        // the workflow-and-status index.
        assert!(!entry(&by_workflow("ab").unwrap(), "01-x").unwrap().starts_with(&of_a));
        assert!(!by_workflow_status("a", "failed").unwrap().starts_with(&of_a));
        assert!(!entry(&by_status("running").unwrap(), "1").unwrap().starts_with(&by_status("run").unwrap()));
        assert!(matches!(by_workflow("a\0b"), Err(StoreError::InvalidKey(_))));
        assert!(matches!(entry(&of_a, "x\0"), Err(StoreError::InvalidKey(_))));
        assert!(!BUILT.starts_with(FINISHED) && !BUILT.contains(&SEPARATOR), "the marker is in no index");
    }

    #[test]
    fn finished_keys_sort_by_time_then_id_and_split_back() {
        use exec_index::*;
        let early = finished(9, "z").unwrap();
        let late = finished(300, "a").unwrap();
        assert!(early < late, "9 ms before 300 ms, whatever the ids");
        assert!(late.starts_with(FINISHED));
        assert_eq!(split_finished(&late), Some((300, &b"a"[..])));
        assert_eq!(split_finished(b"f\0short"), None);
        assert_eq!(split_finished(b"w\0a\0id"), None);
    }
}

//! The plugin key-value space behind `kv-get`/`kv-set`: a trait, so that the durable store
//! can back it, and an in-memory implementation.
//!
//! A call's writes are kept with the call and applied together when it returns: a call
//! that traps or runs out of time leaves the space as it was. A plugin's space holds at
//! most its quota (`max_kv_bytes`: keys and values); writes that would pass it are refused
//! as a whole.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// The writes of one call: a value to set, or `None` to delete.
pub type KvWrites = BTreeMap<String, Option<Vec<u8>>>;

/// Per-plugin key-value storage. Keys of one plugin are never visible to another.
pub trait KvStore: Send + Sync {
    fn get(&self, plugin: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>>;
    /// Applies `writes` at once, unless `plugin` would then hold more than `max_bytes`
    /// (keys and values): then nothing is written and the error is a [`KvQuotaExceeded`].
    fn write(&self, plugin: &str, writes: &KvWrites, max_bytes: u64) -> anyhow::Result<()>;
}

/// Writes refused because the plugin's space would grow past its quota.
#[derive(Debug, thiserror::Error)]
#[error(
    "the plugin's key-value data would grow to {would_hold} bytes, over its limit of {limit} \
     (max_kv_bytes, or the manifest's max_kv_bytes): nothing of this call was written"
)]
pub struct KvQuotaExceeded {
    pub would_hold: u64,
    pub limit: u64,
}

/// What `plugin` holds once `writes` are applied over `holds` bytes, where `old_size` gives
/// the size of a key's current value; an error past `max_bytes`.
pub fn size_after(
    holds: u64,
    writes: &KvWrites,
    max_bytes: u64,
    mut old_size: impl FnMut(&str) -> anyhow::Result<Option<usize>>,
) -> anyhow::Result<u64> {
    let mut size = holds as i128;
    for (key, value) in writes {
        if let Some(old) = old_size(key)? {
            size -= (key.len() + old) as i128;
        }
        if let Some(new) = value {
            size += (key.len() + new.len()) as i128;
        }
    }
    let size = size.max(0) as u64;
    // Shrinking is always allowed, even over a lowered quota.
    if size > max_bytes && size > holds {
        return Err(KvQuotaExceeded { would_hold: size, limit: max_bytes }.into());
    }
    Ok(size)
}

/// Key-value storage in memory, lost when the process ends.
#[derive(Default)]
pub struct MemKv {
    map: Mutex<HashMap<(String, String), Vec<u8>>>,
}

impl KvStore for MemKv {
    fn get(&self, plugin: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let map = self.map.lock().expect("kv lock");
        Ok(map.get(&(plugin.to_string(), key.to_string())).cloned())
    }

    fn write(&self, plugin: &str, writes: &KvWrites, max_bytes: u64) -> anyhow::Result<()> {
        let mut map = self.map.lock().expect("kv lock");
        let holds: usize = map.iter().filter(|((p, _), _)| p == plugin).map(|((_, k), v)| k.len() + v.len()).sum();
        let entry = |key: &str| (plugin.to_string(), key.to_string());
        size_after(holds as u64, writes, max_bytes, |key| Ok(map.get(&entry(key)).map(Vec::len)))?;
        for (key, value) in writes {
            match value {
                Some(value) => map.insert(entry(key), value.clone()),
                None => map.remove(&entry(key)),
            };
        }
        Ok(())
    }
}

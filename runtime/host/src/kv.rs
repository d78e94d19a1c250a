//! The plugin key-value space behind `kv-get`/`kv-set`: a trait, so that the durable store
//! can back it, and an in-memory implementation.

use std::collections::HashMap;
use std::sync::Mutex;

/// Per-plugin key-value storage. Keys of one plugin are never visible to another.
pub trait KvStore: Send + Sync {
    fn get(&self, plugin: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>>;
    fn set(&self, plugin: &str, key: &str, value: &[u8]) -> anyhow::Result<()>;
    fn delete(&self, plugin: &str, key: &str) -> anyhow::Result<()>;
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

    fn set(&self, plugin: &str, key: &str, value: &[u8]) -> anyhow::Result<()> {
        let mut map = self.map.lock().expect("kv lock");
        map.insert((plugin.to_string(), key.to_string()), value.to_vec());
        Ok(())
    }

    fn delete(&self, plugin: &str, key: &str) -> anyhow::Result<()> {
        self.map.lock().expect("kv lock").remove(&(plugin.to_string(), key.to_string()));
        Ok(())
    }
}

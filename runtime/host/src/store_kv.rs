//! Plugin key-value data in the durable store: the host's `kv-get`/`kv-set`/`kv-delete`
//! persist per plugin in the store's `kv` space.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::{KvStore, KvWrites, size_after};
use harmonia_store::{Batch, Space, Store, StoreError, keys, scan_pages};

/// A [`KvStore`] over a [`Store`]: a call's writes are one committed batch.
pub struct StoreKv {
    store: Arc<dyn Store>,
    /// Bytes each plugin holds (keys and values), counted once from the store when first
    /// needed, then kept up to date by the writes; a plugin's writes hold its entry's lock
    /// while they check the quota and commit. (With several nodes on one store, each
    /// counts its own writes only.)
    holds: Mutex<HashMap<String, Arc<Mutex<Option<u64>>>>>,
}

impl StoreKv {
    pub fn new(store: Arc<dyn Store>) -> StoreKv {
        StoreKv { store, holds: Mutex::default() }
    }

    /// What `plugin` holds now, read from the store.
    fn count(&self, plugin: &str) -> anyhow::Result<u64> {
        let prefix = keys::kv_prefix(plugin)?;
        let mut total = 0u64;
        scan_pages::<StoreError>(&*self.store, Space::Kv, &prefix, None, 1024, |key, value| {
            total += (key.len() - prefix.len() + value.len()) as u64;
            Ok(true)
        })?;
        Ok(total)
    }
}

impl KvStore for StoreKv {
    fn get(&self, plugin: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self.store.get(Space::Kv, &keys::kv_key(plugin, key.as_bytes())?)?)
    }

    fn write(&self, plugin: &str, writes: &KvWrites, max_bytes: u64) -> anyhow::Result<()> {
        let entry = self.holds.lock().expect("kv holds lock").entry(plugin.to_string()).or_default().clone();
        let mut holds = entry.lock().expect("kv plugin lock");
        let now = match *holds {
            Some(now) => now,
            None => self.count(plugin)?,
        };
        let after = size_after(now, writes, max_bytes, |key| Ok(self.get(plugin, key)?.map(|v| v.len())))?;
        let mut batch = Batch::new();
        for (key, value) in writes {
            let key = keys::kv_key(plugin, key.as_bytes())?;
            match value {
                Some(value) => batch.put(Space::Kv, key, value.clone()),
                None => batch.delete(Space::Kv, key),
            };
        }
        self.store.commit(batch)?;
        *holds = Some(after);
        Ok(())
    }
}

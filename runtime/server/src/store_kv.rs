//! Plugin key-value data in the durable store: the host's `kv-get`/`kv-set`/`kv-delete`
//! persist per plugin in the store's `kv` space.

use std::sync::Arc;

use harmonia_host::KvStore;
use harmonia_store::{Batch, Space, Store, keys};

/// A [`KvStore`] over a [`Store`]: each write is one committed batch.
pub struct StoreKv {
    store: Arc<dyn Store>,
}

impl StoreKv {
    pub fn new(store: Arc<dyn Store>) -> StoreKv {
        StoreKv { store }
    }
}

impl KvStore for StoreKv {
    fn get(&self, plugin: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self.store.get(Space::Kv, &keys::kv_key(plugin, key.as_bytes())?)?)
    }

    fn set(&self, plugin: &str, key: &str, value: &[u8]) -> anyhow::Result<()> {
        let mut batch = Batch::new();
        batch.put(Space::Kv, keys::kv_key(plugin, key.as_bytes())?, value.to_vec());
        Ok(self.store.commit(batch)?)
    }

    fn delete(&self, plugin: &str, key: &str) -> anyhow::Result<()> {
        let mut batch = Batch::new();
        batch.delete(Space::Kv, keys::kv_key(plugin, key.as_bytes())?);
        Ok(self.store.commit(batch)?)
    }
}

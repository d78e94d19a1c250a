//! Incoming webhooks: named endpoints (`POST /api/v1/hooks/{name}`) that turn any JSON body
//! into a CloudEvent of the hook's type, for systems that do not speak CloudEvents. A hook
//! with a secret checks an HMAC-SHA256 signature of the body instead of asking for a token.
//! Kept in the store (`Space::Meta`, `hook\0<name>`).

use harmonia_store::{Batch, Space, Store, StoreError};
use serde::{Deserialize, Serialize};

/// One incoming webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hook {
    pub name: String,
    /// The type of the events it makes.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Their source; `harmonia/hooks/<name>` by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The shared secret of the signature: `sha256=<hex HMAC-SHA256 of the body>` in
    /// `signature_header`. Without one, callers need an operator token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// The header with the signature (`X-Harmonia-Signature` by default; GitHub sends
    /// `X-Hub-Signature-256`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_header: Option<String>,
    /// A header whose value is the event's id (a delivery id, so that a delivery sent again
    /// is a duplicate); a new id per request without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_header: Option<String>,
}

/// The default [`Hook::signature_header`].
pub const SIGNATURE_HEADER: &str = "x-harmonia-signature";

impl Hook {
    /// The source of its events.
    pub fn source(&self) -> String {
        self.source.clone().unwrap_or_else(|| format!("harmonia/hooks/{}", self.name))
    }

    /// What listings show: everything but the secret.
    pub fn public(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).expect("a hook is JSON");
        value.as_object_mut().expect("an object").remove("secret");
        value["signed"] = serde_json::Value::Bool(self.secret.is_some());
        value
    }
}

fn key(name: &str) -> Vec<u8> {
    format!("hook\0{name}").into_bytes()
}

pub fn get(store: &dyn Store, name: &str) -> Result<Option<Hook>, StoreError> {
    super::read_meta(store, &key(name))
}

/// Stores `hook`; true if it replaced one.
pub fn put(store: &dyn Store, hook: &Hook) -> Result<bool, StoreError> {
    let existed = store.get(Space::Meta, &key(&hook.name))?.is_some();
    let mut batch = Batch::new();
    batch.put(Space::Meta, key(&hook.name), serde_json::to_vec(hook).expect("a hook is JSON"));
    store.commit(batch)?;
    Ok(existed)
}

/// Deletes a hook; false if there was none.
pub fn delete(store: &dyn Store, name: &str) -> Result<bool, StoreError> {
    if store.get(Space::Meta, &key(name))?.is_none() {
        return Ok(false);
    }
    let mut batch = Batch::new();
    batch.delete(Space::Meta, key(name));
    store.commit(batch)?;
    Ok(true)
}

/// Every hook, by name.
pub fn list(store: &dyn Store) -> Result<Vec<Hook>, StoreError> {
    super::list_meta(store, b"hook\0")
}

//! API tokens as stored: a name, a role, and the SHA-256 of the secret (the secret is shown
//! once, when made, and never stored), in the store's `tokens` space. The API checks
//! requests against them; `harmonia token` makes and revokes them while the server is
//! stopped.

use std::fmt;
use std::str::FromStr;

use harmonia_store::{Batch, Space, Store, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::now_ms;

/// What a token may do; each role may do everything the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything but the audit log and the tokens.
    Viewer,
    /// Also starts and controls executions and publishes events.
    Operator,
    /// Everything: workflows, plugins, tokens, the audit log.
    Admin,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(text: &str) -> Result<Role, String> {
        match text {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            _ => Err(format!("{text:?}: expected admin, operator or viewer")),
        }
    }
}

/// A stored token: never the secret, only its hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRecord {
    pub name: String,
    pub role: Role,
    /// SHA-256 of the whole secret (`hm_...`), lowercase hex.
    pub sha256: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: u64,
}

impl TokenRecord {
    /// What the audit log keeps of a token made or revoked: its name and role.
    pub fn audit_details(&self) -> Value {
        json!({ "token": self.name, "role": self.role.to_string() })
    }

    /// What lists show: everything but the hash (useless to readers, and one step closer to
    /// the secret than needed).
    pub fn public(&self) -> Value {
        json!({ "name": self.name, "role": self.role, "created_at": self.created_at })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("a token named {0:?} exists (revoke it first to replace it)")]
    Exists(String),
    #[error("no token named {0:?}")]
    NotFound(String),
    #[error("token name {0:?}: expected 1 to 64 letters, digits, '.', '_' or '-'")]
    InvalidName(String),
    #[error("cannot make a token: the system random source failed: {0}")]
    Random(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What [`check_name`] takes, as the OpenAPI document says it.
pub const NAME_PATTERN: &str = "^[A-Za-z0-9._-]{1,64}$";

/// Names go into URLs (`DELETE /api/v1/tokens/{name}`), store keys and the audit log: keep
/// them plain.
pub fn check_name(name: &str) -> Result<(), TokenError> {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty() || name.len() > 64 || !name.chars().all(plain) {
        return Err(TokenError::InvalidName(name.to_owned()));
    }
    Ok(())
}

/// A new secret: `hm_` and 32 random bytes in hex. The prefix makes leaked tokens easy to
/// spot (and to grep for in logs).
pub fn new_secret() -> Result<String, TokenError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| TokenError::Random(e.to_string()))?;
    Ok(format!("hm_{}", hex(&bytes)))
}

/// SHA-256 of a secret, lowercase hex.
pub fn hash(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Bytes as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Equality whose time does not depend on where the inputs differ, so that response times
/// tell nothing about how close a guess was.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false; // lengths are public: every hash has 64 hex digits
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Every stored token, by name.
pub fn load_tokens(store: &dyn Store) -> Result<Vec<TokenRecord>, StoreError> {
    let mut tokens = Vec::new();
    harmonia_store::scan_pages(store, Space::Tokens, b"", None, 256, |key, value| {
        let record = serde_json::from_slice(&value).map_err(|e| StoreError::Corrupt {
            space: Space::Tokens,
            key: String::from_utf8_lossy(&key).into_owned(),
            reason: e.to_string(),
        })?;
        tokens.push(record);
        Ok::<_, StoreError>(true)
    })?;
    Ok(tokens)
}

/// A new token named `name`, and the batch that stores it. The caller makes sure the name
/// is free (the CLI owns the store while it runs; the server checks its map under a lock).
pub fn new_token(name: &str, role: Role) -> Result<(TokenRecord, String, Batch), TokenError> {
    check_name(name)?;
    let secret = new_secret()?;
    let record = TokenRecord { name: name.to_owned(), role, sha256: hash(&secret), created_at: now_ms() };
    let mut batch = Batch::new();
    batch.put(Space::Tokens, name.as_bytes(), serde_json::to_vec(&record).expect("a token record is JSON"));
    Ok((record, secret, batch))
}

/// Stores a new token (for the CLI, which holds the store): the record and the secret.
pub fn create_token(store: &dyn Store, name: &str, role: Role) -> Result<(TokenRecord, String), TokenError> {
    check_name(name)?;
    if store.get(Space::Tokens, name.as_bytes())?.is_some() {
        return Err(TokenError::Exists(name.to_owned()));
    }
    let (record, secret, batch) = new_token(name, role)?;
    store.commit(batch)?;
    Ok((record, secret))
}

/// Deletes a token (for the CLI); the record it was.
pub fn revoke_token(store: &dyn Store, name: &str) -> Result<TokenRecord, TokenError> {
    let Some(value) = store.get(Space::Tokens, name.as_bytes())? else {
        return Err(TokenError::NotFound(name.to_owned()));
    };
    let record = serde_json::from_slice(&value).map_err(|e| StoreError::Corrupt {
        space: Space::Tokens,
        key: name.to_owned(),
        reason: e.to_string(),
    })?;
    let mut batch = Batch::new();
    batch.delete(Space::Tokens, name.as_bytes());
    store.commit(batch)?;
    Ok(record)
}

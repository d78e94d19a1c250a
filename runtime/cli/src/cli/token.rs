//! `harmonia token ...` on a data directory: create an API token (its secret is printed
//! this once and only its hash is kept), list tokens (never a secret), revoke one.
//!
//! Creating and revoking need the store for writing, which a running server holds: then the
//! error says so, and the same is done through the server's API (`/api/v1/tokens`, admin).
//! Listing works beside a running server (the store is opened read-only then).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use harmonia_runner::audit::{self, Entry};
use harmonia_runner::tokens::{self as auth, Role, TokenRecord};
use harmonia_store::StoreError;
use harmonia_store_rocksdb::{RocksStore, StoreOptions};

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it on stdout: it is shown only this once.
    Create {
        /// admin (everything), operator (run and control executions, publish events) or
        /// viewer (read only).
        #[arg(long)]
        role: Role,
        /// A unique name (letters, digits, '.', '_', '-'): what the audit log records.
        #[arg(long)]
        name: String,
    },
    /// List the tokens: name, role, creation time (never the secret).
    List,
    /// Revoke a token (the server must be stopped: while it runs, revoke through its API,
    /// `DELETE /api/v1/tokens/NAME`, which takes effect at once).
    Revoke { name: String },
}

/// Opens the store for writing; a server holding it gets the hint to use its API.
fn open(data: &Path, api_hint: &str) -> anyhow::Result<RocksStore> {
    std::fs::create_dir_all(data).with_context(|| format!("cannot create data directory {}", data.display()))?;
    RocksStore::open(data.join("state"), StoreOptions::default()).map_err(|e| match e {
        StoreError::Locked { .. } => anyhow::anyhow!("{e}: while the server runs, {api_hint}"),
        e => e.into(),
    })
}

pub fn run(command: TokenCommand, data: &Path) -> anyhow::Result<ExitCode> {
    match command {
        TokenCommand::Create { role, name } => {
            let hint = "create the token through its API: POST /api/v1/tokens {\"name\": ..., \"role\": ...} with an admin token";
            let store = open(data, hint)?;
            let (record, secret) = auth::create_token(&store, &name, role)?;
            audit_cli(&store, "harmonia token create", 201, &record)
                .context("the token was created, but its audit entry could not be written")?;
            // The secret alone on stdout, so that `TOKEN=$(harmonia token create ...)` works.
            println!("{secret}");
            eprintln!("created token {:?} with role {}; it is shown only this once, keep it", record.name, record.role);
        }
        TokenCommand::List => {
            let dir = data.join("state");
            let tokens = if !dir.join("CURRENT").exists() {
                Vec::new() // no store yet: nothing to list, and nothing to create for it
            } else {
                match RocksStore::open(&dir, StoreOptions::default()) {
                    Ok(store) => auth::load_tokens(&store)?,
                    // A server holds it: read what it has committed.
                    Err(StoreError::Locked { .. }) => auth::load_tokens(&RocksStore::open_read_only(&dir)?)?,
                    Err(e) => return Err(e.into()),
                }
            };
            for TokenRecord { name, role, created_at, .. } in tokens {
                println!("{name}\t{role}\t{}", utc(created_at));
            }
        }
        TokenCommand::Revoke { name } => {
            let store = open(data, "revoke it through its API: DELETE /api/v1/tokens/NAME with an admin token")?;
            let record = auth::revoke_token(&store, &name)?;
            audit_cli(&store, "harmonia token revoke", 200, &record)
                .context("the token was revoked, but its audit entry could not be written")?;
            eprintln!("revoked token {:?} ({})", record.name, record.role);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Records in the audit log what `command` did to a token, as the API's routes do.
fn audit_cli(store: &RocksStore, command: &str, status: u16, record: &TokenRecord) -> Result<(), StoreError> {
    let entry =
        Entry { who: "cli", method: "CLI", path: command, status, result: "ok", details: Some(record.audit_details()) };
    audit::append_offline(store, &entry)
}

/// Milliseconds since the epoch as `2025-01-31T12:00:00Z`.
fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil_from_days: the proleptic Gregorian date of a day number.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::utc(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(super::utc(1_735_689_599_000), "2024-12-31T23:59:59Z");
    }
}

//! `harmonia event send|list`: CloudEvents to a server (`POST /api/v1/events`) and its log
//! read back. With `--data`, `send` appends to the event log of a stopped server's data
//! directory instead: the server acts on the events when it starts (triggers fire, waiting
//! executions look back through the log).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Subcommand;
use harmonia_runner::CloudEvent;
use harmonia_store::{Store, StoreError};
use harmonia_store_rocksdb::{RocksStore, StoreOptions};
use serde_json::{Value, json};

use super::client::{Remote, ServerArgs};

#[derive(Subcommand)]
pub enum EventCommand {
    /// Send one event: `harmonia event send doc.uploaded '{"path": "a.txt"}'`.
    Send {
        /// The event's type.
        #[arg(value_name = "TYPE")]
        event_type: String,
        /// The event's data (JSON; text that is not JSON is sent as a string).
        #[arg(value_name = "JSON")]
        payload: Option<String>,
        /// Where it comes from (`source`).
        #[arg(long, default_value = "harmonia-cli")]
        source: String,
        /// Its id, unique for its source (a new one by default). Sending the same source
        /// and id again is acknowledged as a duplicate and does nothing.
        #[arg(long)]
        id: Option<String>,
        #[arg(long)]
        subject: Option<String>,
        /// The `correlationid` a waiting execution matches.
        #[arg(long)]
        correlation_id: Option<String>,
        /// The execution the event concerns (`executionid`).
        #[arg(long)]
        execution_id: Option<String>,
    },
    /// List the event log, oldest first.
    List {
        /// Only events after this position.
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// Only events of these types (`*` patterns).
        #[arg(long = "type")]
        event_type: Option<String>,
        #[arg(long)]
        source: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

pub async fn run(command: EventCommand, data: Option<&Path>, server: &ServerArgs) -> anyhow::Result<ExitCode> {
    match command {
        EventCommand::Send { event_type, payload, source, id, subject, correlation_id, execution_id } => {
            let mut event = CloudEvent::new(id.unwrap_or_else(harmonia_runner::new_execution_id), source, event_type);
            event.subject = subject;
            event.data = payload.map(|p| serde_json::from_str(&p).unwrap_or(Value::String(p)));
            for (name, value) in [("correlationid", correlation_id), ("executionid", execution_id)] {
                if let Some(value) = value {
                    event.extensions.insert(name.into(), json!(value));
                }
            }
            event.check().map_err(|e| anyhow::anyhow!("{e}"))?;
            let answer = match data {
                Some(data) => offline(data, event)?,
                None => Remote::new(server)?.post("/api/v1/events", event.to_value()).await?,
            };
            println!("{}", serde_json::to_string_pretty(&answer)?);
        }
        EventCommand::List { after, event_type, source, limit } => {
            let mut path = format!("/api/v1/events?after={after}&limit={limit}");
            for (name, value) in [("type", event_type), ("source", source)] {
                if let Some(value) = value {
                    path.push_str(&format!("&{name}={}", super::client::encode(&value)));
                }
            }
            let page = Remote::new(server)?.get(&path).await?;
            for entry in page["events"].as_array().into_iter().flatten() {
                println!("{entry}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Appends to the log of the data directory of a stopped server.
fn offline(data: &Path, event: CloudEvent) -> anyhow::Result<Value> {
    let dir: PathBuf = data.join("state");
    let store = RocksStore::open(&dir, StoreOptions::default()).map_err(|e| match e {
        StoreError::Locked { .. } => anyhow::anyhow!("{e}: the server runs; send the event to it (without --data)"),
        e => anyhow::Error::new(e).context(format!("cannot open {}", dir.display())),
    })?;
    let store: Arc<dyn Store> = Arc::new(store);
    let now = harmonia_runner::now_ms();
    let accepted =
        harmonia_runner::events::append_offline(&store, vec![event], now).context("cannot append the event")?;
    Ok(json!({ "events": accepted }))
}

//! Harmonia inside another program: load the plugins of a directory, store a workflow, run
//! it to the end on a durable store and print its output. No server, no HTTP.
//!
//! `cargo run -p harmonia-host --example embed -- [PLUGINS_DIR] [DATA_DIR]`

use std::path::Path;
use std::sync::Arc;

use harmonia_host::{Host, HostConfig, StoreKv};
use harmonia_runner::{Runner, SystemClock, WorkflowDirs, WorkflowSource, definitions, new_execution_id};
use harmonia_store_rocksdb::{RocksStore, StoreOptions};
use serde_json::{Value, json};

const GREET: &str = r#"
name: greet
version: "1"
input: { name: { type: string } }
tasks:
  hello: { component: core, action: echo, input: { text: "Hello, ${input.name}!" } }
  digest: { component: digest, action: hash, input: { text: "${tasks.hello.output.text}" }, depends_on: [hello] }
output: { greeting: "${tasks.hello.output.text}", sha256: "${tasks.digest.output.hex}" }
"#;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let plugins = args.next().unwrap_or_else(|| "plugins".into());
    let data = args.next().unwrap_or_else(|| "data-embed".into());
    let finished = run(HostConfig::new(plugins), data.as_ref()).await?;
    println!("{}", serde_json::to_string_pretty(&finished)?);
    Ok(())
}

/// Runs `greet` with the plugins `config` names, keeping its state in `data`; returns the
/// execution's status and output.
pub async fn run(mut config: HostConfig, data: &Path) -> anyhow::Result<Value> {
    // One durable store for executions, workflow versions and the plugins' kv data.
    let store = Arc::new(RocksStore::open(data, StoreOptions::default())?);
    config.kv = Arc::new(StoreKv::new(store.clone()));
    let host = Host::new(config)?;
    host.load_all().await?;
    // The workflow, checked against the plugins it calls, stored as a version.
    let workflow = harmonia_model::parse_workflow(GREET, None)?;
    harmonia_model::check_plugins(&workflow, &host)?;
    definitions::store_version(&*store, &workflow.name, &workflow.version, GREET)?;
    let mut workflows = WorkflowDirs::default();
    workflows.insert(workflow);
    let plan = workflows.plan("greet", None).expect("just inserted");
    // The runner carries out task calls through the host, and keeps every step in the store.
    let runner = Runner::new(host, Arc::new(workflows), Arc::new(SystemClock)).with_store(store);
    let exec = runner.run(plan, &new_execution_id(), json!({ "name": "world" })).await?;
    Ok(json!({ "status": exec.status, "output": exec.output }))
}

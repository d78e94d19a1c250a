//! `harmonia exec ...`: start, read, control and watch executions on a server (see
//! `client.rs`), and, on a data directory (`--data`), read an execution's history, replay
//! it, list its checkpoints, export it and import it. Reads of a data directory open the
//! store read-only, so they work beside a running server.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use harmonia_runner::WorkflowDirs;

use super::client::{self, ServerArgs};
use harmonia_engine::{ExecStatus, Execution, replay};
use harmonia_runner::records::{self, ExecExport, ExecRecord, RecordFilter};
use harmonia_store::{Space, Store};
use harmonia_store_rocksdb::{RocksStore, StoreOptions};

#[derive(Subcommand)]
pub enum ExecCommand {
    /// Start an execution on the server; print its id, or with `--wait` its result.
    Start {
        workflow: String,
        /// An input parameter, `name=value` (a JSON value, or else a string; repeatable).
        #[arg(long = "input", short = 'i', value_name = "NAME=VALUE")]
        inputs: Vec<String>,
        /// The whole input as a JSON object (merged under --input values).
        #[arg(long)]
        input_json: Option<String>,
        /// A version of the workflow (the latest by default).
        #[arg(long)]
        version: Option<String>,
        /// Wait for the result, up to this long (`30s`, `2m`).
        #[arg(long, num_args = 0..=1, default_missing_value = "10m")]
        wait: Option<String>,
    },
    /// Show an execution: status, tasks, output or error.
    Get {
        id: String,
    },
    /// Hold back new calls of an execution.
    Pause {
        id: String,
    },
    Resume {
        id: String,
    },
    Cancel {
        id: String,
    },
    /// Send a signal to an execution: `harmonia exec signal ID approve '{"by": "me"}'`. A
    /// task waiting with `wait_for: {signal: approve}` gets the data and who sent it.
    Signal {
        id: String,
        name: String,
        /// The signal's data (JSON).
        #[arg(value_name = "JSON")]
        payload: Option<String>,
    },
    /// Add items to a task's open list (`for_each: {items, open: true}`) while it runs:
    /// `harmonia exec add-items ID TASK '["a", "b"]' [--close]`.
    AddItems {
        id: String,
        task: String,
        /// A JSON list of items.
        #[arg(value_name = "JSON")]
        items: Option<String>,
        /// No more items will come: the task ends once its items have.
        #[arg(long)]
        close: bool,
    },
    /// Move a paused execution to another version of its workflow.
    Migrate {
        id: String,
        version: String,
    },
    /// Add a task to a paused execution: `harmonia exec add-task ID audit '{"component":
    /// "core", "action": "echo", "depends_on": ["a"]}'`.
    AddTask {
        id: String,
        task: String,
        /// The task, as JSON written as in a workflow file.
        #[arg(value_name = "JSON")]
        definition: String,
    },
    /// Replace the input of a task that has not started, in a paused execution.
    SetInput {
        id: String,
        task: String,
        /// The input, as JSON (`${...}` allowed in its strings).
        #[arg(value_name = "JSON")]
        input: String,
    },
    /// Follow an execution's task states live until it ends (exit 1 if it failed).
    Watch {
        id: String,
    },
    /// List the executions: id, workflow, status, one per line.
    List {
        #[arg(long)]
        workflow: Option<String>,
        #[arg(long)]
        status: Option<String>,
    },
    /// Print the history of an execution, one JSON event per line.
    History {
        id: String,
    },
    /// Rebuild the state of an execution from its whole history and check that it equals
    /// the stored state (exit 1 if it does not).
    Replay {
        id: String,
    },
    /// List the checkpoints of an execution.
    Checkpoints {
        id: String,
    },
    /// Print an execution (record, history, checkpoints) as one JSON document.
    Export {
        id: String,
    },
    /// Store an exported execution (the data directory must not be in use; a server picks
    /// an unfinished one up when it starts).
    Import {
        file: PathBuf,
    },
}

/// Commands for a server, or (`--data` given, or only possible there) a data directory.
pub async fn run(command: ExecCommand, data: Option<&Path>, server: &ServerArgs) -> anyhow::Result<ExitCode> {
    match (command, data) {
        (ExecCommand::Start { workflow, inputs, input_json, version, wait }, _) => {
            let input = client::input_of(&inputs, input_json.as_deref())?;
            client::start(server, &workflow, version, input, wait).await
        }
        (ExecCommand::Get { id }, _) => client::control(server, &id, "get").await,
        (ExecCommand::Pause { id }, _) => client::control(server, &id, "pause").await,
        (ExecCommand::Resume { id }, _) => client::control(server, &id, "resume").await,
        (ExecCommand::Cancel { id }, _) => client::control(server, &id, "cancel").await,
        (ExecCommand::Watch { id }, _) => client::watch(server, &id).await,
        (ExecCommand::Signal { id, name, payload }, _) => {
            let data: serde_json::Value = match payload {
                Some(text) => {
                    serde_json::from_str(&text).with_context(|| format!("the signal's data is not JSON: {text}"))?
                }
                None => serde_json::json!({}),
            };
            client::signal(server, &id, &name, data).await
        }
        (ExecCommand::AddItems { id, task, items, close }, _) => {
            let items: Vec<serde_json::Value> = match items {
                Some(text) => {
                    serde_json::from_str(&text).with_context(|| format!("the items are not a JSON list: {text}"))?
                }
                None => Vec::new(),
            };
            let body = serde_json::json!({ "items": items, "close": close });
            client::post(
                server,
                &format!("/api/v1/executions/{}/tasks/{}/items", client::encode(&id), client::encode(&task)),
                body,
            )
            .await
        }
        (ExecCommand::Migrate { id, version }, _) => {
            let body = serde_json::json!({ "version": version });
            client::post(server, &format!("/api/v1/executions/{}/migrate", client::encode(&id)), body).await
        }
        (ExecCommand::AddTask { id, task, definition }, _) => {
            let definition: serde_json::Value =
                serde_json::from_str(&definition).with_context(|| format!("the task is not JSON: {definition}"))?;
            let body = serde_json::json!({ "id": task, "task": definition });
            client::post(server, &format!("/api/v1/executions/{}/tasks", client::encode(&id)), body).await
        }
        (ExecCommand::SetInput { id, task, input }, _) => {
            let input: serde_json::Value =
                serde_json::from_str(&input).with_context(|| format!("the input is not JSON: {input}"))?;
            let path = format!("/api/v1/executions/{}/tasks/{}/input", client::encode(&id), client::encode(&task));
            client::post(server, &path, serde_json::json!({ "input": input })).await
        }
        (ExecCommand::List { workflow, status }, None) => {
            client::list(server, workflow.as_deref(), status.as_deref()).await
        }
        (ExecCommand::History { id }, None) => client::control(server, &id, "history").await,
        (command, data) => offline(command, data.unwrap_or(Path::new("data"))),
    }
}

fn offline(command: ExecCommand, data: &Path) -> anyhow::Result<ExitCode> {
    let dir = data.join("state");
    if let ExecCommand::Import { file } = &command {
        let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
        let export: ExecExport =
            serde_json::from_str(&text).with_context(|| format!("{} is not an execution export", file.display()))?;
        let store = RocksStore::open(&dir, StoreOptions::default())?;
        records::import(&store, &export)?;
        println!("imported execution {} ({} events, {:?})", export.id, export.history.len(), export.record.status);
        return Ok(ExitCode::SUCCESS);
    }
    let store = RocksStore::open_read_only(&dir)?;
    match command {
        ExecCommand::List { workflow, status } => list(&store, workflow.as_deref(), status.as_deref())?,
        ExecCommand::History { id } => {
            records::read_record(&store, &id)?;
            let mut out = std::io::stdout().lock();
            // A page at a time: a history can be long.
            let mut seq = 0;
            'pages: loop {
                let page = records::read_history(&store, &id, seq, 1000)?;
                if page.is_empty() {
                    break;
                }
                for event in &page {
                    seq += 1;
                    let mut value = serde_json::to_value(event)?;
                    value["seq"] = seq.into();
                    if writeln!(out, "{value}").is_err() {
                        break 'pages; // the reader has gone (`| head`)
                    }
                }
            }
        }
        ExecCommand::Checkpoints { id } => {
            records::read_record(&store, &id)?;
            for checkpoint in records::list_checkpoints(&store, &id)? {
                println!("{}", serde_json::to_string(&checkpoint.info())?);
            }
        }
        ExecCommand::Export { id } => println!("{}", serde_json::to_string_pretty(&records::export(&store, &id)?)?),
        ExecCommand::Replay { id } => return replay_check(&store, &id),
        ExecCommand::Import { .. } => unreachable!("handled above"),
        _ => unreachable!("a server command"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Lists the executions of a data directory, one line each: every record, or those of a
/// workflow and/or status (through the indexes, a page at a time; a store from before
/// them is scanned).
fn list(store: &RocksStore, workflow: Option<&str>, status: Option<&str>) -> anyhow::Result<()> {
    let status = status.map(parse_status).transpose()?;
    let mut out = std::io::stdout().lock();
    let line = |id: &str, r: &ExecRecord| format!("{id}\t{}@{}\t{}", r.workflow, r.version, r.status.as_str());
    if workflow.is_none() && status.is_none() {
        // Every record, those that do not decode included (named, so they can be found).
        harmonia_store::scan_pages(store, Space::Executions, b"", None, 1024, |key, value| {
            let id = String::from_utf8_lossy(&key);
            let line = match records::decode_record(&key, &value) {
                Some(r) => line(&id, &r),
                None => format!("{id}\t?\tits record does not decode"),
            };
            Ok::<_, anyhow::Error>(writeln!(out, "{line}").is_ok()) // stop once the reader has gone
        })?;
        return Ok(());
    }
    let filter = RecordFilter { workflow, status };
    let mut after = None;
    loop {
        let (page, next) = records::list_records(store, filter, after.as_deref(), 1000)?;
        for (id, record) in &page {
            if writeln!(out, "{}", line(id, record)).is_err() {
                return Ok(()); // the reader has gone (`| head`)
            }
        }
        match next {
            Some(next) => after = Some(next),
            None => return Ok(()),
        }
    }
}

fn parse_status(text: &str) -> anyhow::Result<ExecStatus> {
    serde_json::from_value(serde_json::json!(text))
        .map_err(|_| anyhow::anyhow!("--status {text:?}: expected running, paused, completed, failed or cancelled"))
}

/// Every stored workflow version, those deleted over the API included (their executions
/// still replay).
fn stored_workflows(store: &dyn Store) -> anyhow::Result<WorkflowDirs> {
    let mut dirs = WorkflowDirs::default();
    for text in harmonia_runner::definitions::stored_versions(store)? {
        dirs.insert_text(harmonia_model::parse_workflow(&text, None).map_err(|e| anyhow::anyhow!("{e}"))?, text.into());
    }
    Ok(dirs)
}

fn replay_check(store: &RocksStore, id: &str) -> anyhow::Result<ExitCode> {
    let (_, record) = records::read_record(store, id)?;
    let workflows = stored_workflows(store)?;
    let Some(mut plan) = workflows.plan_exact(&record.workflow, &record.version) else {
        bail!("execution {id} runs {}@{}, which is not stored", record.workflow, record.version);
    };
    if !record.patches.is_empty() {
        let patched = harmonia_engine::patched_plan(&plan.workflow, &record.patches)
            .map_err(|e| anyhow::anyhow!("execution {id}: its changes no longer apply: {e}"))?;
        plan = std::sync::Arc::new(patched);
    }
    let history = records::read_history(store, id, 0, usize::MAX)?;
    let replayed = replay(&plan, id, &history);
    let (_, _, stored) = records::load_state(store, &plan, id)?;
    if replayed == stored {
        println!(
            "execution {id}: {} events replayed; the state matches the stored one ({:?})",
            history.len(),
            stored.status
        );
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("execution {id}: the state rebuilt from {} events differs from the stored one:", history.len());
    for line in differences(&replayed, &stored) {
        eprintln!("  {line}");
    }
    Ok(ExitCode::FAILURE)
}

/// The top-level fields that differ, with both values.
fn differences(replayed: &Execution, stored: &Execution) -> Vec<String> {
    let (a, b) = (serde_json::to_value(replayed).unwrap_or_default(), serde_json::to_value(stored).unwrap_or_default());
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else { return vec![] };
    a.iter()
        .filter(|(key, value)| b.get(*key) != Some(*value))
        .map(|(key, value)| format!("{key}: replayed {value}, stored {}", b.get(key).cloned().unwrap_or_default()))
        .collect()
}

//! `harmonia run FILE`: runs a workflow to its end in process and prints its output;
//! `harmonia validate FILE...`; `harmonia template render FILE`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use harmonia_engine::{CallId, Event, ExecStatus, Execution};
use harmonia_host::Host;
use harmonia_model::{ParamType, Workflow};
use harmonia_runner::{Clock, RunObserver, Runner, SystemClock, WorkflowDirs};
use serde_json::{Map, Value};

/// Exit code of an invalid workflow or input.
const INVALID: u8 = 2;

#[derive(Args)]
pub struct RunArgs {
    /// The workflow file (YAML or JSON).
    file: PathBuf,
    /// An input parameter, `name=value` (repeatable); the value is read as the parameter's type.
    #[arg(long = "input", short = 'i', value_name = "NAME=VALUE")]
    inputs: Vec<String>,
    /// The whole input as a JSON object (merged under --input values).
    #[arg(long)]
    input_json: Option<String>,
    /// The plugins directory.
    #[arg(long, env = "HARMONIA_PLUGINS", default_value = "plugins")]
    plugins: PathBuf,
    /// Print the whole execution (status, tasks, output, error) as JSON.
    #[arg(long)]
    json: bool,
    /// Keep the execution in the store of this data directory (its history can then be
    /// read and replayed: `harmonia exec history|replay ID --data DIR`). In memory without.
    #[arg(long)]
    data: Option<PathBuf>,
    #[command(flatten)]
    state: super::serve::StateArgs,
}

/// Workflows beside the file and in ./workflows, for sub-workflow tasks.
fn workflow_dirs(file: &Path) -> Vec<PathBuf> {
    let beside = file.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let beside = if beside.as_os_str().is_empty() { PathBuf::from(".") } else { beside };
    vec![beside, PathBuf::from("workflows")]
}

/// Parses and checks a workflow file against the plugins and known workflows.
fn check(file: &Path, host: &Host, dirs: &WorkflowDirs) -> Result<Workflow, String> {
    let workflow = harmonia_model::load_workflow(file).map_err(|d| d.to_string())?;
    let mut errors = Vec::new();
    if let Err(d) = harmonia_model::check_plugins(&workflow, host) {
        errors.push(d.to_string());
    }
    if let Err(d) = harmonia_model::check_workflows(&workflow, dirs) {
        errors.push(d.to_string());
    }
    if errors.is_empty() { Ok(workflow) } else { Err(errors.join("\n")) }
}

pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    // Before any workflow is read: an expression's cost is checked as it is parsed.
    harmonia_model::Budget::configure(args.state.budget());
    let host = super::open_host(&args.plugins).await?;
    for failure in host.failures() {
        eprintln!("warning: plugin {} not loaded: {}", failure.file.display(), failure.reason);
    }
    let mut dirs = WorkflowDirs::load(&workflow_dirs(&args.file));
    let workflow = match check(&args.file, &host, &dirs) {
        Ok(w) => w,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(ExitCode::from(INVALID));
        }
    };
    let input = match parse_input(&workflow, &args.inputs, args.input_json.as_deref())
        .and_then(|raw| harmonia_model::check_input(&workflow, &raw).map_err(|d| d.to_string()))
    {
        Ok(input) => input,
        Err(errors) => {
            eprintln!("invalid input for workflow {}:\n{errors}", workflow.id());
            return Ok(ExitCode::from(INVALID));
        }
    };
    let text = std::fs::read_to_string(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
    let (name, version) = (workflow.name.clone(), workflow.version.clone());
    dirs.replace(workflow, text.into());
    let store = args.data.as_ref().map(|data| args.state.open_store(data)).transpose()?;
    if let Some(store) = &store {
        for warning in harmonia_runner::definitions::sync(&**store, &mut dirs, &args.state.limits())? {
            eprintln!("warning: {warning}");
        }
    }
    let plan = dirs.plan_exact(&name, &version).expect("the workflow was just added");
    let mut runner = match store {
        Some(store) => args.state.runner(host, Arc::new(dirs), store),
        None => Runner::new(host, Arc::new(dirs), Arc::new(SystemClock)),
    };
    if std::io::stderr().is_terminal() && !args.json {
        runner = runner.with_observer(Arc::new(Live::default()));
    }
    let exec = runner.run(plan, &harmonia_runner::new_execution_id(), input).await?;
    report(&exec, args.json)
}

fn report(exec: &Execution, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        println!("{}", serde_json::to_string_pretty(exec)?);
    } else if let Some(output) = &exec.output {
        println!("{}", serde_json::to_string_pretty(output)?);
    }
    if exec.status == ExecStatus::Completed {
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(error) = &exec.error {
        let task = error.task.as_deref().map(|t| format!(" in task {t}")).unwrap_or_default();
        let (status, kind, message) = (status_word(exec.status), &error.kind, &error.message);
        eprintln!("workflow {}@{} {status}{task}: {kind}: {message}", exec.workflow, exec.version);
    }
    Ok(ExitCode::FAILURE)
}

fn status_word(status: ExecStatus) -> &'static str {
    match status {
        ExecStatus::Cancelled => "was cancelled",
        _ => "failed",
    }
}

/// Builds the input object from `--input-json` and `--input name=value` pairs, reading
/// each value as its parameter's declared type.
fn parse_input(workflow: &Workflow, pairs: &[String], json: Option<&str>) -> Result<Value, String> {
    let mut input = match json {
        Some(text) => match serde_json::from_str(text) {
            Ok(Value::Object(map)) => map,
            Ok(_) => return Err("--input-json must be a JSON object".into()),
            Err(e) => return Err(format!("--input-json is not valid JSON: {e}")),
        },
        None => Map::new(),
    };
    for pair in pairs {
        let (name, raw) = pair.split_once('=').ok_or_else(|| format!("--input {pair:?}: expected NAME=VALUE"))?;
        let kind = workflow.input.get(name).map(|p| p.kind);
        let value = match kind {
            Some(ParamType::String) | None => Value::String(raw.to_string()),
            Some(ParamType::Any) => serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string())),
            Some(_) => {
                serde_json::from_str(raw).map_err(|e| format!("--input {name}: {raw:?} is not valid JSON ({e})"))?
            }
        };
        input.insert(name.to_string(), value);
    }
    Ok(Value::Object(input))
}

/// Shows task states and plugin progress on a terminal as they change.
#[derive(Default)]
pub(super) struct Live {
    started: std::sync::Mutex<std::collections::HashMap<String, Instant>>,
}

impl Live {
    /// Prints what `event` changed, if a user would care.
    pub(super) fn show(&self, event: &Event) {
        let mut started = self.started.lock().expect("live lock");
        match event {
            Event::CallStarted { call, attempt, .. } => {
                if !started.contains_key(&call.task) {
                    started.insert(call.task.clone(), Instant::now());
                    eprintln!("  \x1b[36m▸\x1b[0m {} running", call.task);
                } else if *attempt > 1 {
                    eprintln!("  \x1b[33m↻\x1b[0m {call} attempt {attempt}");
                }
            }
            Event::RetryScheduled { call, due, .. } => {
                let now = harmonia_runner::SystemClock.now_ms();
                eprintln!("  \x1b[33m…\x1b[0m {call} will retry in {} ms", due.saturating_sub(now));
            }
            Event::TaskSucceeded { task, .. } => {
                let took = started.get(task).map(|t| format!(" ({} ms)", t.elapsed().as_millis())).unwrap_or_default();
                eprintln!("  \x1b[32m✔\x1b[0m {task} succeeded{took}");
            }
            Event::TaskFailed { task, error, tolerated, .. } => {
                let note = if *tolerated { " (continuing)" } else { "" };
                eprintln!("  \x1b[31m✘\x1b[0m {task} failed{note}: {}", error.message);
            }
            Event::TaskSkipped { task, reason } => eprintln!("  \x1b[90m○ {task} skipped: {reason}\x1b[0m"),
            Event::TaskCancelled { task, reason: None } => eprintln!("  \x1b[90m○ {task} cancelled\x1b[0m"),
            Event::TaskCancelled { task, reason: Some(reason) } => {
                eprintln!("  \x1b[90m○ {task} cancelled: {reason}\x1b[0m")
            }
            Event::ItemFailed { task, item, error, .. } => {
                eprintln!("  \x1b[31m✘\x1b[0m {task}[{item}] failed (continuing): {}", error.message)
            }
            Event::Paused { .. } => eprintln!("  \x1b[33m‖\x1b[0m paused"),
            Event::Resumed { .. } => eprintln!("  \x1b[36m▸\x1b[0m resumed"),
            Event::Recovered { .. } => eprintln!("  \x1b[33m↻\x1b[0m picked up again after a restart"),
            _ => {}
        }
    }
}

impl RunObserver for Live {
    fn event(&self, _exec: &Execution, event: &Event) {
        self.show(event);
    }

    fn progress(&self, _exec: &str, call: &CallId, percent: u8, message: &str) {
        eprintln!("  \x1b[36m…\x1b[0m {call} {percent}% {message}");
    }
}

/// `harmonia validate FILE...`: every error of every file.
pub async fn validate(files: &[PathBuf], plugins: &Path) -> anyhow::Result<ExitCode> {
    let host = super::open_host(plugins).await?;
    let mut invalid = 0;
    for file in files {
        let dirs = WorkflowDirs::load(&workflow_dirs(file));
        match check(file, &host, &dirs) {
            Ok(workflow) => println!("{}: ok ({}, {} tasks)", file.display(), workflow.id(), workflow.tasks.len()),
            Err(errors) => {
                invalid += 1;
                println!("{errors}");
            }
        }
    }
    Ok(if invalid == 0 { ExitCode::SUCCESS } else { ExitCode::from(INVALID) })
}

/// `harmonia template render FILE --param k=v`: prints the workflow the template makes.
pub fn render(file: &Path, params: &[String]) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut pairs = Vec::new();
    for p in params {
        let (k, v) = p.split_once('=').with_context(|| format!("--param {p:?}: expected NAME=VALUE"))?;
        pairs.push((k.to_string(), v.to_string()));
    }
    match harmonia_model::render_template(&text, Some(file), &pairs) {
        Ok(yaml) => {
            print!("{yaml}");
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            eprintln!("{errors}");
            Ok(ExitCode::from(INVALID))
        }
    }
}

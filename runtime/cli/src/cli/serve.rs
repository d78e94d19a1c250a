//! `harmonia serve`: the HTTP API on one port, with the plugins and workflows of the
//! working directory by default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use std::sync::RwLock;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use harmonia_api::auth::Auth;
use harmonia_api::connections::{self, ConnectionLimits};
use harmonia_api::{ApiLimits, AppState, SharedWorkflows, router};
use harmonia_host::{CallLimits, Host, HostConfig, StoreKv};
use harmonia_model::{Budget, Limits};
use harmonia_runner::{Runner, RunnerSettings, SystemClock, WorkflowDirs, WorkflowSource, definitions, retention};
use harmonia_store_rocksdb::{RocksStore, StoreOptions, SyncMode};
use serde::Deserialize;

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080]. Without API tokens only loopback
    /// addresses are accepted.
    #[arg(long, env = "HARMONIA_LISTEN")]
    listen: Option<SocketAddr>,
    /// The plugins directory, watched: plugins are added, replaced and removed live
    /// [default: plugins].
    #[arg(long, env = "HARMONIA_PLUGINS")]
    plugins: Option<PathBuf>,
    /// Workflow files stored at start [default: workflows].
    #[arg(long, env = "HARMONIA_WORKFLOWS")]
    workflows: Option<PathBuf>,
    /// The data directory [default: data].
    #[arg(long, env = "HARMONIA_DATA")]
    data: Option<PathBuf>,
    /// Listen on a non-loopback address without tokens (anyone who can reach it can run
    /// workflows).
    #[arg(long)]
    insecure: bool,
    /// Serve HTTPS only, with this PEM certificate chain (the server's certificate first);
    /// needs --tls-key.
    #[arg(long, env = "HARMONIA_TLS_CERT", value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "HARMONIA_TLS_KEY", value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// The largest request body accepted, in bytes [default: 8 MiB].
    #[arg(long, env = "HARMONIA_MAX_BODY")]
    max_body: Option<usize>,
    /// The largest plugin component accepted by `PUT /api/v1/plugins/{name}`, in bytes
    /// [default: 256 MiB].
    #[arg(long, env = "HARMONIA_MAX_UPLOAD")]
    max_upload: Option<usize>,
    /// What plugins' log lines and progress kept in memory for `GET .../tasks/{task}/logs`
    /// and the console may take together, in bytes; the tasks reported on longest ago are
    /// forgotten first [default: 16 MiB].
    #[arg(long, env = "HARMONIA_MAX_REPORT_BYTES")]
    max_report_bytes: Option<usize>,
    /// A connection that takes longer than this to send a request's headers, or sits idle
    /// this long between requests, is closed: `30s`, `2m` [default: 30s].
    #[arg(long, env = "HARMONIA_HEADER_TIMEOUT", value_parser = parse_age)]
    header_timeout: Option<Duration>,
    /// Connections served at once; more wait to be accepted [default: 512].
    #[arg(long, env = "HARMONIA_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// The largest output of one task call, in bytes; a bigger one fails the call
    /// [default: 4 MiB]. A plugin's manifest may lower it.
    #[arg(long, env = "HARMONIA_MAX_TASK_OUTPUT")]
    max_task_output: Option<usize>,
    /// Log lines (stdout and stderr included) kept of one call; more are dropped and counted
    /// [default: 1000]. A plugin's manifest may lower it.
    #[arg(long, env = "HARMONIA_MAX_LOG_LINES")]
    max_log_lines: Option<u32>,
    /// Events one call may emit; more are dropped and counted [default: 1000]. A plugin's
    /// manifest may lower it.
    #[arg(long, env = "HARMONIA_MAX_EVENTS")]
    max_events: Option<u32>,
    /// Bytes of keys and values a plugin may keep in its key-value space; a call whose
    /// writes would pass it fails and writes nothing [default: 64 MiB]. A manifest may
    /// lower it.
    #[arg(long, env = "HARMONIA_MAX_KV_BYTES")]
    max_kv_bytes: Option<u64>,
    /// The most memory one plugin instance may have, in MiB: a manifest's `memory_mb`
    /// above it is lowered to it [default: 1024].
    #[arg(long, env = "HARMONIA_MAX_PLUGIN_MEMORY_MB")]
    max_plugin_memory_mb: Option<u64>,
    /// The most calls of one plugin at once: a manifest's `max_concurrency` above it is
    /// lowered to it [default: 64].
    #[arg(long, env = "HARMONIA_MAX_PLUGIN_CONCURRENCY")]
    max_plugin_concurrency: Option<u32>,
    /// Settings file; `harmonia.toml` in the working directory is read if it exists. Flags
    /// and `HARMONIA_*` variables override it.
    #[arg(long, env = "HARMONIA_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    state: StateArgs,
}

/// `harmonia.toml`: the settings of `serve`, named as its flags (`checkpoint_every` for
/// `--checkpoint-every`).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    plugins: Option<PathBuf>,
    workflows: Option<PathBuf>,
    data: Option<PathBuf>,
    insecure: Option<bool>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    sync: Option<String>,
    checkpoint_every: Option<u32>,
    retention: Option<String>,
    max_body: Option<usize>,
    max_upload: Option<usize>,
    max_report_bytes: Option<usize>,
    workflow_max_tasks: Option<usize>,
    workflow_max_depth: Option<usize>,
    workflow_max_nodes: Option<usize>,
    header_timeout: Option<String>,
    max_connections: Option<usize>,
    max_task_output: Option<usize>,
    max_log_lines: Option<u32>,
    max_events: Option<u32>,
    max_kv_bytes: Option<u64>,
    max_plugin_memory_mb: Option<u64>,
    max_plugin_concurrency: Option<u32>,
    expression_max_cost: Option<u64>,
    expression_max_time: Option<String>,
    execution_max_events: Option<u64>,
    for_each_max_items: Option<usize>,
    lifecycle_events: Option<harmonia_runner::events::lifecycle::Lifecycle>,
}

/// The settings `serve` runs with: flags and variables over the file over the defaults.
struct Settings {
    listen: SocketAddr,
    plugins: PathBuf,
    workflows: PathBuf,
    data: PathBuf,
    insecure: bool,
    /// The certificate and key files, when serving HTTPS.
    tls: Option<(PathBuf, PathBuf)>,
    max_body: usize,
    max_upload: usize,
    max_report_bytes: usize,
    connections: ConnectionLimits,
    call_limits: CallLimits,
    state: StateArgs,
}

impl ServeArgs {
    fn resolve(self) -> anyhow::Result<Settings> {
        let (path, required) = match &self.config {
            Some(path) => (path.clone(), true),
            None => (PathBuf::from("harmonia.toml"), false),
        };
        let file = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str::<FileConfig>(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
            Err(e) if required || e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("cannot read {}", path.display()));
            }
            Err(_) => FileConfig::default(),
        };
        let mut state = self.state;
        if state.sync.is_none() {
            state.sync = file
                .sync
                .as_deref()
                .map(parse_sync)
                .transpose()
                .map_err(|e| anyhow::anyhow!("{}: sync: {e}", path.display()))?;
        }
        state.checkpoint_every = state.checkpoint_every.or(file.checkpoint_every);
        state.workflow_max_tasks = state.workflow_max_tasks.or(file.workflow_max_tasks);
        state.workflow_max_depth = state.workflow_max_depth.or(file.workflow_max_depth);
        state.workflow_max_nodes = state.workflow_max_nodes.or(file.workflow_max_nodes);
        state.expression_max_cost = state.expression_max_cost.or(file.expression_max_cost);
        state.execution_max_events = state.execution_max_events.or(file.execution_max_events);
        state.for_each_max_items = state.for_each_max_items.or(file.for_each_max_items);
        state.lifecycle_events = state.lifecycle_events.or(file.lifecycle_events);
        if state.expression_max_time.is_none() {
            state.expression_max_time = file
                .expression_max_time
                .as_deref()
                .map(parse_age)
                .transpose()
                .map_err(|e| anyhow::anyhow!("{}: expression_max_time: {e}", path.display()))?;
        }
        if state.retention.is_none() {
            state.retention = file
                .retention
                .as_deref()
                .map(parse_age)
                .transpose()
                .map_err(|e| anyhow::anyhow!("{}: retention: {e}", path.display()))?;
        }
        // Each file from the flags or from harmonia.toml; together they must make a pair.
        let tls = match (self.tls_cert.or(file.tls_cert), self.tls_key.or(file.tls_key)) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            (Some(_), None) => {
                bail!("--tls-cert needs --tls-key (HARMONIA_TLS_KEY, tls_key): give both to serve HTTPS, or neither")
            }
            (None, Some(_)) => {
                bail!("--tls-key needs --tls-cert (HARMONIA_TLS_CERT, tls_cert): give both to serve HTTPS, or neither")
            }
        };
        let header_timeout = match self.header_timeout {
            Some(timeout) => Some(timeout),
            None => file
                .header_timeout
                .as_deref()
                .map(parse_age)
                .transpose()
                .map_err(|e| anyhow::anyhow!("{}: header_timeout: {e}", path.display()))?,
        };
        let defaults = ConnectionLimits::default();
        let connections = ConnectionLimits {
            header_timeout: header_timeout.unwrap_or(defaults.header_timeout),
            max_connections: self.max_connections.or(file.max_connections).unwrap_or(defaults.max_connections),
        };
        if connections.header_timeout.is_zero() || connections.max_connections == 0 {
            bail!("header_timeout and max_connections must be above zero");
        }
        let calls = CallLimits::default();
        let call_limits = CallLimits {
            max_output_bytes: self.max_task_output.or(file.max_task_output).unwrap_or(calls.max_output_bytes),
            max_log_lines: self.max_log_lines.or(file.max_log_lines).unwrap_or(calls.max_log_lines),
            max_events: self.max_events.or(file.max_events).unwrap_or(calls.max_events),
            max_kv_bytes: self.max_kv_bytes.or(file.max_kv_bytes).unwrap_or(calls.max_kv_bytes),
            max_memory_bytes: self
                .max_plugin_memory_mb
                .or(file.max_plugin_memory_mb)
                .map_or(calls.max_memory_bytes, |mb| mb << 20),
            max_concurrency: self
                .max_plugin_concurrency
                .or(file.max_plugin_concurrency)
                .unwrap_or(calls.max_concurrency),
        };
        if call_limits.max_memory_bytes == 0 || call_limits.max_concurrency == 0 {
            bail!("max_plugin_memory_mb and max_plugin_concurrency must be above zero");
        }
        Ok(Settings {
            listen: self.listen.or(file.listen).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            plugins: self.plugins.or(file.plugins).unwrap_or_else(|| "plugins".into()),
            workflows: self.workflows.or(file.workflows).unwrap_or_else(|| "workflows".into()),
            data: self.data.or(file.data).unwrap_or_else(|| "data".into()),
            insecure: self.insecure || file.insecure.unwrap_or(false),
            tls,
            max_body: self.max_body.or(file.max_body).unwrap_or(harmonia_api::DEFAULT_MAX_BODY),
            max_upload: self.max_upload.or(file.max_upload).unwrap_or(harmonia_api::DEFAULT_MAX_UPLOAD),
            max_report_bytes: self
                .max_report_bytes
                .or(file.max_report_bytes)
                .unwrap_or(harmonia_api::reports::DEFAULT_MAX_BYTES),
            connections,
            call_limits,
            state,
        })
    }
}

/// How executions are kept: shared by `serve` and `run --data`.
#[derive(Args, Clone)]
pub struct StateArgs {
    /// `always` (the default): each group of commits is synced to disk before its effects
    /// are visible (nothing acknowledged is lost, even on a power cut). `none`: commits
    /// survive a crash of the process, but the last moments may be lost on a power cut or
    /// an OS crash.
    #[arg(long, env = "HARMONIA_SYNC", value_parser = parse_sync)]
    pub sync: Option<SyncMode>,
    /// An automatic checkpoint of an execution every this many steps (0: none) [default: 100].
    #[arg(long, env = "HARMONIA_CHECKPOINT_EVERY")]
    pub checkpoint_every: Option<u32>,
    /// Delete finished executions (with their history) this long after they finished:
    /// `30d`, `12h`, `90m`, `45s`. Off by default: everything is kept.
    #[arg(long, env = "HARMONIA_RETENTION", value_parser = parse_age)]
    pub retention: Option<Duration>,
    /// The most tasks a workflow may have [default: 10000].
    #[arg(long, env = "HARMONIA_WORKFLOW_MAX_TASKS")]
    pub workflow_max_tasks: Option<usize>,
    /// The deepest nesting of mappings and lists in a workflow document [default: 64].
    #[arg(long, env = "HARMONIA_WORKFLOW_MAX_DEPTH")]
    pub workflow_max_depth: Option<usize>,
    /// The most YAML nodes in a workflow document, with aliases expanded [default: 1000000].
    #[arg(long, env = "HARMONIA_WORKFLOW_MAX_NODES")]
    pub workflow_max_nodes: Option<usize>,
    /// What one `${...}` evaluation may cost: one unit per iteration and per value made
    /// (a string counts one per 16 bytes) [default: 10000000].
    #[arg(long, env = "HARMONIA_EXPRESSION_MAX_COST")]
    pub expression_max_cost: Option<u64>,
    /// The CPU time one `${...}` evaluation may take: `500ms`, `2s` [default: 1s].
    #[arg(long, env = "HARMONIA_EXPRESSION_MAX_TIME", value_parser = parse_age)]
    pub expression_max_time: Option<Duration>,
    /// The most events in one execution's history; one that reaches it fails (`aborted`)
    /// [default: 100000].
    #[arg(long, env = "HARMONIA_EXECUTION_MAX_EVENTS")]
    pub execution_max_events: Option<u64>,
    /// The most items an open `for_each` may hold, those added while it runs included
    /// [default: 100000].
    #[arg(long, env = "HARMONIA_FOR_EACH_MAX_ITEMS")]
    pub for_each_max_items: Option<usize>,
    /// The lifecycle events put into the event log: `auto` (those a trigger, a
    /// subscription or a waiting task wants), `none`, `executions` (every
    /// `harmonia.execution.*`) or `all` (also `harmonia.task.*`) [default: auto].
    #[arg(long, env = "HARMONIA_LIFECYCLE_EVENTS")]
    pub lifecycle_events: Option<harmonia_runner::events::lifecycle::Lifecycle>,
}

fn parse_sync(text: &str) -> Result<SyncMode, String> {
    match text {
        "always" => Ok(SyncMode::Always),
        "none" => Ok(SyncMode::None),
        _ => Err(format!("{text:?}: expected always or none")),
    }
}

/// A duration of a flag or of harmonia.toml, in the grammar of workflow files: `30d`, `12h`,
/// `90m`, `45s`, `500ms`, `1h30m`.
pub fn parse_age(text: &str) -> Result<Duration, String> {
    harmonia_model::parse_duration(text)
        .map_err(|found| format!("{found}: expected a duration like 30d, 12h, 90m, 45s, 500ms or 1h30m"))
}

impl StateArgs {
    /// What a workflow document may hold: the defaults, less or more as the settings say.
    pub fn limits(&self) -> Limits {
        let defaults = Limits::default();
        Limits {
            max_tasks: self.workflow_max_tasks.unwrap_or(defaults.max_tasks),
            max_depth: self.workflow_max_depth.unwrap_or(defaults.max_depth),
            max_nodes: self.workflow_max_nodes.unwrap_or(defaults.max_nodes),
        }
    }

    /// Opens the store in `<data>/state`.
    pub fn open_store(&self, data: &Path) -> anyhow::Result<Arc<RocksStore>> {
        std::fs::create_dir_all(data).with_context(|| format!("cannot create data directory {}", data.display()))?;
        let options = StoreOptions { sync: self.sync.unwrap_or_default(), ..StoreOptions::default() };
        Ok(Arc::new(RocksStore::open(data.join("state"), options)?))
    }

    /// What one expression evaluation may spend: set for the process with
    /// [`Budget::configure`] before any workflow is read.
    pub fn budget(&self) -> Budget {
        let defaults = Budget::default();
        Budget {
            max_cost: self.expression_max_cost.unwrap_or(defaults.max_cost),
            max_time: self.expression_max_time.unwrap_or(defaults.max_time),
        }
    }

    /// A runner keeping executions in `store`.
    pub fn runner(&self, host: Host, workflows: Arc<dyn WorkflowSource>, store: Arc<RocksStore>) -> Runner {
        let defaults = RunnerSettings::default();
        let checkpoint_every = self.checkpoint_every.unwrap_or(defaults.checkpoint_every);
        let max_history = self.execution_max_events.unwrap_or(defaults.max_history);
        let lifecycle_events = self.lifecycle_events.unwrap_or(defaults.lifecycle_events);
        let max_items = self.for_each_max_items.unwrap_or(defaults.max_items);
        let settings = RunnerSettings {
            checkpoint_every,
            limits: self.limits(),
            max_history,
            lifecycle_events,
            max_items,
            ..defaults
        };
        Runner::new(host, workflows, Arc::new(SystemClock)).with_store(store).with_settings(settings)
    }
}

/// Reads every workflow file of `dir`; a file that does not parse or uses unknown plugins
/// is reported and skipped.
fn load_workflows(dir: &Path, host: &Host, limits: &Limits) -> WorkflowDirs {
    if !dir.is_dir() {
        eprintln!("warning: workflows directory {} not found", dir.display());
    }
    let check = |w: &harmonia_model::Workflow| harmonia_model::check_plugins(w, host);
    let (found, errors) = WorkflowDirs::load_checked(&[dir.to_path_buf()], limits, check);
    for error in errors {
        eprintln!("warning: workflow skipped:\n{error}");
    }
    found
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let args = args.resolve()?;
    // Bad certificate or key files stop here, before anything is opened or bound.
    let tls = match &args.tls {
        Some((cert, key)) => Some(harmonia_api::tls::server_config(cert, key).context("cannot serve HTTPS")?),
        None => None,
    };
    // Before any workflow is read: an expression's cost is checked as it is parsed.
    Budget::configure(args.state.budget());
    // Without tokens the API is open: only loopback then, unless --insecure.
    let guarded = !args.listen.ip().is_loopback() && !args.insecure;
    let refuse = || {
        anyhow::anyhow!(
            "refusing to listen on {}: no API tokens are configured, so only loopback addresses are allowed \
             (create one with `harmonia token create --role admin --name NAME --data {}`, use 127.0.0.1, \
             or --insecure to accept requests from anyone who can reach it)",
            args.listen,
            args.data.display()
        )
    };
    // A data directory without a store has no tokens: refuse before creating anything.
    if guarded && !args.data.join("state").join("CURRENT").exists() {
        return Err(refuse());
    }
    if !args.plugins.is_dir() {
        bail!("plugins directory {} does not exist", args.plugins.display());
    }
    // One store holds executions, workflow definitions, plugin key-value data, API tokens
    // and the audit log.
    let store = match args.state.open_store(&args.data) {
        // The tokens cannot be counted: still a refusal to listen there, saying why.
        Err(e) if guarded => return Err(e.context(refuse())),
        opened => opened?,
    };
    let auth = Auth::load(&*store, !guarded)
        .context("cannot read the API tokens")?
        .listening_on_loopback(args.listen.ip().is_loopback());
    if guarded && auth.is_empty() {
        return Err(refuse());
    }
    match auth.len() {
        0 if args.listen.ip().is_loopback() => eprintln!("auth: none (loopback only)"),
        0 => eprintln!("auth: none (--insecure: open to anyone who can reach {})", args.listen),
        n => eprintln!("auth: {n} tokens"),
    }
    if !auth.is_empty() && !args.listen.ip().is_loopback() && tls.is_none() {
        // Not refused: a TLS-terminating proxy in front is a normal setup.
        eprintln!(
            "warning: TLS is off on {}, a non-loopback address: API tokens travel in clear text unless \
             a TLS-terminating proxy is in front (serve HTTPS with --tls-cert and --tls-key)",
            args.listen
        );
    }
    let mut config = HostConfig::new(&args.plugins);
    config.cache_dir = super::compile_cache(Some(&args.data));
    // No manifest may grant the data directory, nor a directory that holds it.
    config.protected = vec![args.data.clone()];
    config.call_limits = args.call_limits;
    config.kv = Arc::new(StoreKv::new(store.clone()));
    let host = Host::new(config)?;
    let shared = Arc::new(RwLock::new(WorkflowDirs::default()));
    // What plugins report while calls run, kept for the console: the runner tells it.
    let reports = harmonia_api::reports::CallReports::new(args.max_report_bytes);
    let runner = args
        .state
        .runner(host.clone(), Arc::new(SharedWorkflows(shared.clone())), store.clone())
        .with_observer(reports.clone());
    host.load_all().await?;
    for failure in host.failures() {
        eprintln!("warning: plugin {} not loaded: {}", failure.file.display(), failure.reason);
    }
    let _watcher = host.watch()?;
    let limits = args.state.limits();
    let mut workflows = load_workflows(&args.workflows, &host, &limits);
    for warning in definitions::sync(&*store, &mut workflows, &limits)? {
        eprintln!("warning: {warning}");
    }
    *shared.write().expect("workflows lock") = workflows;
    for warning in
        harmonia_runner::templates::store_dir(&*store, &args.workflows.join("templates"), harmonia_runner::now_ms())?
    {
        eprintln!("warning: {warning}");
    }
    // Subscriptions are read before recovery, so that the lifecycle events they want are
    // written from the first step a resumed execution takes; they deliver after it.
    runner.load_subscriptions().await?;
    // Reads every unfinished execution (and first the mutex tickets they hold or wait
    // for, so that each keeps its place): on the blocking pool.
    let recovering = runner.clone();
    let recovery = tokio::task::spawn_blocking(move || {
        recovering.load_locks()?;
        recovering.recover()
    })
    .await??;
    if recovery.resumed > 0 {
        eprintln!("resumed {} unfinished executions", recovery.resumed);
    }
    for (id, reason) in &recovery.failed {
        eprintln!("error: execution {id} cannot be resumed: {reason}");
    }
    // Events accepted while the server was stopped fire their triggers now.
    runner.follow_triggers();
    runner.follow_waits();
    runner.follow_schedules();
    let webhooks = harmonia_api::webhooks::HttpWebhooks::new().context("cannot set up outgoing webhooks")?;
    runner.follow_subscriptions(Some(Arc::new(webhooks))).await?;
    if let Some(age) = args.state.retention {
        tokio::spawn(retention::sweep_every(runner.clone(), age));
    }
    let limits = ApiLimits { max_body: args.max_body, max_upload: args.max_upload };
    let state =
        AppState::new(host.clone(), runner.clone(), shared).with_auth(auth).with_limits(limits).with_reports(reports);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    // The first line of stdout says where, so that scripts and tests can find the port.
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("harmonia listening on {scheme}://{}", listener.local_addr()?);
    // On SIGTERM: no new connections; requests in progress finish. Event streams and
    // WebSockets never finish on their own, so whatever is still open after a grace
    // period is closed.
    let (stopping, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stopping.send(true);
    });
    let graceful = stop.clone();
    let mut deadline = stop;
    let app = router(state);
    let connections = args.connections;
    let server = async move {
        match tls {
            Some(config) => {
                connections::serve(harmonia_api::tls::TlsListener::new(listener, config)?, app, connections, graceful)
                    .await
            }
            None => connections::serve(listener, app, connections, graceful).await,
        }
        Ok::<_, std::io::Error>(())
    };
    tokio::select! {
        served = server => served?,
        _ = async {
            let _ = deadline.wait_for(|stop| *stop).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => eprintln!("closing the connections still open after {SHUTDOWN_GRACE:?} (event streams, WebSockets)"),
    }
    // Executions stop where they are (every committed step stays); the next start resumes them.
    runner.stop().await;
    eprintln!("harmonia stopped");
    Ok(ExitCode::SUCCESS)
}

/// How long requests in progress get to finish after SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

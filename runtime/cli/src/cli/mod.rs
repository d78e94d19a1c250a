//! The subcommands of `harmonia`.

mod client;
mod event;
mod exec;
mod plugin;
mod run;
mod serve;
mod subscription;
mod token;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::{Parser, Subcommand};
use harmonia_host::{Host, HostConfig};

/// The plugin host over a plugins directory, with every plugin loaded; compiled components
/// cached as [`compile_cache`] says (without a data directory).
async fn open_host(dir: &std::path::Path) -> anyhow::Result<Host> {
    if !dir.is_dir() {
        bail!("plugins directory {} does not exist", dir.display());
    }
    let mut config = HostConfig::new(dir);
    config.cache_dir = compile_cache(None);
    let host = Host::new(config)?;
    host.load_all().await?;
    Ok(host)
}

/// Where compiled components are cached: `HARMONIA_COMPILE_CACHE` if set (empty: nowhere),
/// else `<data>/compiled` with a data directory, else the user's cache
/// (`~/.cache/harmonia/compiled`). Never the plugins directory, which the host refuses.
fn compile_cache(data: Option<&std::path::Path>) -> Option<PathBuf> {
    match std::env::var_os("HARMONIA_COMPILE_CACHE") {
        Some(dir) if dir.is_empty() => None,
        Some(dir) => Some(PathBuf::from(dir)),
        None => data.map(|data| data.join("compiled")).or_else(harmonia_host::user_cache_dir),
    }
}

/// Harmonia: a workflow engine whose tasks are WebAssembly components.
#[derive(Parser)]
#[command(name = "harmonia", version, about)]
pub struct Cli {
    /// More log output (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (127.0.0.1:8080, ./plugins, ./workflows, ./data by default).
    Serve(Box<serve::ServeArgs>),
    /// Run a workflow to its end and print its output (exit 1 if it failed, 2 if invalid).
    Run(run::RunArgs),
    /// Check workflow files and print every error.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The plugins directory.
        #[arg(long, env = "HARMONIA_PLUGINS", default_value = "plugins")]
        plugins: PathBuf,
    },
    /// Workflow templates: render one offline, or store, list and instantiate them on a
    /// server.
    Template {
        #[command(subcommand)]
        command: TemplateCommand,
        #[command(flatten)]
        server: client::ServerArgs,
    },
    /// Start, read, control and watch executions on a server; look into those kept in a
    /// data directory (history, replay, checkpoints, export and import).
    Exec {
        #[command(subcommand)]
        command: exec::ExecCommand,
        /// Read this data directory instead of asking the server (list, history; replay,
        /// checkpoints, export and import always work on one: `data` by default).
        #[arg(long, global = true, env = "HARMONIA_DATA")]
        data: Option<PathBuf>,
        #[command(flatten)]
        server: client::ServerArgs,
    },
    /// Store, list, show and delete workflows on a server.
    Workflow {
        #[command(subcommand)]
        command: client::WorkflowCommand,
        #[command(flatten)]
        server: client::ServerArgs,
    },
    /// List, describe and call plugins.
    Plugin {
        #[command(subcommand)]
        command: plugin::PluginCommand,
        /// The plugins directory.
        #[arg(long, global = true, env = "HARMONIA_PLUGINS", default_value = "plugins")]
        plugins: PathBuf,
    },
    /// Print the OpenAPI 3.1 document of the HTTP API (what `GET /api/v1/openapi.json`
    /// serves), to generate clients without a server.
    Openapi,
    /// Send CloudEvents to a server (or, with --data, to a stopped server's log) and list
    /// its event log.
    Event {
        #[command(subcommand)]
        command: event::EventCommand,
        /// Append to this data directory's event log (the server must be stopped) instead
        /// of sending to the server.
        #[arg(long, global = true, env = "HARMONIA_DATA")]
        data: Option<PathBuf>,
        #[command(flatten)]
        server: client::ServerArgs,
    },
    /// Subscriptions of a server: which events they pick and where they send them
    /// (webhooks, workflows, plugin actions, live streams), and their dead letters.
    Subscription {
        #[command(subcommand)]
        command: subscription::SubscriptionCommand,
        #[command(flatten)]
        server: client::ServerArgs,
    },
    /// Create, list and revoke API tokens (roles: admin, operator, viewer).
    Token {
        #[command(subcommand)]
        command: token::TokenCommand,
        /// The data directory.
        #[arg(long, global = true, env = "HARMONIA_DATA", default_value = "data")]
        data: PathBuf,
    },
}

#[derive(Subcommand)]
enum TemplateCommand {
    /// Turn a template into a workflow, printed as YAML.
    Render {
        file: PathBuf,
        /// A template parameter, `name=value` (repeatable).
        #[arg(long = "param", short = 'p', value_name = "NAME=VALUE")]
        params: Vec<String>,
    },
    #[command(flatten)]
    Remote(client::TemplateCommand),
}

impl Cli {
    /// Whether this is `harmonia serve`.
    pub fn is_server(&self) -> bool {
        matches!(self.command, Command::Serve(_))
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Plugin { command, plugins } => plugin::run(command, &plugins).await,
        Command::Serve(args) => serve::serve(*args).await,
        Command::Exec { command, data, server } => exec::run(command, data.as_deref(), &server).await,
        Command::Workflow { command, server } => client::workflow(command, &server).await,
        Command::Token { command, data } => token::run(command, &data),
        Command::Event { command, data, server } => event::run(command, data.as_deref(), &server).await,
        Command::Subscription { command, server } => subscription::run(command, &server).await,
        Command::Openapi => {
            println!("{}", serde_json::to_string_pretty(&harmonia_api::openapi_document())?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(args) => run::run(args).await,
        Command::Validate { files, plugins } => run::validate(&files, &plugins).await,
        Command::Template { command: TemplateCommand::Render { file, params }, .. } => run::render(&file, &params),
        Command::Template { command: TemplateCommand::Remote(command), server } => {
            client::template(command, &server).await
        }
    }
}

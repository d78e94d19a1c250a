//! The subcommands of `harmonia`.

mod plugin;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    /// List, describe and call plugins.
    Plugin {
        #[command(subcommand)]
        command: plugin::PluginCommand,
        /// The plugins directory.
        #[arg(long, global = true, env = "HARMONIA_PLUGINS", default_value = "plugins")]
        plugins: PathBuf,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Plugin { command, plugins } => plugin::run(command, &plugins).await,
    }
}

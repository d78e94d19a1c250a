//! `harmonia plugin list | describe | invoke`: the plugins directory from the command line.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;
use harmonia_host::{Host, Plugin, TaskCall};

#[derive(Subcommand)]
pub enum PluginCommand {
    /// Every plugin in the directory: name, version, actions, capabilities and size.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One plugin in full: its actions with their schemas, capabilities and grants.
    Describe { name: String },
    /// Call one action and print its output JSON (exit 1 on a task error).
    Invoke {
        name: String,
        action: String,
        /// The input as JSON.
        #[arg(long, default_value = "{}")]
        input: String,
        /// Timeout of the call, in milliseconds.
        #[arg(long)]
        timeout_ms: Option<u64>,
    },
}

pub async fn run(command: PluginCommand, dir: &Path) -> anyhow::Result<ExitCode> {
    let host = super::open_host(dir).await?;
    match command {
        PluginCommand::List { json } => list(&host, json),
        PluginCommand::Describe { name } => {
            let plugin = find(&host, &name)?;
            println!("{}", serde_json::to_string_pretty(&*plugin)?);
            Ok(ExitCode::SUCCESS)
        }
        PluginCommand::Invoke { name, action, input, timeout_ms } => {
            find(&host, &name)?;
            let input = serde_json::from_str(&input).with_context(|| format!("--input is not valid JSON: {input}"))?;
            let mut call = TaskCall::new(&name, action, input);
            call.timeout = timeout_ms.map(Duration::from_millis);
            let outcome = host.invoke(call).await?;
            for event in &outcome.events {
                eprintln!("event {}: {}", event.event_type, event.data);
            }
            match outcome.output {
                Ok(output) => {
                    println!("{}", serde_json::to_string_pretty(&output)?);
                    Ok(ExitCode::SUCCESS)
                }
                Err(error) => {
                    println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "error": error }))?);
                    eprintln!("task error: {error}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}

fn find(host: &Host, name: &str) -> anyhow::Result<std::sync::Arc<Plugin>> {
    host.plugin(name).with_context(|| {
        let names: Vec<String> = host.plugins().iter().map(|p| p.name.clone()).collect();
        format!("no plugin named {name:?} in {} (loaded: {})", host.plugins_dir().display(), names.join(", "))
    })
}

fn list(host: &Host, json: bool) -> anyhow::Result<ExitCode> {
    let plugins = host.plugins();
    let failures = host.failures();
    if json {
        let value = serde_json::json!({ "plugins": plugins, "failed": failures });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!("{:<12} {:<9} {:>9}  {:<40} CAPABILITIES", "NAME", "VERSION", "SIZE", "ACTIONS");
        for p in &plugins {
            let actions: Vec<&str> = p.actions.iter().map(|a| a.name.as_str()).collect();
            let caps: Vec<String> =
                p.capabilities.iter().cloned().chain(p.grants.iter().map(|g| format!("grant {g}"))).collect();
            let caps = if caps.is_empty() { "-".to_string() } else { caps.join(", ") };
            println!(
                "{:<12} {:<9} {:>9}  {:<40} {}",
                p.name,
                p.version,
                human_size(p.size_bytes),
                actions.join(", "),
                caps
            );
        }
        for f in &failures {
            println!("FAILED {}: {}", f.file.display(), f.reason);
        }
    }
    Ok(if failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.0} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

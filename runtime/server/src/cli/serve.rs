//! `harmonia serve`: the HTTP API on one port, with the plugins and workflows of the
//! working directory by default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use harmonia::api::{AppState, router};
use harmonia::{HostCatalog, StoreKv, SystemClock, WorkflowDirs};
use harmonia_store::{RocksStore, StoreOptions};
use harmonia_host::{Host, HostConfig};

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on. Without API tokens only loopback addresses are accepted.
    #[arg(long, env = "HARMONIA_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The plugins directory (watched: plugins are added, replaced and removed live).
    #[arg(long, env = "HARMONIA_PLUGINS", default_value = "plugins")]
    plugins: PathBuf,
    /// Workflow files stored at start.
    #[arg(long, env = "HARMONIA_WORKFLOWS", default_value = "workflows")]
    workflows: PathBuf,
    /// The data directory.
    #[arg(long, env = "HARMONIA_DATA", default_value = "data")]
    data: PathBuf,
    /// Listen on a non-loopback address without tokens (anyone who can reach it can run
    /// workflows).
    #[arg(long)]
    insecure: bool,
}

/// Reads every workflow file of `dir`; a file that does not parse or uses unknown plugins
/// is reported and skipped.
fn load_workflows(dir: &Path, host: &Host) -> WorkflowDirs {
    if !dir.is_dir() {
        eprintln!("warning: workflows directory {} not found", dir.display());
    }
    let check = |w: &harmonia_model::Workflow| harmonia_model::check_plugins(w, &HostCatalog(host));
    let (found, errors) = WorkflowDirs::load_checked(&[dir.to_path_buf()], check);
    for error in errors {
        eprintln!("warning: workflow skipped:\n{error}");
    }
    found
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    if !args.listen.ip().is_loopback() && !args.insecure {
        bail!(
            "refusing to listen on {}: no API tokens are configured, so only loopback addresses are allowed \
             (use 127.0.0.1, or --insecure to accept requests from anyone who can reach it)",
            args.listen
        );
    }
    std::fs::create_dir_all(&args.data).with_context(|| format!("cannot create data directory {}", args.data.display()))?;
    if !args.plugins.is_dir() {
        bail!("plugins directory {} does not exist", args.plugins.display());
    }
    // Durable state: plugin key-value data now, executions with the rest of the store.
    let store = RocksStore::open(&args.data.join("state"), StoreOptions::default())?;
    let mut config = HostConfig::new(&args.plugins);
    config.kv = Arc::new(StoreKv::new(Arc::new(store)));
    let host = Host::new(config)?;
    host.load_all().await?;
    for failure in host.failures() {
        eprintln!("warning: plugin {} not loaded: {}", failure.file.display(), failure.reason);
    }
    let _watcher = host.watch()?;
    let workflows = load_workflows(&args.workflows, &host);
    let state = AppState::new(host, workflows, Arc::new(SystemClock));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    // The first line of stdout says where, so that scripts and tests can find the port.
    println!("harmonia listening on http://{}", listener.local_addr()?);
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown_signal()).await?;
    eprintln!("harmonia stopped");
    Ok(ExitCode::SUCCESS)
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

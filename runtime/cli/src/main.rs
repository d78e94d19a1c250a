//! `harmonia`: the command-line entry point. Parses arguments, installs the tracing
//! subscriber, and hands over to the command modules.

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    if !args.is_server() {
        die_on_closed_pipe();
    }
    init_tracing(args.verbose);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(cli::run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

/// A command whose output is cut short (`harmonia exec list | head`) ends quietly, as other
/// command-line tools do, instead of failing on the next write. Rust ignores SIGPIPE so
/// that such writes return an error; sockets are unaffected either way (they are written
/// with MSG_NOSIGNAL). Not for the server, whose stdout may close while it serves.
fn die_on_closed_pipe() {
    // SAFETY: restoring a signal's default disposition, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Logs go to stderr, so that stdout carries only results; `RUST_LOG` refines the filter.
fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn,harmonia::plugin=info",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

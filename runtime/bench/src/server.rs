//! A real `harmonia serve` as a child process, for the scenarios that go over HTTP.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The `harmonia serve` child: SIGTERM and a wait on [`Server::stop`], a kill on drop
/// (when the benchmark failed half way).
pub(crate) struct Server {
    child: Child,
    /// Where requests go: `http://127.0.0.1:PORT`.
    pub base: String,
    /// The server's stderr, shown when something fails.
    stderr: PathBuf,
    _data: tempfile::TempDir,
    _workflows: tempfile::TempDir,
}

/// The release `harmonia` binary built with this one.
fn server_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the benchmark's own path")?;
    let dir = exe.parent().context("the benchmark's path has no directory")?;
    let binary = dir.join("harmonia");
    if !binary.is_file() {
        bail!(
            "{} not found: the HTTP scenarios run the server binary built alongside the benchmark; \
             build both with `cargo build --release -p harmonia -p harmonia-bench`",
            binary.display()
        );
    }
    Ok(binary)
}

impl Server {
    /// `harmonia serve` over `plugins`, with `workflows` (file name, text) and `env`.
    pub fn start(plugins: &Path, workflows_files: &[(&str, &str)], env: &[(&str, &str)]) -> anyhow::Result<Server> {
        let binary = server_binary()?;
        if !plugins.join("core.wasm").is_file() {
            bail!("plugin core not found in {} (run plugins/build.sh, or pass --plugins)", plugins.display());
        }
        let data = tempfile::tempdir()?;
        let workflows = tempfile::tempdir()?;
        for (file, text) in workflows_files {
            std::fs::write(workflows.path().join(file), text)?;
        }
        let stderr = data.path().join("server.stderr");
        let mut child = Command::new(&binary)
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--sync", "always"])
            .arg("--data")
            .arg(data.path().join("data"))
            .arg("--plugins")
            .arg(plugins)
            .arg("--workflows")
            .arg(workflows.path())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr)?)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        // The first stdout line says where it listens; the rest is drained (none expected).
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let first = stdout.read_line(&mut line).map(|_| line);
            let _ = sender.send(first);
            let _ = std::io::copy(&mut stdout, &mut std::io::sink());
        });
        let mut server = Server { child, base: String::new(), stderr, _data: data, _workflows: workflows };
        let line = match receiver.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => return Err(server.failed(anyhow::anyhow!("reading the server's stdout: {e}"))),
            Err(_) => return Err(server.failed(anyhow::anyhow!("the server did not say where it listens within 60 s"))),
        };
        match line.trim().strip_prefix("harmonia listening on ") {
            Some(base) => server.base = base.to_string(),
            None => return Err(server.failed(anyhow::anyhow!("unexpected first line from the server: {line:?}"))),
        }
        Ok(server)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `error`, with the end of the server's stderr (and whether it exited).
    pub fn failed(&mut self, error: anyhow::Error) -> anyhow::Error {
        let exited = match self.child.try_wait() {
            Ok(Some(status)) => format!("the server exited ({status})"),
            _ => "the server is running".to_string(),
        };
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(&self.stderr) {
            let _ = file.read_to_string(&mut text);
        }
        let tail: Vec<&str> = text.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect();
        anyhow::anyhow!("{error:#}\n({exited}; its stderr ends:)\n{}", tail.join("\n"))
    }

    /// SIGTERM, then wait for the exit (a kill after 30 s).
    pub fn stop(mut self) -> anyhow::Result<()> {
        let pid = self.pid().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().context("cannot run kill")?;
        anyhow::ensure!(sent.success(), "kill -TERM {pid} failed");
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    return Err(self.failed(anyhow::anyhow!("the server exited with {status} after SIGTERM")));
                }
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(30) {
                return Err(self.failed(anyhow::anyhow!("the server did not exit within 30 s of SIGTERM")));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

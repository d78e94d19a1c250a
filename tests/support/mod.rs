//! What the end-to-end tests share: the repository, the real `harmonia` binary, and a real
//! `harmonia serve` on an ephemeral loopback port, with helpers for its JSON answers.
#![allow(dead_code)] // not every helper is used by every module

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::{RequestBuilder, Response};
use serde_json::Value;

/// The repository root (its `plugins/` and `workflows/`).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// The tests' compile cache, which `scripts/test.sh` fills with the bundled plugins: a
/// server on a fresh data directory would otherwise compile each (Python's for seconds).
pub fn compile_cache() -> PathBuf {
    repo().join("target/compile-cache")
}

/// The `harmonia` binary, from the repository root, with the tests' compile cache.
pub fn harmonia_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_harmonia"));
    command.current_dir(repo()).env("HARMONIA_COMPILE_CACHE", compile_cache());
    command
}

/// `harmonia ARGS --data DATA`, from the repository root, without the caller's
/// `HARMONIA_*` settings that would point it elsewhere.
pub fn harmonia(args: &[&str], data: &Path) -> Command {
    let mut command = harmonia_command();
    command.env_remove("HARMONIA_PLUGINS").env_remove("HARMONIA_LISTEN").args(args).arg("--data").arg(data);
    command
}

/// Creates an API token with `harmonia token create --role ROLE --name NAME --data DATA`:
/// the secret, which is all it prints on stdout.
pub fn create_token(data: &Path, role: &str, name: &str) -> String {
    let out = harmonia(&["token", "create", "--role", role, "--name", name], data).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "only the secret goes to stdout: {stdout:?}");
    lines[0].to_string()
}

/// A running `harmonia serve`; killed (and waited for) when dropped.
pub struct Server {
    child: Child,
    base: String,
    stderr: PathBuf,
    _log_dir: tempfile::TempDir,
    _data: Option<tempfile::TempDir>,
}

/// How to start a server: `--data`, `--workflows`, `--listen`, more flags, environment.
pub struct Launch<'a> {
    pub data: &'a Path,
    pub workflows: &'a Path,
    pub listen: &'a str,
    pub args: &'a [&'a str],
    pub env: &'a [(&'a str, &'a str)],
}

impl<'a> Launch<'a> {
    pub fn new(data: &'a Path, workflows: &'a Path) -> Launch<'a> {
        Launch { data, workflows, listen: "127.0.0.1:0", args: &[], env: &[] }
    }
}

impl Server {
    /// A server on the repository's plugins and workflows, with a fresh data directory.
    pub fn start() -> Server {
        let data = tempfile::tempdir().unwrap();
        let mut server = Server::start_with(data.path(), &repo().join("workflows"));
        server._data = Some(data);
        server
    }

    /// A server over the given data and workflows directories.
    pub fn start_with(data: &Path, workflows: &Path) -> Server {
        Server::launch(Launch::new(data, workflows))
    }

    pub fn launch(launch: Launch) -> Server {
        let mut command = harmonia(&["serve", "--listen", launch.listen], launch.data);
        command.arg("--workflows").arg(launch.workflows).args(launch.args).envs(launch.env.iter().copied());
        Server::spawn(command)
    }

    /// Starts `command` (a `harmonia serve ...`) and reads the address from its first line.
    pub fn spawn(mut command: Command) -> Server {
        let log_dir = tempfile::tempdir().unwrap();
        let stderr = log_dir.path().join("stderr");
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(File::create(&stderr).unwrap())
            .spawn()
            .expect("start harmonia serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let Some(base) = line.trim().strip_prefix("harmonia listening on ") else {
            let _ = child.kill();
            panic!("unexpected first line {line:?}; stderr: {}", std::fs::read_to_string(&stderr).unwrap_or_default());
        };
        // Listening on every address: reach it over loopback.
        let base = base.replace("0.0.0.0", "127.0.0.1");
        Server { child, base, stderr, _log_dir: log_dir, _data: None }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Starts an execution of `workflow` with `body` (`{input, version}`); its id.
    pub fn start_execution(&self, workflow: &str, body: Value) -> String {
        let url = self.url(&format!("/api/v1/workflows/{workflow}/executions"));
        let started = expect(reqwest::blocking::Client::new().post(url).json(&body).send().unwrap(), 201, None);
        started["id"].as_str().unwrap().to_string()
    }

    /// What the server has written to stderr so far (its log).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap()
    }

    /// SIGTERM, then the time it took to exit (at most 10 s) and how it exited.
    pub fn terminate(mut self) -> (Duration, ExitStatus) {
        let started = Instant::now();
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (started.elapsed(), status);
            }
            assert!(started.elapsed() < Duration::from_secs(10), "did not exit within 10 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, and wait for the exit (the data directory is released then).
    pub fn stop(self) {
        self.terminate();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        // Wait for the exit: a server started next on the same data directory needs its lock.
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- server log ---\n{}", std::fs::read_to_string(&self.stderr).unwrap_or_default());
        }
    }
}

/// A request with `Authorization: Bearer <token>` when a token is given.
pub fn with(request: RequestBuilder, token: Option<&str>) -> RequestBuilder {
    match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    }
}

/// Asserts the status, and for errors the `{"error": {"code", "message"}}` body; the body.
pub fn expect(response: Response, status: u16, code: Option<&str>) -> Value {
    let got = response.status().as_u16();
    let body: Value = response.json().unwrap_or(Value::Null);
    assert_eq!(got, status, "{body}");
    if let Some(code) = code {
        assert_eq!(body["error"]["code"], code, "{body}");
        assert!(!body["error"]["message"].as_str().unwrap_or_default().is_empty(), "{body}");
    }
    body
}

/// Every operation of an OpenAPI document: (method, path, operation).
pub fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            ops.push((method.to_uppercase(), path.clone(), op.clone()));
        }
    }
    ops
}

/// `path` with each `{param}` filled with `value`.
pub fn fill(path: &str, value: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') && s.ends_with('}') { value } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

/// A request with no body to `path` (its parameters filled with `nosuch`): what the route
/// answers when it is asked for something that does not exist, or sent nothing.
pub fn probe(
    http: &reqwest::blocking::Client,
    server: &Server,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> Response {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    with(http.request(method, server.url(&fill(path, "nosuch"))), token).send().unwrap()
}

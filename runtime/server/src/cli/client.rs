//! The CLI as a client of a running server: `harmonia workflow apply|list|get|delete`,
//! `harmonia template apply|list|get|delete|instantiate` and the `harmonia exec` commands that start, read, control and watch executions over the
//! HTTP API (`--server`, `--token`, or `HARMONIA_SERVER`, `HARMONIA_TOKEN`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use harmonia_engine::Event;
use reqwest::{Method, RequestBuilder};
use serde_json::{Map, Value, json};

/// Where the server is.
#[derive(Args, Clone)]
pub struct ServerArgs {
    /// The server's URL.
    #[arg(long, global = true, env = "HARMONIA_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// An API token (see `harmonia token create`).
    #[arg(long, global = true, env = "HARMONIA_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(Subcommand)]
pub enum WorkflowCommand {
    /// Store workflow files (YAML or JSON) on the server: each version once.
    Apply {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List the workflows and their versions.
    List,
    /// Show a workflow: its latest version, or `--version`.
    Get {
        name: String,
        #[arg(long)]
        version: Option<String>,
    },
    /// Remove a workflow for new executions.
    Delete {
        name: String,
        /// Even while executions of it run.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
pub enum TemplateCommand {
    /// Store a template file (YAML or JSON) on the server, replacing one of that name.
    Apply {
        file: PathBuf,
        /// Its name [default: the file name without extension].
        #[arg(long)]
        name: Option<String>,
    },
    /// List the templates and their parameters.
    List,
    /// Show a template: its parameters and text.
    Get { name: String },
    /// Remove a template (the workflows made from it stay).
    Delete { name: String },
    /// Make a workflow from a template and store it on the server.
    Instantiate {
        name: String,
        /// A template parameter, `name=value` (repeatable); read as its declared type.
        #[arg(long = "param", short = 'p', value_name = "NAME=VALUE")]
        params: Vec<String>,
        /// Print the workflow it would make; store nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// A client of one server.
pub struct Remote {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Remote {
    pub fn new(args: &ServerArgs) -> Remote {
        Remote { http: reqwest::Client::new(), base: args.server.trim_end_matches('/').to_string(), token: args.token.clone() }
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends a request; an error response becomes an error with its code and message.
    async fn send(&self, request: RequestBuilder) -> anyhow::Result<Value> {
        let response = request.send().await.with_context(|| format!("cannot reach the server at {}", self.base))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        let error = &body["error"];
        let code = error["code"].as_str().unwrap_or("error");
        let message = error["message"].as_str().unwrap_or("(no message)");
        bail!("{} {code}: {message}", status.as_u16())
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.request(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.send(self.request(Method::POST, path).json(&body)).await
    }
}

fn print(value: &Value) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

pub async fn workflow(command: WorkflowCommand, server: &ServerArgs) -> anyhow::Result<ExitCode> {
    let remote = Remote::new(server);
    match command {
        WorkflowCommand::Apply { files } => {
            let mut failed = 0;
            for file in files {
                let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
                let json = file.extension().is_some_and(|e| e == "json");
                let kind = if json { "application/json" } else { "application/yaml" };
                let request = remote.request(Method::POST, "/api/v1/workflows").header("content-type", kind).body(text);
                match remote.send(request).await {
                    Ok(stored) => {
                        let what = if stored["created"] == true { "stored" } else { "unchanged" };
                        println!("{}: {}@{} {what}", file.display(), stored["name"].as_str().unwrap_or("?"), stored["version"].as_str().unwrap_or("?"));
                    }
                    Err(e) => {
                        failed += 1;
                        eprintln!("{}: {e}", file.display());
                    }
                }
            }
            return Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE });
        }
        WorkflowCommand::List => {
            let list = remote.get("/api/v1/workflows").await?;
            for item in list["workflows"].as_array().into_iter().flatten() {
                let versions: Vec<&str> = item["versions"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
                println!("{}\t{}", item["name"].as_str().unwrap_or("?"), versions.join(", "));
            }
        }
        WorkflowCommand::Get { name, version } => {
            let path = match version {
                Some(v) => format!("/api/v1/workflows/{name}/versions/{v}"),
                None => format!("/api/v1/workflows/{name}"),
            };
            print(&remote.get(&path).await?);
        }
        WorkflowCommand::Delete { name, force } => {
            let path = format!("/api/v1/workflows/{name}{}", if force { "?force=true" } else { "" });
            print(&remote.send(remote.request(Method::DELETE, &path)).await?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn template(command: TemplateCommand, server: &ServerArgs) -> anyhow::Result<ExitCode> {
    let remote = Remote::new(server);
    match command {
        TemplateCommand::Apply { file, name } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let stem = file.file_stem().and_then(|s| s.to_str()).map(str::to_owned);
            let name = name.or(stem).with_context(|| format!("{}: give the template a --name", file.display()))?;
            let json = file.extension().is_some_and(|e| e == "json");
            let kind = if json { "application/json" } else { "application/yaml" };
            let path = format!("/api/v1/templates/{}", encode(&name));
            let stored = remote.send(remote.request(Method::PUT, &path).header("content-type", kind).body(text)).await?;
            let what = match (stored["created"] == true, stored["changed"] == true) {
                (true, _) => "stored",
                (false, true) => "replaced",
                (false, false) => "unchanged",
            };
            println!("{}: template {name} {what}", file.display());
        }
        TemplateCommand::List => {
            let list = remote.get("/api/v1/templates").await?;
            for item in list["templates"].as_array().into_iter().flatten() {
                let params: Vec<String> = item["parameters"].as_array().into_iter().flatten().map(show_param).collect();
                println!("{}\t{}", item["name"].as_str().unwrap_or("?"), params.join(", "));
            }
        }
        TemplateCommand::Get { name } => print(&remote.get(&format!("/api/v1/templates/{}", encode(&name))).await?),
        TemplateCommand::Delete { name } => {
            print(&remote.send(remote.request(Method::DELETE, &format!("/api/v1/templates/{}", encode(&name)))).await?);
        }
        TemplateCommand::Instantiate { name, params, dry_run } => {
            let template = remote.get(&format!("/api/v1/templates/{}", encode(&name))).await?;
            let params = template_params(&template, &params)?;
            let path = format!("/api/v1/templates/{}/instantiate", encode(&name));
            let made = remote.post(&path, json!({ "params": params, "dry_run": dry_run })).await?;
            if dry_run {
                print!("{}", made["workflow"].as_str().unwrap_or_default());
            } else {
                let what = if made["created"] == true { "stored" } else { "unchanged" };
                println!("{}@{} {what}", made["name"].as_str().unwrap_or("?"), made["version"].as_str().unwrap_or("?"));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `name: type` (`name?: type` when optional).
fn show_param(param: &Value) -> String {
    let optional = if param["required"] == true { "" } else { "?" };
    format!("{}{optional}: {}", param["name"].as_str().unwrap_or("?"), param["type"].as_str().unwrap_or("any"))
}

/// `--param name=value` pairs as JSON values: text for a string parameter, else JSON when
/// it reads as JSON (the server says when a value is not of the declared type).
fn template_params(template: &Value, pairs: &[String]) -> anyhow::Result<Map<String, Value>> {
    let declared = template["parameters"].as_array().cloned().unwrap_or_default();
    let mut params = Map::new();
    for pair in pairs {
        let (name, raw) = pair.split_once('=').with_context(|| format!("--param {pair:?}: expected NAME=VALUE"))?;
        let string = declared.iter().any(|p| p["name"] == name && p["type"] == "string");
        let value = match serde_json::from_str(raw) {
            Ok(value) if !string => value,
            _ => Value::String(raw.to_string()),
        };
        params.insert(name.to_string(), value);
    }
    Ok(params)
}

/// `--input name=value` pairs (a value is read as JSON when it is JSON, else as a string)
/// over `--input-json`.
pub fn input_of(pairs: &[String], json: Option<&str>) -> anyhow::Result<Value> {
    let mut input = match json {
        Some(text) => match serde_json::from_str(text).context("--input-json is not valid JSON")? {
            Value::Object(map) => map,
            _ => bail!("--input-json must be a JSON object"),
        },
        None => Map::new(),
    };
    for pair in pairs {
        let (name, raw) = pair.split_once('=').with_context(|| format!("--input {pair:?}: expected NAME=VALUE"))?;
        let value = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()));
        input.insert(name.to_string(), value);
    }
    Ok(Value::Object(input))
}

/// Starts an execution; with `wait`, waits for its end and prints the result.
pub async fn start(server: &ServerArgs, name: &str, version: Option<String>, input: Value, wait: Option<String>) -> anyhow::Result<ExitCode> {
    let remote = Remote::new(server);
    let mut body = json!({ "input": input });
    if let Some(version) = version {
        body["version"] = json!(version);
    }
    let path = match &wait {
        Some(wait) => format!("/api/v1/workflows/{name}/executions?wait={wait}"),
        None => format!("/api/v1/workflows/{name}/executions"),
    };
    let result = remote.post(&path, body).await?;
    if wait.is_none() {
        println!("{}", result["id"].as_str().unwrap_or_default());
        return Ok(ExitCode::SUCCESS);
    }
    print(&result);
    Ok(if result["status"] == "completed" { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// `get`, `history`, `pause`, `resume`, `cancel` of one execution.
pub async fn control(server: &ServerArgs, id: &str, what: &str) -> anyhow::Result<ExitCode> {
    let remote = Remote::new(server);
    let value = match what {
        "get" => remote.get(&format!("/api/v1/executions/{id}")).await?,
        "history" => {
            let history = remote.get(&format!("/api/v1/executions/{id}/history")).await?;
            for event in history["events"].as_array().into_iter().flatten() {
                println!("{event}");
            }
            return Ok(ExitCode::SUCCESS);
        }
        action => remote.post(&format!("/api/v1/executions/{id}/{action}"), json!({})).await?,
    };
    print(&value);
    Ok(ExitCode::SUCCESS)
}

/// Lists executions (`--workflow`, `--status`).
pub async fn list(server: &ServerArgs, workflow: Option<&str>, status: Option<&str>) -> anyhow::Result<ExitCode> {
    let remote = Remote::new(server);
    let mut after: Option<String> = None;
    loop {
        let mut query = vec![("limit", "500".to_string())];
        query.extend(workflow.map(|w| ("workflow", w.to_string())));
        query.extend(status.map(|s| ("status", s.to_string())));
        query.extend(after.clone().map(|a| ("after", a)));
        let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect();
        let page = remote.get(&format!("/api/v1/executions?{}", query.join("&"))).await?;
        for e in page["executions"].as_array().into_iter().flatten() {
            println!("{}\t{}@{}\t{}", e["id"].as_str().unwrap_or("?"), e["workflow"].as_str().unwrap_or("?"), e["version"].as_str().unwrap_or("?"), e["status"].as_str().unwrap_or("?"));
        }
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_string()),
            None => return Ok(ExitCode::SUCCESS),
        }
    }
}

/// Follows an execution: what happened so far, then its events live, until it ends.
/// Exit 0 if it completed, 1 otherwise.
pub async fn watch(server: &ServerArgs, id: &str) -> anyhow::Result<ExitCode> {
    let remote = Remote::new(server);
    // Subscribe first, then read the history: events in between come twice and are
    // skipped by their position in the history.
    let stream = remote.request(Method::GET, &format!("/api/v1/events/stream?execution={id}")).send().await;
    let mut stream = stream.with_context(|| format!("cannot reach the server at {}", remote.base))?;
    if !stream.status().is_success() {
        bail!("{} from the event stream", stream.status());
    }
    let history = remote.get(&format!("/api/v1/executions/{id}/history")).await?;
    let mut seen = 0u64;
    let mut printer = super::run::Live::default();
    for value in history["events"].as_array().into_iter().flatten() {
        seen = value["seq"].as_u64().unwrap_or(seen + 1);
        if let Some(code) = show(&mut printer, value)? {
            return Ok(code);
        }
    }
    let mut buffer = String::new();
    while let Some(chunk) = stream.chunk().await? {
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let message: String = buffer.drain(..end + 2).collect();
            let Some(data) = message.lines().find_map(|l| l.strip_prefix("data:")) else { continue };
            let data: Value = serde_json::from_str(data.trim()).context("the server sent an event that is not JSON")?;
            if data["seq"].as_u64().is_some_and(|seq| seq <= seen) {
                continue;
            }
            seen = data["seq"].as_u64().unwrap_or(seen);
            if let Some(code) = show(&mut printer, &data["event"])? {
                return Ok(code);
            }
        }
    }
    bail!("the event stream ended before execution {id} did")
}

/// Prints one event; the exit code once the execution ended.
fn show(printer: &mut super::run::Live, value: &Value) -> anyhow::Result<Option<ExitCode>> {
    let event: Event = serde_json::from_value(value.clone()).context("an event the CLI does not know")?;
    printer.show(&event);
    Ok(match &event {
        Event::Completed { output, .. } => {
            println!("{}", serde_json::to_string_pretty(output)?);
            Some(ExitCode::SUCCESS)
        }
        Event::Failed { error, .. } => {
            eprintln!("failed: {error}");
            Some(ExitCode::FAILURE)
        }
        Event::Cancelled { reason, .. } => {
            eprintln!("cancelled: {reason}");
            Some(ExitCode::FAILURE)
        }
        _ => None,
    })
}

/// Percent-encodes a query value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

//! The CLI as a client of a running server: `harmonia workflow apply|list|get|delete`,
//! `harmonia template apply|list|get|delete|instantiate` and the `harmonia exec` commands that start, read, control and watch executions over the
//! HTTP API (`--server`, `--token`, or `HARMONIA_SERVER`, `HARMONIA_TOKEN`), over HTTPS
//! too (`--ca-cert` or `HARMONIA_CA_CERT` to trust a self-signed server certificate).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::{Args, Subcommand};
use harmonia_engine::Event;
use http::{Method, Request, Response, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use serde_json::{Map, Value, json};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Where the server is.
#[derive(Args, Clone)]
pub struct ServerArgs {
    /// The server's URL.
    #[arg(long, global = true, env = "HARMONIA_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// An API token (see `harmonia token create`).
    #[arg(long, global = true, env = "HARMONIA_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// A PEM CA certificate to trust for an https:// server, besides the system's: the
    /// server's own certificate when it is self-signed.
    #[arg(long, global = true, env = "HARMONIA_CA_CERT", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
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

/// A client of one server, speaking HTTP/1.1 (over TLS for an https:// URL) with one
/// connection per request: a command makes a few.
pub struct Remote {
    /// The URL as given, for messages.
    base: String,
    /// `host:port`, for the Host header.
    authority: String,
    host: String,
    port: u16,
    /// The path the API is under: empty unless a proxy serves it under a prefix.
    prefix: String,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    /// Whether --ca-cert was given, for advice on a refused certificate.
    ca_cert: bool,
    token: Option<String>,
}

/// A request to send: a method, a path under the server's URL, maybe a body.
struct Call {
    method: Method,
    path: String,
    body: Option<(&'static str, Bytes)>,
}

impl Call {
    fn new(method: Method, path: &str) -> Call {
        Call { method, path: path.to_string(), body: None }
    }

    fn body(self, content_type: &'static str, body: impl Into<Bytes>) -> Call {
        Call { body: Some((content_type, body.into())), ..self }
    }

    fn json(self, value: &Value) -> Call {
        self.body("application/json", value.to_string())
    }
}

impl Remote {
    pub fn new(args: &ServerArgs) -> anyhow::Result<Remote> {
        let base = args.server.trim_end_matches('/').to_string();
        let bad = || format!("--server {base:?}: expected a URL like http://HOST:PORT or https://HOST:PORT");
        let uri: Uri = base.parse().with_context(bad)?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => bail!(bad()),
        };
        let authority = uri.authority().with_context(bad)?;
        // An IPv6 address is written in brackets in a URL, and without them everywhere else.
        let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_string();
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tls = match https {
            true => {
                let config = harmonia_api::tls::client_config(args.ca_cert.as_deref()).context("--ca-cert")?;
                let name = ServerName::try_from(host.clone()).with_context(bad)?;
                Some((TlsConnector::from(config), name))
            }
            false => None,
        };
        let prefix = uri.path().trim_end_matches('/').to_string();
        let ca_cert = args.ca_cert.is_some();
        Ok(Remote {
            authority: authority.to_string(),
            host,
            port,
            prefix,
            tls,
            ca_cert,
            token: args.token.clone(),
            base,
        })
    }

    /// Sends a request and returns the response, whose body is still to be read.
    async fn open(&self, call: Call) -> anyhow::Result<Response<Incoming>> {
        let unreachable = || format!("cannot reach the server at {}", self.base);
        let request = self.request(call)?;
        let tcp = TcpStream::connect((self.host.as_str(), self.port)).await.with_context(unreachable)?;
        let mut sender = match &self.tls {
            Some((connector, name)) => {
                let tls = connector.connect(name.clone(), tcp).await.map_err(|e| self.tls_failure(e))?;
                handshake(tls).await
            }
            None => handshake(tcp).await,
        }
        .with_context(unreachable)?;
        sender.send_request(request).await.with_context(unreachable)
    }

    fn request(&self, call: Call) -> anyhow::Result<Request<Full<Bytes>>> {
        let target = encode_target(&format!("{}{}", self.prefix, call.path));
        let mut request = Request::builder().method(call.method).uri(&target).header(header::HOST, &self.authority);
        if let Some(token) = &self.token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match call.body {
            Some((content_type, body)) => {
                request = request.header(header::CONTENT_TYPE, content_type);
                body
            }
            None => Bytes::new(),
        };
        // The target is encoded: only a token with characters a header cannot carry fails here.
        request
            .body(Full::new(body))
            .with_context(|| format!("cannot make the request for {target} (is the token as printed?)"))
    }

    /// A failed TLS handshake, said plainly when the cause is a usual one.
    fn tls_failure(&self, error: std::io::Error) -> anyhow::Error {
        let base = &self.base;
        match error.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
            Some(rustls::Error::InvalidCertificate(cause)) => {
                anyhow::anyhow!(
                    "cannot reach the server at {base}: its TLS certificate is refused: {cause}{}",
                    certificate_hint(cause, self.ca_cert)
                )
            }
            Some(rustls::Error::InvalidMessage(_)) => anyhow::anyhow!(
                "cannot reach the server at {base}: it did not answer in TLS (if it serves plain HTTP, use an http:// URL)"
            ),
            Some(cause) => anyhow::anyhow!("cannot reach the server at {base}: TLS handshake failed: {cause}"),
            None => {
                anyhow::Error::new(error).context(format!("cannot reach the server at {base}: TLS handshake failed"))
            }
        }
    }

    /// Sends a request; an error response becomes an error with its code and message.
    async fn send(&self, call: Call) -> anyhow::Result<Value> {
        let response = self.open(call).await?;
        let status = response.status();
        let collected = response.into_body().collect().await;
        let bytes = collected.with_context(|| format!("the server at {} broke off its answer", self.base))?.to_bytes();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        let error = &body["error"];
        let code = error["code"].as_str().unwrap_or("error");
        let message = error["message"].as_str().unwrap_or("(no message)");
        bail!("{} {code}: {message}", status.as_u16())
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(Call::new(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.send(Call::new(Method::POST, path).json(&body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.send(Call::new(Method::PUT, path).json(&body)).await
    }

    pub async fn delete(&self, path: &str) -> anyhow::Result<Value> {
        self.send(Call::new(Method::DELETE, path)).await
    }
}

/// What to do about a refused server certificate, for the usual causes.
/// Any other cause is most likely a certificate no trusted CA vouches for (webpki reports
/// how the nearest candidate failed, not always UnknownIssuer).
fn certificate_hint(cause: &rustls::CertificateError, ca_cert: bool) -> &'static str {
    use rustls::CertificateError::*;
    match cause {
        NotValidForName | NotValidForNameContext { .. } => " (give --server a name the certificate is for)",
        Expired | ExpiredContext { .. } | NotValidYet | NotValidYetContext { .. } | Revoked => "",
        // webpki's error, which rustls carries only as text.
        other if other.to_string().contains("CaUsedAsEndEntity") => {
            " (it is a CA certificate, basicConstraints CA:TRUE, which cannot be a server's own: make one with CA:FALSE)"
        }
        _ if ca_cert => " (is --ca-cert the server's certificate, or its CA's?)",
        _ => " (if it is self-signed or from a private CA, trust it with --ca-cert FILE or HARMONIA_CA_CERT)",
    }
}

/// An HTTP/1.1 connection over `io`, driven by a task of its own; its errors come back
/// through the request sent on it.
async fn handshake<T>(io: T) -> hyper::Result<SendRequest<Full<Bytes>>>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// A path and query with the characters a request line cannot carry percent-encoded (as a
/// browser would: a space in a name becomes %20).
fn encode_target(target: &str) -> String {
    let mut encoded = String::with_capacity(target.len());
    for b in target.bytes() {
        match b {
            b'!'..=b'~' if !b"\"<>\\^`{|}".contains(&b) => encoded.push(b as char),
            _ => encoded.push_str(&format!("%{b:02X}")),
        }
    }
    encoded
}

fn print(value: &Value) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

pub async fn workflow(command: WorkflowCommand, server: &ServerArgs) -> anyhow::Result<ExitCode> {
    let remote = Remote::new(server)?;
    match command {
        WorkflowCommand::Apply { files } => {
            let mut failed = 0;
            for file in files {
                let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
                let json = file.extension().is_some_and(|e| e == "json");
                let kind = if json { "application/json" } else { "application/yaml" };
                let request = Call::new(Method::POST, "/api/v1/workflows").body(kind, text);
                match remote.send(request).await {
                    Ok(stored) => {
                        let what = if stored["created"] == true { "stored" } else { "unchanged" };
                        println!(
                            "{}: {}@{} {what}",
                            file.display(),
                            stored["name"].as_str().unwrap_or("?"),
                            stored["version"].as_str().unwrap_or("?")
                        );
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
                let versions: Vec<&str> =
                    item["versions"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
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
            print(&remote.send(Call::new(Method::DELETE, &path)).await?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn template(command: TemplateCommand, server: &ServerArgs) -> anyhow::Result<ExitCode> {
    let remote = Remote::new(server)?;
    match command {
        TemplateCommand::Apply { file, name } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let stem = file.file_stem().and_then(|s| s.to_str()).map(str::to_owned);
            let name = name.or(stem).with_context(|| format!("{}: give the template a --name", file.display()))?;
            let json = file.extension().is_some_and(|e| e == "json");
            let kind = if json { "application/json" } else { "application/yaml" };
            let path = format!("/api/v1/templates/{}", encode(&name));
            let stored = remote.send(Call::new(Method::PUT, &path).body(kind, text)).await?;
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
            print(&remote.send(Call::new(Method::DELETE, &format!("/api/v1/templates/{}", encode(&name)))).await?);
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
pub async fn start(
    server: &ServerArgs,
    name: &str,
    version: Option<String>,
    input: Value,
    wait: Option<String>,
) -> anyhow::Result<ExitCode> {
    let remote = Remote::new(server)?;
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
    let remote = Remote::new(server)?;
    let value = match what {
        "get" => remote.get(&format!("/api/v1/executions/{id}")).await?,
        "history" => {
            each_event(&remote, id, |event| {
                println!("{event}");
                Ok(None::<()>)
            })
            .await?;
            return Ok(ExitCode::SUCCESS);
        }
        action => remote.post(&format!("/api/v1/executions/{id}/{action}"), json!({})).await?,
    };
    print(&value);
    Ok(ExitCode::SUCCESS)
}

/// Sends a signal to an execution.
pub async fn signal(server: &ServerArgs, id: &str, name: &str, data: Value) -> anyhow::Result<ExitCode> {
    post(server, &format!("/api/v1/executions/{}/signals/{}", encode(id), encode(name)), data).await
}

/// POSTs `body` to `path` and prints the answer.
pub async fn post(server: &ServerArgs, path: &str, body: Value) -> anyhow::Result<ExitCode> {
    let remote = Remote::new(server)?;
    print(&remote.post(path, body).await?);
    Ok(ExitCode::SUCCESS)
}

/// Lists executions (`--workflow`, `--status`).
pub async fn list(server: &ServerArgs, workflow: Option<&str>, status: Option<&str>) -> anyhow::Result<ExitCode> {
    let remote = Remote::new(server)?;
    let mut after: Option<String> = None;
    loop {
        let mut query = vec![("limit", "500".to_string())];
        query.extend(workflow.map(|w| ("workflow", w.to_string())));
        query.extend(status.map(|s| ("status", s.to_string())));
        query.extend(after.clone().map(|a| ("after", a)));
        let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect();
        let page = remote.get(&format!("/api/v1/executions?{}", query.join("&"))).await?;
        for e in page["executions"].as_array().into_iter().flatten() {
            println!(
                "{}\t{}@{}\t{}",
                e["id"].as_str().unwrap_or("?"),
                e["workflow"].as_str().unwrap_or("?"),
                e["version"].as_str().unwrap_or("?"),
                e["status"].as_str().unwrap_or("?")
            );
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
    let remote = Remote::new(server)?;
    // Subscribe first, then read the history: events in between come twice and are
    // skipped by their position in the history.
    let stream = remote.open(Call::new(Method::GET, &format!("/api/v1/events/stream?execution={id}"))).await?;
    if !stream.status().is_success() {
        bail!("{} from the event stream", stream.status());
    }
    let mut seen = 0u64;
    let mut printer = super::run::Live::default();
    let ended = each_event(&remote, id, |value| {
        seen = value["seq"].as_u64().unwrap_or(seen + 1);
        show(&mut printer, value)
    })
    .await?;
    if let Some(code) = ended {
        return Ok(code);
    }
    let mut buffer = String::new();
    let mut body = stream.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.with_context(|| format!("the event stream from {} broke off", remote.base))?;
        let Ok(chunk) = frame.into_data() else { continue };
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

/// Hands each event of an execution's history to `each`, a page at a time, until `each`
/// returns a value.
async fn each_event<T>(
    remote: &Remote,
    id: &str,
    mut each: impl FnMut(&Value) -> anyhow::Result<Option<T>>,
) -> anyhow::Result<Option<T>> {
    let mut after = 0;
    loop {
        let page = remote.get(&format!("/api/v1/executions/{id}/history?after={after}")).await?;
        for event in page["events"].as_array().into_iter().flatten() {
            if let Some(done) = each(event)? {
                return Ok(Some(done));
            }
        }
        match page["next"].as_u64() {
            Some(next) => after = next,
            None => return Ok(None),
        }
    }
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
        Event::Failed { error, .. } | Event::Aborted { error, .. } => {
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
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

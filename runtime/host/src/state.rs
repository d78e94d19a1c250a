//! The data of one call's `Store`: WASI and wasi:http contexts built from the manifest, the
//! memory limiter, and the call's scope that the host interface (`log`, `kv-*` ...) works in.

use std::collections::HashMap;
use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use crate::kv::KvStore;
use crate::manifest::{HostPattern, ResolvedDir};
use crate::stdio::LogPipe;
use crate::{CallObserver, EmittedEvent};

/// Most bytes of guest stdout or stderr kept per call for the log.
const STDIO_CAPACITY: usize = 64 * 1024;

/// What a plugin's sandbox is made of, prepared once per plugin load.
#[derive(Clone, Default)]
pub(crate) struct Sandbox {
    pub dirs: Vec<ResolvedDir>,
    /// Environment passed to the guest (granted variables, and `PWD` when the host's
    /// working directory is mounted).
    pub env: Vec<(String, String)>,
    pub cwd: Option<String>,
    pub allowed_hosts: Arc<Vec<HostPattern>>,
    /// The granted secrets that have a value.
    pub secrets: Arc<HashMap<String, String>>,
    pub memory_limit: u64,
}

/// The scope of one call: who is calling, and what the call produced besides its result.
pub(crate) struct CallScope {
    pub plugin: Arc<str>,
    pub action: String,
    pub execution_id: String,
    pub task_id: String,
    pub kv: Arc<dyn KvStore>,
    pub observer: Option<Arc<dyn CallObserver>>,
    pub events: Vec<EmittedEvent>,
    /// What this call may produce, and what it produced past that (dropped).
    pub limits: crate::CallLimits,
    pub log_lines: u32,
    pub dropped_lines: u32,
    pub dropped_events: u32,
    /// The call's kv writes, applied when it returns ([`crate::kv`]).
    pub kv_writes: crate::kv::KvWrites,
    /// Bytes of keys and values in `kv_writes`.
    pub kv_written: u64,
}

impl CallScope {
    /// The scope of one call of `plugin`, nothing produced yet.
    pub fn new(plugin: Arc<str>, action: String, limits: crate::CallLimits, kv: Arc<dyn KvStore>) -> CallScope {
        CallScope {
            plugin,
            action,
            execution_id: String::new(),
            task_id: String::new(),
            kv,
            observer: None,
            events: Vec::new(),
            limits,
            log_lines: 0,
            dropped_lines: 0,
            dropped_events: 0,
            kv_writes: Default::default(),
            kv_written: 0,
        }
    }

    /// Counts one log line; whether it is within the limit (else it is dropped).
    pub fn admit_line(&mut self) -> bool {
        if self.log_lines < self.limits.max_log_lines {
            self.log_lines += 1;
            true
        } else {
            self.dropped_lines += 1;
            false
        }
    }
}

/// A `Store`'s data.
pub(crate) struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    hooks: HttpHooks,
    pub limiter: Limiter,
    pub scope: CallScope,
    pub secrets: Arc<HashMap<String, String>>,
    pub stdout: LogPipe,
    pub stderr: LogPipe,
    /// Set by the epoch callback when the call's deadline passed.
    pub timed_out: bool,
}

impl State {
    pub fn new(sandbox: &Sandbox, scope: CallScope) -> wasmtime::Result<State> {
        let stdout = LogPipe::new(STDIO_CAPACITY);
        let stderr = LogPipe::new(STDIO_CAPACITY);
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(stdout.clone()).stderr(stderr.clone()).envs(&sandbox.env);
        // Raw sockets and DNS stay closed: outgoing HTTP goes through wasi:http and its
        // allow-list only.
        wasi.allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false);
        if let Some(cwd) = &sandbox.cwd {
            wasi.initial_cwd(cwd);
        }
        for dir in &sandbox.dirs {
            let perms = if dir.writable { FsPerms::ReadWrite } else { FsPerms::ReadOnly };
            wasi.preopened_dir(&dir.host, &dir.guest, perms)?;
        }
        Ok(State {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            http: WasiHttpCtx::new(),
            hooks: HttpHooks { allowed: sandbox.allowed_hosts.clone() },
            limiter: Limiter::new(sandbox.memory_limit),
            scope,
            secrets: sandbox.secrets.clone(),
            stdout,
            stderr,
            timed_out: false,
        })
    }

    /// Ends a call whose instance is kept warm: nothing of the call (its observer, its
    /// ids) stays referenced while the instance waits for the next one. (Its events were
    /// already taken for the call's outcome.)
    pub fn end(&mut self) {
        self.scope.observer = None;
        self.scope.execution_id.clear();
        self.scope.task_id.clear();
    }

    /// Starts another call in this store (a warm instance being reused): the new call's
    /// scope, and nothing left over from the last call's outcome.
    pub fn begin(&mut self, scope: CallScope) {
        self.scope = scope;
        self.timed_out = false;
        self.limiter.hit = false;
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}

/// Limits the total linear memory of one instance, and remembers that the limit was hit
/// so that the resulting trap can be reported as what it is.
pub(crate) struct Limiter {
    limit: u64,
    total: u64,
    pub hit: bool,
}

impl Limiter {
    fn new(limit: u64) -> Limiter {
        Limiter { limit, total: 0, hit: false }
    }

    /// The limit on the instance's total linear memory, in bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let grown = self.total + (desired - current) as u64;
        if grown > self.limit {
            self.hit = true;
            return Ok(false);
        }
        self.total = grown;
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// wasi:http hooks that only let requests through to the manifest's allowed hosts.
struct HttpHooks {
    allowed: Arc<Vec<HostPattern>>,
}

type ResponseFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<wasmtime_wasi_http::WasiBody>,
                    Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                ),
                wasmtime_wasi_http::Error,
            >,
        > + Send,
>;

impl WasiHttpHooks for HttpHooks {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> ResponseFuture {
        let uri = request.uri();
        let scheme = uri.scheme_str().unwrap_or("https");
        let host = uri.host().unwrap_or_default();
        let port = uri.port_u16().unwrap_or(if scheme == "http" { 80 } else { 443 });
        if !self.allowed.iter().any(|p| p.matches(scheme, host, port)) {
            tracing::warn!(%scheme, %host, port, "outgoing HTTP request denied: host not in allowed_hosts");
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
            ))
        })
    }
}

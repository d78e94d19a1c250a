//! Harmonia's HTTP API on one port: a route table that builds both the router and the
//! OpenAPI document; handlers for plugins, workflows, templates, executions (started, read
//! and controlled: history, pause, resume, cancel, checkpoints, restore), events over SSE
//! and WebSocket, metrics, tokens and the audit log; the auth guard; TLS serving.
//!
//! Handlers call the runner (`harmonia-runner`) and, for plugin management, the host; they
//! hold no execution state of their own.

use std::sync::{Arc, RwLock};

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, OptionalFromRequest, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use harmonia_host::Host;
use harmonia_store::Store;
use serde_json::{Value, json};

pub mod audit;
pub mod auth;
mod browser;
mod cloudevents;
pub mod connections;
mod console;
mod events;
mod executions;
mod graph;
pub mod hooks;
pub(crate) mod metrics;
mod plugins;
pub mod reports;
mod signals;
mod subscriptions;
mod table;
mod templates;
pub mod tls;
pub mod webhooks;
mod workflows;
mod ws;

use harmonia_runner::WorkflowDirs;
use harmonia_runner::records::ReadError;
use harmonia_runner::{RunError, Runner, WorkflowSource};

/// An API error: a status and `{"error": {"code", "message", "details"?}}`.
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Option<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), details: None }
    }

    /// Adds machine-readable details (such as each error's line and column).
    pub fn with_details(mut self, details: Value) -> ApiError {
        self.details = Some(details);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(details) = self.details {
            error["details"] = details;
        }
        (self.status, Json(json!({ "error": error }))).into_response()
    }
}

/// What the handlers share.
pub struct AppState {
    pub host: Host,
    pub workflows: Arc<RwLock<WorkflowDirs>>,
    runner: Runner,
    /// The runner's store: tokens and the audit log live there too.
    store: Arc<dyn Store>,
    auth: auth::Auth,
    audit: audit::AuditLog,
    limits: ApiLimits,
    /// The paths of the operations open to anyone (see [`table::Access::Open`]), from the
    /// route table.
    open_paths: Vec<&'static str>,
    /// What the paths of the operations that check a signature instead of a token start
    /// with (see [`table::Access::Signed`]).
    signed_paths: Vec<(axum::http::Method, &'static str)>,
    /// What plugins report while their calls run: the runner's observer must be this one
    /// (see [`AppState::with_reports`]).
    reports: Arc<reports::CallReports>,
}

/// The largest requests the API takes (`serve --max-body`, `--max-upload`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiLimits {
    /// The largest request body (a workflow, an input); 8 MiB by default.
    pub max_body: usize,
    /// The largest plugin upload; 256 MiB by default (Python and JavaScript components
    /// carry their interpreter, a Python one is about 20 to 40 MB).
    pub max_upload: usize,
}

/// The default of [`ApiLimits::max_body`].
pub const DEFAULT_MAX_BODY: usize = 8 << 20;

/// The default of [`ApiLimits::max_upload`].
pub const DEFAULT_MAX_UPLOAD: usize = 256 << 20;

impl Default for ApiLimits {
    fn default() -> ApiLimits {
        ApiLimits { max_body: DEFAULT_MAX_BODY, max_upload: DEFAULT_MAX_UPLOAD }
    }
}

/// Workflows, shared with the runner for sub-workflows and recovery.
pub struct SharedWorkflows(pub Arc<RwLock<WorkflowDirs>>);

impl WorkflowSource for SharedWorkflows {
    fn plan(&self, name: &str, version: Option<&str>) -> Option<Arc<harmonia_engine::Plan>> {
        self.0.read().expect("workflows lock").plan(name, version)
    }

    fn triggered(&self) -> Vec<Arc<harmonia_engine::Plan>> {
        self.0.read().expect("workflows lock").triggered()
    }
}

impl AppState {
    /// `runner` must look workflows up in `workflows` (see [`SharedWorkflows`]) and call
    /// plugins through `host`. The tokens are those of the runner's store; without any the
    /// API is open, so the caller must listen on loopback only (or use
    /// [`AppState::with_auth`]).
    pub fn new(host: Host, runner: Runner, workflows: Arc<RwLock<WorkflowDirs>>) -> AppState {
        // Unreadable tokens close the API rather than open it.
        let auth = auth::Auth::load(&**runner.store(), true)
            .unwrap_or_else(|e| auth::Auth::unavailable(format!("cannot read the API tokens: {e}")));
        let store = runner.store().clone();
        let audit = audit::AuditLog::new(store.clone());
        AppState {
            host,
            workflows,
            runner,
            store,
            auth,
            audit,
            limits: ApiLimits::default(),
            open_paths: Vec::new(),
            signed_paths: Vec::new(),
            reports: reports::CallReports::new(reports::DEFAULT_MAX_BYTES),
        }
    }

    /// With `reports`, which the runner was given as its observer
    /// ([`Runner::with_observer`]); without, tasks' logs stay empty.
    pub fn with_reports(mut self, reports: Arc<reports::CallReports>) -> AppState {
        self.reports = reports;
        self
    }

    /// With the tokens (and whether none means open) given.
    pub fn with_auth(mut self, auth: auth::Auth) -> AppState {
        self.auth = auth;
        self
    }

    /// With these request limits instead of the defaults.
    pub fn with_limits(mut self, limits: ApiLimits) -> AppState {
        self.limits = limits;
        self
    }
}

impl From<RunError> for ApiError {
    fn from(e: RunError) -> ApiError {
        let (status, code) = match &e {
            RunError::Read(ReadError::NotFound(_)) => (StatusCode::NOT_FOUND, "unknown_execution"),
            RunError::NoCheckpoint { .. } => (StatusCode::NOT_FOUND, "unknown_checkpoint"),
            RunError::NotRunning(_) => (StatusCode::CONFLICT, "not_running"),
            RunError::Exists(_) => (StatusCode::CONFLICT, "exists"),
            RunError::Read(ReadError::Corrupt { .. }) => (StatusCode::INTERNAL_SERVER_ERROR, "corrupt_execution"),
            RunError::UnknownWorkflow(_) => (StatusCode::INTERNAL_SERVER_ERROR, "unknown_workflow"),
            RunError::Store(harmonia_store::StoreError::InvalidKey(_)) => (StatusCode::BAD_REQUEST, "invalid_key"),
            RunError::Read(ReadError::Store { .. }) | RunError::Store(_) => (StatusCode::SERVICE_UNAVAILABLE, "store"),
            RunError::InvalidChange(_) => (StatusCode::BAD_REQUEST, "invalid_change"),
            RunError::OverLimit { code, .. } => (StatusCode::CONFLICT, *code),
            RunError::Change(change) => match change.code() {
                code @ ("not_a_change" | "no_vars" | "no_items") => (StatusCode::BAD_REQUEST, code),
                code @ "unknown_task" => (StatusCode::NOT_FOUND, code),
                code => (StatusCode::CONFLICT, code),
            },
        };
        ApiError::new(status, code, e.to_string())
    }
}

/// Every operation of the API, from each module's part of the route table.
fn ops(limits: &ApiLimits) -> Vec<table::Op> {
    let plugins =
        json!({ "type": "object", "properties": { "loaded": { "type": "integer" }, "failed": { "type": "integer" } } });
    let service = vec![
        table::Op::get("/health", "health", "Liveness: the process answers", || async {
            Json(json!({ "status": "ok" }))
        })
        .open()
        .ok(200, "Alive", json!({ "type": "object", "properties": { "status": { "const": "ok" } } })),
        table::Op::get("/ready", "ready", "Readiness: the store is open and the plugins are loaded", ready)
            .open()
            .ok(
                200,
                "Ready: the store answers; the plugins loaded and failed",
                json!({ "type": "object", "properties": {
                "status": { "const": "ready" }, "store": { "const": "ok" }, "plugins": plugins.clone() } }),
            )
            .also(
                503,
                "Not ready: the store does not answer (`store` says why)",
                json!({ "type": "object", "properties": {
                "status": { "const": "unavailable" }, "store": { "type": "string" }, "plugins": plugins } }),
            ),
    ];
    let parts = [
        service,
        plugins::ops(limits.max_upload),
        workflows::ops(),
        templates::ops(),
        executions::ops(),
        reports::ops(),
        events::ops(),
        cloudevents::ops(),
        signals::ops(),
        hooks::ops(),
        subscriptions::ops(),
        ws::ops(),
        metrics::ops(),
        auth::ops(),
        audit::ops(),
    ];
    parts.into_iter().flatten().collect()
}

/// One Server-Sent Event of the API's streams (OpenAPI 3.1 has a `text/event-stream`
/// schema describe each event): its id (a position in a log), its type, and its data (a
/// JSON object, as text).
fn sse_event_schema() -> Value {
    json!({ "type": "object", "required": ["id", "event", "data"], "properties": {
        "id": { "type": "string", "pattern": "^[0-9]+$" }, "event": { "type": "string" }, "data": { "type": "string" } } })
}

/// The OpenAPI 3.1 document of the API, as `GET /api/v1/openapi.json` serves it.
pub fn openapi_document() -> Value {
    let (_, docs) = table::build(ops(&ApiLimits::default()));
    table::document(&docs)
}

/// The API's routes over `state`.
pub fn router(mut state: AppState) -> Router {
    metrics::handle(); // record from now on, not from the first scrape
    let limits = state.limits;
    let (routes, docs) = table::build(ops(&limits));
    state.open_paths = docs.iter().filter(|doc| doc.access == table::Access::Open).map(|doc| doc.path).collect();
    state.signed_paths = docs
        .iter()
        .filter(|doc| doc.access == table::Access::Signed)
        .map(|doc| (doc.method.clone(), doc.path.split('{').next().unwrap_or(doc.path)))
        .collect();
    let state = Arc::new(state);
    routes
        .method_not_allowed_fallback(|method: axum::http::Method, uri: axum::http::Uri| async move {
            let message = format!("{method} is not allowed on {} (the Allow header lists what is)", uri.path());
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", message)
        })
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        // Every error is the JSON error, also those of axum's extractors (a query, a body or
        // a WebSocket handshake that does not parse), which answer in plain text.
        .layer(middleware::from_fn(json_errors))
        // Outermost: every route and the fallback are authorized and audited.
        .layer(middleware::from_fn_with_state(state.clone(), auth::guard))
        .layer(axum::extract::DefaultBodyLimit::max(limits.max_body))
        // For extractors, which see the request but not the state.
        .layer(axum::Extension(limits))
        .with_state(state)
        // The console's files: public, outside the API's guard (its calls carry a token).
        .merge(console::router())
}

/// Turns an error answer that is not JSON (axum's rejections are plain text) into the
/// API's `{"error": {"code", "message"}}`, keeping its status, its text as the message, and
/// the headers that go with it (`Allow`, `Connection`, `Retry-After`).
async fn json_errors(request: axum::extract::Request, next: middleware::Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_owned();
    let reason = status.canonical_reason().unwrap_or("error");
    let message = if text.is_empty() { reason.to_owned() } else { text };
    let mut json = ApiError::new(status, error_code(status), message).into_response();
    for name in [axum::http::header::ALLOW, axum::http::header::CONNECTION, axum::http::header::RETRY_AFTER] {
        if let Some(value) = parts.headers.get(&name) {
            json.headers_mut().insert(name, value.clone());
        }
    }
    json
}

/// A page's `limit`: 100 by default, 1 to 1000 as the document says (0 was taken as 1).
pub(crate) fn page_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    match limit.unwrap_or(100) {
        limit @ 1..=1000 => Ok(limit),
        limit => {
            Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_request", format!("limit must be 1 to 1000, got {limit}")))
        }
    }
}

/// The error code of a status, for answers that came without one.
fn error_code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "bad_request",
        StatusCode::UPGRADE_REQUIRED => "upgrade_required",
        s if s.is_client_error() => "bad_request",
        _ => "internal",
    }
}

/// Runs a store operation off the async workers: a store error is a 503, a panic a 500.
pub(crate) async fn blocking<T: Send + 'static>(
    state: &AppState,
    op: impl FnOnce(&dyn Store) -> Result<T, harmonia_store::StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || op(&*store))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
        .map_err(store_error)
}

/// A store error as an answer: 503, but 400 for a key no record can have (a name or id
/// with a NUL byte), which is the request's fault and will never work.
pub(crate) fn store_error(e: harmonia_store::StoreError) -> ApiError {
    match e {
        harmonia_store::StoreError::InvalidKey(_) => {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_key", e.to_string())
        }
        e => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store", e.to_string()),
    }
}

/// A JSON body that did not parse: 400, saying why.
fn bad_body(e: JsonRejection, max_body: usize) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return too_large(max_body);
    }
    ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text())
}

/// A JSON body that is an object, read into `T`; as `Option<JsonObject<T>>`, a body that may
/// be left out (with no content type). serde's derived structs also take an array of their
/// fields in order (`[7]` for `{"checkpoint": 7}`), which the document does not allow: any
/// other JSON than an object is refused like a body that does not parse, with a 400.
pub(crate) struct JsonObject<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonObject<T> {
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let kind =
            request.headers().get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let kind = kind.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        // As axum's Json: application/json or application/*+json.
        if !(kind == "application/json" || kind.starts_with("application/") && kind.ends_with("+json")) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "Expected request with `Content-Type: application/json`",
            ));
        }
        let max_body = request.extensions().get::<ApiLimits>().copied().unwrap_or_default().max_body;
        let bytes = axum::body::Bytes::from_request(request, state).await.map_err(|e| match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => too_large(max_body),
            _ => ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text()),
        })?;
        if bytes.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|b| *b != b'{') {
            return Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_request", "the body must be a JSON object"));
        }
        Json::<T>::from_bytes(&bytes).map(|Json(value)| JsonObject(value)).map_err(|e| bad_body(e, max_body))
    }
}

impl<T: serde::de::DeserializeOwned, S: Send + Sync> OptionalFromRequest<S> for JsonObject<T> {
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Option<Self>, ApiError> {
        if request.headers().get(axum::http::header::CONTENT_TYPE).is_none() {
            return Ok(None);
        }
        <JsonObject<T> as FromRequest<S>>::from_request(request, state).await.map(Some)
    }
}

/// A body over the limit: 413, saying the limit.
pub(crate) fn too_large(max_body: usize) -> ApiError {
    let message = format!("the request body is larger than the limit of {max_body} bytes");
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", message)
}

/// Ready when the store answers a read; says how many plugins are loaded and failed.
async fn ready(State(state): State<Arc<AppState>>) -> Response {
    let store = state.store.clone();
    let read = tokio::task::spawn_blocking(move || store.get(harmonia_store::Space::Workflows, b"\0ready"))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
    let plugins = json!({ "loaded": state.host.plugins().len(), "failed": state.host.failures().len() });
    match read {
        Ok(_) => Json(json!({ "status": "ready", "store": "ok", "plugins": plugins })).into_response(),
        Err(e) => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "unavailable", "store": e, "plugins": plugins })))
                .into_response()
        }
    }
}

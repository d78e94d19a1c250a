//! The HTTP API (first slice): health, plugins, workflows, and executions started and read
//! over HTTP, on one port. Executions live in memory until the store arrives.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use harmonia_engine::{Event, Execution};
use harmonia_host::Host;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::catalog::WorkflowDirs;
use crate::runner::{RunObserver, Runner, WorkflowSource};

/// An API error: a status and `{"error": {"code", "message"}}`.
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        (self.status, Json(body)).into_response()
    }
}

/// One execution as the API tracks it.
struct Tracked {
    snapshot: Mutex<Execution>,
    done: watch::Sender<bool>,
}

/// What the handlers share.
pub struct AppState {
    pub host: Host,
    pub workflows: Arc<RwLock<WorkflowDirs>>,
    runner: Runner,
    executions: Arc<Mutex<HashMap<String, Arc<Tracked>>>>,
}

/// Keeps each tracked execution's snapshot current as its events happen.
struct Tracker(Arc<Mutex<HashMap<String, Arc<Tracked>>>>);

impl RunObserver for Tracker {
    fn event(&self, exec: &Execution, event: &Event) {
        // Per-call events would make a large fan-out quadratic (each snapshot clones the
        // whole state): task-level ones suffice. The first item's start already marks a
        // for_each task running.
        let per_call = match event {
            Event::CallSucceeded { .. } | Event::CallFailed { .. } | Event::CallQueued { .. } => true,
            Event::CallStarted { call, .. } => call.item.is_some_and(|i| i > 0),
            _ => false,
        };
        if per_call {
            return;
        }
        let tracked = self.0.lock().expect("executions lock").get(&exec.id).cloned();
        if let Some(tracked) = tracked {
            *tracked.snapshot.lock().expect("snapshot lock") = exec.clone();
        }
    }
}

/// Workflows, shared with the runner for sub-workflows.
struct SharedWorkflows(Arc<RwLock<WorkflowDirs>>);

impl WorkflowSource for SharedWorkflows {
    fn plan(&self, name: &str, version: Option<&str>) -> Option<Arc<harmonia_engine::Plan>> {
        self.0.read().expect("workflows lock").plan(name, version)
    }
}

impl AppState {
    pub fn new(host: Host, workflows: WorkflowDirs, clock: Arc<dyn crate::Clock>) -> Arc<AppState> {
        let workflows = Arc::new(RwLock::new(workflows));
        let executions = Arc::new(Mutex::new(HashMap::new()));
        let runner = Runner::new(host.clone(), Arc::new(SharedWorkflows(workflows.clone())), clock)
            .with_observer(Arc::new(Tracker(executions.clone())));
        Arc::new(AppState { host, workflows, runner, executions })
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/health", get(|| async { Json(json!({ "status": "ok" })) }))
        .route("/ready", get(ready))
        .route("/api/v1/plugins", get(plugins))
        .route("/api/v1/workflows", get(workflows))
        .route("/api/v1/workflows/{name}/executions", post(start_execution))
        .route("/api/v1/executions/{id}", get(get_execution))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .with_state(state)
}

async fn ready(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({ "status": "ready", "plugins": state.host.plugins().len() }))
}

async fn plugins(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({ "plugins": state.host.plugins(), "failed": state.host.failures() }))
}

async fn workflows(State(state): State<Arc<AppState>>) -> Json<Value> {
    let list = state.workflows.read().expect("workflows lock").list();
    let items: Vec<Value> = list
        .into_iter()
        .map(|(name, versions)| json!({ "name": name, "versions": versions }))
        .collect();
    Json(json!({ "workflows": items }))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StartBody {
    #[serde(default)]
    input: Option<Value>,
    #[serde(default)]
    version: Option<String>,
}

#[derive(Deserialize)]
struct StartQuery {
    /// Wait up to this long for the result (`500ms`, `30s`, `2m`).
    wait: Option<String>,
}

fn parse_wait(text: &str) -> Result<Duration, ApiError> {
    let bad = || ApiError::new(StatusCode::BAD_REQUEST, "bad_wait", format!("wait={text:?}: expected a duration like 500ms, 30s or 2m"));
    let (number, unit) = text.find(|c: char| !c.is_ascii_digit()).map_or((text, "s"), |i| text.split_at(i));
    let n: u64 = number.parse().map_err(|_| bad())?;
    let ms = match unit {
        "ms" => n,
        "s" => n * 1000,
        "m" => n * 60_000,
        _ => return Err(bad()),
    };
    Ok(Duration::from_millis(ms.min(10 * 60_000)))
}

fn summary(exec: &Execution) -> Value {
    json!({ "id": exec.id, "workflow": exec.workflow, "version": exec.version, "status": exec.status,
            "output": exec.output, "error": exec.error })
}

async fn start_execution(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(query): Query<StartQuery>,
    body: Result<Json<StartBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text()))?;
    let wait = query.wait.as_deref().map(parse_wait).transpose()?;
    let plan = state.workflows.read().expect("workflows lock").plan(&name, body.version.as_deref());
    let plan = plan.ok_or_else(|| {
        let which = body.version.as_deref().map_or(name.clone(), |v| format!("{name}@{v}"));
        ApiError::new(StatusCode::NOT_FOUND, "unknown_workflow", format!("no workflow named {which}"))
    })?;
    let input = body.input.unwrap_or_else(|| json!({}));
    let input = harmonia_model::check_input(&plan.workflow, &input)
        .map_err(|d| ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", d.to_string()))?;
    let id = crate::new_execution_id();
    let (done, mut finished) = watch::channel(false);
    let tracked = Arc::new(Tracked { snapshot: Mutex::new(Execution::new(&id, &plan.workflow, &plan.fallbacks)), done });
    state.executions.lock().expect("executions lock").insert(id.clone(), tracked.clone());
    let runner = state.runner.clone();
    let run_id = id.clone();
    tokio::spawn(async move {
        let exec = runner.run(plan, &run_id, input).await;
        *tracked.snapshot.lock().expect("snapshot lock") = exec;
        let _ = tracked.done.send(true);
    });
    if let Some(wait) = wait {
        let _ = tokio::time::timeout(wait, finished.wait_for(|done| *done)).await;
        let tracked = state.executions.lock().expect("executions lock").get(&id).cloned();
        let exec = tracked.expect("just inserted").snapshot.lock().expect("snapshot lock").clone();
        let status = if exec.status.is_finished() { StatusCode::OK } else { StatusCode::ACCEPTED };
        return Ok((status, Json(summary(&exec))).into_response());
    }
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))).into_response())
}

async fn get_execution(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let tracked = state.executions.lock().expect("executions lock").get(&id).cloned();
    let tracked = tracked.ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "unknown_execution", format!("no execution {id}")))?;
    let exec = tracked.snapshot.lock().expect("snapshot lock").clone();
    Ok(Json(serde_json::to_value(&exec).expect("an execution is JSON")))
}

//! Workflows: store a version (JSON or YAML), list, read the latest or one version, delete.
//! A version, once stored, never changes: storing it again with other content is a 409.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::StringRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use harmonia_model::{Diagnostics, Workflow};
use serde::Deserialize;
use serde_json::{Value, json};

use super::table::Op;
use super::{ApiError, AppState};
use harmonia_runner::WorkflowSource;
use harmonia_runner::compare_versions;
use harmonia_runner::definitions::{self, Stored};

pub(super) fn ops() -> Vec<Op> {
    let name_version = json!({ "type": "object", "properties": { "name": { "type": "string" }, "version": { "type": "string" }, "created": { "type": "boolean" } } });
    vec![
        Op::get("/api/v1/workflows", "listWorkflows", "Every workflow with its versions", list).ok(200, "The workflows", json!({
            "type": "object",
            "properties": { "workflows": { "type": "array", "items": { "type": "object", "properties": {
                "name": { "type": "string" }, "versions": { "type": "array", "items": { "type": "string" } } } } } },
        })),
        Op::post("/api/v1/workflows", "createWorkflow", "Validate and store a workflow version", create)
            .describe("The body is the workflow, as YAML or JSON (the language is in `workflows/README.md`). A version once stored never changes: the same text again is a 200, other text under a stored name and version a 409. \
                       A workflow that does not validate is a 400 `invalid_workflow` with each error's line and column in `details`; one calling a plugin or workflow that is not there, `unknown_plugin` or `unknown_workflow`.")
            .body(json!({
                "application/yaml": { "schema": workflow_document() },
                "application/json": { "schema": workflow_document() },
            }), "The workflow definition")
            .ok(201, "Stored as a new version", name_version.clone())
            .link("get", "getWorkflow", json!({ "name": "$response.body#/name" }))
            .link("version", "getWorkflowVersion", json!({ "name": "$response.body#/name", "version": "$response.body#/version" }))
            .link("start", "startExecution", json!({ "name": "$response.body#/name" }))
            .link("delete", "deleteWorkflow", json!({ "name": "$response.body#/name" }))
            .also(200, "Stored already with the same text", name_version)
            .errors(&[400, 409, 415]),
        Op::get("/api/v1/workflows/{name}", "getWorkflow", "The latest version of a workflow, with the list of its versions", latest)
            .ok(200, "The workflow", workflow_schema())
            .errors(&[404]),
        Op::delete("/api/v1/workflows/{name}", "deleteWorkflow", "Remove a workflow for new executions", delete)
            .describe("Refused with 409 while executions of it are running, unless `force`. Stored definitions are kept, so its executions can still be read and resumed.")
            .query("force", json!({ "type": "boolean" }), "Delete even while executions of it are running")
            .ok(200, "Deleted", json!({ "type": "object" }))
            .errors(&[400, 404, 409]),
        Op::get("/api/v1/workflows/{name}/versions/{version}", "getWorkflowVersion", "One version of a workflow", version)
            .ok(200, "The version", workflow_schema())
            .errors(&[404]),
    ]
}

/// What the document says of a workflow's text: its top level (the rest is checked by the
/// parser, with line and column).
pub(super) fn workflow_document() -> Value {
    json!({
        "type": "object",
        "required": ["name", "version", "tasks"],
        "properties": {
            "name": { "type": "string", "pattern": "^[A-Za-z0-9_-]{1,128}$" },
            "version": { "type": ["string", "number"], "description": "1 to 64 letters, digits, `.`, `_`, `-` and `+`" },
            "description": { "type": "string" },
            "tasks": { "type": "object", "minProperties": 1, "description": "Each task by its id" },
        },
    })
}

fn workflow_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": { "type": "string" }, "version": { "type": "string" }, "description": { "type": ["string", "null"] },
            "tasks": { "type": "array", "items": { "type": "string" } },
            "input": { "type": "array", "items": { "type": "object" } },
            "definition": { "type": ["string", "null"], "description": "The text it was stored with" },
            "versions": { "type": "array", "items": { "type": "string" } },
            "graph": { "type": "array", "items": { "type": "object" }, "description": "Each task as a node: id, kind, label, depends_on, join, when, for_each, repeat, goto, targets, fallback, mutex" },
            "triggers": { "type": "object", "description": "What starts executions on its own", "properties": {
                "events": { "type": "array", "items": { "type": "object", "properties": { "event": { "type": "string" }, "source": { "type": ["string", "null"] } } } },
                "schedules": { "type": "array", "items": { "type": "object", "properties": {
                    "cron": { "type": "string" }, "timezone": { "type": "string" }, "missed": { "enum": ["skip", "run_once"] },
                    "next": { "type": "array", "items": { "type": "string", "format": "date-time" }, "description": "The next three times" } } } } } },
        },
    })
}

async fn list(State(state): State<Arc<AppState>>) -> Json<Value> {
    let dirs = state.workflows.read().expect("workflows lock");
    let now = state.runner.now();
    // The latest version's triggers: what starts executions of the workflow.
    let items: Vec<Value> = dirs
        .list()
        .into_iter()
        .map(|(name, versions)| {
            let triggers = dirs.plan(&name, None).map(|plan| triggers(&plan, now));
            json!({ "name": name, "versions": versions, "triggers": triggers })
        })
        .collect();
    Json(json!({ "workflows": items }))
}

/// Each diagnostic as `{line, column, message, hint?}`.
pub(super) fn diagnostics(d: &Diagnostics) -> Value {
    let items: Vec<Value> =
        d.0.iter()
            .map(|d| {
                let mut item = json!({ "line": d.line, "column": d.column, "message": d.message });
                if let Some(hint) = &d.hint {
                    item["hint"] = json!(hint);
                }
                item
            })
            .collect();
    Value::Array(items)
}

pub(super) fn invalid(code: &'static str, d: &Diagnostics) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, d.to_string()).with_details(diagnostics(d))
}

/// The text of a workflow or template body: YAML or JSON (JSON is read by the same parser,
/// so errors have a line and column either way); other content types are refused.
pub(super) fn body_text(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<String, StringRejection>,
    what: &str,
) -> Result<String, ApiError> {
    let body = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => super::too_large(state.limits.max_body),
        _ => ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text()),
    })?;
    let kind = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/yaml");
    let kind = kind.split(';').next().unwrap_or_default().trim();
    // Not text/plain: a web page may send it to any site without asking (see browser.rs).
    let known = ["application/json", "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"];
    if !known.contains(&kind) {
        let message = format!("content type {kind} is not a {what}: send application/json or application/yaml");
        return Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", message));
    }
    if body.trim().is_empty() {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "empty_body", format!("the body is empty: send a {what}")));
    }
    Ok(body)
}

async fn create(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<String, StringRejection>,
) -> Result<Response, ApiError> {
    let body = body_text(&state, &headers, body, "workflow")?;
    let (workflow, body) = parse(&state, body).await?;
    store(&state, workflow, body).await
}

/// Parses and validates a workflow within the runner's limits, off the async workers: a
/// document of many tasks takes a while to check, and requests must not wait for it.
/// Gives the text back with the workflow.
pub(super) async fn parse(state: &AppState, text: String) -> Result<(Workflow, String), ApiError> {
    let limits = state.runner.limits();
    let (parsed, text) =
        tokio::task::spawn_blocking(move || (harmonia_model::parse_workflow_with(&text, None, &limits), text))
            .await
            .map_err(|e| {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", format!("the workflow check stopped: {e}"))
            })?;
    Ok((parsed.map_err(|d| invalid("invalid_workflow", &d))?, text))
}

/// What storing checks: the plugins and the sub-workflows the workflow calls are known.
pub(super) fn check(state: &AppState, workflow: &Workflow) -> Result<(), ApiError> {
    harmonia_model::check_plugins(workflow, &state.host).map_err(|d| invalid("unknown_plugin", &d))?;
    let dirs = state.workflows.read().expect("workflows lock");
    // A workflow may call itself, or another version of itself.
    let known = WithSelf { dirs: &dirs, workflow };
    harmonia_model::check_workflows(workflow, &known).map_err(|d| invalid("unknown_workflow", &d))
}

/// Checks a parsed workflow against the plugins and workflows known, and stores its version
/// (`text` is what was sent): 201 when new, 200 when stored already, 409 when the version is
/// stored with other content.
pub(super) async fn store(state: &AppState, workflow: Workflow, body: String) -> Result<Response, ApiError> {
    check(state, &workflow)?;
    let (name, version) = (workflow.name.clone(), workflow.version.clone());
    let text = body.clone();
    let (n, v) = (name.clone(), version.clone());
    let stored = super::blocking(state, move |store| definitions::store_version(store, &n, &v, &text)).await?;
    let status = match stored {
        Stored::Conflict => {
            let message = format!(
                "workflow {name} version {version} is stored with other content; versions do not change: give it a new version"
            );
            return Err(ApiError::new(StatusCode::CONFLICT, "version_exists", message));
        }
        Stored::Unchanged => StatusCode::OK,
        Stored::Created => StatusCode::CREATED,
    };
    state.workflows.write().expect("workflows lock").replace(workflow, body.into());
    Ok((status, Json(json!({ "name": name, "version": version, "created": status == StatusCode::CREATED })))
        .into_response())
}

/// The known workflows plus the one being stored, for its sub-workflow references.
struct WithSelf<'a> {
    dirs: &'a harmonia_runner::WorkflowDirs,
    workflow: &'a Workflow,
}

impl harmonia_model::WorkflowCatalog for WithSelf<'_> {
    fn exists(&self, name: &str, version: Option<&str>) -> bool {
        (name == self.workflow.name && version.is_none_or(|v| v == self.workflow.version))
            || harmonia_model::WorkflowCatalog::exists(self.dirs, name, version)
    }
}

/// A version as the API shows it: its text and what it declares.
fn describe(state: &AppState, name: &str, version: &str) -> Option<Value> {
    let dirs = state.workflows.read().expect("workflows lock");
    let plan = dirs.plan_exact(name, version)?;
    let wf = &plan.workflow;
    let mut versions: Vec<String> =
        dirs.list().into_iter().find(|(n, _)| n == name).map(|(_, v)| v).unwrap_or_default();
    versions.sort_by(|a, b| compare_versions(a, b));
    let inputs: Vec<Value> = wf
        .input
        .iter()
        .map(|(name, p)| {
            json!({ "name": name, "type": param_type(p.kind), "description": p.description,
                    "required": p.default.is_none(), "default": p.default })
        })
        .collect();
    Some(json!({
        "name": wf.name,
        "version": wf.version,
        "description": wf.description,
        "tasks": wf.tasks.keys().collect::<Vec<_>>(),
        "input": inputs,
        "definition": dirs.text(name, version).as_deref(),
        "versions": versions,
        "triggers": triggers(&plan, state.runner.now()),
        "graph": super::graph::graph(wf),
    }))
}

fn param_type(kind: harmonia_model::ParamType) -> &'static str {
    use harmonia_model::ParamType::*;
    match kind {
        String => "string",
        Number => "number",
        Integer => "integer",
        Boolean => "boolean",
        Object => "object",
        Array => "array",
        Any => "any",
    }
}

/// What starts executions of a version on its own: its event triggers, and its schedules
/// with their next three times.
fn triggers(plan: &harmonia_engine::Plan, now: u64) -> Value {
    let events: Vec<Value> = plan
        .workflow
        .triggers
        .iter()
        .filter_map(|t| match &t.on {
            harmonia_model::TriggerOn::Event { event_type, source, .. } => {
                Some(json!({ "event": event_type, "source": source }))
            }
            harmonia_model::TriggerOn::Schedule(_) => None,
        })
        .collect();
    let schedules: Vec<Value> = harmonia_runner::events::schedules::next_times(plan, now, 3)
        .into_iter()
        .map(|(_, schedule, times)| {
            let next: Vec<String> = times.iter().map(|at| schedule.format(*at)).collect();
            let missed = match schedule.missed {
                harmonia_model::Missed::Skip => "skip",
                harmonia_model::Missed::RunOnce => "run_once",
            };
            json!({ "cron": schedule.cron.source(), "timezone": schedule.timezone.name(), "missed": missed, "next": next })
        })
        .collect();
    json!({ "events": events, "schedules": schedules })
}

fn unknown(name: &str, version: Option<&str>) -> ApiError {
    let which = version.map_or(name.to_string(), |v| format!("{name} version {v}"));
    ApiError::new(StatusCode::NOT_FOUND, "unknown_workflow", format!("no workflow {which}"))
}

async fn latest(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    let plan = state.workflows.read().expect("workflows lock").plan(&name, None).ok_or_else(|| unknown(&name, None))?;
    describe(&state, &name, &plan.workflow.version).map(Json).ok_or_else(|| unknown(&name, None))
}

async fn version(
    State(state): State<Arc<AppState>>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    describe(&state, &name, &version).map(Json).ok_or_else(|| unknown(&name, Some(&version)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteQuery {
    #[serde(default)]
    force: bool,
}

/// Removes a workflow for new executions. Its stored definitions stay: executions of it
/// (finished, or running with `force`) can still be read, replayed and resumed.
async fn delete(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(query): Query<DeleteQuery>,
) -> Result<Response, ApiError> {
    let running = state.runner.running_of(&name);
    if running > 0 && !query.force {
        let message = format!(
            "{running} executions of workflow {name} are running: cancel them first, or delete with ?force=true"
        );
        return Err(ApiError::new(StatusCode::CONFLICT, "executions_running", message));
    }
    if state.workflows.read().expect("workflows lock").plan(&name, None).is_none() {
        return Err(unknown(&name, None));
    }
    let marked = name.clone();
    super::blocking(&state, move |store| definitions::mark_deleted(store, &marked)).await?;
    state.workflows.write().expect("workflows lock").remove(&name);
    Ok((StatusCode::OK, Json(json!({ "name": name, "deleted": true, "running": running }))).into_response())
}

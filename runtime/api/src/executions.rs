//! Executions: start (optionally waiting for the result), read, history, control
//! (pause, resume, cancel), checkpoints and restore.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use harmonia_engine::Execution;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Role;
use super::table::Op;
use super::{ApiError, AppState, JsonObject};
use harmonia_runner::WorkflowSource;

pub(super) fn ops() -> Vec<Op> {
    vec![
        Op::post("/api/v1/workflows/{name}/executions", "startExecution", "Start an execution of a workflow", start_execution)
            .role(Role::Operator)
            .describe("Starts the latest version, or `version`. With `wait`, answers once the execution has finished (200) or the wait is over (202), so a workflow can be called like a function. \
                       The input is checked against the parameters the workflow declares: a missing, unknown or ill-typed one is a 400 `invalid_input`.")
            .query("wait", json!({ "type": "string", "pattern": WAIT_PATTERN, "examples": ["500ms", "30s", "2m", "1m30s"] }),
                "Wait up to this long for the result, a duration as workflow files write them: numbers with units `ms`, `s`/`sec` (the default), `m`/`min`, `h`, `d` (`1m30s`, `1.5s`); 10 minutes at most, longer waits are cut to that")
            .json_body(json!({ "type": "object", "additionalProperties": false, "properties": {
                "input": { "type": ["object", "null"], "description": "The workflow's input parameters (null: none)" },
                "version": { "type": ["string", "null"], "description": "null: the latest" } } }), false)
            .ok(201, "Started: `{id}`", json!({ "type": "object", "required": ["id"], "properties": { "id": { "type": "string" } } }))
            .apply(id_links)
            .also(200, "With `wait`: the execution finished within the wait", summary_schema())
            .also(202, "With `wait`: the execution is still running when the wait is over", summary_schema())
            .errors(&[400, 404]),
        Op::get("/api/v1/executions", "listExecutions", "Executions, oldest first, a page at a time", list_executions)
            .query("workflow", json!({ "type": "string" }), "Only executions of this workflow")
            .query("status", json!({ "enum": STATUSES }), "Only executions in this status")
            .query("since", json!({ "type": "integer", "minimum": 0, "maximum": MAX_MILLIS }), "Only executions started at or after this time (milliseconds since 1970; a sub-workflow's execution counts as started when its top-level execution did)")
            .query("until", json!({ "type": "integer", "minimum": 0, "maximum": MAX_MILLIS }), "Only executions started before this time (milliseconds since 1970; as for `since`)")
            .query("parent", json!({ "type": "string" }), "Only the sub-workflow executions this execution started")
            .query("after", json!({ "type": "string" }), "The `next` of the previous page")
            .query("limit", json!({ "type": "integer", "minimum": 1, "maximum": 1000 }), "At most this many (100 by default)")
            .ok(200, "A page; `next` is null on the last", json!({ "type": "object", "properties": {
                "executions": { "type": "array", "items": { "type": "object" } }, "next": { "type": ["string", "null"] } } }))
            .errors(&[400]),
        Op::get("/api/v1/executions/counts", "countExecutions", "How many executions are in each status", count_executions)
            .describe("Counted from the store's indexes: the finished executions without reading them, the running and paused ones from their records.")
            .query("workflow", json!({ "type": "string" }), "Only executions of this workflow")
            .ok(200, "`counts`: each status and how many; `total`", json!({ "type": "object", "required": ["counts", "total"], "properties": {
                "counts": { "type": "object", "additionalProperties": { "type": "integer" } }, "total": { "type": "integer" } } }))
            .errors(&[400]),
        Op::get("/api/v1/executions/{id}", "getExecution", "An execution: status, per-task state, output or error", get_execution)
            .ok(200, "The execution. While its last step cannot be stored (a full disk), the state last stored, with `commit_retry`: `since`, `attempts`, `error`", json!({ "type": "object" }))
            .errors(&[404]),
        Op::get("/api/v1/executions/{id}/history", "getHistory", "The events of an execution, in order, a page at a time", history)
            .query("after", json!({ "type": "integer", "minimum": 0, "maximum": u64::MAX }), "Only the events after this `seq`: the `next` of the previous page")
            .query("limit", json!({ "type": "integer", "minimum": 1, "maximum": 1000 }), "At most this many (1000 by default)")
            .ok(200, "A page of events, each with its `seq`; `next` is null on the last", json!({ "type": "object", "properties": {
                "id": { "type": "string" }, "events": { "type": "array", "items": { "type": "object" } }, "next": { "type": ["integer", "null"] } } }))
            .errors(&[400, 404]),
        control(Op::post("/api/v1/executions/{id}/pause", "pauseExecution", "Pause: no new task starts; calls in flight finish", pause)),
        control(Op::post("/api/v1/executions/{id}/resume", "resumeExecution", "Resume a paused execution", resume)),
        control(Op::post("/api/v1/executions/{id}/cancel", "cancelExecution", "Cancel: calls in flight are cancelled", cancel)),
        control(Op::post("/api/v1/executions/{id}/retry", "retryExecution", "Re-run a failed execution from its failed tasks", retry)),
        Op::get("/api/v1/executions/{id}/checkpoints", "listCheckpoints", "The checkpoints of an execution", checkpoints)
            .ok(200, "The checkpoints: seq (the event taken after), time, label or auto, status", json!({ "type": "object" }))
            .errors(&[404]),
        Op::post("/api/v1/executions/{id}/checkpoints", "takeCheckpoint", "Take a checkpoint now", take_checkpoint)
            .role(Role::Operator)
            .describe("Refused with 409 `not_running` unless the execution is running or paused in this server.")
            .json_body(json!({ "type": "object", "additionalProperties": false, "properties": { "label": { "type": ["string", "null"] } } }), false)
            .ok(201, "The checkpoint", json!({ "type": "object" }))
            .errors(&[404, 409]),
        control(Op::post("/api/v1/executions/{id}/restore", "restoreCheckpoint", "Roll back to a checkpoint and go on from there", restore)
            .json_body(json!({ "type": "object", "additionalProperties": false, "required": ["checkpoint"], "properties": {
                "checkpoint": { "type": "integer", "minimum": 0, "maximum": u64::MAX, "description": "Its seq" } } }), true)),
        change(Op::post("/api/v1/executions/{id}/tasks/{task}/output", "setTaskOutput", "Set a task's output and mark it done (paused execution)", set_output)
            .json_body(json!({ "type": "object", "additionalProperties": false, "required": ["output"], "properties": { "output": {} } }), true)),
        change(Op::post("/api/v1/executions/{id}/tasks/{task}/skip", "skipTask", "Skip a task that has not finished (paused execution)", skip_task)
            .json_body(json!({ "type": "object", "additionalProperties": false, "properties": { "reason": { "type": "string" } } }), false)),
        control(Op::post("/api/v1/executions/{id}/tasks/{task}/items", "addItems", "Add items to an open for_each while it runs", add_items)
            .describe("For a task with `for_each: {items, open: true}`: the items run after those it has, within its concurrency; `close: true` says no more will come (the task ends once its items have). Recorded in the history. Refused with 409 when the task's list is not open (`not_open`), was closed or the task has ended (`items_closed`), or the execution has finished (`finished`).")
            .json_body(json!({ "type": "object", "additionalProperties": false, "properties": {
                "items": { "type": "array" }, "close": { "type": "boolean" } },
                "anyOf": [{ "required": ["items"], "properties": { "items": { "minItems": 1 } } },
                          { "required": ["close"], "properties": { "close": { "const": true } } }] }), true)
            .errors(&[400])),
        change(Op::post("/api/v1/executions/{id}/migrate", "migrateExecution", "Move a paused execution to another version of its workflow", migrate)
            .describe("Recorded in the history. The tasks that started must all be in the new version (refused with 409 `migration_conflicts`, listing them); those that had not started and are not in it are dropped, the new ones run when ready. Tasks added and inputs replaced before are dropped: the version's definition stands. An unknown version is a 400 `invalid_change`.")
            .json_body(json!({ "type": "object", "additionalProperties": false, "required": ["version"], "properties": {
                "version": { "type": "string", "minLength": 1, "maxLength": 64 } } }), true)
            .errors(&[400])),
        change(Op::post("/api/v1/executions/{id}/tasks", "addTask", "Add a task to a paused execution", add_task)
            .describe("`task` is written as in a workflow file (it may depend on the execution's tasks; nothing depends on it). Checked like a workflow: a 400 `invalid_change` says what is wrong. Kept with the execution and recorded in its history.")
            .json_body(json!({ "type": "object", "additionalProperties": false, "required": ["id", "task"], "properties": {
                "id": { "type": "string", "minLength": 1, "maxLength": 128 }, "task": { "type": "object" } } }), true)
            .errors(&[400])),
        change(Op::post("/api/v1/executions/{id}/tasks/{task}/input", "replaceTaskInput", "Replace the input of a task that has not started (paused execution)", replace_input)
            .describe("`input` is written as in a workflow file (`${...}` allowed). Refused with 409 `task_started` once the task has started.")
            .json_body(json!({ "type": "object", "additionalProperties": false, "required": ["input"], "properties": { "input": {} } }), true)
            .errors(&[400])),
        change(Op::post("/api/v1/executions/{id}/vars", "setVars", "Change variables (paused execution)", set_vars)
            .json_body(json!({ "type": "object", "additionalProperties": false, "required": ["vars"], "properties": {
                "vars": { "type": "object", "minProperties": 1 } } }), true)),
    ]
}

/// The links of a started execution's id: every operation on it.
fn id_links(op: Op) -> Op {
    let operations = [
        ("get", "getExecution"),
        ("history", "getHistory"),
        ("pause", "pauseExecution"),
        ("resume", "resumeExecution"),
        ("cancel", "cancelExecution"),
        ("retry", "retryExecution"),
        ("checkpoints", "listCheckpoints"),
        ("checkpoint", "takeCheckpoint"),
        ("restore", "restoreCheckpoint"),
        ("output", "setTaskOutput"),
        ("skip", "skipTask"),
        ("vars", "setVars"),
        ("items", "addItems"),
        ("migrate", "migrateExecution"),
        ("add_task", "addTask"),
        ("input", "replaceTaskInput"),
    ];
    operations
        .into_iter()
        .fold(op, |op, (name, operation)| op.link(name, operation, json!({ "id": "$response.body#/id" })))
}

/// What control requests and the `wait` of a start answer: the execution's summary.
fn summary_schema() -> Value {
    json!({ "type": "object", "required": ["id", "workflow", "version", "status"], "properties": {
        "id": { "type": "string" }, "workflow": { "type": "string" }, "version": { "type": "string" },
        "status": { "enum": STATUSES }, "output": {}, "error": {} } })
}

/// What control requests answer: the execution once the request is handled.
fn control(op: Op) -> Op {
    op.role(Role::Operator).ok(202, "Handled: the execution's summary", summary_schema()).errors(&[404, 409])
}

/// Changes of a paused execution, each recorded in its history.
fn change(op: Op) -> Op {
    control(op).describe("Recorded in the history. Refused with 409 unless the execution is paused (`not_paused`), and when the task cannot take the change.")
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

/// The longest `wait`; longer ones are cut to it.
const MAX_WAIT: Duration = Duration::from_secs(10 * 60);

/// A duration in the model's grammar ([`harmonia_model::parse_duration`]), as the document
/// states it: digits alone (seconds), or numbers each with a unit.
const WAIT_PATTERN: &str = r"^([0-9]+|([0-9]+(\.[0-9]+)?(ms|s|sec|m|min|h|d))+)$";

/// A `wait`: the model's durations, cut to [`MAX_WAIT`]; one too long for a `Duration` is
/// longer than the cap anyway.
fn parse_wait(text: &str) -> Result<Duration, ApiError> {
    if !wait_shape(text) {
        let message = format!("wait={text:?}: expected a duration like 500ms, 30s, 2m or 1m30s");
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_wait", message));
    }
    Ok(harmonia_model::parse_duration(text).map_or(MAX_WAIT, |wait| wait.min(MAX_WAIT)))
}

/// Whether `text` matches [`WAIT_PATTERN`].
fn wait_shape(text: &str) -> bool {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        if let Some(fraction) = rest.strip_prefix('.') {
            let digits = fraction.find(|c: char| !c.is_ascii_digit()).unwrap_or(fraction.len());
            if digits == 0 {
                return false;
            }
            rest = &fraction[digits..];
        }
        let unit = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
        if !matches!(&rest[..unit], "ms" | "s" | "sec" | "m" | "min" | "h" | "d") {
            return false;
        }
        rest = &rest[unit..];
    }
    !text.is_empty()
}

fn summary(exec: &Execution) -> Value {
    json!({ "id": exec.id, "workflow": exec.workflow, "version": exec.version, "status": exec.status,
            "output": exec.output, "error": exec.error })
}

async fn start_execution(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    query: Result<Query<StartQuery>, axum::extract::rejection::QueryRejection>,
    body: Option<JsonObject<StartBody>>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    // No body (and no content type) starts with an empty input, as documented.
    let body = body.map(|JsonObject(body)| body).unwrap_or_default();
    let wait = query.wait.as_deref().map(parse_wait).transpose()?;
    let plan = state.workflows.read().expect("workflows lock").plan(&name, body.version.as_deref());
    let plan = plan.ok_or_else(|| {
        let which = body.version.as_deref().map_or(name.clone(), |v| format!("{name}@{v}"));
        ApiError::new(StatusCode::NOT_FOUND, "unknown_workflow", format!("no workflow named {which}"))
    })?;
    let input = body.input.unwrap_or_else(|| json!({}));
    let input = harmonia_model::check_input(&plan.workflow, &input)
        .map_err(|d| ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", d.to_string()))?;
    let id = harmonia_runner::new_execution_id();
    state.runner.start(plan, &id, input).await?;
    if let Some(wait) = wait {
        let exec = match state.runner.wait_for(&id, wait).await? {
            Some(exec) => exec,
            None => state.runner.get(&id).await?,
        };
        let status = if exec.status.is_finished() { StatusCode::OK } else { StatusCode::ACCEPTED };
        return Ok((status, Json(summary(&exec))).into_response());
    }
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))).into_response())
}

async fn get_execution(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let exec = state.runner.get(&id).await?;
    let mut value = serde_json::to_value(&exec).expect("an execution is JSON");
    // The execution that started it, for a sub-workflow's (its record's, one read).
    let record = super::blocking(&state, move |store| harmonia_runner::records::get_record(store, &id)).await?;
    if let Some(parent) = record.and_then(|(_, record)| record.parent) {
        value["parent"] = json!(parent);
    }
    let id = &exec.id;
    // While its driver cannot commit (a full disk), the state is the one last stored.
    if let Some(retry) = state.runner.commit_retry(id) {
        value["commit_retry"] = serde_json::to_value(retry).expect("a retry is JSON");
    }
    Ok(Json(value))
}

async fn history(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    query: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    let limit = super::page_limit(Some(query.limit.unwrap_or(1000)))?;
    let after = query.after.unwrap_or(0);
    // One more than asked, to know whether there is a next page.
    let mut events = state.runner.history(&id, after, limit + 1).await?;
    let more = events.len() > limit;
    events.truncate(limit);
    let last = after.saturating_add(events.len() as u64);
    let events: Vec<Value> = (after.saturating_add(1)..)
        .zip(&events)
        .map(|(seq, event)| {
            let mut value = serde_json::to_value(event).expect("an event is JSON");
            value["seq"] = json!(seq);
            value
        })
        .collect();
    Ok(Json(json!({ "id": id, "events": events, "next": more.then_some(last) })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    after: Option<u64>,
    limit: Option<usize>,
}

/// The current state after a control request, once the driver has handled it.
async fn after_control(state: &AppState, id: &str) -> Result<Response, ApiError> {
    let exec = state.runner.get(id).await?;
    Ok((StatusCode::ACCEPTED, Json(summary(&exec))).into_response())
}

async fn pause(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    state.runner.pause(&id)?;
    after_control(&state, &id).await
}

async fn resume(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    state.runner.resume(&id)?;
    after_control(&state, &id).await
}

async fn cancel(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    state.runner.cancel(&id, "cancelled over the API")?;
    after_control(&state, &id).await
}

async fn retry(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    state.runner.retry(&id).await?;
    after_control(&state, &id).await
}

async fn checkpoints(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "id": id, "checkpoints": state.runner.checkpoints(&id).await? })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CheckpointBody {
    #[serde(default)]
    label: Option<String>,
}

async fn take_checkpoint(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Option<JsonObject<CheckpointBody>>,
) -> Result<Response, ApiError> {
    let label = body.and_then(|JsonObject(b)| b.label);
    let info = state.runner.checkpoint(&id, label).await?;
    Ok((StatusCode::CREATED, Json(serde_json::to_value(info).expect("a checkpoint is JSON"))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RestoreBody {
    /// The checkpoint: the event it was taken after.
    #[serde(deserialize_with = "whole_number")]
    checkpoint: u64,
}

/// A JSON integer as JSON Schema (and so the document) counts them: `7` and `7.0` alike.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let number = serde_json::Number::deserialize(d)?;
    // 2^64: the first whole float past u64::MAX.
    let whole = |f: &f64| f.fract() == 0.0 && *f >= 0.0 && *f < 18_446_744_073_709_551_616.0;
    number.as_u64().or_else(|| number.as_f64().filter(whole).map(|f| f as u64)).ok_or_else(|| {
        serde::de::Error::custom(format!("expected a whole number from 0 to {}, got {number}", u64::MAX))
    })
}

async fn restore(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonObject(body): JsonObject<RestoreBody>,
) -> Result<Response, ApiError> {
    state.runner.restore(&id, body.checkpoint).await?;
    after_control(&state, &id).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    workflow: Option<String>,
    /// running, paused, completed, failed or cancelled.
    status: Option<String>,
    /// Started at or after this time (ms).
    since: Option<u64>,
    /// Started before this time (ms).
    until: Option<u64>,
    /// Started by this execution (a sub-workflow task).
    parent: Option<String>,
    /// Continue after this id (the `next` of the previous page).
    after: Option<String>,
    limit: Option<usize>,
}

/// The largest time `since` and `until` take: what an execution id's 11 hex digits hold.
const MAX_MILLIS: u64 = 0xfff_ffff_ffff;

/// The ids a listing reads, as bounds (see [`harmonia_runner::records::IdRange`]): ids
/// start with their start time (11 hex digits of milliseconds; a sub-workflow's with its
/// top-level execution's) and a sub-workflow's with its parent's id and `/`.
#[derive(Debug, Default, PartialEq)]
struct IdBounds {
    /// Only ids greater than this.
    after: Option<String>,
    /// Only ids less than this.
    before: Option<String>,
}

impl IdBounds {
    fn of(query: &ListQuery) -> IdBounds {
        let mut bounds = IdBounds { after: query.after.clone(), before: None };
        // `{:011x}` sorts before every id started in that millisecond (they go on with `-`).
        if let Some(since) = query.since {
            bounds.raise_after(format!("{since:011x}"));
        }
        if let Some(until) = query.until {
            bounds.lower_before(format!("{until:011x}"));
        }
        if let Some(parent) = &query.parent {
            // `0` is the byte after `/`: every id that starts with `{parent}/` is before it.
            bounds.raise_after(format!("{parent}/"));
            bounds.lower_before(format!("{parent}0"));
        }
        bounds
    }

    fn raise_after(&mut self, after: String) {
        if self.after.as_ref().is_none_or(|a| *a < after) {
            self.after = Some(after);
        }
    }

    fn lower_before(&mut self, before: String) {
        if self.before.as_ref().is_none_or(|b| *b > before) {
            self.before = Some(before);
        }
    }

    fn is_empty(&self) -> bool {
        matches!((&self.after, &self.before), (Some(after), Some(before)) if after >= before)
    }
}

const STATUSES: [&str; 5] = ["running", "paused", "completed", "failed", "cancelled"];

/// Executions in id order (ids start with their start time, so oldest first), filtered by
/// workflow and status (through the store's indexes), a page at a time.
async fn list_executions(
    State(state): State<Arc<AppState>>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    let status = match query.status.as_deref() {
        Some(status) if !STATUSES.contains(&status) => {
            let message = format!("status={status:?}: expected one of {}", STATUSES.join(", "));
            return Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_status", message));
        }
        Some(status) => Some(serde_json::from_value(json!(status)).expect("each of STATUSES is an ExecStatus")),
        None => None,
    };
    let limit = super::page_limit(query.limit)?;
    for (name, time) in [("since", query.since), ("until", query.until)] {
        if time.is_some_and(|t| t > MAX_MILLIS) {
            let message = format!("{name} must be at most {MAX_MILLIS} (the latest time an execution id holds)");
            return Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_query", message));
        }
    }
    let bounds = IdBounds::of(&query);
    if bounds.is_empty() {
        return Ok(Json(json!({ "executions": [], "next": null })));
    }
    let (records, next) = super::blocking(&state, move |store| {
        let filter = harmonia_runner::records::RecordFilter { workflow: query.workflow.as_deref(), status };
        let range = harmonia_runner::records::IdRange {
            after: bounds.after.as_deref(),
            before: bounds.before.as_deref(),
            parent: query.parent.as_deref(),
        };
        harmonia_runner::records::list_range(store, filter, range, limit)
    })
    .await?;
    let items: Vec<Value> = records
        .into_iter()
        .map(|(id, r)| {
            json!({ "id": id, "workflow": r.workflow, "version": r.version, "status": r.status,
                    "created_at": r.created_at, "updated_at": r.updated_at, "parent": r.parent })
        })
        .collect();
    Ok(Json(json!({ "executions": items, "next": next })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CountQuery {
    workflow: Option<String>,
}

async fn count_executions(
    State(state): State<Arc<AppState>>,
    query: Result<Query<CountQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    let counts =
        super::blocking(&state, move |store| harmonia_runner::records::count_records(store, query.workflow.as_deref()))
            .await?;
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    let counts: serde_json::Map<String, Value> =
        counts.into_iter().map(|(s, n)| (s.as_str().to_string(), json!(n))).collect();
    Ok(Json(json!({ "counts": counts, "total": total })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputBody {
    output: Value,
}

/// Sets (or replaces) a task's output and marks it succeeded, in a paused execution.
async fn set_output(
    State(state): State<Arc<AppState>>,
    Path((id, task)): Path<(String, String)>,
    JsonObject(body): JsonObject<OutputBody>,
) -> Result<Response, ApiError> {
    let event = harmonia_engine::Event::OutputSet { task, output: body.output, at: state.runner.now() };
    state.runner.change(&id, event).await?;
    after_control(&state, &id).await
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SkipBody {
    #[serde(default)]
    reason: String,
}

/// Skips a task that has not finished, in a paused execution.
async fn skip_task(
    State(state): State<Arc<AppState>>,
    Path((id, task)): Path<(String, String)>,
    body: Option<JsonObject<SkipBody>>,
) -> Result<Response, ApiError> {
    let reason = body.map(|JsonObject(b)| b.reason).unwrap_or_default();
    let event = harmonia_engine::Event::SkipRequested { task, reason, at: state.runner.now() };
    state.runner.change(&id, event).await?;
    after_control(&state, &id).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MigrateBody {
    version: String,
}

/// Moves a paused execution to another version of its workflow.
async fn migrate(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonObject(body): JsonObject<MigrateBody>,
) -> Result<Response, ApiError> {
    state.runner.migrate(&id, &body.version).await?;
    after_control(&state, &id).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddTaskBody {
    id: String,
    task: Value,
}

/// Adds a task to a paused execution.
async fn add_task(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonObject(body): JsonObject<AddTaskBody>,
) -> Result<Response, ApiError> {
    let patch = harmonia_engine::Patch::AddTask { task: body.id, definition: body.task };
    state.runner.patch(&id, patch).await?;
    after_control(&state, &id).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InputBody {
    input: Value,
}

/// Replaces the input of a task that has not started, in a paused execution.
async fn replace_input(
    State(state): State<Arc<AppState>>,
    Path((id, task)): Path<(String, String)>,
    JsonObject(body): JsonObject<InputBody>,
) -> Result<Response, ApiError> {
    let patch = harmonia_engine::Patch::ReplaceInput { task, input: body.input };
    state.runner.patch(&id, patch).await?;
    after_control(&state, &id).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemsBody {
    #[serde(default)]
    items: Vec<Value>,
    #[serde(default)]
    close: bool,
}

/// Adds items to an open `for_each` of a running (or paused) execution.
async fn add_items(
    State(state): State<Arc<AppState>>,
    Path((id, task)): Path<(String, String)>,
    JsonObject(body): JsonObject<ItemsBody>,
) -> Result<Response, ApiError> {
    let event =
        harmonia_engine::Event::ItemsAdded { task, items: body.items, close: body.close, at: state.runner.now() };
    state.runner.change(&id, event).await?;
    after_control(&state, &id).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VarsBody {
    vars: serde_json::Map<String, Value>,
}

/// Sets workflow variables of a paused execution.
async fn set_vars(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonObject(body): JsonObject<VarsBody>,
) -> Result<Response, ApiError> {
    let event = harmonia_engine::Event::VarsChanged { vars: body.vars, at: state.runner.now() };
    state.runner.change(&id, event).await?;
    after_control(&state, &id).await
}

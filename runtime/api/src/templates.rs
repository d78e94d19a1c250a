//! Workflow templates over HTTP: store (`PUT`, YAML or JSON), list, read, delete, and
//! instantiate with parameters into a workflow version, stored as `POST /api/v1/workflows`
//! stores one. A template may be replaced at any time; the workflows made from it are
//! versions and never change (instantiating again with other content under the same
//! version is a 409).

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::StringRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use harmonia_model::{Declared, ParamType, RenderError};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::table::Op;
use super::workflows::{body_text, diagnostics, invalid};
use super::{ApiError, AppState};
use harmonia_runner::templates::{self, Put, TemplateRecord};

/// The template operations, documented for the route table and the OpenAPI document.
pub(super) fn ops() -> Vec<Op> {
    let parameter = json!({ "type": "object", "required": ["name", "type", "required"], "properties": {
        "name": { "type": "string" },
        "type": { "enum": ["string", "number", "integer", "boolean", "object", "array", "any"] },
        "required": { "type": "boolean" },
        "default": { "description": "The value used when none is given" },
        "description": { "type": "string" },
    } });
    let summary = json!({ "type": "object", "required": ["name", "parameters", "updated_at"], "properties": {
        "name": { "type": "string" },
        "parameters": { "type": "array", "items": parameter },
        "updated_at": { "type": "integer", "description": "When it was last stored with other text, in ms since the Unix epoch" },
        "errors": { "type": "array", "items": { "type": "object" }, "description": "Only for a stored template that no longer checks" },
    } });
    let mut template = summary.clone();
    template["properties"]["text"] =
        json!({ "type": "string", "description": "The template as stored (YAML or JSON)" });
    let mut stored = summary.clone();
    stored["properties"]["created"] = json!({ "type": "boolean", "description": "No template had this name" });
    stored["properties"]["changed"] =
        json!({ "type": "boolean", "description": "The text differs from the one stored" });
    let made = json!({ "type": "object", "properties": {
        "name": { "type": "string" }, "version": { "type": "string" }, "created": { "type": "boolean" },
        "dry_run": { "const": true, "description": "Only with `dry_run`" },
        "workflow": { "type": "string", "description": "Only with `dry_run`: the workflow made, as YAML" },
    } });
    let name = json!({ "type": "string", "pattern": "^[A-Za-z0-9_-]+$" });
    let named = |op: Op| op.path_param("name", name.clone(), "Letters, digits, `_` and `-`");
    vec![
        Op::get("/api/v1/templates", "listTemplates", "Every template, by name, with its parameters", list)
            .ok(200, "The templates", json!({ "type": "object", "properties": { "templates": { "type": "array", "items": summary } } })),
        named(Op::get("/api/v1/templates/{name}", "getTemplate", "A template: its parameters and its text", read))
            .ok(200, "The template", template)
            .errors(&[404]),
        named(Op::put("/api/v1/templates/{name}", "putTemplate", "Check and store a template, replacing one of that name", put))
            .describe("The body is the template, as YAML or JSON: a workflow with a top-level `parameters:` map (each a type, `default`, `description`, `required`) whose `${params.x}` placeholders are filled in when it is instantiated. \
                       Errors in the YAML, the parameters or a placeholder are a 400 `invalid_template` with each error's line and column in `details`. \
                       Templates may be replaced; the workflows made from them are versions, which never change.")
            .body(json!({
                "application/yaml": { "schema": template_document() },
                "application/json": { "schema": template_document() },
            }), "The template")
            .ok(201, "Stored under a new name", stored.clone())
            .link("get", "getTemplate", json!({ "name": "$request.path.name" }))
            .link("instantiate", "instantiateTemplate", json!({ "name": "$request.path.name" }))
            .link("delete", "deleteTemplate", json!({ "name": "$request.path.name" }))
            .also(200, "Replaced, or stored already with the same text", stored)
            .errors(&[400, 415]),
        named(Op::delete("/api/v1/templates/{name}", "deleteTemplate", "Delete a template; the workflows made from it stay", delete))
            .ok(200, "Deleted", json!({ "type": "object", "properties": { "name": { "type": "string" }, "deleted": { "const": true } } }))
            .errors(&[404]),
        named(Op::post("/api/v1/templates/{name}/instantiate", "instantiateTemplate", "Make a workflow version from a template and store it", instantiate))
            .describe("Each value in `params` must be of its parameter's declared type (as an execution's input): missing, unknown or ill-typed values are a 400 `invalid_params`. \
                       The workflow made is stored as `POST /api/v1/workflows` stores one: 201 when new, 200 when that version is stored with the same text, 409 `version_exists` when with other text, \
                       400 `invalid_workflow` when it does not validate, `unknown_plugin` or `unknown_workflow` for what it calls. \
                       With `dry_run`, the same checks and a 200 with the workflow's text; nothing is stored.")
            .json_body(json!({ "type": "object", "additionalProperties": false, "properties": {
                "params": { "type": "object", "description": "A value for each parameter, of its type" },
                "dry_run": { "type": "boolean", "default": false },
            } }), true)
            .ok(201, "The workflow made and stored", made.clone())
            .also(200, "Stored already with the same text, or a dry run", made)
            .errors(&[400, 404, 409]),
    ]
}

/// What the document says of a template's text: a workflow with `parameters:` (checked in
/// full when stored, with line and column).
fn template_document() -> Value {
    json!({
        "type": "object",
        "required": ["parameters"],
        "properties": { "parameters": { "type": ["object", "null"], "description": "Each parameter by its name: `type`, `default`, `description`, `required` (null: none)" } },
    })
}

fn unknown(name: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "unknown_template", format!("no template {name}"))
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if harmonia_model::template::is_template_name(name) {
        return Ok(());
    }
    let message = format!("template name {name:?} must be letters, digits, `_` and `-`");
    Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_name", message))
}

/// The stored template `name`, or 404.
async fn find(state: &AppState, name: &str) -> Result<TemplateRecord, ApiError> {
    check_name(name).map_err(|_| unknown(name))?;
    let key = name.to_owned();
    super::blocking(state, move |store| templates::get(store, &key)).await?.ok_or_else(|| unknown(name))
}

fn type_name(kind: ParamType) -> &'static str {
    match kind {
        ParamType::String => "string",
        ParamType::Number => "number",
        ParamType::Integer => "integer",
        ParamType::Boolean => "boolean",
        ParamType::Object => "object",
        ParamType::Array => "array",
        ParamType::Any => "any",
    }
}

/// Each declared parameter as `{name, type, required, default?, description?}`.
fn parameters(declared: &Declared) -> Value {
    let items = declared.iter().map(|(name, p)| {
        let mut item = json!({ "name": name, "type": type_name(p.kind), "required": p.required });
        if let Some(default) = &p.default {
            item["default"] = default.clone();
        }
        if let Some(description) = &p.description {
            item["description"] = json!(description);
        }
        item
    });
    Value::Array(items.collect())
}

/// A template as lists show it. One that no longer checks (stored under older rules) shows
/// its errors instead of its parameters.
fn summary(record: &TemplateRecord) -> Value {
    let mut item = json!({ "name": record.name, "updated_at": record.updated_at });
    match harmonia_model::check_template(&record.text, None) {
        Ok(declared) => item["parameters"] = parameters(&declared),
        Err(d) => {
            item["parameters"] = json!([]);
            item["errors"] = diagnostics(&d);
        }
    }
    item
}

/// `GET /api/v1/templates`: `{"templates": [{name, parameters, updated_at}]}`, by name.
async fn list(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let records = super::blocking(&state, templates::list).await?;
    Ok(Json(json!({ "templates": records.iter().map(summary).collect::<Vec<_>>() })))
}

/// `GET /api/v1/templates/{name}`: its summary and its text.
async fn read(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    let record = find(&state, &name).await?;
    let mut body = summary(&record);
    body["text"] = json!(record.text);
    Ok(Json(body))
}

/// `PUT /api/v1/templates/{name}`: checks and stores the template, replacing any of that
/// name. 201 when new, 200 when replaced or unchanged.
async fn put(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<String, StringRejection>,
) -> Result<Response, ApiError> {
    check_name(&name)?;
    let text = body_text(&state, &headers, body, "template")?;
    let declared = harmonia_model::check_template(&text, None).map_err(|d| invalid("invalid_template", &d))?;
    let key = name.clone();
    let now = harmonia_runner::now_ms();
    let (put, record) = super::blocking(&state, move |store| templates::put(store, &key, &text, now)).await?;
    let status = if put == Put::Created { StatusCode::CREATED } else { StatusCode::OK };
    let body = json!({
        "name": name,
        "parameters": parameters(&declared),
        "updated_at": record.updated_at,
        "created": put == Put::Created,
        "changed": put != Put::Unchanged,
    });
    Ok((status, Json(body)).into_response())
}

/// `DELETE /api/v1/templates/{name}`: the workflows made from it stay.
async fn delete(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    check_name(&name).map_err(|_| unknown(&name))?;
    let key = name.clone();
    if !super::blocking(&state, move |store| templates::delete(store, &key)).await? {
        return Err(unknown(&name));
    }
    Ok(Json(json!({ "name": name, "deleted": true })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstantiateBody {
    /// Values of the template's parameters, each of its declared type.
    #[serde(default)]
    params: Map<String, Value>,
    /// Render and check only: nothing is stored.
    #[serde(default)]
    dry_run: bool,
}

/// `POST /api/v1/templates/{name}/instantiate {params, dry_run?}`: renders the template and
/// stores the workflow it makes (201 `{name, version, created}`, 200 when stored already,
/// 409 when that version is stored with other content); with `dry_run`, 200 with the
/// workflow's text, nothing stored.
async fn instantiate(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    super::JsonObject(body): super::JsonObject<InstantiateBody>,
) -> Result<Response, ApiError> {
    let record = find(&state, &name).await?;
    let rendered = harmonia_model::render_template_json(&record.text, None, &body.params).map_err(|e| match &e {
        RenderError::Template(d) => invalid("invalid_template", d),
        RenderError::Params(d) => invalid("invalid_params", d),
        RenderError::Workflow(d) => invalid("invalid_workflow", d),
    })?;
    let (workflow, rendered) = super::workflows::parse(&state, rendered).await?;
    if !body.dry_run {
        return super::workflows::store(&state, workflow, rendered).await;
    }
    super::workflows::check(&state, &workflow)?;
    let body = json!({ "name": workflow.name, "version": workflow.version, "dry_run": true, "workflow": rendered });
    Ok((StatusCode::OK, Json(body)).into_response())
}

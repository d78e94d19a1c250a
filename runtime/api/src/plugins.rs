//! Plugins over HTTP: the loaded plugins with their actions and capabilities, one plugin in
//! full, uploading a component (`PUT`) and removing one (`DELETE`). The guard lets only
//! admins change plugins, and audits each change.
//!
//! An upload is checked in full by the host (it compiles, links, describes itself with the
//! name in the path, and its manifest parses) before it replaces anything: a refused upload
//! changes nothing and the plugin it would have replaced keeps serving.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use harmonia_host::{InstallError, ManifestChange, Plugin, RemoveError, check_plugin_name};
use serde::Deserialize;
use serde_json::{Value, json};

use super::table::Op;
use super::{ApiError, AppState};

pub(super) fn ops(max_upload: usize) -> Vec<Op> {
    let plugin = json!({ "type": "object", "properties": {
        "name": { "type": "string" }, "version": { "type": "string" }, "description": { "type": "string" },
        "actions": { "type": "array", "items": { "type": "object" } },
        "capabilities": { "type": "array", "items": { "type": "string" } },
        "grants": { "type": "array", "items": { "type": "string" } },
        "file": { "type": "string" }, "size_bytes": { "type": "integer" }, "hash": { "type": "string" },
        "memory_limit_bytes": { "type": "integer" }, "max_concurrency": { "type": "integer" } } });
    let name = json!({ "type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$" });
    let named =
        |op: Op| op.path_param("name", name.clone(), "1 to 64 letters, digits, `_` and `-`: its file is `<name>.wasm`");
    let component = json!({ "type": "string", "contentMediaType": "application/wasm" });
    vec![
        Op::get("/api/v1/plugins", "listPlugins", "The plugins loaded, with their actions and capabilities, and the files that failed", list)
            .ok(200, "The plugins and the failures", json!({ "type": "object", "properties": {
                "plugins": { "type": "array", "items": plugin.clone() },
                "failed": { "type": "array", "items": { "type": "object", "properties": { "file": { "type": "string" }, "reason": { "type": "string" } } } } } })),
        named(Op::get("/api/v1/plugins/{name}", "getPlugin", "One plugin in full", one)).ok(200, "The plugin", plugin.clone()).errors(&[404]),
        named(Op::put("/api/v1/plugins/{name}", "installPlugin", "Install or replace a plugin's component (and manifest)", upload))
            .describe("Checked in full first (it compiles, links, describes itself under `name`, its manifest parses); a refused upload changes nothing and the plugin it would replace keeps serving: \
                       a 400 `invalid_component`, `name_mismatch` or `invalid_manifest` says why. The raw component keeps the existing manifest; multipart's `manifest` part replaces it, or removes it when empty. Up to `--max-upload` bytes (256 MiB by default).")
            .body(json!({
                "application/wasm": { "schema": component.clone() },
                "application/octet-stream": { "schema": component.clone() },
                "multipart/form-data": { "schema": { "type": "object", "additionalProperties": false, "required": ["component"], "properties": {
                    "component": component,
                    "manifest": { "type": "string", "description": "The manifest (TOML): what the plugin is granted" } } } },
            }), "The component, raw or with its manifest")
            .body_limit(max_upload)
            .ok(201, "Installed", plugin.clone())
            .also(200, "Replaced a plugin of that name", plugin)
            .errors(&[400, 415]),
        named(Op::delete("/api/v1/plugins/{name}", "removePlugin", "Remove a plugin: its files are deleted and it is unloaded", remove))
            .describe("Refused with 409 while executions of workflows that use it run, unless `force`; calls in flight finish.")
            .query("force", json!({ "type": "boolean" }), "Remove even while executions that use it run")
            .ok(200, "Removed: the files and the workflows that used it", json!({ "type": "object" }))
            .errors(&[400, 404, 409]),
    ]
}

async fn list(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({ "plugins": state.host.plugins(), "failed": state.host.failures() }))
}

/// `GET /api/v1/plugins/{name}`: the plugin as listed by `GET /plugins`.
async fn one(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Result<Json<Arc<Plugin>>, ApiError> {
    state.host.plugin(&name).map(Json).ok_or_else(|| unknown(&state, &name))
}

/// 404 `unknown_plugin`; if `<name>.wasm` is there but did not load, saying why.
fn unknown(state: &AppState, name: &str) -> ApiError {
    let file = state.host.plugins_dir().join(format!("{name}.wasm"));
    match state.host.failures().into_iter().find(|f| f.file == file) {
        Some(failure) => {
            let message = format!("plugin {name:?} is not loaded: {} did not load: {}", file.display(), failure.reason);
            ApiError::new(StatusCode::NOT_FOUND, "unknown_plugin", message)
                .with_details(json!({ "file": failure.file, "reason": failure.reason }))
        }
        None => ApiError::new(StatusCode::NOT_FOUND, "unknown_plugin", format!("no plugin named {name:?}")),
    }
}

fn invalid_name(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_name", message)
}

/// `PUT /api/v1/plugins/{name}`: installs the component in the body, raw
/// (`application/wasm` or `application/octet-stream`; the manifest is kept) or as
/// `multipart/form-data` (a `component` part, and a `manifest` part that replaces the
/// manifest, or removes it when empty). 201 when new, 200 when it replaced a plugin.
async fn upload(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    request: Request,
) -> Result<Response, Response> {
    // Before reading what may be hundreds of megabytes.
    check_plugin_name(&name).map_err(|message| unread(invalid_name(message)))?;
    // Declared over the limit: refused before the body is read, and the body read and
    // dropped (up to the default limit) so that a client still sending it gets the answer
    // rather than a reset connection.
    let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    let max_upload = state.limits.max_upload;
    if declared.is_some_and(|bytes| bytes > max_upload) {
        let refused = body_error(StatusCode::PAYLOAD_TOO_LARGE, String::new(), max_upload);
        return Err(super::auth::refuse_draining(request, refused, super::DEFAULT_MAX_UPLOAD.max(max_upload)).await);
    }
    let (component, manifest) = read_upload(&state, request).await.map_err(unread)?;
    let installed =
        state.host.install(&name, component, manifest).await.map_err(|e| install_error(e).into_response())?;
    if installed.replaced {
        return Ok((StatusCode::OK, Json(installed.plugin)).into_response());
    }
    let location = [(header::LOCATION, format!("/api/v1/plugins/{name}"))];
    Ok((StatusCode::CREATED, location, Json(installed.plugin)).into_response())
}

/// An answer given before the body was read to its end: the connection is closed after it,
/// or the rest of the body would be read as the next request (and the client, told so,
/// does not send another request on it).
fn unread(e: ApiError) -> Response {
    let mut response = e.into_response();
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The media type of the body, without parameters, in lowercase.
fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next()?.trim().to_ascii_lowercase())
}

async fn read_upload(state: &Arc<AppState>, request: Request) -> Result<(Bytes, ManifestChange), ApiError> {
    let max = state.limits.max_upload;
    match media_type(request.headers()).as_deref() {
        Some("application/wasm" | "application/octet-stream") => {
            let body =
                Bytes::from_request(request, state).await.map_err(|e| body_error(e.status(), e.body_text(), max))?;
            Ok((body, ManifestChange::Keep))
        }
        Some("multipart/form-data") => {
            let parts = Multipart::from_request(request, state)
                .await
                .map_err(|e| body_error(e.status(), e.body_text(), max))?;
            read_parts(parts, max).await
        }
        other => {
            let message = format!(
                "cannot install a {}: send the component as application/wasm (or application/octet-stream), \
                 or as multipart/form-data with a `component` part and an optional `manifest` part",
                other.unwrap_or("body without a content type")
            );
            Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", message))
        }
    }
}

/// The `component` part (required) and the `manifest` part (optional; empty removes it).
async fn read_parts(mut parts: Multipart, max: usize) -> Result<(Bytes, ManifestChange), ApiError> {
    let bad = |message: String| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message);
    let (mut component, mut manifest) = (None, None);
    while let Some(part) = parts.next_field().await.map_err(|e| body_error(e.status(), e.body_text(), max))? {
        let name = part.name().unwrap_or_default().to_owned();
        let slot = match name.as_str() {
            "component" if component.is_none() => &mut component,
            "manifest" if manifest.is_none() => &mut manifest,
            "component" | "manifest" => return Err(bad(format!("the `{name}` part is given twice"))),
            _ => return Err(bad(format!("unknown part `{name}`: expected `component` and optionally `manifest`"))),
        };
        *slot = Some(part.bytes().await.map_err(|e| body_error(e.status(), e.body_text(), max))?);
    }
    let component = component.ok_or_else(|| bad("the `component` part is missing".into()))?;
    let manifest = match manifest {
        None => ManifestChange::Keep,
        Some(bytes) => match String::from_utf8(bytes.to_vec()) {
            Ok(text) if text.trim().is_empty() => ManifestChange::Remove,
            Ok(text) => ManifestChange::Replace(text),
            Err(_) => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_manifest",
                    "the manifest is not UTF-8 text",
                ));
            }
        },
    };
    Ok((component, manifest))
}

/// A body that could not be read: 413 over the limit, else 400.
fn body_error(status: StatusCode, text: String, max_upload: usize) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        let message = format!("the component is larger than the limit of {max_upload} bytes");
        return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", message);
    }
    ApiError::new(StatusCode::BAD_REQUEST, "bad_request", text)
}

fn install_error(e: InstallError) -> ApiError {
    let message = e.to_string();
    match e {
        InstallError::NameMismatch { expected, described } => {
            ApiError::new(StatusCode::BAD_REQUEST, "name_mismatch", message)
                .with_details(json!({ "expected": expected, "described": described }))
        }
        InstallError::Io { .. } => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message),
        e @ (InstallError::InvalidName(_) | InstallError::InvalidManifest(_) | InstallError::InvalidComponent(_)) => {
            ApiError::new(StatusCode::BAD_REQUEST, e.code(), message)
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteQuery {
    #[serde(default)]
    force: bool,
}

/// `DELETE /api/v1/plugins/{name}[?force=true]`: deletes the plugin's files and unloads it.
/// Refused while executions of workflows that use it run, unless forced; calls already
/// running finish, and the tasks after them fail with an unknown plugin.
async fn remove(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    query: Result<Query<DeleteQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text()))?;
    check_plugin_name(&name).map_err(invalid_name)?;
    if state.host.plugin_file(&name).is_none() {
        return Err(unknown(&state, &name));
    }
    let used_by = state.workflows.read().expect("workflows lock").using_plugin(&name);
    let running: BTreeMap<&str, usize> =
        used_by.iter().map(|w| (w.as_str(), state.runner.running_of(w))).filter(|(_, n)| *n > 0).collect();
    let total: usize = running.values().sum();
    if total > 0 && !query.force {
        let each: Vec<String> = running.iter().map(|(w, n)| format!("{w} ({n})")).collect();
        let message = format!(
            "plugin {name} is used by {total} running executions of workflows {}: wait for them or cancel them, \
             or delete with ?force=true",
            each.join(", ")
        );
        return Err(ApiError::new(StatusCode::CONFLICT, "in_use", message).with_details(json!({ "running": running })));
    }
    let removed = state.host.remove(&name).map_err(|e| match e {
        RemoveError::InvalidName(message) => invalid_name(message),
        RemoveError::UnknownPlugin(_) => unknown(&state, &name),
        RemoveError::Io { .. } => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    })?;
    let files: Vec<String> =
        removed.files.iter().filter_map(|f| f.file_name()).map(|f| f.to_string_lossy().into_owned()).collect();
    Ok(Json(
        json!({ "name": name, "files": files, "unloaded": removed.unloaded, "running": total, "used_by": used_by }),
    ))
}

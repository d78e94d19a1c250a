//! Signals: `POST /api/v1/executions/{id}/signals/{name}` sends a signal (an approval, a
//! rejection, any named message with a JSON payload) to an execution. A signal is a
//! CloudEvent of type `harmonia.signal`, the name as its `subject`, the execution as its
//! `executionid` and the caller as its `sender`: it goes into the durable log like any
//! event, so a task that waits for it (`wait_for: {signal: name}`) gets it even if it was
//! sent before the wait began (within the look-back), and the history keeps who sent it.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use harmonia_model::SIGNAL_TYPE;
use harmonia_runner::CloudEvent;
use serde_json::{Value, json};

use super::auth::{Caller, Role};
use super::table::Op;
use super::{ApiError, AppState};

pub(super) fn ops() -> Vec<Op> {
    vec![
        Op::post("/api/v1/executions/{id}/signals/{name}", "signalExecution", "Send a signal to an execution (approve, reject, ...)", signal)
            .role(Role::Operator)
            .describe("The body (any JSON, optional) is the signal's data. A task waiting with `wait_for: {signal: NAME}` gets it as its output, with `sender` (the caller's token name). \
                       A signal is kept in the event log: one sent shortly before the task begins to wait is found there.")
            .path_param("name", json!({ "type": "string", "minLength": 1, "maxLength": 1024 }), "The signal's name")
            .json_body(json!({}), false)
            .ok(202, "In the event log", json!({ "type": "object", "properties": {
                "execution": { "type": "string" }, "signal": { "type": "string" }, "seq": { "type": "integer" }, "sender": { "type": "string" } } }))
            .errors(&[404]),
    ]
}

async fn signal(
    State(state): State<Arc<AppState>>,
    Path((id, name)): Path<(String, String)>,
    caller: Option<Extension<Caller>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let data: Option<Value> = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let value = serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", format!("the body is not JSON: {e}")))?;
        Some(value)
    };
    if name.is_empty() || name.len() > 1024 || name.contains('\0') {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_request", "a signal's name is 1 to 1024 characters"));
    }
    state.runner.get(&id).await?; // 404 for an execution that does not exist
    let sender = caller.map_or(Caller::Anonymous, |Extension(c)| c).name().to_string();
    let mut event =
        CloudEvent::new(harmonia_runner::new_execution_id(), format!("/api/v1/executions/{id}/signals"), SIGNAL_TYPE);
    event.subject = Some(name.clone());
    event.data = data;
    event.extensions.insert("executionid".into(), json!(id));
    event.extensions.insert("sender".into(), json!(sender));
    event.check().map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.0))?;
    let accepted = state.runner.accept(vec![event]).await.map_err(super::store_error)?;
    let seq = accepted.first().map(|a| a.seq);
    let answer = json!({ "execution": id, "signal": name, "seq": seq, "sender": sender });
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}

//! Incoming webhooks: `POST /api/v1/hooks/{name}` turns any JSON body into a CloudEvent of
//! the hook's type (the body is its data), so that systems that do not speak CloudEvents
//! can start workflows. A hook with a secret takes callers without a token and checks the
//! body's HMAC-SHA256 signature (`sha256=<hex>` in its signature header); one without needs
//! an operator token. Hooks are made with `PUT /api/v1/hooks/{name}` (admin).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use harmonia_runner::CloudEvent;
use harmonia_runner::events::hooks::{self, Hook, SIGNATURE_HEADER};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{Caller, Role};
use super::table::Op;
use super::{ApiError, AppState, JsonObject};

pub(super) fn ops() -> Vec<Op> {
    let name = json!({ "type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$" });
    let hook = json!({ "type": "object", "properties": {
        "name": { "type": "string" }, "type": { "type": "string" }, "source": { "type": "string" }, "signed": { "type": "boolean" },
        "signature_header": { "type": "string" }, "id_header": { "type": "string" } } });
    let text = json!({ "type": "string", "minLength": 1, "maxLength": 1024, "pattern": "^[^\\u0000]*$" });
    let header = json!({ "type": "string", "pattern": "^[A-Za-z0-9-]{1,64}$" });
    vec![
        Op::get("/api/v1/hooks", "listHooks", "The incoming webhooks (never their secrets)", list)
            .ok(200, "The hooks", json!({ "type": "object", "properties": { "hooks": { "type": "array", "items": hook.clone() } } })),
        Op::put("/api/v1/hooks/{name}", "putHook", "Make or replace an incoming webhook", put)
            .path_param("name", name.clone(), "The hook's name, in its URL")
            // null is as good as absent.
            .json_body(json!({ "type": "object", "required": ["type"], "additionalProperties": false, "properties": {
                "type": text.clone(), "source": { "anyOf": [text.clone(), { "type": "null" }] },
                "secret": { "anyOf": [{ "type": "string", "minLength": 16, "maxLength": 1024 }, { "type": "null" }] },
                "signature_header": { "anyOf": [header.clone(), { "type": "null" }] }, "id_header": { "anyOf": [header, { "type": "null" }] } } }), true)
            .ok(201, "Made", hook.clone())
            .also(200, "Replaced", hook)
            .errors(&[400]),
        Op::delete("/api/v1/hooks/{name}", "deleteHook", "Remove an incoming webhook", remove)
            .path_param("name", name.clone(), "The hook's name")
            .ok(200, "Removed", json!({ "type": "object" }))
            .errors(&[404]),
        Op::post("/api/v1/hooks/{name}", "receiveHook", "Deliver to an incoming webhook: the JSON body becomes an event", receive)
            .signed()
            .describe("A hook with a secret needs no token: the body must be signed, `sha256=<hex HMAC-SHA256 of the body with the secret>` in its signature header (`X-Harmonia-Signature` by default), else 401 `bad_signature`. \
                       A hook without a secret needs an operator token. The event's id is the hook's `id_header` (a delivery id: a delivery sent again is a duplicate), else a new one.")
            .path_param("name", name, "The hook's name")
            .json_body(json!({}), false)
            .ok(202, "In the event log", json!({ "type": "object", "properties": { "seq": { "type": "integer" }, "duplicate": { "type": "boolean" } } }))
            .errors(&[404]),
    ]
}

fn unknown(name: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "unknown_hook", format!("no hook named {name:?}"))
}

fn check_name(name: &str) -> Result<(), ApiError> {
    harmonia_runner::tokens::check_name(name).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_name",
            "a hook's name is 1 to 64 letters, digits, '.', '_' or '-'",
        )
    })
}

async fn list(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let hooks = super::blocking(&state, hooks::list).await?;
    Ok(Json(json!({ "hooks": hooks.iter().map(Hook::public).collect::<Vec<_>>() })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutBody {
    #[serde(rename = "type")]
    event_type: String,
    source: Option<String>,
    secret: Option<String>,
    signature_header: Option<String>,
    id_header: Option<String>,
}

async fn put(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    JsonObject(body): JsonObject<PutBody>,
) -> Result<Response, ApiError> {
    check_name(&name)?;
    let bad = |message: String| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message);
    // What its events will carry must make valid events.
    let mut probe = CloudEvent::new(
        "probe",
        body.source.clone().unwrap_or_else(|| format!("harmonia/hooks/{name}")),
        &body.event_type,
    );
    probe.specversion = "1.0".into();
    probe.check().map_err(|e| bad(e.0))?;
    if body.secret.as_ref().is_some_and(|s| s.chars().count() < 16 || s.chars().count() > 1024) {
        return Err(bad("a hook's secret must be 16 to 1024 characters".into()));
    }
    for header in [&body.signature_header, &body.id_header].into_iter().flatten() {
        if header.is_empty() || header.len() > 64 || !header.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(bad(format!("{header:?} is not a header name")));
        }
    }
    let hook = Hook {
        name,
        event_type: body.event_type,
        source: body.source,
        secret: body.secret,
        signature_header: body.signature_header.map(|h| h.to_ascii_lowercase()),
        id_header: body.id_header.map(|h| h.to_ascii_lowercase()),
    };
    let stored = hook.clone();
    let replaced = super::blocking(&state, move |store| hooks::put(store, &stored)).await?;
    let status = if replaced { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(hook.public())).into_response())
}

async fn remove(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    check_name(&name)?;
    let key = name.clone();
    if !super::blocking(&state, move |store| hooks::delete(store, &key)).await? {
        return Err(unknown(&name));
    }
    Ok(Json(json!({ "removed": name })))
}

async fn receive(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_name(&name).map_err(|_| unknown(&name))?;
    let key = name.clone();
    let hook = super::blocking(&state, move |store| hooks::get(store, &key)).await?.ok_or_else(|| unknown(&name))?;
    let caller = caller.map_or(Caller::Unauthenticated, |Extension(c)| c);
    match &hook.secret {
        Some(secret) => {
            let header = hook.signature_header.as_deref().unwrap_or(SIGNATURE_HEADER);
            let given = headers.get(header).and_then(|v| v.to_str().ok()).unwrap_or_default();
            if !signature_matches(secret, &body, given) {
                let message = format!(
                    "the body's signature in {header} is missing or wrong (sha256=<hex HMAC-SHA256 of the body>)"
                );
                return Err(ApiError::new(StatusCode::UNAUTHORIZED, "bad_signature", message));
            }
        }
        None => match &caller {
            Caller::Anonymous => {}
            Caller::Token { role, .. } if *role >= Role::Operator => {}
            Caller::Token { role, .. } => {
                let message = format!("role {role} may not deliver to a hook without a secret (it needs operator)");
                return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", message));
            }
            Caller::Unauthenticated => {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "this hook has no secret: send an operator token",
                ));
            }
        },
    }
    let data: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", format!("the body is not JSON: {e}")))?
    };
    let id = hook
        .id_header
        .as_deref()
        .and_then(|h| headers.get(h))
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map_or_else(harmonia_runner::new_execution_id, str::to_string);
    let mut event = CloudEvent::new(id, hook.source(), &hook.event_type);
    event.data = Some(data);
    event.check().map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_event", e.0))?;
    let accepted = state.runner.accept(vec![event]).await.map_err(super::store_error)?;
    let first = accepted.first().map(|a| json!({ "seq": a.seq, "duplicate": a.duplicate }));
    Ok((StatusCode::ACCEPTED, Json(first.unwrap_or(Value::Null))).into_response())
}

/// Whether `given` is `sha256=<hex>` of the HMAC-SHA256 of `body` with `secret`; compared
/// in constant time.
pub fn signature_matches(secret: &str, body: &[u8], given: &str) -> bool {
    let Some(hex) = given.trim().strip_prefix("sha256=") else { return false };
    let Some(tag) = decode_hex(hex) else { return false };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::verify(&key, body, &tag).is_ok()
}

/// `sha256=<hex>` of `body` with `secret` (what a sender puts in the signature header).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = ring::hmac::sign(&key, body);
    format!("sha256={}", harmonia_runner::tokens::hex(tag.as_ref()))
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::{sign, signature_matches};

    #[test]
    fn signatures_are_hmac_sha256_in_hex() {
        // RFC 4231, test case 2.
        let tag = sign("Jefe", b"what do ya want for nothing?");
        assert_eq!(tag, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        assert!(signature_matches("Jefe", b"what do ya want for nothing?", &tag));
        assert!(!signature_matches("Jefe", b"what do ya want for nothing!", &tag));
        assert!(!signature_matches("Jefe", b"x", "sha256=zz"));
        assert!(!signature_matches("Jefe", b"x", ""));
    }
}

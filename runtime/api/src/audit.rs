//! The audit log: one entry per state-changing request (every method but GET and HEAD,
//! refused requests included), kept in the store's `audit` space under a global sequence
//! number: who (the token's name, `anonymous` without tokens, `unauthenticated`), what
//! (method, path and query, never the body; what a handler adds as [`AuditDetails`], such
//! as the name and role of a token made), when, and the result (the status, and `ok` or
//! the error code). Admins read it at `GET /api/v1/audit?after=SEQ&limit=N`.
//!
//! What one entry keeps is bounded ([`MAX_PATH`]), and so is what refused requests can add:
//! past [`REFUSALS_PER_SECOND`] in a second, refusals are counted and written as one entry,
//! so that a flood of requests without a token cannot fill the disk through the log.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::{Body, HttpBody};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use harmonia_runner::audit::{AuditTrail, bounded};
pub use harmonia_runner::audit::{Entry, MAX_PATH};
use harmonia_store::Store;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Role;
use super::table::Op;
use super::{ApiError, AppState};

/// Error bodies up to this size are read for their code; larger ones (none of ours) are
/// passed on untouched and recorded by their status.
const MAX_ERROR_BODY: u64 = 64 * 1024;

/// Refused requests recorded one by one in a second; more are counted into one entry.
pub const REFUSALS_PER_SECOND: u32 = 20;

/// What a handler adds to its request's entry (a response extension): the token made, say.
#[derive(Clone)]
pub struct AuditDetails(pub Value);

/// Appends entries to the audit space.
pub struct AuditLog {
    trail: AuditTrail,
    refusals: Mutex<RefusalWindow>,
}

/// Refused requests of the current second: how many were recorded, how many only counted.
struct RefusalWindow {
    started: Instant,
    recorded: u32,
    counted: u64,
}

impl AuditLog {
    pub fn new(store: Arc<dyn Store>) -> AuditLog {
        let refusals = RefusalWindow { started: Instant::now(), recorded: 0, counted: 0 };
        AuditLog { trail: AuditTrail::new(store), refusals: Mutex::new(refusals) }
    }

    /// Records the request and passes `response` on once the entry is committed, so that
    /// nothing acknowledged is missing from the log. A failed write is logged, not turned
    /// into an error: what the request did is done. A request refused before it was
    /// authenticated (`refused_unknown`) may only be counted (see [`REFUSALS_PER_SECOND`]).
    pub(super) async fn record(
        &self,
        who: &str,
        method: &Method,
        path: &str,
        refused_unknown: bool,
        response: Response,
    ) -> Response {
        let status = response.status();
        let details = response.extensions().get::<AuditDetails>().map(|d| d.0.clone());
        let (response, result) = result_of(response).await;
        let entry = Entry { who, method: method.as_str(), path, status: status.as_u16(), result: &result, details };
        let admitted = self.admit(refused_unknown).await;
        if admitted {
            self.write(&entry).await;
        }
        response
    }

    /// Records one action taken inside a request (a WebSocket message), once committed.
    pub(super) async fn note(&self, entry: Entry<'_>) {
        self.write(&entry).await;
    }

    /// Whether an entry is written: always, unless it is a refusal past the second's
    /// allowance (then it is counted). Once a second is over, whatever entry comes next
    /// first writes the refusals counted in it as one entry.
    async fn admit(&self, refusal: bool) -> bool {
        let (admit, counted) = {
            let mut window = self.refusals.lock().expect("audit lock");
            let mut counted = 0;
            if window.started.elapsed() >= Duration::from_secs(1) {
                counted = std::mem::take(&mut window.counted);
                *window = RefusalWindow { started: Instant::now(), recorded: 0, counted: 0 };
            }
            let admit = !refusal || window.recorded < REFUSALS_PER_SECOND;
            match (refusal, admit) {
                (false, _) => {}
                (true, true) => window.recorded += 1,
                (true, false) => window.counted += 1,
            }
            (admit, counted)
        };
        if counted > 0 {
            let details = Some(
                json!({ "count": counted, "why": format!("over {REFUSALS_PER_SECOND} refused requests in a second: counted, not recorded one by one") }),
            );
            self.write(&Entry {
                who: "unauthenticated",
                method: "*",
                path: "*",
                status: 401,
                result: "refusals_counted",
                details,
            })
            .await;
        }
        admit
    }

    async fn write(&self, entry: &Entry<'_>) {
        if let Err(e) = self.trail.write(entry).await {
            tracing::error!(
                "audit entry for {} {} by {} not written: {e}",
                entry.method,
                bounded(entry.path),
                entry.who
            );
        }
    }
}

/// `ok` for a success, else the error code of the `{"error": {"code"}}` body (put back for
/// the client), else one made of the status (`method_not_allowed`).
async fn result_of(response: Response) -> (Response, String) {
    let status = response.status();
    if !status.is_client_error() && !status.is_server_error() {
        return (response, "ok".to_owned());
    }
    let by_status = || status.canonical_reason().unwrap_or("error").to_ascii_lowercase().replace([' ', '-'], "_");
    if response.body().size_hint().exact().is_none_or(|size| size > MAX_ERROR_BODY) {
        return (response, by_status());
    }
    let (parts, body) = response.into_parts();
    match axum::body::to_bytes(body, MAX_ERROR_BODY as usize).await {
        Ok(bytes) => {
            let code = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
                .unwrap_or_else(by_status);
            (Response::from_parts(parts, Body::from(bytes)), code)
        }
        // The body failed while being read: the client would have got the same failure.
        Err(_) => (Response::from_parts(parts, Body::empty()), by_status()),
    }
}

pub(super) fn ops() -> Vec<Op> {
    vec![
        Op::get("/api/v1/audit", "readAudit", "The audit log: every state-changing request, oldest first", read)
            .role(Role::Admin)
            .query(
                "after",
                json!({ "type": "integer", "minimum": 0, "maximum": u64::MAX }),
                "Entries after this sequence number (the `next` of the previous page)",
            )
            .query(
                "limit",
                json!({ "type": "integer", "minimum": 1, "maximum": 1000 }),
                "At most this many (100 by default)",
            )
            .ok(
                200,
                "A page of entries (who, method, path, status, time); `next` is null at the end",
                json!({ "type": "object", "properties": {
            "entries": { "type": "array", "items": { "type": "object" } }, "next": { "type": ["integer", "null"] } } }),
            )
            .errors(&[400]),
    ]
}

#[derive(Deserialize)]
struct ReadQuery {
    /// Entries after this sequence number (0: from the first).
    #[serde(default)]
    after: u64,
    /// At most this many (100 by default, 1000 at most).
    limit: Option<usize>,
}

/// `GET /api/v1/audit?after=SEQ&limit=N`: the entries after `SEQ`, oldest first; `next` is
/// the `after` of the next page, or null at the end.
async fn read(
    State(state): State<Arc<AppState>>,
    query: Result<Query<ReadQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text()))?;
    let limit = super::page_limit(query.limit)?;
    let (entries, next) =
        super::blocking(&state, move |store| harmonia_runner::audit::read(store, query.after, limit)).await?;
    Ok(Json(json!({ "entries": entries, "next": next })))
}

//! Authentication and access control: bearer tokens with a role each (`viewer`, `operator`,
//! `admin`), kept in the store's `tokens` space as the SHA-256 of the secret (the secret is
//! shown once, when created, and never stored). The [`guard`] middleware authenticates
//! every request but the probes and has the audit log record every state-changing one;
//! each route's [`authorize`] layer checks the role its operation declares in the route
//! table (`table.rs`).
//!
//! With no tokens at all the server is open (it then listens only on loopback, unless
//! started with `--insecure`): the first token, created with `harmonia token create` or
//! `POST /api/v1/tokens`, closes it.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use harmonia_runner::tokens::{NAME_PATTERN, constant_time_eq, hash, load_tokens, new_token};
pub use harmonia_runner::tokens::{Role, TokenError, TokenRecord};
use harmonia_store::{Batch, Space, Store, StoreError};
use serde::Deserialize;
use serde_json::{Value, json};

use super::table::{Access, Op};
use super::{ApiError, AppState, JsonObject};

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> ApiError {
        let (status, code) = match &e {
            TokenError::Exists(_) => (StatusCode::CONFLICT, "exists"),
            TokenError::NotFound(_) => (StatusCode::NOT_FOUND, "unknown_token"),
            TokenError::InvalidName(_) => (StatusCode::BAD_REQUEST, "invalid_name"),
            TokenError::Random(_) => (StatusCode::INTERNAL_SERVER_ERROR, "random"),
            TokenError::Store(_) => (StatusCode::SERVICE_UNAVAILABLE, "store"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

/// Who made a request, as the audit log names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No tokens are configured: the server is open.
    Anonymous,
    /// Tokens are configured and this request had none, or an unknown one.
    Unauthenticated,
    Token {
        name: String,
        role: Role,
    },
}

impl Caller {
    pub fn name(&self) -> &str {
        match self {
            Caller::Anonymous => "anonymous",
            Caller::Unauthenticated => "unauthenticated",
            Caller::Token { name, .. } => name,
        }
    }
}

async fn session(caller: Option<axum::Extension<Caller>>) -> Json<Value> {
    let caller = caller.map_or(Caller::Unauthenticated, |axum::Extension(c)| c);
    let role = match &caller {
        Caller::Token { role, .. } => role.to_string(),
        // Without tokens every route is open: as an admin's.
        Caller::Anonymous => Role::Admin.to_string(),
        // The guard answers those itself; were one let through, it would have no rights.
        Caller::Unauthenticated => "none".to_string(),
    };
    Json(json!({ "name": caller.name(), "role": role }))
}

/// The tokens a server knows, kept in memory (loaded at start, updated by the token routes,
/// which are the only writers while the server holds the store).
pub struct Auth {
    tokens: RwLock<BTreeMap<String, TokenRecord>>,
    /// Whether no tokens means open: true on loopback or with `--insecure`. False on a
    /// public address, so that revoking the last token does not open the server to anyone.
    open_without_tokens: bool,
    /// Whether the server listens on loopback only: then, without tokens, it answers only
    /// to loopback host names (see [`super::browser`]).
    loopback_only: bool,
    /// Set when the tokens could not be loaded: every request is refused, rather than
    /// served as if there were none.
    unavailable: Option<String>,
    /// Serialises token creation and revocation: check the name, commit, update the map.
    writes: tokio::sync::Mutex<()>,
}

impl Auth {
    pub fn new(tokens: Vec<TokenRecord>, open_without_tokens: bool) -> Auth {
        let tokens = tokens.into_iter().map(|t| (t.name.clone(), t)).collect();
        let writes = tokio::sync::Mutex::new(());
        Auth {
            tokens: RwLock::new(tokens),
            open_without_tokens,
            loopback_only: open_without_tokens,
            unavailable: None,
            writes,
        }
    }

    /// Says whether the server listens on loopback only (assumed when no tokens mean open).
    pub fn listening_on_loopback(mut self, loopback_only: bool) -> Auth {
        self.loopback_only = loopback_only;
        self
    }

    /// The tokens of `store`.
    pub fn load(store: &dyn Store, open_without_tokens: bool) -> Result<Auth, StoreError> {
        Ok(Auth::new(load_tokens(store)?, open_without_tokens))
    }

    /// An `Auth` that refuses every request (503), saying why.
    pub fn unavailable(reason: String) -> Auth {
        Auth { unavailable: Some(reason), ..Auth::new(Vec::new(), false) }
    }

    pub fn len(&self) -> usize {
        self.tokens.read().expect("tokens lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Who sent `headers`, or why they are refused (401, or 503 without tokens loaded).
    fn identify(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        if let Some(reason) = &self.unavailable {
            return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "auth_unavailable", reason.clone()));
        }
        let tokens = self.tokens.read().expect("tokens lock");
        if tokens.is_empty() {
            if self.open_without_tokens {
                return Ok(Caller::Anonymous);
            }
            let message = "no API tokens are configured and this server listens on a public address: \
                           create one with `harmonia token create` while it is stopped";
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message));
        }
        let Some(secret) = bearer(headers) else {
            let message = "this server requires a token: send `Authorization: Bearer <token>`";
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message));
        };
        let presented = hash(secret);
        // Every token is compared, so that the time taken does not say which one matched.
        let mut found = None;
        for record in tokens.values() {
            if constant_time_eq(presented.as_bytes(), record.sha256.as_bytes()) {
                found = Some(Caller::Token { name: record.name.clone(), role: record.role });
            }
        }
        found.ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "unknown or revoked token"))
    }
}

/// The token of `Authorization: Bearer <token>` (the scheme is case-insensitive).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The middleware: authenticates and authorizes every request but reads of `/health` and
/// `/ready` (probes, which say nothing about executions), and
/// has every request that is not a read (refused ones too) recorded in the audit log.
pub(super) async fn guard(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    // The audit log keeps the query too (`?force=true` says what a DELETE did).
    let target = request.uri().path_and_query().map_or_else(|| path.clone(), |p| p.as_str().to_owned());
    let method = request.method().clone();
    let read = method == Method::GET || method == Method::HEAD;
    if read && state.open_paths.contains(&path.as_str()) {
        return next.run(request).await; // probes carry no token
    }
    // A webhook's sender proves itself with a signature its handler checks.
    let signed = state.signed_paths.iter().any(|(m, p)| *m == method && path.starts_with(p));
    if signed && !request.headers().contains_key(header::AUTHORIZATION) {
        let mut request = request;
        request.extensions_mut().insert(Caller::Unauthenticated);
        let response = next.run(request).await;
        // Refusals (a bad signature) are counted past the second's allowance, like others.
        let refused = response.status() == StatusCode::UNAUTHORIZED;
        return state.audit.record(Caller::Unauthenticated.name(), &method, &target, refused, response).await;
    }
    let allowed = match state.auth.identify(request.headers()) {
        Err(refused) => Err((Caller::Unauthenticated, refused)),
        Ok(Caller::Anonymous)
            if let Err(refused) = super::browser::check(request.headers(), request.uri(), state.auth.loopback_only) =>
        {
            Err((Caller::Anonymous, refused))
        }
        // The route decides the role it needs (see `authorize`).
        Ok(caller) => Ok(caller),
    };
    let refused_unknown = matches!(&allowed, Err((Caller::Unauthenticated | Caller::Anonymous, _)));
    let (caller, response) = match allowed {
        Ok(caller) => {
            // Handlers that do more than one thing per request (the WebSocket) check each
            // thing against the caller.
            let mut request = request;
            request.extensions_mut().insert(caller.clone());
            (caller, next.run(request).await)
        }
        Err((caller, error)) => {
            let up_to = state.limits.max_body.max(state.limits.max_upload);
            (caller, refuse_draining(request, error, up_to).await)
        }
    };
    if read {
        return response;
    }
    state.audit.record(caller.name(), &method, &target, refused_unknown, response).await
}

/// The route layer of each operation of the route table: lets the request through if its
/// caller (identified by [`guard`]) has the role the operation declares, else refuses it
/// with a 403 naming both.
pub(crate) async fn authorize(access: Access, request: Request, next: Next) -> Response {
    let Access::Role(needed) = access else { return next.run(request).await }; // the handler checks
    match request.extensions().get::<Caller>() {
        Some(Caller::Token { role, .. }) if *role < needed => {
            let (method, path) = (request.method().clone(), request.uri().path().to_owned());
            let message = format!("role {role} may not {method} {path} (it needs {needed})");
            let limits = request.extensions().get::<super::ApiLimits>().copied().unwrap_or_default();
            let up_to = limits.max_body.max(limits.max_upload);
            refuse_draining(request, ApiError::new(StatusCode::FORBIDDEN, "forbidden", message), up_to).await
        }
        // Only a webhook's delivery comes in unauthenticated (see `guard`), and it is signed.
        Some(Caller::Unauthenticated) => {
            ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "this route needs a token").into_response()
        }
        Some(_) => next.run(request).await,
        // Only the guard lets requests in, always with their caller.
        None => {
            ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "the request was not authenticated").into_response()
        }
    }
}

/// How long a refused request's body is read and dropped, at most (and no more than the
/// largest body a route accepts).
const DRAIN_TIME: Duration = Duration::from_secs(10);

/// A refusal, answered once the request's body (at most `up_to` bytes) is read and dropped
/// (as servers linger before they close): a client that sends its whole body before it
/// reads the answer gets the answer, and the connection can carry its next request. A body
/// beyond the bounds is left, and the connection closed after the answer (the client is
/// told so).
pub(super) async fn refuse_draining(request: Request, error: ApiError, up_to: usize) -> Response {
    let mut response = error.into_response();
    if !drain(request.into_body(), up_to).await {
        response.headers_mut().insert(header::CONNECTION, axum::http::HeaderValue::from_static("close"));
    }
    response
}

/// Reads `body` to its end within `up_to` bytes and [`DRAIN_TIME`]; whether it got there.
async fn drain(body: axum::body::Body, up_to: usize) -> bool {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut seen = 0;
    let read_all = async {
        while let Some(chunk) = stream.next().await {
            seen += chunk.map_err(drop)?.len();
            if seen > up_to {
                return Err(());
            }
        }
        Ok(())
    };
    matches!(tokio::time::timeout(DRAIN_TIME, read_all).await, Ok(Ok(())))
}

pub(super) fn ops() -> Vec<Op> {
    let roles = json!({ "enum": ["viewer", "operator", "admin"] });
    let token = json!({ "type": "object", "required": ["name", "role", "created_at"], "properties": {
        "name": { "type": "string" }, "role": roles.clone(), "created_at": { "type": "integer", "description": "In ms since the Unix epoch" } } });
    let mut made = token.clone();
    made["properties"]["token"] =
        json!({ "type": "string", "description": "The secret: `Authorization: Bearer` it (shown this once)" });
    made["required"] = json!(["name", "role", "created_at", "token"]);
    let name = json!({ "type": "string", "pattern": NAME_PATTERN });
    vec![
        Op::get("/api/v1/session", "getSession", "Who this request's token is: its name and role", session)
            .describe("What a client (the console) shows or hides by role. On a server without tokens, `anonymous` with every role (`admin`).")
            .ok(200, "`name` and `role`", json!({ "type": "object", "required": ["name", "role"], "properties": {
                "name": { "type": "string" }, "role": roles.clone() } })),
        Op::get("/api/v1/tokens", "listTokens", "The API tokens (names and roles, never secrets)", list)
            .role(Role::Admin)
            .ok(
                200,
                "The tokens",
                json!({ "type": "object", "properties": { "tokens": { "type": "array", "items": token.clone() } } }),
            ),
        Op::post("/api/v1/tokens", "createToken", "Create a token; its secret is in this answer only", create)
            .json_body(
                json!({ "type": "object", "additionalProperties": false, "required": ["name", "role"], "properties": {
                "name": name.clone(), "role": roles } }),
                true,
            )
            .ok(201, "The token, with its secret in `token`", made)
            .errors(&[409]),
        Op::delete("/api/v1/tokens/{name}", "revokeToken", "Revoke a token", revoke)
            .path_param("name", name, "1 to 64 letters, digits, `.`, `_` and `-`")
            .ok(
                200,
                "Revoked",
                json!({ "type": "object", "required": ["revoked"], "properties": { "revoked": token } }),
            )
            .errors(&[404]),
    ]
}

async fn list(State(state): State<Arc<AppState>>) -> Json<Value> {
    let tokens = state.auth.tokens.read().expect("tokens lock");
    Json(json!({ "tokens": tokens.values().map(TokenRecord::public).collect::<Vec<_>>() }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    role: Role,
}

/// Commits `batch` without blocking a runtime thread on the disk sync.
pub(super) async fn commit(store: &dyn Store, batch: Batch) -> Result<(), StoreError> {
    let (done, result) = tokio::sync::oneshot::channel();
    store.commit_then(batch, Box::new(move |r| drop(done.send(r))));
    result.await.unwrap_or_else(|_| Err(StoreError::Io { message: "the store's writer stopped".to_owned() }))
}

/// `POST /api/v1/tokens {name, role}`: 201 with the secret, shown this once.
async fn create(
    State(state): State<Arc<AppState>>,
    JsonObject(body): JsonObject<CreateBody>,
) -> Result<Response, ApiError> {
    let _writing = state.auth.writes.lock().await;
    if state.auth.tokens.read().expect("tokens lock").contains_key(&body.name) {
        return Err(TokenError::Exists(body.name).into());
    }
    let (record, secret, batch) = new_token(&body.name, body.role)?;
    commit(&*state.store, batch).await.map_err(TokenError::from)?;
    let mut shown = record.public();
    shown["token"] = json!(secret);
    let details = super::audit::AuditDetails(record.audit_details());
    state.auth.tokens.write().expect("tokens lock").insert(record.name.clone(), record);
    let mut response = (StatusCode::CREATED, Json(shown)).into_response();
    response.extensions_mut().insert(details);
    Ok(response)
}

/// `DELETE /api/v1/tokens/{name}`: the token stops working at once.
async fn revoke(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    let _writing = state.auth.writes.lock().await;
    let Some(record) = state.auth.tokens.read().expect("tokens lock").get(&name).cloned() else {
        return Err(TokenError::NotFound(name).into());
    };
    let mut batch = Batch::new();
    batch.delete(Space::Tokens, name.as_bytes());
    commit(&*state.store, batch).await.map_err(TokenError::from)?;
    state.auth.tokens.write().expect("tokens lock").remove(&name);
    Ok(Json(json!({ "revoked": record.public() })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use harmonia_runner::tokens::{create_token, revoke_token};
    use harmonia_store::MemStore;

    #[test]
    fn secrets_are_random_and_stored_only_as_hashes() {
        let store = MemStore::new();
        let (record, secret) = create_token(&store, "ci", Role::Operator).unwrap();
        assert!(secret.starts_with("hm_") && secret.len() == 67, "{secret}");
        assert_eq!(record.sha256, hash(&secret));
        let stored = String::from_utf8(store.get(Space::Tokens, b"ci").unwrap().unwrap()).unwrap();
        assert!(!stored.contains(&secret[3..]), "{stored}");
        assert!(matches!(create_token(&store, "ci", Role::Admin), Err(TokenError::Exists(_))));
        assert!(matches!(create_token(&store, "a b", Role::Admin), Err(TokenError::InvalidName(_))));
        let (_, other) = create_token(&store, "other", Role::Viewer).unwrap();
        assert_ne!(secret, other);
        assert_eq!(load_tokens(&store).unwrap().len(), 2);
        assert_eq!(revoke_token(&store, "ci").unwrap().role, Role::Operator);
        assert!(matches!(revoke_token(&store, "ci"), Err(TokenError::NotFound(_))));
    }

    #[test]
    fn identify_by_bearer_token() {
        let store = MemStore::new();
        let (_, secret) = create_token(&store, "ops", Role::Operator).unwrap();
        let auth = Auth::load(&store, true).unwrap();
        let headers = |value: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, value.parse().unwrap());
            h
        };
        let ops = Caller::Token { name: "ops".into(), role: Role::Operator };
        assert_eq!(auth.identify(&headers(&format!("Bearer {secret}"))).ok(), Some(ops.clone()));
        assert_eq!(auth.identify(&headers(&format!("bearer  {secret} "))).ok(), Some(ops));
        assert!(auth.identify(&headers("Bearer hm_00")).is_err());
        assert!(auth.identify(&headers(&format!("Basic {secret}"))).is_err());
        assert!(auth.identify(&HeaderMap::new()).is_err());
        assert_eq!(Auth::new(Vec::new(), true).identify(&HeaderMap::new()).ok(), Some(Caller::Anonymous));
        assert!(Auth::new(Vec::new(), false).identify(&HeaderMap::new()).is_err());
        assert!(
            constant_time_eq(b"abc", b"abc") && !constant_time_eq(b"abc", b"abd") && !constant_time_eq(b"a", b"ab")
        );
    }
}

//! The API's route table: each operation's method, path, handler, the role it needs, and
//! its documentation. The router (with each route's authorization) and the OpenAPI document
//! (`GET /api/v1/openapi.json`) are both built from it, so the document cannot list a route
//! the server lacks, nor miss one it has, nor say another role than the one enforced.

use std::sync::Arc;

use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{self, MethodRouter};
use serde_json::{Map, Value, json};

use super::AppState;
use super::auth::{self, Role};

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Anyone, without a token: the probes (`/health`, `/ready`), which say nothing about
    /// executions.
    Open,
    /// A token of at least this role (or anyone, on a server without tokens).
    Role(Role),
    /// Anyone: the handler checks a signature of the body, or the caller's token (incoming
    /// webhooks).
    Signed,
}

/// One operation: a method on a path, its handler, and what the document says of it.
pub(crate) struct Op {
    doc: Doc,
    handler: MethodRouter<Arc<AppState>>,
}

/// What the OpenAPI document says of an operation.
#[derive(Clone)]
pub(crate) struct Doc {
    pub method: Method,
    /// The path as the router matches it, `{name}` for a parameter (OpenAPI's syntax too).
    pub path: &'static str,
    pub access: Access,
    pub id: &'static str,
    summary: &'static str,
    description: Option<&'static str>,
    /// Path parameters whose schema is not any string: (name, schema, description).
    params: Vec<(&'static str, Value, &'static str)>,
    query: Vec<Value>,
    headers: Vec<Value>,
    body: Option<Value>,
    ok: (u16, &'static str, Value),
    /// Other answers than `ok` and the JSON error: (status, description, content).
    also: Vec<(u16, &'static str, Value)>,
    /// OpenAPI links of the `ok` answer: what can be done next with what it returned.
    links: Map<String, Value>,
    errors: Vec<u16>,
}

/// The media type of JSON, for the common case.
const JSON: &str = "application/json";

impl Op {
    fn new(
        method: Method,
        path: &'static str,
        id: &'static str,
        summary: &'static str,
        handler: MethodRouter<Arc<AppState>>,
    ) -> Op {
        let ok = (200, "Done", json!({ JSON: {} }));
        // Reads need a viewer and changes an admin unless the operation says otherwise, so
        // that an operation added without thought is no wider open than the rest.
        let access = Access::Role(if method == Method::GET { Role::Viewer } else { Role::Admin });
        let doc = Doc {
            method,
            path,
            access,
            id,
            summary,
            description: None,
            params: vec![],
            query: vec![],
            headers: vec![],
            body: None,
            ok,
            also: vec![],
            links: Map::new(),
            errors: vec![],
        };
        Op { doc, handler }
    }

    pub fn get<H: Handler<T, Arc<AppState>>, T: 'static>(
        path: &'static str,
        id: &'static str,
        summary: &'static str,
        h: H,
    ) -> Op {
        Op::new(Method::GET, path, id, summary, routing::get(h))
    }

    pub fn post<H: Handler<T, Arc<AppState>>, T: 'static>(
        path: &'static str,
        id: &'static str,
        summary: &'static str,
        h: H,
    ) -> Op {
        Op::new(Method::POST, path, id, summary, routing::post(h))
    }

    pub fn put<H: Handler<T, Arc<AppState>>, T: 'static>(
        path: &'static str,
        id: &'static str,
        summary: &'static str,
        h: H,
    ) -> Op {
        Op::new(Method::PUT, path, id, summary, routing::put(h))
    }

    pub fn delete<H: Handler<T, Arc<AppState>>, T: 'static>(
        path: &'static str,
        id: &'static str,
        summary: &'static str,
        h: H,
    ) -> Op {
        Op::new(Method::DELETE, path, id, summary, routing::delete(h))
    }

    /// The least role that may call this operation (see [`Op::new`] for the default).
    pub fn role(mut self, role: Role) -> Op {
        self.doc.access = Access::Role(role);
        self
    }

    /// Checked by its handler: a signature of the body, or a token (a webhook).
    pub fn signed(mut self) -> Op {
        self.doc.access = Access::Signed;
        self
    }

    /// Open to anyone without a token (a probe).
    pub fn open(mut self) -> Op {
        self.doc.access = Access::Open;
        self
    }

    /// A longer description (CommonMark).
    pub fn describe(mut self, text: &'static str) -> Op {
        self.doc.description = Some(text);
        self
    }

    /// The schema of a path parameter that is not any string (a name with a pattern).
    pub fn path_param(mut self, name: &'static str, schema: Value, description: &'static str) -> Op {
        debug_assert!(self.doc.path.contains(&format!("{{{name}}}")), "{} has no {{{name}}}", self.doc.path);
        self.doc.params.push((name, schema, description));
        self
    }

    /// A query parameter with its JSON schema.
    pub fn query(mut self, name: &str, schema: Value, description: &str) -> Op {
        self.doc.query.push(
            json!({ "name": name, "in": "query", "required": false, "schema": schema, "description": description }),
        );
        self
    }

    /// A request header the operation reads, with its JSON schema; `required` when it may not
    /// be left out.
    pub fn header(mut self, name: &str, schema: Value, required: bool, description: &str) -> Op {
        self.doc.headers.push(
            json!({ "name": name, "in": "header", "required": required, "schema": schema, "description": description }),
        );
        self
    }

    /// A JSON body with this schema; `required` when it may not be left out.
    pub fn json_body(mut self, schema: Value, required: bool) -> Op {
        self.doc.body = Some(json!({ "required": required, "content": { JSON: { "schema": schema } } }));
        self
    }

    /// A body of other media types, each with its schema.
    pub fn body(mut self, content: Value, description: &str) -> Op {
        self.doc.body = Some(json!({ "required": true, "description": description, "content": content }));
        self
    }

    /// The success answer: its status, what it means, and its JSON schema.
    pub fn ok(self, status: u16, description: &'static str, schema: Value) -> Op {
        self.ok_as(status, description, json!({ JSON: { "schema": schema } }))
    }

    /// The success answer in other media types (`content` as in OpenAPI).
    pub fn ok_as(mut self, status: u16, description: &'static str, content: Value) -> Op {
        self.doc.ok = (status, description, content);
        self
    }

    /// Another success answer than `ok` (a 200 where `ok` is a 201), with its JSON schema.
    pub fn also(self, status: u16, description: &'static str, schema: Value) -> Op {
        self.also_as(status, description, json!({ JSON: { "schema": schema } }))
    }

    /// Another answer than `ok` and the JSON error, in other media types (`content` as in
    /// OpenAPI).
    pub fn also_as(mut self, status: u16, description: &'static str, content: Value) -> Op {
        self.doc.also.push((status, description, content));
        self
    }

    /// An OpenAPI link of the `ok` answer: `operation` (an operationId) takes its path
    /// parameters from it, each a runtime expression such as `$response.body#/id`.
    pub fn link(mut self, name: &str, operation: &str, parameters: Value) -> Op {
        self.doc.links.insert(name.to_owned(), json!({ "operationId": operation, "parameters": parameters }));
        self
    }

    /// `f(self)`: a step shared by several operations, in a chain.
    pub fn apply(self, f: impl FnOnce(Op) -> Op) -> Op {
        f(self)
    }

    /// A body limit of its own for this operation, instead of the server's `--max-body`.
    pub fn body_limit(mut self, bytes: usize) -> Op {
        self.handler = self.handler.layer(axum::extract::DefaultBodyLimit::max(bytes));
        self
    }

    /// The error statuses this operation answers besides 401, 403 and 503 (400 with path or
    /// query parameters, 400 and 413 with a body).
    pub fn errors(mut self, statuses: &[u16]) -> Op {
        self.doc.errors.extend_from_slice(statuses);
        self
    }
}

/// The router of `ops` (`/api/v1/openapi.json` included) and their documentation.
pub(crate) fn build(mut ops: Vec<Op>) -> (Router<Arc<AppState>>, Arc<Vec<Doc>>) {
    let docs_cell: Arc<std::sync::OnceLock<Value>> = Arc::default();
    let cell = docs_cell.clone();
    let openapi = Op::get(
        "/api/v1/openapi.json",
        "getOpenApi",
        "This document: every route of the API (OpenAPI 3.1)",
        move || {
            let cell = cell.clone();
            async move { axum::Json(cell.get().cloned().unwrap_or(Value::Null)) }
        },
    )
    .ok(200, "The OpenAPI document", json!({ "type": "object" }));
    ops.push(openapi);
    let docs: Vec<Doc> = ops.iter().map(|op| op.doc.clone()).collect();
    let _ = docs_cell.set(document(&docs));
    let router = ops.into_iter().fold(Router::new(), |router, op| {
        let access = op.doc.access;
        let authorize = axum::middleware::from_fn(move |request, next| auth::authorize(access, request, next));
        router.route(op.doc.path, op.handler.route_layer(authorize))
    });
    (router, Arc::new(docs))
}

/// The OpenAPI 3.1 document of `docs`.
pub(crate) fn document(docs: &[Doc]) -> Value {
    let mut paths = Map::new();
    for doc in docs {
        let item = paths.entry(doc.path).or_insert_with(|| json!({})).as_object_mut().expect("path item");
        item.insert(doc.method.as_str().to_ascii_lowercase(), operation(doc));
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Harmonia",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Workflows, executions, templates, plugins, live events, tokens and the audit log of a Harmonia server. \
                Errors are `{\"error\": {\"code\", \"message\", \"details\"?}}`. With no tokens configured the server answers only on \
                a loopback address and needs no token; otherwise every route but /health and /ready needs `Authorization: Bearer TOKEN` \
                of a role at least `x-required-role` (viewer < operator < admin).",
        },
        "paths": paths,
        "security": [{ "bearer": [] }],
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "description": "A token made by `harmonia token create` or `POST /api/v1/tokens`." } },
            "schemas": { "Error": error_schema() },
            "responses": { "Error": {
                "description": "What is wrong, with a stable code",
                "content": { JSON: { "schema": { "$ref": "#/components/schemas/Error" } } },
            } },
        },
    })
}

fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["error"],
        "properties": { "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": { "type": "string", "description": "Stable and machine-readable, such as `unknown_execution`" },
                "message": { "type": "string", "description": "What is wrong, for a person" },
                "details": { "description": "More, such as each error of a workflow with its line and column" },
            },
        } },
    })
}

fn operation(doc: &Doc) -> Value {
    let open = doc.access == Access::Open;
    let mut parameters: Vec<Value> = path_params(doc.path, &doc.params);
    parameters.extend(doc.query.iter().cloned());
    parameters.extend(doc.headers.iter().cloned());
    let mut responses = Map::new();
    for (status, description, content) in std::iter::once(&doc.ok).chain(&doc.also) {
        let mut answer = json!({ "description": description });
        if content.as_object().is_some_and(|c| !c.is_empty()) {
            answer["content"] = content.clone();
        }
        if *status == doc.ok.0 && !doc.links.is_empty() {
            answer["links"] = Value::Object(doc.links.clone());
        }
        responses.insert(status.to_string(), answer);
    }
    let mut errors = doc.errors.clone();
    if !open {
        // No token, or one of a lesser role; the tokens or the store cannot be read.
        errors.extend([401, 403, 503]);
    }
    if doc.body.is_some() {
        // A body that does not parse, or is over the limit.
        errors.extend([400, 413]);
    }
    if doc.path.contains('{') || !doc.query.is_empty() {
        // A path parameter that is not UTF-8 once decoded; a query that does not parse.
        errors.push(400);
    }
    errors.sort_unstable();
    errors.dedup();
    for status in errors {
        // An answer of its own (`/ready`'s 503) is not the JSON error.
        responses.entry(status.to_string()).or_insert_with(|| json!({ "$ref": "#/components/responses/Error" }));
    }
    let tag = tag_of(doc.path);
    let mut op = json!({
        "operationId": doc.id,
        "summary": doc.summary,
        "tags": [tag],
        "parameters": parameters,
        "responses": responses,
        "x-required-role": match doc.access {
            Access::Open => "none",
            Access::Signed => "signature",
            Access::Role(role) => role.name(),
        },
    });
    if let Some(description) = doc.description {
        op["description"] = json!(description);
    }
    if let Some(body) = &doc.body {
        op["requestBody"] = body.clone();
    }
    if open {
        op["security"] = json!([]);
    }
    op
}

fn path_params(path: &str, given: &[(&str, Value, &str)]) -> Vec<Value> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| match given.iter().find(|(n, _, _)| *n == name) {
            Some((_, schema, description)) => {
                json!({ "name": name, "in": "path", "required": true, "schema": schema, "description": description })
            }
            None => json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }),
        })
        .collect()
}

/// The group an operation is listed under: what its path is about.
fn tag_of(path: &str) -> &'static str {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        [.., "executions"] | ["api", "v1", "executions", ..] => "executions",
        ["api", "v1", "workflows", ..] => "workflows",
        ["api", "v1", "templates", ..] => "templates",
        ["api", "v1", "plugins", ..] => "plugins",
        ["api", "v1", "events", ..] | ["api", "v1", "ws"] => "events",
        ["api", "v1", "tokens", ..] | ["api", "v1", "audit"] => "access",
        _ => "service",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each operation's role, as its module declares it beside the operation: reads need a
    /// viewer (the audit log and the tokens an admin), starting and controlling executions
    /// an operator, every other change an admin; only the probes are open.
    #[test]
    fn every_operation_declares_the_role_it_needs() {
        let (_, docs) = build(crate::ops(&crate::ApiLimits::default()));
        let access = |id: &str| docs.iter().find(|d| d.id == id).unwrap_or_else(|| panic!("no operation {id}")).access;
        for id in ["health", "ready"] {
            assert_eq!(access(id), Access::Open, "{id}");
        }
        for id in
            ["listWorkflows", "getExecution", "getHistory", "streamEvents", "webSocket", "getMetrics", "getOpenApi"]
        {
            assert_eq!(access(id), Access::Role(Role::Viewer), "{id}");
        }
        for id in ["startExecution", "pauseExecution", "resumeExecution", "cancelExecution", "retryExecution"]
            .into_iter()
            .chain(["takeCheckpoint", "restoreCheckpoint", "setTaskOutput", "skipTask", "setVars"])
        {
            assert_eq!(access(id), Access::Role(Role::Operator), "{id}");
        }
        for id in ["readAudit", "listTokens", "createToken", "revokeToken", "createWorkflow", "installPlugin"]
            .into_iter()
            .chain(["removePlugin", "instantiateTemplate"])
        {
            assert_eq!(access(id), Access::Role(Role::Admin), "{id}");
        }
        // Nothing else is open, and no change is readable-by-anyone by default.
        for doc in docs.iter() {
            match doc.access {
                Access::Open => assert!(["health", "ready"].contains(&doc.id), "{} is open", doc.id),
                Access::Signed => assert_eq!(doc.id, "receiveHook", "only webhooks check a signature instead"),
                Access::Role(Role::Viewer) => assert_eq!(doc.method, Method::GET, "{} is a change for viewers", doc.id),
                Access::Role(_) => {}
            }
        }
    }

    #[test]
    fn answers_of_their_own_are_kept_and_every_link_names_an_operation() {
        let doc = super::super::openapi_document();
        // /ready's 503 is its own body, not the JSON error that 503 is elsewhere.
        let ready = &doc["paths"]["/ready"]["get"]["responses"]["503"];
        assert_eq!(ready["content"][JSON]["schema"]["properties"]["status"]["const"], "unavailable", "{ready}");
        let start = &doc["paths"]["/api/v1/workflows/{name}/executions"]["post"]["responses"];
        for status in ["200", "201", "202", "400", "401", "403", "404", "413", "503"] {
            assert!(start.get(status).is_some(), "startExecution does not document {status}: {start}");
        }
        let mut ids = std::collections::HashSet::new();
        let mut links = Vec::new();
        for item in doc["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                ids.insert(op["operationId"].as_str().unwrap().to_owned());
                for answer in op["responses"].as_object().unwrap().values() {
                    links.extend(
                        answer["links"]
                            .as_object()
                            .into_iter()
                            .flatten()
                            .map(|(_, l)| l["operationId"].as_str().unwrap().to_owned()),
                    );
                }
            }
        }
        assert!(links.contains(&"restoreCheckpoint".to_owned()), "{links:?}");
        for link in links {
            assert!(ids.contains(&link), "a link names {link}, which is no operation");
        }
    }

    #[test]
    fn every_route_of_the_api_is_in_the_table() {
        // The router is built from the table alone: no module adds a route of its own.
        let sources = [
            ("lib.rs", include_str!("lib.rs")),
            ("workflows.rs", include_str!("workflows.rs")),
            ("executions.rs", include_str!("executions.rs")),
            ("templates.rs", include_str!("templates.rs")),
            ("plugins.rs", include_str!("plugins.rs")),
            ("events.rs", include_str!("events.rs")),
            ("ws.rs", include_str!("ws.rs")),
            ("metrics.rs", include_str!("metrics.rs")),
            ("auth.rs", include_str!("auth.rs")),
            ("audit.rs", include_str!("audit.rs")),
        ];
        for (file, text) in sources {
            for call in [concat!(".route", "("), concat!(".route_service", "("), concat!(".nest", "(")] {
                assert!(!text.contains(call), "api/{file} adds a route outside the table ({call})");
            }
        }
    }
}

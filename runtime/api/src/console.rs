//! The web console: its files, embedded in the binary (`console/` of the repository, and
//! the graph layout libraries the set-up installs, dagre and d3-dag), served at `/` and
//! `/console/...` on the API's port. The console uses the public API with the user's
//! token like any client, so its files need no token; they make no request outside this
//! server (its Content-Security-Policy says so to the browser too).

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// Each file: its name under `/console/`, its content type and its bytes.
const FILES: &[(&str, &str, &[u8])] = &[
    ("index.html", "text/html; charset=utf-8", include_bytes!("../../../console/index.html")),
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../../../console/app.js")),
    ("api.js", "text/javascript; charset=utf-8", include_bytes!("../../../console/api.js")),
    ("graph.js", "text/javascript; charset=utf-8", include_bytes!("../../../console/graph.js")),
    ("dom.js", "text/javascript; charset=utf-8", include_bytes!("../../../console/dom.js")),
    ("execution.js", "text/javascript; charset=utf-8", include_bytes!("../../../console/execution.js")),
    ("layout.js", "text/javascript; charset=utf-8", include_bytes!("../../../console/layout.js")),
    ("layout-small.js", "text/javascript; charset=utf-8", include_bytes!("../../../console/layout-small.js")),
    ("layout-large.js", "text/javascript; charset=utf-8", include_bytes!("../../../console/layout-large.js")),
    ("layout-worker.js", "text/javascript; charset=utf-8", include_bytes!("../../../console/layout-worker.js")),
    ("style.css", "text/css; charset=utf-8", include_bytes!("../../../console/style.css")),
    (
        "vendor/dagre.esm.js",
        "text/javascript; charset=utf-8",
        include_bytes!(concat!(env!("OUT_DIR"), "/dagre.esm.js")),
    ),
    (
        "vendor/d3-dag.esm.js",
        "text/javascript; charset=utf-8",
        include_bytes!(concat!(env!("OUT_DIR"), "/d3-dag.esm.js")),
    ),
];

/// What the browser may load: this server only, no inline script, no framing.
const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                      connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// `/` (the console's page) and its files.
pub(crate) fn router() -> Router {
    Router::new()
        .route("/", get(|| async { file("index.html") }))
        .route("/console/{*file}", get(|Path(name): Path<String>| async move { file(&name) }))
}

fn file(name: &str) -> Response {
    let Some((_, content_type, bytes)) = FILES.iter().find(|(n, _, _)| *n == name) else {
        return super::ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("the console has no file {name}"))
            .into_response();
    };
    let mut response = (*bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

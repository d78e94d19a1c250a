//! Plugins over HTTP: the loaded plugins with their actions and capabilities.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppState;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/api/v1/plugins", get(list))
}

async fn list(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({ "plugins": state.host.plugins(), "failed": state.host.failures() }))
}

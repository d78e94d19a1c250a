//! Workflows: list, store a version, read, delete.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppState;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/api/v1/workflows", get(workflows))
}

async fn workflows(State(state): State<Arc<AppState>>) -> Json<Value> {
    let list = state.workflows.read().expect("workflows lock").list();
    let items: Vec<Value> = list
        .into_iter()
        .map(|(name, versions)| json!({ "name": name, "versions": versions }))
        .collect();
    Json(json!({ "workflows": items }))
}


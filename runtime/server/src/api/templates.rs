//! Workflow templates over HTTP (not built yet).

use std::sync::Arc;

use axum::Router;

use super::AppState;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
}

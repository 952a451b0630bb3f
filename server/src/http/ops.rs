//! Operations endpoints: liveness, readiness, Prometheus metrics, and the OpenAPI document.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use super::AppState;
use super::error::{ApiError, ApiResult};
use crate::domain::Code;

pub fn router(openapi: Arc<utoipa::openapi::OpenApi>) -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route(
            "/api/openapi.json",
            get(move || {
                let doc = openapi.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        )
}

/// Liveness: the process answers.
async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: the store answers, and the server is not shutting down.
async fn readyz(State(state): State<AppState>) -> ApiResult<Json<serde_json::Value>> {
    if state.shutdown.is_cancelled() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Code::ShuttingDown,
            "this node is shutting down",
        ));
    }
    let limit = state.config.redis_timeout() + Duration::from_millis(500);
    let ping = tokio::time::timeout(limit, state.store.ping()).await;
    let ready = matches!(ping, Ok(Ok(())));
    metrics::gauge!("livesale_ready").set(if ready { 1.0 } else { 0.0 });
    match ping {
        Ok(Ok(())) => Ok(Json(
            serde_json::json!({ "status": "ready", "store": state.store.kind() }),
        )),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(crate::store::StoreError::Unavailable("ping timed out".into()).into()),
    }
}

/// Prometheus text exposition.
async fn metrics() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::render(),
    )
}

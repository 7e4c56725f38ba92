//! `GET /healthz` (the process answers) and `GET /readyz` (the database answers too).
//! No data in either, so both are safe to expose.

use axum::extract::State;
use axum::http::StatusCode;

use crate::web::state::AppState;

pub(super) async fn healthz() -> StatusCode {
    StatusCode::OK
}

pub(super) async fn readyz(State(app): State<AppState>) -> StatusCode {
    match app.store.ping().await {
        Ok(()) => StatusCode::OK,
        Err(e) => {
            tracing::warn!(error = %e, "not ready: database unreachable");
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}

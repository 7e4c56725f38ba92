//! `GET /healthz` (the process answers) and `GET /readyz` (the database answers too).
//! No seller, app or key in either, so both are safe to expose; `/readyz` says only how
//! many stored sellers no configured app can refresh.

use axum::extract::State;
use axum::http::StatusCode;

use crate::web::state::AppState;

pub(super) async fn healthz() -> StatusCode {
    StatusCode::OK
}

pub(super) async fn readyz(State(app): State<AppState>) -> (StatusCode, String) {
    if let Err(e) = app.store.ping().await {
        tracing::warn!(error = %e, "not ready: database unreachable");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the database does not answer\n".into(),
        );
    }
    // Ready either way: the service works for every seller an app serves. The rest is for
    // whoever looks (the log names them at startup; the metric counts them).
    match crate::renewal::owners::unrefreshable(&app.store, &app.apps).await {
        Ok(0) | Err(_) => (StatusCode::OK, "ready\n".into()),
        Ok(stranded) => (
            StatusCode::OK,
            format!(
                "ready; {stranded} stored sellers cannot be refreshed by any configured app (see the startup log)\n"
            ),
        ),
    }
}

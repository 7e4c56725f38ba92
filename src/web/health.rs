//! `GET /healthz` (the process answers) and `GET /readyz` (the database answers too).
//! No seller, app or key in either, so both are safe to expose; `/readyz` says only how
//! many stored sellers no configured app can refresh.

use axum::extract::State;
use axum::http::StatusCode;

use crate::web::state::AppState;

pub(super) async fn healthz() -> StatusCode {
    StatusCode::OK
}

/// Readiness answers within this, whatever the store's retry budget: a load balancer must
/// learn within a second or two that the database is away, and again that it is back.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(1);

pub(super) async fn readyz(State(app): State<AppState>) -> (StatusCode, String) {
    let problem = match tokio::time::timeout(READY_WITHIN, app.store.ping()).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some(format!("no answer within {} s", READY_WITHIN.as_secs())),
    };
    if let Some(why) = problem {
        tracing::warn!(why, "not ready: the database does not answer");
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

//! `POST /push` (the implicit app) and `POST /push/{app}`: the URL the operator enters in
//! the platform console's message service. A push is trusted only by its signature over
//! the bytes received; it is stored before the 200, which tells the platform it will not
//! be lost. The same body again (the platform's retry) is answered 200 and kept once.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::clock::{EpochMs, millis};
use crate::iop::push::{Push, signature_holds};
use crate::runtime::AppRuntime;
use crate::web::state::AppState;

/// The largest push taken; a larger body is answered 413 unread.
pub(super) const MAX_PUSH: usize = 1024 * 1024;

pub(super) async fn push(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match app.apps.implicit().cloned() {
        Some(runtime) => receive(&app, &runtime, &headers, &body).await,
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

pub(super) async fn push_app(
    State(app): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match app.apps.named(&name).cloned() {
        Some(runtime) => receive(&app, &runtime, &headers, &body).await,
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The answer's body is ignored by the platform; ours says only what happened, never
/// anything of the push.
async fn receive(
    app: &AppState,
    runtime: &AppRuntime,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    super::name_the_app(runtime);
    let config = &runtime.config;
    let signed = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|signature| {
            use secrecy::ExposeSecret;
            signature_holds(
                config.app_secret.expose_secret(),
                &config.app_key,
                body,
                signature,
            )
        });
    if !signed {
        // Anyone can send these: counted, and logged at debug, not a line each at info.
        app.metrics.push(&config.id, None, "bad_signature");
        tracing::debug!("push refused: no valid signature");
        return (StatusCode::UNAUTHORIZED, "signature does not hold\n").into_response();
    }
    let (Some(push), Ok(text)) = (Push::read(body), std::str::from_utf8(body)) else {
        app.metrics.push(&config.id, None, "not_json");
        tracing::warn!("signed push refused: not a JSON object");
        return (StatusCode::BAD_REQUEST, "not a JSON object\n").into_response();
    };
    let now = EpochMs::new(app.clock.now_ms());
    let retention = millis(app.config.events_retention);
    let saved = app
        .store
        .save_push(
            &config.id,
            &push,
            text,
            now,
            retention,
            &app.config.webhook_endpoints(&config.id),
        )
        .await;
    let outcome = match &saved {
        Ok(Some(_)) => "kept",
        Ok(None) => "duplicate",
        Err(_) => "not_stored",
    };
    app.metrics.push(&config.id, push.message_type, outcome);
    // What it says about a seller is kept on the seller's pair too, on a retry as well: if
    // that fails, the push is not acknowledged, and the platform's retry applies it.
    if let (Ok(_), Some(news)) = (&saved, &push.news) {
        match app.store.apply_seller_news(&config.id, news, now).await {
            Ok(0) => tracing::info!(?news, "the push is about a seller not stored here"),
            Ok(_) => tracing::info!(?news, "seller's authorization news kept"),
            Err(error) => {
                tracing::error!(error = %error, "push kept, but not what it says about the seller: the platform will send it again");
                return (StatusCode::SERVICE_UNAVAILABLE, "not stored\n").into_response();
            }
        }
    }
    match saved {
        Ok(Some(event_id)) => {
            app.bell.ring();
            tracing::info!(
                event_id,
                message_type = push.message_type,
                seller_id = push.seller_id.as_deref().unwrap_or("-"),
                "push received"
            );
            (StatusCode::OK, "ok\n").into_response()
        }
        Ok(None) => {
            tracing::info!(
                message_type = push.message_type,
                seller_id = push.seller_id.as_deref().unwrap_or("-"),
                "push received again: kept once"
            );
            (StatusCode::OK, "ok\n").into_response()
        }
        // Not stored, so not acknowledged: the platform sends it again.
        Err(error) => {
            tracing::error!(error = %error, "push not stored: the platform will send it again");
            let status = if error.is_unavailable() {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            (status, "not stored\n").into_response()
        }
    }
}

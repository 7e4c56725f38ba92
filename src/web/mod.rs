//! The web flow: routes, handlers, views and the layers around them.

mod assets;
mod authorize;
mod callback;
pub mod cookies;
mod health;
mod landing;
pub mod middleware;
mod result;
pub mod state;
pub mod views;

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use authorize::authorize_url;
pub use state::AppState;

use crate::error::AppError;

/// The service's routes with every layer. Extra routes (the sandbox) are merged by the
/// caller before the layers apply, so they get the same headers and logging.
pub fn router(app: AppState, extra: Router) -> Router {
    // The callback waits for the platform; allow that plus time to store.
    let request_timeout = app.config.http_timeout + Duration::from_secs(10);
    let https = app.config.is_https();
    let mut router = Router::new()
        .route("/", get(landing::landing))
        .route("/authorize", get(authorize::authorize))
        .route("/callback", get(callback::callback))
        .route("/result/{id}", get(result::result))
        .route("/healthz", get(health::healthz))
        .route("/static/{name}", get(assets::asset))
        .with_state(app.clone())
        .merge(extra)
        .fallback(|| async { AppError::NotFound })
        .layer(axum::middleware::from_fn(middleware::no_store_by_default));
    for (name, value) in middleware::security_headers(https) {
        router = router.layer(SetResponseHeaderLayer::overriding(name, value));
    }
    router
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            request_timeout,
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(middleware::request_span)
                .on_request(())
                .on_response(middleware::log_response)
                .on_body_chunk(())
                .on_eos(())
                .on_failure(()),
        )
        .layer(axum::middleware::from_fn_with_state(
            app,
            middleware::request_context,
        ))
}

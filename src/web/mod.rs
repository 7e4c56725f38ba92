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
pub use middleware::PageContext;
pub use state::AppState;

use crate::error::AppError;
use crate::metrics::Metrics;

/// The service's routes with every layer. Extra routes (the sandbox in `demo`) are merged
/// before the layers apply, so they get the same headers, logging and error pages.
pub fn router(app: AppState, extra: Router) -> Router {
    let layers = Layers {
        https: app.config.is_https(),
        // The callback waits for the platform; allow that plus time to store.
        request_timeout: app.config.http_timeout + Duration::from_secs(10),
        page: PageContext {
            sandbox: app.sandbox,
        },
        metrics: app.metrics.clone(),
    };
    let routes = Router::new()
        .route("/", get(landing::landing))
        .route("/authorize", get(authorize::authorize))
        .route("/callback", get(callback::callback))
        .route("/result/{id}", get(result::result))
        .route("/readyz", get(health::readyz))
        .with_state(app)
        .merge(extra);
    with_layers(routes, layers)
}

/// What the common layers need to know.
#[derive(Clone)]
pub struct Layers {
    pub https: bool,
    pub request_timeout: Duration,
    pub page: PageContext,
    pub metrics: Metrics,
}

/// Adds health, assets, the 404 page, and every layer: request id and error pages, one
/// log line per request, a timeout, security headers, `no-store` by default.
pub fn with_layers(routes: Router, layers: Layers) -> Router {
    let mut router = routes
        .route("/healthz", get(health::healthz))
        .route("/static/{name}", get(assets::asset))
        .fallback(|| async { AppError::NotFound })
        .layer(axum::middleware::from_fn(middleware::no_store_by_default))
        .layer(axum::middleware::from_fn_with_state(
            layers.metrics.clone(),
            middleware::count_request,
        ));
    for (name, value) in middleware::security_headers(layers.https) {
        // A page with needs of its own (the sandbox's consent form) may set its own policy.
        router = router.layer(SetResponseHeaderLayer::if_not_present(name, value));
    }
    router
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            layers.request_timeout,
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
            layers.page,
            middleware::request_context,
        ))
}

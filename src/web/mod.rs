//! The web flow: routes, handlers, views and the service's own layers.

pub mod admin;
mod api;
mod authorize;
mod callback;
pub mod callback_query;
pub mod cookies;
pub mod error;
mod health;
mod landing;
pub mod limits;
mod middleware;
mod opaque;
mod push;
pub(crate) mod refusal;
mod result;
pub mod state;
pub mod views;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

pub use authorize::authorize_url;
pub use state::{AppParts, AppState};

use crate::layers;
use crate::web::error::{AppError, Missing};

/// Names the app and its platform on the request's span (`layers::request_span`): every
/// line the request logs from here on, its failure included, says which app it was.
fn name_the_app(runtime: &crate::runtime::AppRuntime) {
    let span = tracing::Span::current();
    span.record("app", tracing::field::display(&runtime.config.id));
    span.record("platform", tracing::field::display(runtime.config.platform));
}

/// The service's routes with every layer. Extra routes (the sandbox in `demo`) are merged
/// before the layers apply, so they get the same headers and logging.
pub fn router(app: AppState, extra: Router) -> Router {
    let https = app.config.is_https();
    // The callback waits for the platform; allow that plus time to store.
    let request_timeout = app.config.http_timeout + Duration::from_secs(10);
    let layout = app.layout;
    let metrics = app.metrics.clone();
    let api = api::routes(app.clone());
    let admin = admin::routes(app.clone());
    let routes = Router::new()
        .route("/", get(landing::landing))
        .route("/authorize", get(authorize::authorize))
        .route("/authorize/{app}", get(authorize::authorize_app))
        .route("/callback", get(callback::callback))
        .route("/callback/{app}", get(callback::callback_app))
        .route("/cancelled", get(callback::cancelled))
        .route("/result/{id}", get(result::result))
        .route(
            "/push",
            post(push::push).layer(DefaultBodyLimit::max(push::MAX_PUSH)),
        )
        .route(
            "/push/{app}",
            post(push::push_app).layer(DefaultBodyLimit::max(push::MAX_PUSH)),
        )
        .route("/readyz", get(health::readyz))
        .with_state(app)
        .merge(api)
        .merge(admin)
        .merge(extra)
        .route("/healthz", get(health::healthz))
        .route("/static/{name}", get(asset))
        .fallback(|| async { AppError::NotFound(Missing::Page) });
    layers::around(
        routes,
        https,
        request_timeout,
        middleware::Finish { layout, metrics },
    )
}

/// A static file, or the service's neutral 404 page.
async fn asset(name: axum::extract::Path<String>) -> Result<axum::response::Response, AppError> {
    crate::assets::asset(name)
        .await
        .map_err(|_| AppError::NotFound(Missing::Page))
}

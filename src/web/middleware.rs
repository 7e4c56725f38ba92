//! The service's own layers, inside the shared ones (`crate::layers`): error pages with
//! the request id, and request counts by route.

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderValue, Response};
use axum::middleware::Next;

use crate::layers;
use crate::metrics::Metrics;
use crate::web::error::ErrorPage;
use crate::web::refusal::Refused;
use crate::web::views::{ErrorView, Layout, render};

/// Renders any `ErrorPage` that an `AppError` left on the response, keeping its status and
/// headers, with our request id on it.
pub(super) async fn render_error_pages(
    State(layout): State<Layout>,
    request: Request,
    next: Next,
) -> Response<Body> {
    let id = layers::request_id(&request);
    let mut response = next.run(request).await;
    if let Some(page) = response.extensions_mut().remove::<ErrorPage>() {
        let view = ErrorView {
            layout,
            page: &page,
            request_id: &id,
        };
        let (mut parts, _) = response.into_parts();
        let body = render(&view)
            .map(|html| html.0)
            .unwrap_or_else(|_| "internal error".to_owned());
        parts.headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        parts.headers.remove(CONTENT_LENGTH);
        response = Response::from_parts(parts, Body::from(body));
    }
    response
}

/// Counts each request by matched route (never the raw path, which would let clients
/// create unbounded label values) and status.
pub(super) async fn count_request(
    State(metrics): State<Metrics>,
    request: Request,
    next: Next,
) -> Response<Body> {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "(unmatched)".to_owned());
    let response = next.run(request).await;
    metrics.http_request(&route, response.status().as_u16());
    if let Some(Refused(reason)) = response.extensions().get::<Refused>() {
        metrics.request_refused(&route, reason);
    }
    response
}

//! The service's own layer, inside the shared ones (`crate::layers`): request counts by
//! route, and error pages with the request id.

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

/// What `finish` needs: the layout of error pages, and the counts.
#[derive(Clone)]
pub(super) struct Finish {
    pub(super) layout: Layout,
    pub(super) metrics: Metrics,
}

/// Counts each request by matched route (never the raw path, which would let clients
/// create unbounded label values) and status, then renders any `ErrorPage` that an
/// `AppError` left on the response, keeping its status and headers, with our request id
/// on it. One layer for both: every proxied call passes it.
pub(super) async fn finish(
    State(finish): State<Finish>,
    request: Request,
    next: Next,
) -> Response<Body> {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("(unmatched)", MatchedPath::as_str)
        .to_owned();
    let id = layers::request_id(&request);
    let mut response = next.run(request).await;
    finish
        .metrics
        .http_request(&route, response.status().as_u16());
    if let Some(Refused(reason)) = response.extensions().get::<Refused>() {
        finish.metrics.request_refused(&route, reason);
    }
    if let Some(page) = response.extensions_mut().remove::<ErrorPage>() {
        let view = ErrorView {
            layout: finish.layout,
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

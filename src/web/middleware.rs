//! What the service does with every answer inside the shared layers (`crate::layers`):
//! request counts by route, and error pages with the request id.

use axum::body::Body;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderValue, Response};

use crate::layers;
use crate::metrics::Metrics;
use crate::web::error::ErrorPage;
use crate::web::refusal::Refused;
use crate::web::views::{ErrorView, Layout, render};

/// What finishing needs: the layout of error pages, and the counts.
#[derive(Clone)]
pub(super) struct Finish {
    pub(super) layout: Layout,
    pub(super) metrics: Metrics,
}

impl layers::Finish for Finish {
    /// Counts each request by matched route (never the raw path, which would let clients
    /// create unbounded label values) and status, then renders any `ErrorPage` that an
    /// `AppError` left on the response, keeping its status and headers, with our request
    /// id on it.
    fn finish(
        &self,
        route: &str,
        request_id: &str,
        mut response: Response<Body>,
    ) -> Response<Body> {
        self.metrics.http_request(route, response.status().as_u16());
        if let Some(Refused(reason)) = response.extensions().get::<Refused>() {
            self.metrics.request_refused(route, reason);
        }
        let Some(page) = response.extensions_mut().remove::<ErrorPage>() else {
            return response;
        };
        let view = ErrorView {
            layout: self.layout,
            page: &page,
            request_id,
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
        Response::from_parts(parts, Body::from(body))
    }
}

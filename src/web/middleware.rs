//! What wraps every request: a request id, one log line, security headers, error pages.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue, Response};
use axum::middleware::Next;
use tracing::Span;

use crate::error::ErrorPage;
use crate::metrics::Metrics;
use crate::web::views::{ErrorView, Layout, render};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// What every page's layout needs, error pages included.
#[derive(Clone, Copy)]
pub struct PageContext {
    pub sandbox: bool,
}

/// Our own id for a request: in the log span, the `x-request-id` header and error pages.
/// Never taken from the client, whose header could carry anything.
#[derive(Clone)]
pub struct RequestId(pub String);

impl RequestId {
    fn generate() -> Self {
        let bytes: [u8; 8] = rand::random();
        RequestId(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }
}

/// Outermost layer: assigns the request id, then renders any `ErrorPage` that an
/// `AppError` left on the response, keeping its status.
pub async fn request_context(
    State(page_context): State<PageContext>,
    mut request: Request,
    next: Next,
) -> Response<Body> {
    let id = RequestId::generate();
    request.extensions_mut().insert(id.clone());
    let mut response = next.run(request).await;
    if let Some(page) = response.extensions_mut().remove::<ErrorPage>() {
        let view = ErrorView {
            layout: Layout {
                sandbox: page_context.sandbox,
            },
            page: &page,
            request_id: &id.0,
        };
        // Keep status and the headers other layers set; replace only the body.
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
    if let Ok(value) = HeaderValue::from_str(&id.0) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// The request span: method, the matched route template (never the URI, whose query may
/// hold a code or state) and our request id.
pub fn request_span(request: &Request) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
        .unwrap_or("(unmatched)");
    let id = request
        .extensions()
        .get::<RequestId>()
        .map(|id| id.0.as_str())
        .unwrap_or("-");
    tracing::info_span!("request", method = %request.method(), route, request_id = id)
}

/// The one log line per request.
pub fn log_response<B>(response: &Response<B>, latency: Duration, _span: &Span) {
    tracing::info!(
        status = response.status().as_u16(),
        latency_ms = latency.as_secs_f64() * 1000.0,
        "response"
    );
}

/// Headers every response gets; values are from security.md.
pub fn security_headers(https: bool) -> Vec<(HeaderName, HeaderValue)> {
    let mut headers = vec![
        (
            HeaderName::from_static("content-security-policy"),
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            HeaderName::from_static("x-content-type-options"),
            HeaderValue::from_static("nosniff"),
        ),
        (
            HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("no-referrer"),
        ),
    ];
    if https {
        headers.push((
            HeaderName::from_static("strict-transport-security"),
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        ));
    }
    headers
}

/// Counts each request by matched route (never the raw path, which would let clients
/// create unbounded label values) and status.
pub async fn count_request(
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
    response
}

/// Pages may hold tokens; only the static assets (which set their own) may be cached.
pub async fn no_store_by_default(request: Request, next: Next) -> Response<Body> {
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .entry(CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    if !response.headers().contains_key(CONTENT_TYPE) && response.status().is_success() {
        // Bodiless answers (health) still declare a type so nosniff has nothing to guess.
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }
    response
}

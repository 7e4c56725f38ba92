//! The HTTP layers every listener shares (the service, and the standalone sandbox): our
//! own request id, one log line per request, a timeout, security headers, and `no-store`
//! by default.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue, Response, StatusCode};
use tower::ServiceBuilder;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::log_budget::REQUEST_LINES;
use crate::random::random_hex;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Wraps `routes` in the shared layers. Layers the caller added to `routes` run inside
/// these, so they see the request id and their responses get the headers.
///
/// Every proxied call passes all of them. `Router::layer` wraps each route in one more
/// boxed service per layer, and axum clones every one of those boxes for each request;
/// so only what needs the matched route (the span, and the timeout it must see) is layered
/// on the routes, as one layer, and the rest is one typed stack around the router.
pub fn around(routes: Router, https: bool, request_timeout: Duration) -> Router {
    let routes = routes.layer(
        ServiceBuilder::new()
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(request_span)
                    .on_request(())
                    .on_response(log_response)
                    .on_body_chunk(())
                    .on_eos(())
                    .on_failure(()),
            )
            .layer(TimeoutLayer::with_status_code(
                StatusCode::SERVICE_UNAVAILABLE,
                request_timeout,
            )),
    );
    let shared = ServiceBuilder::new()
        .map_request(ignore_client_request_id)
        .layer(SetRequestIdLayer::new(REQUEST_ID, RandomRequestId))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .map_response(move |response| default_headers(response, https))
        .service(routes);
    Router::new().fallback_service(shared)
}

/// 64 random bits in hex: enough to find one request in the log.
#[derive(Clone, Copy)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&random_hex::<8>())
            .ok()
            .map(RequestId::new)
    }
}

/// The id is always ours, never the client's, whose header could carry anything into our
/// logs and pages (`SetRequestIdLayer` keeps an id the request already has).
fn ignore_client_request_id(mut request: Request) -> Request {
    request.headers_mut().remove(REQUEST_ID);
    request
}

/// Our id of the request being served, for error pages.
pub fn request_id(request: &Request) -> String {
    request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or("-")
        .to_owned()
}

/// The request span: method, the matched route template (never the URI, whose query may
/// hold a code or state) and our request id; the seller flow's routes add the app and its
/// platform once they know them (`web::name_the_app`), so every line of theirs says both.
fn request_span(request: &Request) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
        .unwrap_or("(unmatched)");
    // The id is read inside the macro, only when the span is recorded.
    tracing::info_span!(
        "request",
        method = %request.method(),
        route,
        request_id = %request_id(request),
        app = tracing::field::Empty,
        platform = tracing::field::Empty,
    )
}

/// The one log line per request, latency in whole milliseconds; within the budget, so a
/// flood cannot fill the disk (the metrics count every request).
fn log_response<B>(response: &Response<B>, latency: Duration, _span: &Span) {
    // Counted against the budget only when the line would be written: with the log at
    // `warn`, a busy second must not be reported as lines "left out".
    if tracing::enabled!(tracing::Level::INFO) && REQUEST_LINES.allow() {
        tracing::info!(
            status = response.status().as_u16(),
            latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
            "response"
        );
    }
}

/// Headers every response gets: the project's security requirements for pages.
const SECURITY_HEADERS: [(HeaderName, HeaderValue); 3] = [
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

/// And over HTTPS.
const HSTS: (HeaderName, HeaderValue) = (
    HeaderName::from_static("strict-transport-security"),
    HeaderValue::from_static("max-age=31536000; includeSubDomains"),
);

/// The headers a response gets unless it set its own: a page with needs of its own (the
/// sandbox's consent form) may set its own policy, and only the static assets (which set
/// their own) may be cached, since pages may hold tokens.
fn default_headers(mut response: Response<Body>, https: bool) -> Response<Body> {
    let headers = response.headers_mut();
    let hsts = https.then_some(HSTS);
    for (name, value) in SECURITY_HEADERS.into_iter().chain(hsts) {
        headers.entry(name).or_insert(value);
    }
    headers
        .entry(CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    if !headers.contains_key(CONTENT_TYPE) && response.status().is_success() {
        // Bodiless answers (health) still declare a type so nosniff has nothing to guess.
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }
    response
}

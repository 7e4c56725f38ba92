//! The HTTP layers every listener shares (the service, and the standalone sandbox): our
//! own request id, one log line per request, a timeout, security headers, and `no-store`
//! by default.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue, Response, StatusCode};
use axum::response::IntoResponse;
use tower::{Layer, Service, ServiceBuilder};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tracing::{Instrument, Span};

use crate::log_budget::REQUEST_LINES;
use crate::random::random_hex;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// What a listener does with each answer once its route is known, inside the request's
/// span: the service counts it and renders error pages (`web::middleware`); the standalone
/// sandbox does nothing more.
pub trait Finish: Clone + Send + Sync + 'static {
    fn finish(&self, route: &str, request_id: &str, response: Response<Body>) -> Response<Body>;
}

impl Finish for () {
    fn finish(&self, _route: &str, _request_id: &str, response: Response<Body>) -> Response<Body> {
        response
    }
}

/// Wraps `routes` in the shared layers. Layers the caller added to `routes` run inside
/// these, so they see the request id and their responses get the headers.
///
/// Every proxied call passes all of them. `Router::layer` wraps each route in one more
/// boxed service per layer, and axum clones every one of those boxes for each request;
/// so what needs the matched route (the span, the timeout it must see, and `finish`) is
/// one hand-written layer on the routes, and the rest is one typed stack around the
/// router.
pub fn around(
    routes: Router,
    https: bool,
    request_timeout: Duration,
    finish: impl Finish,
) -> Router {
    let routes = routes.layer(PerRoute {
        timeout: request_timeout,
        finish,
    });
    let shared = ServiceBuilder::new()
        .map_request(ignore_client_request_id)
        .layer(SetRequestIdLayer::new(REQUEST_ID, RandomRequestId))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .map_response(move |response| default_headers(response, https))
        .service(routes);
    Router::new().fallback_service(shared)
}

/// The layer on every route: the request's span, its timeout (a 503), `finish`, and the
/// one log line.
#[derive(Clone)]
struct PerRoute<F> {
    timeout: Duration,
    finish: F,
}

impl<S, F: Clone> Layer<S> for PerRoute<F> {
    type Service = PerRouteService<S, F>;

    fn layer(&self, inner: S) -> Self::Service {
        PerRouteService {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
struct PerRouteService<S, F> {
    inner: S,
    layer: PerRoute<F>,
}

impl<S, F> Service<Request> for PerRouteService<S, F>
where
    S: Service<Request, Response = Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
    F: Finish,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let started = Instant::now();
        let route = request.extensions().get::<MatchedPath>().cloned();
        let id = request
            .extensions()
            .get::<RequestId>()
            .map(|id| id.header_value().clone());
        let span = request_span(&request);
        let answer = span.in_scope(|| self.inner.call(request));
        let PerRoute { timeout, finish } = self.layer.clone();
        Box::pin(async move {
            let response =
                match tokio::time::timeout(timeout, answer.instrument(span.clone())).await {
                    Ok(Ok(response)) => response,
                    Ok(Err(never)) => match never {},
                    Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
                };
            let _in_span = span.enter();
            let route = route.as_ref().map_or("(unmatched)", MatchedPath::as_str);
            let id = id.as_ref().and_then(|id| id.to_str().ok()).unwrap_or("-");
            let response = finish.finish(route, id, response);
            log_response(&response, started.elapsed());
            Ok(response)
        })
    }
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

/// Our id of the request being served, for its span.
fn request_id(request: &Request) -> String {
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
fn log_response(response: &Response<Body>, latency: Duration) {
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    /// Keeps what it was given to finish.
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Vec<(String, String, u16)>>>);

    impl Finish for Seen {
        fn finish(
            &self,
            route: &str,
            request_id: &str,
            response: Response<Body>,
        ) -> Response<Body> {
            let seen = (
                route.to_owned(),
                request_id.to_owned(),
                response.status().as_u16(),
            );
            self.0.lock().unwrap().push(seen);
            response
        }
    }

    async fn answer(routes: Router, finish: Seen, uri: &str) -> Response<Body> {
        let request = axum::http::Request::get(uri)
            .header(REQUEST_ID, "client-chosen")
            .body(Body::empty())
            .unwrap();
        around(routes, true, Duration::from_secs(5), finish)
            .oneshot(request)
            .await
            .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_past_the_timeout_is_a_503_with_our_headers_and_is_finished() {
        let routes = Router::new().route(
            "/slow/{n}",
            get(|| async { tokio::time::sleep(Duration::from_secs(60)).await }),
        );
        let seen = Seen::default();
        let response = answer(routes, seen.clone(), "/slow/1").await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let headers = response.headers();
        assert_eq!(headers[CACHE_CONTROL], "no-store");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert!(headers.contains_key("strict-transport-security"));
        let id = headers[REQUEST_ID].to_str().unwrap().to_owned();
        assert_eq!(id.len(), 16, "our id, not the client's: {id}");
        let seen = seen.0.lock().unwrap().clone();
        assert_eq!(seen, [("/slow/{n}".to_owned(), id, 503)]);
    }

    #[tokio::test]
    async fn finish_sees_the_matched_route_or_unmatched_and_the_request_id() {
        let routes = Router::new().route("/seller/{id}", get(|| async { "ok" }));
        let seen = Seen::default();
        let found = answer(routes.clone(), seen.clone(), "/seller/7").await;
        assert_eq!(found.status(), StatusCode::OK);
        let missing = answer(routes, seen.clone(), "/nowhere").await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        let seen = seen.0.lock().unwrap().clone();
        let ids = [found, missing].map(|r| r.headers()[REQUEST_ID].to_str().unwrap().to_owned());
        assert_eq!(
            seen,
            [
                ("/seller/{id}".to_owned(), ids[0].clone(), 200),
                ("(unmatched)".to_owned(), ids[1].clone(), 404),
            ]
        );
    }
}

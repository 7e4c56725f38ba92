//! `GET|POST /api/v1/proxy/{seller}/{api}`: the signing proxy's door. It reads the
//! caller's parameters (the query of a GET; the form or multipart body of a POST), hands
//! them to `proxy::Proxy`, and passes the platform's answer back with only its status,
//! `Content-Type` and body, plus `IOP-Code`, `IOP-Request-Id` and `IOP-App`. The service's
//! own errors carry `IOP-Proxy-Error: 1`.

use axum::Extension;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, RawQuery, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::openapi;
use crate::config::Grants;
use crate::iop::multipart::FilePart;
use crate::proxy::{Proxied, ProxyError, ProxyRequest};
use crate::web::state::AppState;

/// Request bodies up to this size (a product image, a payload of many SKUs).
pub(super) const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;

/// On every answer the service made itself, so a caller never takes one for the platform's.
const PROXY_ERROR: HeaderName = HeaderName::from_static("iop-proxy-error");

/// The headers of a passed-through answer: its content type, the three `IOP-` ones, and
/// the shared layers' five (`crate::layers`) and request id.
const ANSWER_HEADERS: usize = 10;

/// The body limit this route takes instead of axum's 2 MB default.
pub(super) fn body_limit() -> DefaultBodyLimit {
    DefaultBodyLimit::max(MAX_REQUEST_BYTES)
}

/// The handler of both methods.
pub(super) async fn call(
    State(app): State<AppState>,
    Extension(grants): Extension<Grants>,
    Path((seller, api)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Response {
    let answer = match read(&app, seller, api, query, request).await {
        Ok(request) => app
            .proxy
            .call(request, &grants)
            .await
            .map_err(|e| explain(&app, e)),
        Err(refused) => Err(refused),
    };
    match answer {
        Ok(proxied) => pass_through(proxied),
        Err(error) => {
            let mut response = error.into_response();
            response
                .headers_mut()
                .insert(PROXY_ERROR, HeaderValue::from_static("1"));
            response
        }
    }
}

/// The caller's request as a `ProxyRequest`.
async fn read(
    app: &AppState,
    seller: String,
    api: String,
    query: Option<String>,
    request: Request,
) -> Result<ProxyRequest, ApiError> {
    let app_name = header(request.headers(), "iop-app")?
        .map(|name| app.apps.resolve(&name).map_err(ApiError::BadRequest))
        .transpose()?;
    let country = header(request.headers(), "iop-country")?;
    let post = match *request.method() {
        Method::GET => false,
        Method::POST => true,
        _ => return Err(ApiError::MethodNotAllowed),
    };
    let (params, files) = if post {
        if query.as_deref().is_some_and(|q| !q.is_empty()) {
            return Err(ApiError::BadRequest(
                "a POST carries its parameters in the body, not the query".into(),
            ));
        }
        // Boxed: reading a multipart body is a large future, and a GET has none.
        Box::pin(read_body(request)).await?
    } else {
        (form_pairs(query.unwrap_or_default().as_bytes()), Vec::new())
    };
    Ok(ProxyRequest {
        seller,
        app: app_name,
        country,
        api,
        post,
        params,
        files,
    })
}

/// A header's value as text, if sent.
fn header(headers: &HeaderMap, name: &str) -> Result<Option<String>, ApiError> {
    headers
        .get(name)
        .map(|value| {
            value
                .to_str()
                .map(|v| v.trim().to_owned())
                .map_err(|_| ApiError::BadRequest(format!("the {name} header is not text")))
        })
        .transpose()
}

/// A POST body's text parameters and files: a form, or multipart (file parts are the
/// parts with a file name).
async fn read_body(request: Request) -> Result<(Vec<(String, String)>, Vec<FilePart>), ApiError> {
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let body = axum::body::to_bytes(request.into_body(), MAX_REQUEST_BYTES)
            .await
            .map_err(|_| ApiError::TooLarge(MAX_REQUEST_BYTES / (1024 * 1024)))?;
        return Ok((form_pairs(&body), Vec::new()));
    }
    if !content_type.starts_with("multipart/form-data") {
        return Err(ApiError::UnsupportedMediaType(
            "send the parameters as application/x-www-form-urlencoded, or multipart/form-data with files".into(),
        ));
    }
    let mut multipart = Multipart::from_request(request, &())
        .await
        .map_err(|e| ApiError::BadRequest(format!("the multipart body: {}", e.body_text())))?;
    let (mut params, mut files) = (Vec::new(), Vec::new());
    while let Some(part) = multipart.next_field().await.map_err(multipart_error)? {
        let name = part.name().unwrap_or_default().to_owned();
        let file_name = part.file_name().map(str::to_owned);
        let content_type = part.content_type().map(str::to_owned);
        let bytes = part.bytes().await.map_err(multipart_error)?;
        if file_name.is_some() {
            files.push(FilePart {
                name,
                file_name,
                content_type,
                bytes,
            });
        } else {
            let value = String::from_utf8(bytes.to_vec()).map_err(|_| {
                ApiError::BadRequest(format!("the text part `{name}` is not UTF-8"))
            })?;
            params.push((name, value));
        }
    }
    Ok((params, files))
}

fn multipart_error(error: axum::extract::multipart::MultipartError) -> ApiError {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::TooLarge(MAX_REQUEST_BYTES / (1024 * 1024))
    } else {
        ApiError::BadRequest(format!("the multipart body: {}", error.body_text()))
    }
}

/// Name and value pairs of a form or query, percent-decoded, in order.
fn form_pairs(raw: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw).into_owned().collect()
}

/// The platform's answer, with only its status, content type and body.
fn pass_through(proxied: Proxied) -> Response {
    let Proxied { answer, app, .. } = proxied;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    // Room for these and the shared layers' headers at once, not grown twice on the way.
    headers.reserve(ANSWER_HEADERS);
    if let Some(content_type) = answer.content_type {
        headers.insert(CONTENT_TYPE, content_type);
    }
    let code = answer.head.code.unwrap_or_else(|| "0".to_owned());
    for (name, value) in [
        ("iop-code", Some(code)),
        ("iop-request-id", answer.head.request_id),
        ("iop-app", Some(app.as_str().to_owned())),
    ] {
        if let Some(value) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    response
}

/// A proxy refusal as the API says it.
fn explain(app: &AppState, error: ProxyError) -> ApiError {
    match error {
        ProxyError::BadRequest(why) => ApiError::BadRequest(why),
        ProxyError::NotFound => ApiError::NotFound,
        ProxyError::Ambiguous(candidates) => ApiError::Ambiguous(candidates),
        ProxyError::Forbidden(grant) => ApiError::Forbidden(grant),
        ProxyError::Reauthorize(owner) => ApiError::Reauthorize {
            authorize_url: app.config.authorize_link(&owner),
        },
        ProxyError::Token(error) => ApiError::Token(error),
    }
}

/// The proxy's routes as the OpenAPI document describes them: `{*api}` holds slashes,
/// which a described path cannot say, so they are described here and routed by hand.
#[derive(utoipa::OpenApi)]
#[openapi(paths(proxy_get, proxy_post))]
pub(super) struct ProxyDoc;

/// Call a business API on the seller's behalf (GET: the query is the API's parameters).
#[utoipa::path(
    get,
    path = "/api/v1/proxy/{seller}/{api}",
    operation_id = "proxyGet",
    params(openapi::Seller, openapi::ProxyParams),
    responses(openapi::ProxyAnswers)
)]
#[allow(dead_code)]
pub(super) fn proxy_get() {}

/// Call a business API on the seller's behalf (POST: a form or multipart body is the API's
/// parameters; file parts are sent as files and not signed).
#[utoipa::path(
    post,
    path = "/api/v1/proxy/{seller}/{api}",
    operation_id = "proxyPost",
    params(openapi::Seller, openapi::ProxyParams),
    request_body(
        content_type = "application/x-www-form-urlencoded",
        description = "The API's parameters, values as the platform should receive them; multipart/form-data when it sends files."
    ),
    responses(openapi::ProxyAnswers)
)]
#[allow(dead_code)]
pub(super) fn proxy_post() {}

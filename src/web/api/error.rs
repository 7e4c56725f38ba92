//! The API's errors as JSON with a real status, logged once.

use axum::Json;
use axum::http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::iop::IopError;
use crate::renewal::TokenError;
use crate::store::StoreError;
use crate::tokens::StoredToken;
use crate::web::refusal::refuse;

/// What a client is told to wait when the database is away for a moment.
const UNAVAILABLE_RETRY_SECS: u64 = 2;

#[derive(Debug, thiserror::Error)]
pub(super) enum ApiError {
    #[error("the token API is off")]
    Off,
    #[error("no such API route")]
    NoRoute,
    #[error("method not allowed on this API route")]
    MethodNotAllowed,
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The key is valid but lacks this grant (`proxy`, `app:NAME`).
    #[error("the key lacks the grant `{0}`")]
    Forbidden(String),
    #[error("unsupported content type: {0}")]
    UnsupportedMediaType(String),
    #[error("the request body is larger than {0} MiB")]
    TooLarge(usize),
    #[error("unknown seller")]
    NotFound,
    #[error("unknown event")]
    NoEvent,
    #[error("seller id known under several apps")]
    Ambiguous(Vec<StoredToken>),
    /// The seller must authorize again, starting at this URL.
    #[error("the seller must authorize again")]
    Reauthorize { authorize_url: String },
    #[error(transparent)]
    Token(#[from] TokenError),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Token(TokenError::Store(e))
    }
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::Off | ApiError::NoRoute | ApiError::NotFound | ApiError::NoEvent => {
                StatusCode::NOT_FOUND
            }
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Ambiguous(_) | ApiError::Reauthorize { .. } => StatusCode::CONFLICT,
            ApiError::Token(e) => match e {
                TokenError::NotFound => StatusCode::NOT_FOUND,
                TokenError::Reauthorize => StatusCode::CONFLICT,
                TokenError::Platform(IopError::Timeout(_)) => StatusCode::GATEWAY_TIMEOUT,
                TokenError::Platform(_) | TokenError::Backoff { .. } => StatusCode::BAD_GATEWAY,
                TokenError::Busy => StatusCode::SERVICE_UNAVAILABLE,
                TokenError::Store(e) if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
                TokenError::Store(_) | TokenError::UnknownApp(_) => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            },
        }
    }

    /// Why, when anyone can cause this refusal without a key.
    fn anonymous_reason(&self) -> Option<&'static str> {
        match self {
            ApiError::Off => Some("api_off"),
            ApiError::NoRoute => Some("no_route"),
            ApiError::MethodNotAllowed => Some("method_not_allowed"),
            ApiError::Unauthorized(_) => Some("unauthorized"),
            _ => None,
        }
    }

    fn body(&self) -> Value {
        match self {
            ApiError::Off => json!({
                "error": "api_off",
                "message": "The token API is off: start the service with IOP_API_KEYS or IOP_API_KEYS_FILE."
            }),
            ApiError::NoRoute => {
                json!({"error": "not_found", "message": "No such API route; see /api/v1/openapi.json."})
            }
            ApiError::Unauthorized(why) => json!({"error": "unauthorized", "message": why}),
            ApiError::MethodNotAllowed => json!({
                "error": "method_not_allowed",
                "message": "This API route does not take this method; see /api/v1/openapi.json."
            }),
            ApiError::BadRequest(why) => json!({"error": "bad_request", "message": why}),
            ApiError::Forbidden(grant) => json!({
                "error": "forbidden",
                "message": format!("This key is not granted `{grant}` (IOP_API_KEYS_FILE)."),
                "grant": grant,
            }),
            ApiError::UnsupportedMediaType(why) => {
                json!({"error": "unsupported_media_type", "message": why})
            }
            ApiError::TooLarge(_) => json!({"error": "too_large", "message": self.to_string()}),
            ApiError::NoEvent => json!({
                "error": "unknown_event",
                "message": "No kept event has this id (events are kept IOP_EVENTS_RETENTION)."
            }),
            ApiError::NotFound | ApiError::Token(TokenError::NotFound) => json!({
                "error": "unknown_seller",
                "message": "No stored seller has this seller_id or user_id."
            }),
            ApiError::Ambiguous(candidates) => json!({
                "error": "ambiguous_seller",
                "message": "This id names sellers of several apps: add ?app=<name>.",
                "candidates": candidates.iter().map(|t| json!({
                    "app": t.app.as_str(),
                    "platform": t.platform.as_str(),
                    "app_key": t.app_key,
                    "seller_id": t.identity.primary_id(),
                    "user_id": t.identity.user_id,
                })).collect::<Vec<_>>(),
            }),
            ApiError::Reauthorize { authorize_url } => json!({
                "error": "reauthorize",
                "message": "This seller's tokens can no longer be renewed: send the seller to authorize_url to authorize again.",
                "authorize_url": authorize_url,
            }),
            ApiError::Token(TokenError::Reauthorize) => json!({
                "error": "reauthorize",
                "message": "This seller's tokens can no longer be renewed: the seller must authorize again.",
            }),
            ApiError::Token(TokenError::Platform(e)) => {
                let platform = match e {
                    IopError::Platform(p) => json!({
                        "code": p.code,
                        "message": p.message,
                        "request_id": p.request_id,
                    }),
                    _ => Value::Null,
                };
                json!({"error": "platform", "message": e.to_string(), "platform": platform})
            }
            ApiError::Token(TokenError::Backoff {
                code,
                error,
                retry_after,
            }) => json!({
                "error": "platform",
                "message": self.to_string(),
                "platform": {"code": code, "message": error, "request_id": null},
                "retry_after": crate::clock::format_rfc3339(*retry_after),
            }),
            ApiError::Token(TokenError::Busy) => json!({
                "error": "busy",
                "message": "Another replica is refreshing this token; try again in a moment."
            }),
            ApiError::Token(TokenError::Store(e)) if e.is_unavailable() => json!({
                "error": "unavailable",
                "message": format!("The database cannot be reached for the moment; try again in {UNAVAILABLE_RETRY_SECS} seconds."),
            }),
            ApiError::Token(TokenError::Store(_) | TokenError::UnknownApp(_)) => json!({
                "error": "internal",
                "message": "The service could not finish this request; the operator can find the details in the log."
            }),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (status, Json(self.body())).into_response();
        if let Some(reason) = self.anonymous_reason() {
            refuse(&mut response, reason, &self, status);
        } else if let ApiError::Token(
            TokenError::Platform(_)
            | TokenError::Reauthorize
            | TokenError::Busy
            | TokenError::Backoff { .. },
        ) = self
        {
            // The renewal path logged the refresh's outcome once, with app and seller.
            tracing::debug!(error = %self, status = status.as_u16(), "API request answered with a refresh failure");
        } else if status.is_server_error() {
            tracing::error!(error = %self, status = status.as_u16(), "API request failed");
        } else {
            tracing::info!(error = %self, status = status.as_u16(), "API request refused");
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let ApiError::Token(TokenError::Backoff { retry_after, .. }) = &self
            && let Ok(date) = HeaderValue::from_str(&crate::clock::format_http_date(*retry_after))
        {
            response.headers_mut().insert(RETRY_AFTER, date);
        }
        if let ApiError::Token(TokenError::Store(e)) = &self
            && e.is_unavailable()
        {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(UNAVAILABLE_RETRY_SECS));
        }
        response
    }
}

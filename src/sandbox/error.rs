//! What can go wrong on the sandbox's pages, shown on the sandbox's own page.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::views::{LAYOUT, SandboxProblem};
use crate::iop::Platform;

#[derive(Debug, thiserror::Error)]
pub(crate) enum SandboxError {
    /// The app's parameters do not match its registration; never redirected.
    #[error("authorize request refused: {message}")]
    BadRequest { platform: Platform, message: String },
    /// The sandbox holds as many codes as it allows.
    #[error("sandbox full")]
    Full { platform: Platform },
    #[error("template: {0}")]
    Template(String),
}

impl From<askama::Error> for SandboxError {
    fn from(error: askama::Error) -> Self {
        SandboxError::Template(error.to_string())
    }
}

impl IntoResponse for SandboxError {
    fn into_response(self) -> Response {
        let (status, platform, eyebrow, heading, message, note) = match &self {
            SandboxError::BadRequest { platform, message } => (
                StatusCode::BAD_REQUEST,
                *platform,
                "authorization error",
                "This app cannot be authorized",
                message.as_str(),
                Some(
                    "The platform shows this on its own page and does not redirect back to the app.",
                ),
            ),
            SandboxError::Full { platform } => (
                StatusCode::SERVICE_UNAVAILABLE,
                *platform,
                "busy",
                "The sandbox is full",
                "The sandbox holds as many unexchanged codes as it allows. Codes expire within minutes: try again shortly.",
                None,
            ),
            SandboxError::Template(_) => {
                tracing::error!(error = %self, "sandbox page failed");
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
        };
        tracing::info!(error = %self, "sandbox refused a request");
        let page = SandboxProblem {
            layout: LAYOUT,
            platform_name: platform.display_name(),
            eyebrow,
            heading,
            message,
            note,
        };
        match askama::Template::render(&page) {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => status.into_response(),
        }
    }
}

//! The one error type of the web flow, turned into a safe page in one place.
//!
//! `into_response` logs the error once and attaches an `ErrorPage` to the response; the
//! request middleware renders it with the request id (see `web::middleware`).

use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::flow::StateRejection;
use crate::iop::auth_code::AuthCodeError;
use crate::iop::{IopError, PlatformError};
use crate::store::StoreError;
use crate::web::limits::Limited;
use crate::web::refusal::refuse;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("state rejected: {}", .0.as_str())]
    State(StateRejection),
    #[error("bad authorization code: {0}")]
    Code(#[from] AuthCodeError),
    #[error("token exchange failed: {0}")]
    Platform(#[from] IopError),
    /// A reload of a callback whose exchange failed: that failure's page again.
    #[error("token exchange failed before: {0}")]
    ShownAgain(IopError),
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
    #[error("exchange limited: {}", .0.as_str())]
    Limited(Limited),
    #[error("not found: {0:?}")]
    NotFound(Missing),
    /// A form without this session's CSRF token: nothing was done.
    #[error("form refused: missing or wrong CSRF token")]
    Csrf,
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// What a 404 was looking for, so that its page says the true thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// No page at this address.
    Page,
    /// A result page that is not this browser's, or no longer kept.
    Result,
    /// `/authorize/{app}` or `/callback/{app}` naming no configured app.
    App,
    /// `/authorize` or `/callback` where the service has several named apps instead.
    ImplicitApp,
    /// A console seller page of a seller not stored (deleted, or a mistyped id).
    Seller,
}

impl From<Limited> for AppError {
    fn from(limited: Limited) -> Self {
        AppError::Limited(limited)
    }
}

impl From<StateRejection> for AppError {
    fn from(rejection: StateRejection) -> Self {
        AppError::State(rejection)
    }
}

/// What an error page shows. Built only from our own words and the platform's error
/// fields, never from a raw upstream body or internal error text.
#[derive(Debug, Clone)]
pub struct ErrorPage {
    /// The small line above the title: what kind of trouble this is.
    pub eyebrow: &'static str,
    pub title: &'static str,
    pub message: String,
    pub advice: Option<String>,
    pub platform: Option<PlatformError>,
    /// Show the "Authorize again" button.
    pub offer_retry: bool,
    /// The advice is for the operator (it goes to the log); pages show it only in `demo`.
    pub advice_for_operator: bool,
}

impl ErrorPage {
    fn new(title: &'static str, message: impl Into<String>) -> Self {
        ErrorPage {
            eyebrow: "Authorization not completed",
            title,
            message: message.into(),
            advice: None,
            platform: None,
            offer_retry: false,
            advice_for_operator: false,
        }
    }

    /// For pages that are not about an authorization (a wrong address, our own fault).
    fn neutral(mut self) -> Self {
        self.eyebrow = "iop-callback";
        self
    }

    fn retry(mut self) -> Self {
        self.offer_retry = true;
        self
    }
}

impl AppError {
    /// A short, stable word for the metrics of refused callbacks.
    pub fn reason(&self) -> &'static str {
        match self {
            AppError::State(rejection) => rejection.as_str(),
            AppError::Limited(limited) => limited.as_str(),
            AppError::Code(_) => "bad_code",
            AppError::Platform(_) => "platform",
            AppError::ShownAgain(_) => "already_used",
            AppError::Store(_) => "store",
            AppError::NotFound(_) => "not_found",
            AppError::Csrf => "csrf",
            AppError::BadRequest(_) => "bad_request",
            AppError::Internal(_) => "internal",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            AppError::State(StateRejection::OtherBrowser) => StatusCode::FORBIDDEN,
            AppError::State(StateRejection::InProgress | StateRejection::AlreadyUsed { .. }) => {
                StatusCode::CONFLICT
            }
            AppError::State(_) | AppError::Code(_) | AppError::BadRequest(_) => {
                StatusCode::BAD_REQUEST
            }
            AppError::Platform(IopError::Timeout(_))
            | AppError::ShownAgain(IopError::Timeout(_)) => StatusCode::GATEWAY_TIMEOUT,
            AppError::Platform(_) | AppError::ShownAgain(_) => StatusCode::BAD_GATEWAY,
            AppError::Limited(Limited::Rate { .. }) => StatusCode::TOO_MANY_REQUESTS,
            AppError::Limited(Limited::Busy) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Csrf => StatusCode::FORBIDDEN,
            AppError::Store(e) if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Store(_) | AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn page(&self) -> ErrorPage {
        match self {
            AppError::State(rejection) => state_page(rejection),
            AppError::Code(e) => ErrorPage::new(
                "The platform sent no usable code",
                format!("{e}. Nothing was sent to the platform."),
            )
            .retry(),
            AppError::Platform(e) => platform_page(e),
            AppError::ShownAgain(e) => {
                let mut page = platform_page(e);
                page.message.push_str(
                    " (This page was reloaded: nothing was sent to the platform again.)",
                );
                page
            }
            AppError::Limited(Limited::Rate { retry_after_secs }) => ErrorPage::new(
                "Too many authorizations from your network",
                format!(
                    "This network completed as many authorizations as allowed in a minute. Reload this page in {retry_after_secs} seconds; nothing was sent to the platform and the authorization is still good."
                ),
            ),
            AppError::Limited(Limited::Busy) => ErrorPage::new(
                "The service is busy",
                "Too many authorizations are being completed right now. Reload this page in a moment; nothing was sent to the platform and the authorization is still good.",
            ),
            AppError::BadRequest(message) => {
                ErrorPage::new("This link is not right", message.clone()).neutral()
            }
            AppError::NotFound(missing) => not_found_page(*missing),
            AppError::Csrf => ErrorPage::new(
                "This form was not accepted",
                "It did not carry this session's security token (it may be from an old page, or from another site), so nothing was changed. Go back, reload the page and try again.",
            )
            .neutral(),
            AppError::Store(e) if e.is_unavailable() => ErrorPage::new(
                "The service is briefly unavailable",
                "Its database cannot be reached for the moment, so nothing was done and nothing was used up. Reload this page in a few seconds: it will work once the database is back.",
            )
            .neutral(),
            AppError::Store(_) | AppError::Internal(_) => ErrorPage::new(
                "Something went wrong on our side",
                "The service could not finish this request. The operator can find the details in the log under the request id below.",
            )
            .neutral(),
        }
    }
}

fn not_found_page(missing: Missing) -> ErrorPage {
    let (title, message) = match missing {
        Missing::Page => ("Not found", "There is no page at this address."),
        Missing::Result => (
            "Not found",
            "There is nothing here for this browser. Results are shown only to the browser that authorized, for 30 minutes.",
        ),
        // Names no app: a guessed name learns nothing about the configured ones.
        Missing::App => (
            "This app is not served here",
            "This service has no app of that name. Check the link you were given, or ask the operator for the authorization link of the app.",
        ),
        Missing::ImplicitApp => (
            "Choose the app to authorize",
            "This service authorizes sellers for several apps, each at an address of its own (/authorize/NAME, with its callback at /callback/NAME). Start from the service's home page, or use the link the operator gave you.",
        ),
        Missing::Seller => (
            "No such seller",
            "No seller is stored under this id: it may have been deleted. Go back to the sellers list.",
        ),
    };
    ErrorPage::new(title, message).neutral()
}

fn state_page(rejection: &StateRejection) -> ErrorPage {
    let (title, message) = match rejection {
        StateRejection::Missing => (
            "This link is incomplete",
            "The callback has no state parameter, so it cannot be matched to an authorization started here. Nothing was sent to the platform.",
        ),
        StateRejection::Unknown => (
            "This authorization is not known here",
            "The state in this link was not issued by this service, or it was forgotten. Nothing was sent to the platform.",
        ),
        StateRejection::Expired => (
            "This authorization took too long",
            "An authorization must be completed within minutes of clicking \"Authorize a seller\". Nothing was sent to the platform.",
        ),
        StateRejection::OtherBrowser => (
            "This authorization was started in another browser",
            "Only the browser that clicked \"Authorize a seller\" can complete it. If that was this browser, the service was probably opened under another address than its public URL (127.0.0.1 instead of localhost, say), so its cookie went to a different site: open the service at its public URL. Nothing was sent to the platform.",
        ),
        StateRejection::CommandLine => {
            // The operator's own link: no browser can finish it, and a new one would not help.
            return ErrorPage::new(
                "This link is for the command line",
                "It was made by `iop-callback authorize-url`, so it is completed from the command line, not in a browser. Copy the code and state from this page's address and run `iop-callback exchange --code CODE --state STATE` (add `--app NAME` where the service has several apps). Nothing was sent to the platform.",
            );
        }
        StateRejection::InProgress => (
            "This authorization is being completed",
            "Another request is exchanging this code right now. Wait a moment and open the result from that tab.",
        ),
        StateRejection::AlreadyUsed { .. } => (
            "This link was already used",
            "An authorization code can be exchanged only once, and this one already was. Nothing was sent to the platform again.",
        ),
    };
    ErrorPage::new(title, message).retry()
}

fn platform_page(error: &IopError) -> ErrorPage {
    match error {
        IopError::Platform(platform) if platform.is_operator_fault() => ErrorPage {
            advice: platform.advice().map(str::to_owned),
            platform: Some(platform.clone()),
            advice_for_operator: true,
            ..ErrorPage::new(
                "This service is not set up correctly",
                "The platform refused this service's request because of how the service is configured, not because of anything you did. Trying again will fail the same way: please tell the operator, quoting the request id below.",
            )
        },
        IopError::Platform(platform) => ErrorPage {
            advice: platform.advice().map(str::to_owned),
            platform: Some(platform.clone()),
            ..ErrorPage::new(
                "The platform refused the token exchange",
                "The platform answered the token request with an error.",
            )
        }
        .retry(),
        IopError::Timeout(waited) => ErrorPage::new(
            "The platform did not answer in time",
            format!(
                "It did not answer within {}. The code may have reached it, and a code works only once, so it is not sent again: authorize again to finish.",
                humantime::format_duration(*waited)
            ),
        )
        .retry(),
        // The OS's words ("Connection refused", a resolver's message) stay in the log. The
        // claim was released (`callback::exchange`), so the same URL tries again.
        IopError::EmptyParameter(_) => ErrorPage::new(
            "This service could not send the request",
            format!("{error}, so nothing was sent and this authorization is still good. Please tell the operator, quoting the request id below."),
        ),
        IopError::Connect(_) => ErrorPage::new(
            "The platform could not be reached",
            "The service could not connect to the platform's API, so nothing was sent and this authorization is still good: reload this page in a moment. If it keeps happening, the operator can find the cause in the log under the request id below.",
        ),
        IopError::Transport(_) => ErrorPage::new(
            "The platform could not be reached properly",
            "The request to the platform's API broke off. The code may have reached it, and a code works only once, so it is not sent again: authorize again to finish. The operator can find the cause in the log under the request id below.",
        )
        .retry(),
        IopError::HttpStatus { .. } | IopError::InvalidBody(_) | IopError::TooLarge { .. } => {
            ErrorPage::new(
                "The platform could not be reached properly",
                format!(
                    "Its answer could not be used ({error}). The code may have been spent, so it is not sent again: authorize again to finish."
                ),
            )
            .retry()
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        // Logged once, here. None of the variants' Display holds a secret or a raw body.
        // What anyone can cause at any rate (a forged state, a limit) goes to debug and to
        // the metrics, so that a flood fills neither the disk nor the alerts.
        match &self {
            AppError::State(_)
            | AppError::Limited(_)
            | AppError::NotFound(_)
            | AppError::Code(_)
            | AppError::BadRequest(_) => {
                tracing::debug!(error = %self, status = status.as_u16(), "request refused");
            }
            AppError::Platform(IopError::Platform(p)) if p.is_operator_fault() => {
                tracing::error!(
                    code = %p.code,
                    platform_message = p.message.as_deref().unwrap_or("-"),
                    platform_request_id = p.request_id.as_deref().unwrap_or("-"),
                    advice = p.advice().unwrap_or("check the app key, secret and registered callback URL"),
                    status = status.as_u16(),
                    "the platform refused the service's configuration: the operator must fix it"
                );
            }
            // Anyone can post a form without the token: logged within the shared budget.
            AppError::Csrf => {}
            _ if status.is_server_error() => {
                tracing::error!(error = %self, status = status.as_u16(), "request failed");
            }
            _ => tracing::info!(error = %self, status = status.as_u16(), "request refused"),
        }
        let mut response = status.into_response();
        if let AppError::Csrf = self {
            refuse(&mut response, self.reason(), &self, status);
        }
        if let AppError::Limited(Limited::Rate { retry_after_secs }) = self {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        if let AppError::Store(e) = &self
            && e.is_unavailable()
        {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("2"));
        }
        response.extensions_mut().insert(self.page());
        response
    }
}

//! What can go wrong when calling the platform, as values a page can explain.

use std::time::Duration;

/// An error answer from the gateway (`{"type":"ISV","code":"InvalidCode",...}`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlatformError {
    pub code: String,
    /// `ISV` (our fault), `ISP` (platform backend) or `SYSTEM`.
    pub kind: Option<String>,
    pub message: Option<String>,
    pub request_id: Option<String>,
}

impl PlatformError {
    /// The platform refused the service's own configuration (its secret, key, clock or
    /// registered URL), not anything the seller did: only the operator can fix it.
    pub fn is_operator_fault(&self) -> bool {
        matches!(
            self.code.as_str(),
            "IncompleteSignature"
                | "InvalidAppkey"
                | "InvalidParameter"
                | "MissingParameter"
                | "IllegalAccessToken"
        ) || self.code.to_ascii_lowercase().contains("redirect")
    }

    /// What the person in front of the page should do about this code.
    pub fn advice(&self) -> Option<&'static str> {
        Some(match self.code.as_str() {
            "InvalidCode" => {
                "The authorization code was already used or has expired. Authorize again; the code is exchanged at once."
            }
            "IncompleteSignature" => {
                "The platform could not verify the signature: check the app secret, and that this machine's clock is right."
            }
            "InvalidAppkey" => "The platform does not know this app key: check IOP_APP_KEY.",
            "InvalidParameter" => {
                "A parameter was rejected, often the timestamp: check this machine's clock."
            }
            "IllegalRefreshToken" => {
                "The refresh token is invalid or expired: the seller must authorize again."
            }
            "AUTH_TYPE_UNSUPPORTED" => {
                "This authorization cannot be refreshed: authorize again when it expires."
            }
            "ApiCallLimit" | "ServiceUnavailable" => "The platform is busy: try again in a moment.",
            _ => return None,
        })
    }
}

/// Every way a token call can fail. None of the variants holds a secret, a token, a code or
/// a raw upstream body, so they may be logged, shown, and kept with a claim (as JSON) to be
/// shown again when the seller reloads.
#[derive(Debug, Clone, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum IopError {
    #[error("the platform answered with error {}", .0.code)]
    Platform(PlatformError),
    #[error("the platform answered HTTP {status}")]
    HttpStatus { status: u16 },
    #[error("the platform's answer could not be understood: {0}")]
    InvalidBody(String),
    #[error("the platform did not answer within {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    #[error("could not connect to the platform: {0}")]
    Connect(String),
    #[error("the request to the platform failed: {0}")]
    Transport(String),
    #[error("the platform's answer is larger than {} MiB", .limit / (1024 * 1024))]
    TooLarge { limit: usize },
    /// Refused before sending: the SDKs disagree on signing empty values.
    #[error("refusing to send an empty `{0}`")]
    EmptyParameter(String),
}

impl IopError {
    /// Whether the request may have reached the platform: false only when it surely did
    /// not (no connection, or refused before sending), so a code is still unspent.
    pub fn may_have_been_sent(&self) -> bool {
        !matches!(self, IopError::Connect(_) | IopError::EmptyParameter(_))
    }

    /// A short, stable label for how a call ended, for metrics.
    pub fn outcome(&self) -> &'static str {
        match self {
            IopError::Platform(_) => "platform_error",
            IopError::HttpStatus { .. } => "http_status",
            IopError::InvalidBody(_) => "invalid_body",
            IopError::Timeout(_) => "timeout",
            IopError::Connect(_) => "connect",
            IopError::Transport(_) => "transport",
            IopError::TooLarge { .. } => "too_large",
            IopError::EmptyParameter(_) => "not_sent",
        }
    }
}

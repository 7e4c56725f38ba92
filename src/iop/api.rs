//! The platform APIs iop-callback calls, described once: the client sends them, the
//! metrics label them, the sandbox answers them.

/// The two token APIs of the system API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenApi {
    /// `/auth/token/create`: a code for a token pair.
    Create,
    /// `/auth/token/refresh`: a refresh token for a new access token.
    Refresh,
}

impl TokenApi {
    pub const ALL: [TokenApi; 2] = [TokenApi::Create, TokenApi::Refresh];

    /// The API path, appended to the API base URL and signed (without `/rest`).
    pub fn path(self) -> &'static str {
        match self {
            TokenApi::Create => "/auth/token/create",
            TokenApi::Refresh => "/auth/token/refresh",
        }
    }

    /// The one parameter the API takes besides the common ones.
    pub fn parameter(self) -> &'static str {
        match self {
            TokenApi::Create => "code",
            TokenApi::Refresh => "refresh_token",
        }
    }

    /// A short name for metrics labels and logs.
    pub fn label(self) -> &'static str {
        match self {
            TokenApi::Create => "create",
            TokenApi::Refresh => "refresh",
        }
    }
}

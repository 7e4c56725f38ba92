//! What programs see of a pair (the token API, `tokens ... --json`), as serde types. Only
//! `CurrentToken` and a revealed `SellerDetails` carry an access token, and no type here
//! can carry a refresh token or the app secret.

use secrecy::ExposeSecret;
use serde::Serialize;

use super::health::Health;
use super::pair::{Pair, StoredToken};
use crate::clock;
use crate::iop::CountryUserInfo;

fn rfc3339(at: Option<i64>) -> Option<String> {
    at.map(clock::format_rfc3339)
}

/// One seller in `GET /api/v1/tokens`: everything but the tokens.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenSummary {
    app: String,
    platform: &'static str,
    app_key: String,
    seller_id: Option<String>,
    user_id: Option<String>,
    nick: Option<String>,
    account: Option<String>,
    countries: Vec<CountryUserInfo>,
    status: Health,
    #[schema(format = DateTime)]
    access_expires_at: Option<String>,
    #[schema(format = DateTime)]
    refresh_expires_at: Option<String>,
    #[schema(format = DateTime)]
    last_refresh_at: Option<String>,
    last_error: Option<String>,
    consecutive_failures: i64,
    /// When the platform says the seller's authorization expires (its push of type 8).
    #[schema(format = DateTime)]
    authorization_expires_at: Option<String>,
    /// When the platform said the seller closed its shop (its push of type 13).
    #[schema(format = DateTime)]
    closed_at: Option<String>,
}

impl TokenSummary {
    pub fn new(token: &Pair, now: i64) -> Self {
        let id = &token.identity;
        TokenSummary {
            app: token.app.to_string(),
            platform: token.platform.as_str(),
            app_key: token.app_key.clone(),
            seller_id: id.primary_id().map(str::to_owned),
            user_id: id.user_id.clone(),
            nick: id.user_nick.clone(),
            account: id.account.clone(),
            countries: id.country_user_info.clone(),
            status: Health::of(token, now),
            access_expires_at: rfc3339(token.access_expires_at),
            refresh_expires_at: rfc3339(token.refresh_expires_at),
            last_refresh_at: rfc3339(token.last_refresh_at),
            last_error: token.last_error.clone(),
            consecutive_failures: token.consecutive_failures,
            authorization_expires_at: rfc3339(token.authorization_expires_at),
            closed_at: rfc3339(token.closed_at),
        }
    }
}

/// `GET /api/v1/tokens/{seller}`: a working access token.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CurrentToken {
    app: String,
    platform: &'static str,
    seller_id: Option<String>,
    user_id: Option<String>,
    access_token: String,
    #[schema(format = DateTime)]
    access_expires_at: Option<String>,
    status: Health,
}

impl CurrentToken {
    pub fn new(token: &StoredToken, now: i64) -> Self {
        CurrentToken {
            app: token.app.to_string(),
            platform: token.platform.as_str(),
            seller_id: token.identity.primary_id().map(str::to_owned),
            user_id: token.identity.user_id.clone(),
            access_token: token.access_token.expose_secret().to_owned(),
            access_expires_at: rfc3339(token.access_expires_at),
            status: Health::of(token, now),
        }
    }
}

/// `POST /api/v1/tokens/{seller}/refresh`: the new expiry, no token.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RefreshedToken {
    app: String,
    seller_id: Option<String>,
    #[schema(format = DateTime)]
    access_expires_at: Option<String>,
    #[schema(format = DateTime)]
    refresh_expires_at: Option<String>,
    #[schema(format = DateTime)]
    last_refresh_at: Option<String>,
    status: Health,
}

impl RefreshedToken {
    pub fn new(token: &Pair, now: i64) -> Self {
        RefreshedToken {
            app: token.app.to_string(),
            seller_id: token.identity.primary_id().map(str::to_owned),
            access_expires_at: rfc3339(token.access_expires_at),
            refresh_expires_at: rfc3339(token.refresh_expires_at),
            last_refresh_at: rfc3339(token.last_refresh_at),
            status: Health::of(token, now),
        }
    }
}

/// `tokens show`: the summary, with the access token only when asked to reveal it.
#[derive(Serialize)]
pub struct SellerDetails {
    #[serde(flatten)]
    summary: TokenSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_token: Option<String>,
    last_request_id: Option<String>,
}

impl SellerDetails {
    pub fn new(token: &StoredToken, now: i64, reveal: bool) -> Self {
        SellerDetails {
            summary: TokenSummary::new(token, now),
            access_token: reveal.then(|| token.access_token.expose_secret().to_owned()),
            last_request_id: token.last_request_id.clone(),
        }
    }
}

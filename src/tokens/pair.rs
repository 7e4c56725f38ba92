//! A seller's stored token pair: what it is, whose it is, and whether it still works.

use std::fmt;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::apps::AppId;
use crate::iop::{Platform, SellerIdentity, TokenResponse};

/// A stored pair's row id: stable for the seller of one app until the pair is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TokenId(i64);

impl TokenId {
    /// The id of a pair that was never stored (shown once, on the unsaved-tokens page).
    pub const UNSAVED: TokenId = TokenId(0);

    pub const fn new(id: i64) -> Self {
        TokenId(id)
    }

    pub const fn get(self) -> i64 {
        self.0
    }

    /// From a path segment (`/admin/sellers/{id}`).
    pub fn parse(raw: &str) -> Option<Self> {
        raw.parse().ok().filter(|id| *id > 0).map(TokenId)
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Whether a stored pair can still be used and renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStatus {
    Active,
    /// The refresh token is dead: only the seller can renew the pair, by authorizing again.
    Reauthorize,
}

impl TokenStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenStatus::Active => "active",
            TokenStatus::Reauthorize => "reauthorize",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "active" => Some(TokenStatus::Active),
            "reauthorize" => Some(TokenStatus::Reauthorize),
            _ => None,
        }
    }
}

/// The app a token is stored for: its local name and its identity at the platform.
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    pub app: &'a AppId,
    pub platform: Platform,
    pub app_key: &'a str,
}

/// A stored pair without its tokens: what lists, the console and the metrics show, read
/// without decrypting anything.
#[derive(Debug, Clone)]
pub struct Pair {
    pub id: TokenId,
    pub app: AppId,
    pub platform: Platform,
    pub app_key: String,
    /// The seller's key within the app (`seller:1001`): with platform and app key, the
    /// row's identity.
    pub account_key: String,
    pub has_refresh_token: bool,
    pub access_expires_at: Option<i64>,
    pub refresh_expires_at: Option<i64>,
    pub refreshable: bool,
    pub identity: SellerIdentity,
    pub last_request_id: Option<String>,
    pub status: TokenStatus,
    pub created_at: i64,
    /// Also the row's version: a refresh is stored only over the row it started from.
    pub updated_at: i64,
    /// When the current access token was issued (by an exchange or a refresh).
    pub issued_at: i64,
    /// When the seller last authorized: the refresh token's life counts from here.
    pub authorized_at: i64,
    pub last_refresh_at: Option<i64>,
    /// The last refresh failure, in words for an operator.
    pub last_error: Option<String>,
    /// The platform's code of the last refresh failure, when the platform answered one.
    pub last_error_code: Option<String>,
    pub consecutive_failures: i64,
    /// After a transient failure, the refresher leaves the pair alone until then.
    pub retry_after: Option<i64>,
    /// When the platform says the authorization expires (its type 8 push), if it did.
    pub authorization_expires_at: Option<i64>,
    /// When the platform said the seller closed its shop (its type 13 push), if it did.
    pub closed_at: Option<i64>,
}

/// A stored pair with its tokens, which are `SecretString`, so `Debug` is redacted. Reads
/// as its `Pair` for everything else.
#[derive(Debug, Clone)]
pub struct StoredToken {
    pub pair: Pair,
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
}

impl std::ops::Deref for StoredToken {
    type Target = Pair;

    fn deref(&self) -> &Pair {
        &self.pair
    }
}

impl Pair {
    /// Until when a failed refresh is not to be tried again, if that is still ahead at `now`.
    pub fn backing_off(&self, now: i64) -> Option<i64> {
        self.retry_after.filter(|until| *until > now)
    }

    /// Whether the access token still works at `now`.
    pub fn access_valid(&self, now: i64) -> bool {
        self.access_expires_at.is_none_or(|at| at > now)
    }
}

impl StoredToken {
    /// The pair an exchange returned, as it would have been stored: for the page that
    /// shows tokens the store would not take.
    pub fn unsaved(owner: Owner<'_>, response: &TokenResponse, now_ms: i64) -> Self {
        let expiries = response.expiries(now_ms);
        StoredToken {
            pair: Pair {
                id: TokenId::UNSAVED,
                app: owner.app.clone(),
                platform: owner.platform,
                app_key: owner.app_key.to_owned(),
                account_key: account_key(response, now_ms),
                has_refresh_token: response.refresh_token.is_some(),
                access_expires_at: expiries.access_expires_at,
                refresh_expires_at: expiries.refresh_expires_at,
                refreshable: expiries.refreshable,
                identity: response.identity.clone(),
                last_request_id: response.request_id.clone(),
                status: TokenStatus::Active,
                created_at: now_ms,
                updated_at: now_ms,
                issued_at: now_ms,
                authorized_at: now_ms,
                last_refresh_at: None,
                last_error: None,
                last_error_code: None,
                consecutive_failures: 0,
                retry_after: None,
                authorization_expires_at: None,
                closed_at: None,
            },
            access_token: response.access_token.clone(),
            refresh_token: response.refresh_token.clone(),
        }
    }
}

/// Token counts of one app for the metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenCounts {
    pub app: AppId,
    /// Usable now.
    pub active: i64,
    /// Active, but the access token has expired (the refresher is behind or off).
    pub expired: i64,
    pub reauthorize: i64,
}

/// The key a seller's row is found by: the platform's most stable id. Without any id the
/// seller cannot be matched later; keep the tokens anyway, under the platform's request
/// id (or the time), rather than lose them.
pub fn account_key(response: &TokenResponse, now_ms: i64) -> String {
    response.identity.account_key().unwrap_or_else(|| {
        format!(
            "unidentified:{}",
            response
                .request_id
                .clone()
                .unwrap_or_else(|| now_ms.to_string())
        )
    })
}

//! What a stored pair's state means to an operator, most urgent first.

use serde::Serialize;

use super::pair::{Pair, TokenStatus};
use super::policy::refresh_expiring;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Only the seller can renew it, by authorizing again.
    Reauthorize,
    /// Its last refreshes failed; they are being retried.
    Failing,
    /// Works, but its refresh token dies soon: ask the seller to authorize again.
    RefreshExpiring,
    Active,
}

impl Health {
    pub fn of(token: &Pair, now: i64) -> Self {
        if token.status == TokenStatus::Reauthorize {
            Health::Reauthorize
        } else if token.consecutive_failures > 0 {
            Health::Failing
        } else if refresh_expiring(token.authorized_at, token.refresh_expires_at, now) {
            Health::RefreshExpiring
        } else {
            Health::Active
        }
    }

    pub const ALL: [Health; 4] = [
        Health::Reauthorize,
        Health::Failing,
        Health::RefreshExpiring,
        Health::Active,
    ];

    /// The inverse of `as_str`.
    pub fn parse(raw: &str) -> Option<Self> {
        Health::ALL.into_iter().find(|h| h.as_str() == raw)
    }

    /// How pages name the state (the console's badges).
    pub fn label(self) -> &'static str {
        match self {
            Health::Reauthorize => "Re-authorize",
            Health::Failing => "Failing",
            Health::RefreshExpiring => "Refresh expiring",
            Health::Active => "Active",
        }
    }

    /// The state a person typed, by its label or its name, in any case, with or without
    /// the hyphen or space (`re-authorize`, `Reauthorize`, `refresh expiring`).
    pub fn named(text: &str) -> Option<Self> {
        let squeeze = |s: &str| -> String {
            s.chars()
                .filter(char::is_ascii_alphanumeric)
                .map(|c| c.to_ascii_lowercase())
                .collect()
        };
        let typed = squeeze(text);
        Health::ALL
            .into_iter()
            .find(|h| squeeze(h.label()) == typed || squeeze(h.as_str()) == typed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Health::Reauthorize => "reauthorize",
            Health::Failing => "failing",
            Health::RefreshExpiring => "refresh_expiring",
            Health::Active => "active",
        }
    }
}

//! What the audit log records: who signed in (or failed to, from where), and every token
//! revealed, refreshed or deleted through the console. Never a token or a password.

use crate::tokens::{Pair, TokenId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    SignIn,
    SignInFailed,
    /// The failure that locked the address out for a while.
    SignInLocked,
    SignOut,
    Reveal,
    Refresh,
    RefreshFailed,
    Delete,
    /// An event sent again to the webhook endpoints.
    Redeliver,
}

impl AuditAction {
    pub const ALL: [AuditAction; 9] = [
        AuditAction::SignIn,
        AuditAction::SignInFailed,
        AuditAction::SignInLocked,
        AuditAction::SignOut,
        AuditAction::Reveal,
        AuditAction::Refresh,
        AuditAction::RefreshFailed,
        AuditAction::Delete,
        AuditAction::Redeliver,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::SignIn => "sign_in",
            AuditAction::SignInFailed => "sign_in_failed",
            AuditAction::SignInLocked => "sign_in_locked",
            AuditAction::SignOut => "sign_out",
            AuditAction::Reveal => "reveal",
            AuditAction::Refresh => "refresh",
            AuditAction::RefreshFailed => "refresh_failed",
            AuditAction::Delete => "delete",
            AuditAction::Redeliver => "redeliver",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == raw)
    }

    /// In words, for the audit page.
    pub fn label(self) -> &'static str {
        match self {
            AuditAction::SignIn => "Signed in",
            AuditAction::SignInFailed => "Sign-in failed",
            AuditAction::SignInLocked => "Sign-ins locked",
            AuditAction::SignOut => "Signed out",
            AuditAction::Reveal => "Revealed tokens",
            AuditAction::Refresh => "Refreshed",
            AuditAction::RefreshFailed => "Refresh failed",
            AuditAction::Delete => "Deleted",
            AuditAction::Redeliver => "Sent an event again",
        }
    }

    /// Whether it deserves the operator's attention on the page.
    pub fn is_warning(self) -> bool {
        matches!(
            self,
            AuditAction::SignInFailed | AuditAction::SignInLocked | AuditAction::RefreshFailed
        )
    }
}

/// One line of the audit log (`id` is 0 until stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub action: AuditAction,
    /// The client address, as far as it can be known (see IOP_TRUSTED_PROXIES).
    pub client: String,
    pub token_id: Option<TokenId>,
    /// The seller concerned, in words (`default · aliexpress · 2001`).
    pub subject: Option<String>,
    /// What happened beyond the action (a refresh error), never a secret.
    pub detail: Option<String>,
}

impl AuditEntry {
    /// What `client` did (`action`) at `at`, about `token` when there is one.
    pub fn new(
        at: i64,
        action: AuditAction,
        client: &str,
        token: Option<&Pair>,
        detail: Option<String>,
    ) -> Self {
        AuditEntry {
            id: 0,
            at,
            action,
            client: client.to_owned(),
            token_id: token.map(|t| t.id),
            subject: token.map(subject),
            detail,
        }
    }
}

/// Who acted from the command line, for the audit log's client column.
pub const COMMAND_LINE: &str = "command line";

/// The seller concerned, as the log names it (it outlives the row).
fn subject(token: &Pair) -> String {
    let id = &token.identity;
    let seller_id = id.seller_id.as_deref().or(id.user_id.as_deref());
    format!(
        "{} · {} · {}{}",
        token.app,
        token.platform.display_name(),
        id.display_name(),
        seller_id
            .filter(|s| *s != id.display_name())
            .map(|s| format!(" ({s})"))
            .unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_round_trip_through_their_stored_words() {
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.as_str()).unwrap(), action);
        }
        assert!(AuditAction::parse("nope").is_none());
    }
}

//! `/admin/audit`, and writing to the log.

use axum::extract::{RawQuery, State};
use axum::response::Html;

use super::forms::query_field;
use super::operator::Operator;
use super::views::{AuditPage, AuditRow, Nav};
use crate::admin::{AuditAction, AuditEntry};
use crate::tokens::StoredToken;
use crate::web::error::AppError;
use crate::web::state::AppState;
use crate::web::views::render;

/// Entries per page.
const PAGE: i64 = 50;

/// Writes one entry. Callers wait for it: a reveal is shown only once it is recorded.
pub(super) async fn record(
    app: &AppState,
    action: AuditAction,
    client: &str,
    token: Option<&StoredToken>,
    detail: Option<String>,
) -> Result<(), AppError> {
    app.store
        .append_audit(&AuditEntry {
            id: 0,
            at: app.clock.now_ms(),
            action,
            client: client.to_owned(),
            token_id: token.map(|t| t.id),
            subject: token.map(subject),
            detail,
        })
        .await?;
    Ok(())
}

/// The seller concerned, as the log names it (it outlives the row).
fn subject(token: &StoredToken) -> String {
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

/// `GET /admin/audit?before=ID`: newest first, `PAGE` at a time.
pub(super) async fn page(
    operator: Operator,
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Html<String>, AppError> {
    let before = query_field(query.as_deref(), "before").and_then(|raw| raw.parse::<i64>().ok());
    let mut entries = app.store.audit_page(before, PAGE + 1).await?;
    let older = if entries.len() > PAGE as usize {
        entries.truncate(PAGE as usize);
        entries.last().map(|e| e.id)
    } else {
        None
    };
    render(&AuditPage {
        layout: app.layout,
        nav: Nav {
            csrf: operator.csrf.expose().to_owned(),
            section: "audit",
        },
        entries: entries.into_iter().map(AuditRow::new).collect(),
        older,
        paged: before.is_some(),
    })
}

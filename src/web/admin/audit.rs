//! `/admin/audit`, and writing to the log.

use axum::extract::{RawQuery, State};
use axum::response::Html;

use super::forms::query_field;
use super::operator::Operator;
use super::views::{AuditPage, AuditRow, Nav};
use crate::admin::{AuditAction, AuditEntry};
use crate::store::StoreError;
use crate::tokens::Pair;
use crate::web::error::AppError;
use crate::web::state::AppState;
use crate::web::views::render;

/// Entries per page.
const PAGE: i64 = 50;

/// Writes one entry, and (but for refreshes, which the renewal logs itself) the same in
/// one line of the process log, where alerts look. Callers wait for it: a reveal is
/// shown, and a delete done, only once it is recorded.
pub(crate) async fn record(
    app: &AppState,
    action: AuditAction,
    client: &str,
    token: Option<&Pair>,
    detail: Option<String>,
) -> Result<(), StoreError> {
    let entry = AuditEntry::new(app.clock.now_ms(), action, client, token, detail);
    app.store.append_audit(&entry).await?;
    let app_id = token.map(|t| t.app.to_string());
    let seller_id = token.and_then(|t| t.identity.primary_id());
    let (app_id, seller_id) = (app_id.as_deref().unwrap_or("-"), seller_id.unwrap_or("-"));
    let detail = entry.detail.as_deref().unwrap_or("-");
    let action = action.as_str();
    // Sign-in failures and pauses are throttled per address (`admin::throttle`), so these
    // lines cannot flood the log.
    match entry.action {
        AuditAction::Refresh | AuditAction::RefreshFailed => {}
        AuditAction::SignInFailed | AuditAction::SignInLocked => {
            tracing::warn!(action, client, detail, "audited");
        }
        _ => tracing::info!(action, client, app = app_id, seller_id, detail, "audited"),
    }
    Ok(())
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

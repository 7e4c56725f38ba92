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

/// Writes one entry. Callers wait for it: a reveal is shown, and a delete done, only once
/// it is recorded.
pub(crate) async fn record(
    app: &AppState,
    action: AuditAction,
    client: &str,
    token: Option<&Pair>,
    detail: Option<String>,
) -> Result<(), StoreError> {
    app.store
        .append_audit(&AuditEntry::new(
            app.clock.now_ms(),
            action,
            client,
            token,
            detail,
        ))
        .await
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

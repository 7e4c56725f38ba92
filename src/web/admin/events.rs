//! `/admin/events`: the newest events with how their deliveries stand, the ones whose
//! delivery failed for good, and sending one again (POST, CSRF-checked, audited).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::audit::record;
use super::forms::{check_csrf, query_field};
use super::operator::Operator;
use super::views::{EventRow, EventsPage, Nav};
use crate::admin::AuditAction;
use crate::events::history;
use crate::store::{EventFilter, EventRecord};
use crate::web::error::{AppError, Missing};
use crate::web::state::AppState;
use crate::web::views::render;

/// Events shown in each list.
const SHOWN: i64 = 50;

/// `GET /admin/events`.
pub(super) async fn page(
    operator: Operator,
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Html<String>, AppError> {
    let recent = app
        .store
        .page_events(&EventFilter::default(), None, SHOWN)
        .await?;
    let failed = app.store.failed_events(SHOWN).await?;
    let (recent, failed) = (rows(&app, &recent).await?, rows(&app, &failed).await?);
    render(&EventsPage {
        layout: app.layout,
        nav: Nav {
            csrf: operator.csrf.expose().to_owned(),
            section: "events",
        },
        csrf: operator.csrf.expose().to_owned(),
        redelivered: query_field(query.as_deref(), "notice").as_deref() == Some("redelivered"),
        failed,
        recent,
        endpoints: app.config.all_webhook_endpoints().len(),
    })
}

/// `events` with their deliveries' states, read in one query.
async fn rows(app: &AppState, events: &[EventRecord]) -> Result<Vec<EventRow>, AppError> {
    let (Some(low), Some(high)) = (
        events.iter().map(|e| e.id).min(),
        events.iter().map(|e| e.id).max(),
    ) else {
        return Ok(Vec::new());
    };
    let mut states: HashMap<i64, Vec<(String, i64)>> = HashMap::new();
    for (event, state, n) in app.store.delivery_states(low, high).await? {
        states.entry(event).or_default().push((state, n));
    }
    Ok(events
        .iter()
        .map(|event| EventRow::new(event, states.get(&event.id).map_or(&[][..], Vec::as_slice)))
        .collect())
}

/// `POST /admin/events/{id}/redeliver`.
pub(super) async fn redeliver(
    operator: Operator,
    State(app): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    check_csrf(&operator.csrf, &body)?;
    let Some(event) = app.store.event(&id).await? else {
        return Err(AppError::NotFound(Missing::Page));
    };
    // Audited before it is done, as every console action.
    record(
        &app,
        AuditAction::Redeliver,
        &operator.client,
        None,
        Some(id.clone()),
    )
    .await?;
    history::redeliver(&app.store, &app.config, &event, app.clock.now()).await?;
    app.bell.ring();
    Ok(Redirect::to("/admin/events?notice=redelivered").into_response())
}

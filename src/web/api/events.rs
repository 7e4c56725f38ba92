//! `/api/v1/events`: the kept events for consumers that would rather poll than receive
//! webhooks, one event with its delivery attempts, and sending one again.

use axum::extract::{Path, Query, State};
use axum::http::header::LINK;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use super::error::ApiError;
use super::{api_client, check_reach};
use crate::admin::AuditAction;
use crate::apps::AppId;
use crate::config::Grants;
use crate::events::history;
use crate::events::views::{EventDetail, EventView};
use crate::store::EventFilter;
use crate::web::admin::audit::record;
use crate::web::limits::Peer;
use crate::web::opaque;
use crate::web::state::AppState;

/// Events per page unless the caller says, and at most.
const PAGE: u32 = 100;
const MAX_PAGE: u32 = 1_000;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct EventsQuery {
    /// Only events of this type (`platform.push`, `seller.authorized`, …).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    kind: Option<String>,
    /// Only events about this seller id.
    seller: Option<String>,
    /// Only this app's events.
    app: Option<String>,
    /// Events per page: 100 by default, at most 1,000.
    #[param(value_type = Option<u32>)]
    limit: Option<String>,
    /// Where the page starts: taken from the previous page's `Link: <…>; rel="next"`.
    after: Option<String>,
}

/// The kept events, newest first; the next (older) page is in `Link: <…>; rel="next"`.
#[utoipa::path(
    get,
    path = "/api/v1/events",
    operation_id = "listEvents",
    params(EventsQuery),
    responses(
        (status = 200, description = "One page of events, newest first.", body = Vec<EventView>,
            headers(("Link" = String, description = "The next, older page: `</api/v1/events?…&after=…>; rel=\"next\"`."))),
        (status = 400, description = "A filter, `limit` or `after` is not valid.", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong API key.", body = super::openapi::ErrorBody),
        (status = 403, description = "The key lacks the `events` grant, or `app` is not granted to it.", body = super::openapi::ErrorBody),
    )
)]
pub(super) async fn list(
    State(app): State<AppState>,
    Extension(grants): Extension<Grants>,
    Query(query): Query<EventsQuery>,
) -> Result<Response, ApiError> {
    if let Some(kind) = &query.kind
        && !crate::events::TYPES.contains(&kind.as_str())
    {
        return Err(ApiError::BadRequest(format!(
            "`type` is one of {}, not `{kind}`",
            crate::events::TYPES.join(", ")
        )));
    }
    let only: Option<AppId> = query
        .app
        .as_deref()
        .map(|raw| app.apps.resolve(raw).map_err(ApiError::BadRequest))
        .transpose()?;
    if let Some(only) = &only {
        check_reach(&grants, only)?;
    }
    let limit = i64::from(super::page_size(query.limit.as_deref(), PAGE, MAX_PAGE)?);
    let before = query.after.as_deref().map(read_cursor).transpose()?;
    let filter = EventFilter {
        kind: query.kind.clone(),
        seller: query.seller.clone(),
        app: only.map(|a| a.to_string()),
    };
    let mut page = history::page(&app.store, &app.config, &filter, before, limit + 1).await?;
    let more = page.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    page.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let last = page.last().map(|(id, _)| *id);
    let events: Vec<EventView> = page
        .into_iter()
        .map(|(_, event)| event)
        .filter(|event| AppId::parse(&event.app).is_ok_and(|a| grants.reaches(&a)))
        .collect();
    let mut response = Json(events).into_response();
    if let (true, Some(last)) = (more, last) {
        let mut next = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("type", &query.kind),
            ("seller", &query.seller),
            ("app", &query.app),
        ] {
            if let Some(value) = value {
                next.append_pair(name, value);
            }
        }
        next.append_pair("limit", &limit.to_string());
        next.append_pair("after", &opaque::seal(&format!("e{last}")));
        let link = format!("</api/v1/events?{}>; rel=\"next\"", next.finish());
        if let Ok(value) = HeaderValue::from_str(&link) {
            response.headers_mut().insert(LINK, value);
        }
    }
    Ok(response)
}

/// The event row a cursor of this list names.
fn read_cursor(raw: &str) -> Result<i64, ApiError> {
    opaque::open(raw)
        .and_then(|text| text.strip_prefix('e')?.parse::<i64>().ok())
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            ApiError::BadRequest(
                "`after` is not a cursor of this list: take it from a Link header".into(),
            )
        })
}

/// The event's id, as webhooks carry it (`webhook-id`).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct EventId {
    /// `evt_…`.
    id: String,
}

/// One event with its deliveries and every attempt at them.
#[utoipa::path(
    get,
    path = "/api/v1/events/{id}",
    operation_id = "showEvent",
    params(EventId),
    responses(
        (status = 200, description = "The event and its deliveries.", body = EventDetail),
        (status = 400, description = "Not an event id (`evt_` and hex digits).", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong API key.", body = super::openapi::ErrorBody),
        (status = 404, description = "No kept event has this id.", body = super::openapi::ErrorBody),
        (status = 403, description = "The key lacks the `events` grant or the event's app.", body = super::openapi::ErrorBody),
    )
)]
pub(super) async fn show(
    State(app): State<AppState>,
    Extension(grants): Extension<Grants>,
    Path(EventId { id }): Path<EventId>,
) -> Result<Json<EventDetail>, ApiError> {
    check_id(&id)?;
    let detail = history::detail(&app.store, &app.config, &id)
        .await?
        .ok_or(ApiError::NoEvent)?;
    reach_event(&grants, &detail.event.app)?;
    Ok(Json(detail))
}

/// Sends the event again now to every endpoint of its app (today's, and those it had).
#[utoipa::path(
    post,
    path = "/api/v1/events/{id}/redeliver",
    operation_id = "redeliverEvent",
    params(EventId),
    responses(
        (status = 202, description = "Due now: `{\"id\", \"deliveries\"}`, the number of endpoints it goes to."),
        (status = 400, description = "Not an event id (`evt_` and hex digits).", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or wrong API key.", body = super::openapi::ErrorBody),
        (status = 404, description = "No kept event has this id.", body = super::openapi::ErrorBody),
        (status = 403, description = "The key lacks the `events` grant or the event's app.", body = super::openapi::ErrorBody),
    )
)]
pub(super) async fn redeliver(
    State(app): State<AppState>,
    Extension(grants): Extension<Grants>,
    Peer(peer): Peer,
    headers: HeaderMap,
    Path(EventId { id }): Path<EventId>,
) -> Result<Response, ApiError> {
    check_id(&id)?;
    let event = app.store.event(&id).await?.ok_or(ApiError::NoEvent)?;
    reach_event(&grants, &event.app_id)?;
    let client = api_client(&app, peer, &headers);
    record(
        &app,
        AuditAction::Redeliver,
        &client,
        None,
        Some(id.clone()),
    )
    .await?;
    let due = history::redeliver(&app.store, &app.config, &event, app.clock.now()).await?;
    app.bell.ring();
    tracing::info!(event_id = %id, deliveries = due, "event sent again through the API");
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "id": id, "deliveries": due })),
    )
        .into_response())
}

/// `evt_` and 1 to 64 lower-case hex digits: anything else is no id of ours.
fn check_id(id: &str) -> Result<(), ApiError> {
    let digits = id.strip_prefix("evt_").unwrap_or_default();
    if (1..=64).contains(&digits.len())
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(ApiError::BadRequest(
            "an event id is `evt_` and hex digits, as webhooks carry it in `webhook-id`".into(),
        ))
    }
}

/// An event of an app the key does not reach is refused as that app's grant.
fn reach_event(grants: &Grants, app: &str) -> Result<(), ApiError> {
    match AppId::parse(app) {
        Ok(app) => check_reach(grants, &app),
        Err(_) => Ok(()),
    }
}

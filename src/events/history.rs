//! The kept events, read and sent again: what the token API, the command line and the
//! admin console share.

use super::views::{EventDetail, EventView};
use crate::clock::EpochMs;
use crate::config::Config;
use crate::store::{EventFilter, EventRecord, Store, StoreError};

/// The platform of the app an event belongs to, when it is still configured.
fn platform_of<'a>(config: &'a Config, event: &EventRecord) -> Option<&'a str> {
    config
        .apps
        .iter()
        .find(|app| app.id.as_str() == event.app_id)
        .map(|app| app.platform.as_str())
}

/// Up to `limit` events older than the event row `before`, newest first, with their row
/// ids (the next page's cursor).
pub async fn page(
    store: &Store,
    config: &Config,
    filter: &EventFilter,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<(i64, EventView)>, StoreError> {
    Ok(store
        .page_events(filter, before, limit)
        .await?
        .iter()
        .map(|event| (event.id, EventView::new(event, platform_of(config, event))))
        .collect())
}

/// The event `uid` names with its deliveries and their attempts.
pub async fn detail(
    store: &Store,
    config: &Config,
    uid: &str,
) -> Result<Option<EventDetail>, StoreError> {
    let Some(event) = store.event(uid).await? else {
        return Ok(None);
    };
    let (deliveries, attempts) = store.deliveries_of(event.id).await?;
    Ok(Some(EventDetail::new(
        &event,
        platform_of(config, &event),
        &deliveries,
        &attempts,
    )))
}

/// Sends `event` again to each endpoint its app has now, and to those it had. Returns how
/// many deliveries are due.
pub async fn redeliver(
    store: &Store,
    config: &Config,
    event: &EventRecord,
    now: EpochMs,
) -> Result<u64, StoreError> {
    let endpoints = match crate::apps::AppId::parse(&event.app_id) {
        Ok(app) => config.webhook_endpoints(&app),
        Err(_) => config
            .webhooks
            .everywhere
            .iter()
            .map(|u| u.to_string())
            .collect(),
    };
    store.redeliver(event.id, &endpoints, now).await
}

//! Events as the token API, the command line and the admin console show them.

use serde::Serialize;

use super::delivery::shown;
use crate::clock::format_rfc3339;
use crate::store::{AttemptRecord, DeliveryRecord, EventRecord};

/// An event, as a webhook carries it (its `data` parsed).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Event)]
pub struct EventView {
    /// `evt_…`: the `webhook-id` its deliveries carry.
    pub id: String,
    /// `platform.push`, `seller.authorized`, `seller.refresh_expiring`,
    /// `seller.reauthorization_needed` or `seller.closed`.
    #[serde(rename = "type")]
    pub kind: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    pub app: String,
    /// The app's platform, when the app is still configured.
    pub platform: Option<String>,
    pub seller_id: Option<String>,
    /// A push's `message_type`.
    pub message_type: Option<i64>,
    /// The platform's message, or the lifecycle event's data.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

impl EventView {
    pub fn new(event: &EventRecord, platform: Option<&str>) -> Self {
        EventView {
            id: event.uid.clone(),
            kind: event.kind.clone(),
            created_at: format_rfc3339(event.created_at),
            app: event.app_id.clone(),
            platform: platform.map(str::to_owned),
            seller_id: event.seller_id.clone(),
            message_type: event.message_type,
            data: serde_json::from_str(&event.body).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// One endpoint's delivery of an event.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Delivery)]
pub struct DeliveryView {
    /// Scheme, host and port only: a path or query may hold a credential.
    pub endpoint: String,
    /// `pending`, `delivered` or `failed` (the schedule gave up after a day).
    pub state: String,
    pub attempts: i64,
    /// While pending: when it is tried next.
    #[schema(format = DateTime)]
    pub next_attempt_at: Option<String>,
    #[schema(format = DateTime)]
    pub done_at: Option<String>,
    pub history: Vec<AttemptView>,
}

/// One attempt: the endpoint's HTTP status, or why there was none.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = DeliveryAttempt)]
pub struct AttemptView {
    #[schema(format = DateTime)]
    pub at: String,
    pub status: Option<i64>,
    pub error: Option<String>,
    pub ms: i64,
}

/// An event with its deliveries.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = EventDetail)]
pub struct EventDetail {
    #[serde(flatten)]
    pub event: EventView,
    pub deliveries: Vec<DeliveryView>,
}

impl EventDetail {
    pub fn new(
        event: &EventRecord,
        platform: Option<&str>,
        deliveries: &[DeliveryRecord],
        attempts: &[AttemptRecord],
    ) -> Self {
        EventDetail {
            event: EventView::new(event, platform),
            deliveries: deliveries
                .iter()
                .map(|d| DeliveryView {
                    endpoint: shown(&d.endpoint),
                    state: d.state.clone(),
                    attempts: d.attempts,
                    next_attempt_at: (d.state == "pending").then(|| format_rfc3339(d.next_at)),
                    done_at: d.done_at.map(format_rfc3339),
                    history: attempts
                        .iter()
                        .filter(|a| a.delivery_id == d.id)
                        .map(|a| AttemptView {
                            at: format_rfc3339(a.at),
                            status: a.status,
                            error: a.error.clone(),
                            ms: a.ms,
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

//! Events for the operator's services: the platform's pushes as received, and the service's
//! own lifecycle events (`notices`), delivered to the configured webhook endpoints
//! (`delivery`), signed the Standard Webhooks way (`signature`), on a retry schedule
//! (`schedule`).

pub mod delivery;
pub mod history;
pub mod notices;
pub mod schedule;
pub mod signature;
pub mod views;

use crate::clock::format_rfc3339;
use crate::store::EventRecord;

/// The type of an event that is a platform push.
pub const PLATFORM_PUSH: &str = "platform.push";
/// A seller authorized (for the first time, or again).
pub const SELLER_AUTHORIZED: &str = "seller.authorized";
/// A seller's authorization ends within 14 days, then within 2.
pub const REFRESH_EXPIRING: &str = "seller.refresh_expiring";
/// The seller must authorize again: a refresh was refused for good, or the deadline passed.
pub const REAUTHORIZATION_NEEDED: &str = "seller.reauthorization_needed";
/// The platform said the seller closed its shop.
pub const SELLER_CLOSED: &str = "seller.closed";

/// Every event type, for the API's description and its filter.
pub const TYPES: [&str; 5] = [
    PLATFORM_PUSH,
    SELLER_AUTHORIZED,
    REFRESH_EXPIRING,
    REAUTHORIZATION_NEEDED,
    SELLER_CLOSED,
];

/// The JSON a webhook carries: `{"id", "type", "created_at", "app", "platform",
/// "seller_id", "data"}`. `data` is the kept body as it is (a push's bytes exactly as the
/// platform sent them), never parsed and written again.
pub fn payload(event: &EventRecord, platform: Option<&str>) -> String {
    let text = |value: &str| serde_json::Value::from(value).to_string();
    let optional = |value: Option<&str>| value.map_or_else(|| "null".to_owned(), text);
    format!(
        r#"{{"id":{},"type":{},"created_at":{},"app":{},"platform":{},"seller_id":{},"data":{}}}"#,
        text(&event.uid),
        text(&event.kind),
        text(&format_rfc3339(event.created_at)),
        text(&event.app_id),
        optional(platform),
        optional(event.seller_id.as_deref()),
        event.body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_carries_a_push_byte_for_byte_under_data() {
        let body = r#"{"seller_id":"1001","message_type":0,"data":{"x":"a  b"}}"#;
        let event = EventRecord {
            id: 1,
            uid: "evt_1".into(),
            app_id: "shop".into(),
            kind: PLATFORM_PUSH.into(),
            message_type: Some(0),
            seller_id: Some("1001".into()),
            body: body.into(),
            created_at: 1_700_000_000_000,
        };
        let payload = payload(&event, Some("lazada"));
        assert!(
            payload.ends_with(&format!(r#""data":{body}}}"#)),
            "{payload}"
        );
        let parsed: serde_json::Value = serde_json::from_str(&payload).unwrap();
        assert_eq!(parsed["id"], "evt_1");
        assert_eq!(parsed["type"], "platform.push");
        assert_eq!(parsed["app"], "shop");
        assert_eq!(parsed["platform"], "lazada");
        assert_eq!(parsed["seller_id"], "1001");
        assert_eq!(parsed["created_at"], "2023-11-14T22:13:20Z");
        assert_eq!(parsed["data"]["data"]["x"], "a  b");
    }
}

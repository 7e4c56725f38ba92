//! The demo's own webhook endpoint (`/demo/webhooks`): it checks each delivery's Standard
//! Webhooks signature with the demo's secret, as a receiver of the operator's would, and
//! lists the last ones on a page, so a newcomer sees an event arrive without writing one.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Html;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::views::{LAYOUT, Layout};
use crate::clock::{SharedClock, format_utc};
use crate::iop::sign::hmac_sha256;
use crate::lock::lock;

/// The path it listens on.
pub const PATH: &str = "/demo/webhooks";
/// How many deliveries the page keeps.
const KEPT: usize = 50;

/// One delivery as received.
pub(super) struct Received {
    pub(super) at: String,
    pub(super) id: String,
    pub(super) kind: String,
    pub(super) seller: String,
    pub(super) verified: bool,
    pub(super) body: String,
}

#[derive(Clone)]
pub struct Receiver {
    key: Arc<Vec<u8>>,
    received: Arc<Mutex<VecDeque<Received>>>,
    clock: SharedClock,
}

#[derive(Template)]
#[template(path = "sandbox/webhooks.html")]
struct WebhooksPage<'a> {
    layout: Layout,
    received: &'a VecDeque<Received>,
}

impl Receiver {
    /// An endpoint that verifies with `key` (the secret's bytes).
    pub fn new(key: Vec<u8>, clock: SharedClock) -> Self {
        Receiver {
            key: Arc::new(key),
            received: Arc::default(),
            clock,
        }
    }

    pub fn routes(self) -> Router {
        Router::new()
            .route(PATH, get(page).post(receive))
            .with_state(self)
    }

    /// The Standard Webhooks check: `v1,` + base64 HMAC-SHA256 over `id.timestamp.body`,
    /// among the space-separated signatures of the header.
    fn verifies(&self, headers: &HeaderMap, body: &[u8]) -> bool {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let (Some(id), Some(timestamp), Some(signatures)) = (
            header("webhook-id"),
            header("webhook-timestamp"),
            header("webhook-signature"),
        ) else {
            return false;
        };
        let mac = hmac_sha256(
            &self.key,
            &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
        );
        let expected = format!("v1,{}", STANDARD.encode(mac));
        signatures.split(' ').any(|given| given == expected)
    }
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let verified = receiver.verifies(&headers, &body);
    let payload: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let text = |field: &str| payload[field].as_str().unwrap_or("-").to_owned();
    let received = Received {
        at: format_utc(receiver.clock.now_ms()),
        id: text("id"),
        kind: text("type"),
        seller: text("seller_id"),
        verified,
        body: serde_json::to_string_pretty(&payload).unwrap_or_default(),
    };
    let mut kept = lock(&receiver.received);
    kept.push_front(received);
    kept.truncate(KEPT);
    if verified {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::UNAUTHORIZED
    }
}

async fn page(State(receiver): State<Receiver>) -> Result<Html<String>, StatusCode> {
    let received = lock(&receiver.received);
    WebhooksPage {
        layout: LAYOUT,
        received: &received,
    }
    .render()
    .map(Html)
    .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)
}

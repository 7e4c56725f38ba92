//! The home page's push buttons: the sandbox sends the service a signed message about one
//! of its sellers (a new order, or the seller's authorization expiring), as the platform's
//! message service would, so that a newcomer sees a push arrive, become an event and be
//! delivered.

use axum::extract::State;
use axum::response::Redirect;
use serde_json::json;

use super::Sandbox;
use super::sellers;

#[derive(serde::Deserialize)]
pub(super) struct PushForm {
    seller: String,
    /// `order` (type 0) or `expiring` (type 8).
    kind: String,
}

/// `POST {prefix}/push`: sends the message, then shows how the service answered.
pub(super) async fn push(
    State(sandbox): State<Sandbox>,
    axum::Form(form): axum::Form<PushForm>,
) -> Redirect {
    let settings = &sandbox.settings;
    let home = format!("{}/", settings.prefix);
    let Some(url) = settings.push_url.clone() else {
        return Redirect::to(&format!("{home}?pushed=off"));
    };
    let seller = sellers::find(settings.platform, &form.seller);
    let seller_id = seller.seller_id();
    let now = sandbox.now_ms();
    let (message_type, data) = match form.kind.as_str() {
        "expiring" => (
            8,
            json!({
                "seller_id": seller_id,
                "app_key": settings.app_key,
                // Two days on, in seconds, as the platform sends it from 48 hours before.
                "auth_expiry_time": now / 1_000 + 2 * 86_400,
            }),
        ),
        _ => (
            0,
            json!({
                "trade_order_id": format!("{}", 260_000_000_000_000_i64 + now % 1_000_000),
                "trade_order_line_id": format!("{}", 270_000_000_000_000_i64 + now % 1_000_000),
                "order_status": "unpaid",
                "status_update_time": now / 1_000,
            }),
        ),
    };
    let body = json!({
        "seller_id": seller_id,
        "message_type": message_type,
        "data": data,
        "timestamp": now,
        "site": match settings.platform {
            crate::iop::Platform::Aliexpress => "ae_global",
            crate::iop::Platform::Lazada => "lazada_th",
        },
    })
    .to_string();
    let signature =
        crate::iop::push::signature(&settings.app_secret, &settings.app_key, body.as_bytes());
    let status = match reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("authorization", signature)
        .body(body)
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await
    {
        Ok(answer) => answer.status().as_u16().to_string(),
        Err(_) => "unreachable".to_owned(),
    };
    tracing::info!(
        seller = seller.key,
        message_type,
        status,
        "sandbox pushed a message"
    );
    Redirect::to(&format!("{home}?pushed={status}"))
}

//! Push messages: what the platform POSTs to an app's message URL (protocol §8). The
//! signature is checked over the bytes received, never over JSON written again (spacing and
//! key order would change them); the envelope is read leniently, since its fields vary.

use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use super::sign::hmac_sha256;

/// The `Authorization` header the platform sends with `body`: the lower-case hex of
/// HMAC-SHA256(key = app secret, message = app key followed by the body).
pub fn signature(app_secret: &str, app_key: &str, body: &[u8]) -> String {
    hex::encode(hmac_sha256(
        app_secret.as_bytes(),
        &[app_key.as_bytes(), body],
    ))
}

/// Whether `authorization` (the `Authorization` header) is `signature` of `body`,
/// compared in constant time.
pub fn signature_holds(app_secret: &str, app_key: &str, body: &[u8], authorization: &str) -> bool {
    let expected = signature(app_secret, app_key, body);
    bool::from(expected.as_bytes().ct_eq(authorization.trim().as_bytes()))
}

/// What the service reads of a push it accepted; the body itself is kept as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// `message_type`, when it is an integer (an unknown type is kept all the same).
    pub message_type: Option<i64>,
    /// `seller_id` as a string or a number; absent on broadcasts.
    pub seller_id: Option<String>,
    /// What it says about a seller that the service keeps itself, if anything.
    pub news: Option<SellerNews>,
}

/// What a push tells the service about one seller's authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SellerNews {
    /// Type 8: the seller's authorization expires then (ms since the epoch).
    AuthorizationExpires { seller_id: String, at_ms: i64 },
    /// Type 13: the seller's shop closed (`close`), or is open again (`normal`).
    Status { seller_id: String, closed: bool },
}

/// Authorization expiring (protocol §8).
const AUTHORIZATION_EXPIRING: i64 = 8;
/// Seller status.
const SELLER_STATUS: i64 = 13;

/// A string or a number, as a string.
fn id_of(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(id) if !id.is_empty() => Some(id.clone()),
        Value::Number(id) => Some(id.to_string()),
        _ => None,
    }
}

fn news(message_type: Option<i64>, object: &Map<String, Value>) -> Option<SellerNews> {
    let data = object.get("data").and_then(Value::as_object);
    let field = |name: &str| data.and_then(|d| d.get(name));
    let seller_id = id_of(field("seller_id")).or_else(|| id_of(object.get("seller_id")))?;
    match message_type? {
        AUTHORIZATION_EXPIRING => {
            let at = field("auth_expiry_time").and_then(|v| {
                v.as_i64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            })?;
            // Seconds, as documented; a value already in milliseconds is taken as such.
            let at_ms = if at > 100_000_000_000 {
                at
            } else {
                at.checked_mul(1000)?
            };
            Some(SellerNews::AuthorizationExpires { seller_id, at_ms })
        }
        SELLER_STATUS => {
            let status = field("status")
                .or_else(|| field("seller_status"))
                .and_then(Value::as_str)?
                .to_ascii_lowercase();
            let closed = match status.as_str() {
                "close" | "closed" => true,
                "normal" | "open" => false,
                _ => return None,
            };
            Some(SellerNews::Status { seller_id, closed })
        }
        _ => None,
    }
}

impl Push {
    /// Any JSON object is a push; anything else is refused (`None`).
    pub fn read(body: &[u8]) -> Option<Push> {
        let object: Map<String, Value> = serde_json::from_slice(body).ok()?;
        let message_type = object.get("message_type").and_then(Value::as_i64);
        Some(Push {
            message_type,
            seller_id: id_of(object.get("seller_id")),
            news: news(message_type, &object),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Protocol §8's vector, byte for byte.
    const BODY: &str = r#"{"seller_id":"1234567","message_type":0,"data":{"order_status":"unpaid","trade_order_id":"260422900198363","trade_order_line_id":"260422900298363","status_update_time":1603698638},"timestamp":1603766859530,"site":"lazada_vn"}"#;
    const SIGNATURE: &str = "59e04e1b1f307b7180fd58126161907cd20d33ac17cbce90ec2ae19907e701e6";

    #[test]
    fn the_protocols_vector_holds_and_nothing_else_does() {
        assert!(signature_holds(
            "3412gyo124goi3124",
            "123456",
            BODY.as_bytes(),
            SIGNATURE
        ));
        // The same JSON with other spacing is other bytes: refused.
        let spaced = BODY.replace(",\"", ", \"");
        assert!(!signature_holds(
            "3412gyo124goi3124",
            "123456",
            spaced.as_bytes(),
            SIGNATURE
        ));
        assert!(!signature_holds(
            "another-secret",
            "123456",
            BODY.as_bytes(),
            SIGNATURE
        ));
        assert!(!signature_holds(
            "3412gyo124goi3124",
            "654321",
            BODY.as_bytes(),
            SIGNATURE
        ));
        assert!(!signature_holds(
            "3412gyo124goi3124",
            "123456",
            BODY.as_bytes(),
            ""
        ));
        assert!(!signature_holds(
            "3412gyo124goi3124",
            "123456",
            BODY.as_bytes(),
            &SIGNATURE.to_uppercase()
        ));
    }

    #[test]
    fn the_envelope_is_read_leniently() {
        assert_eq!(
            Push::read(BODY.as_bytes()),
            Some(Push {
                message_type: Some(0),
                seller_id: Some("1234567".into()),
                news: None,
            })
        );
        assert_eq!(
            Push::read(br#"{"seller_id":1234567,"message_type":13}"#),
            Some(Push {
                message_type: Some(13),
                seller_id: Some("1234567".into()),
                news: None,
            })
        );
        assert_eq!(
            Push::read(br#"{"message_type":12,"data":{}}"#),
            Some(Push {
                message_type: Some(12),
                seller_id: None,
                news: None,
            }),
            "a broadcast"
        );
        assert_eq!(
            Push::read(br#"{"verify":true}"#),
            Some(Push {
                message_type: None,
                seller_id: None,
                news: None,
            }),
            "the console's verify message"
        );
        let expiring = br#"{"message_type":8,"data":{"seller_id":"100","app_key":"1","auth_expiry_time":1700000000}}"#;
        assert_eq!(
            Push::read(expiring).unwrap().news,
            Some(SellerNews::AuthorizationExpires {
                seller_id: "100".into(),
                at_ms: 1_700_000_000_000
            })
        );
        let closed = br#"{"seller_id":100,"message_type":13,"data":{"status":"close"}}"#;
        assert_eq!(
            Push::read(closed).unwrap().news,
            Some(SellerNews::Status {
                seller_id: "100".into(),
                closed: true
            })
        );
        let unclear = br#"{"seller_id":"100","message_type":13,"data":{"status":"?"}}"#;
        assert_eq!(Push::read(unclear).unwrap().news, None);
        for refused in [&b"[1]"[..], b"\"x\"", b"", b"{"] {
            assert_eq!(Push::read(refused), None);
        }
    }
}

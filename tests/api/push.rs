//! The push receiver: the platform's messages, trusted only by the signature over the bytes
//! received, stored before the 200, kept once however often they are sent (issue 24, item 1).

use sqlx::Connection;

use crate::helpers::*;

/// Protocol §8's vector: this app key and secret sign this body with this signature.
const KEY: &str = "123456";
const SECRET: &str = "3412gyo124goi3124";
const BODY: &str = r#"{"seller_id":"1234567","message_type":0,"data":{"order_status":"unpaid","trade_order_id":"260422900198363","trade_order_line_id":"260422900298363","status_update_time":1603698638},"timestamp":1603766859530,"site":"lazada_vn"}"#;
const SIGNATURE: &str = "59e04e1b1f307b7180fd58126161907cd20d33ac17cbce90ec2ae19907e701e6";

async fn send(
    app: &TestApp,
    path: &str,
    body: impl Into<reqwest::Body>,
    signature: Option<&str>,
) -> u16 {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", app.address))
        .header("content-type", "application/json")
        .body(body);
    if let Some(signature) = signature {
        request = request.header("authorization", signature);
    }
    request.send().await.unwrap().status().as_u16()
}

/// A body signed as the platform signs it, with the vector's app.
fn signed(body: &str) -> String {
    hex::encode(iop_callback::iop::sign::hmac_sha256(
        SECRET.as_bytes(),
        &[KEY.as_bytes(), body.as_bytes()],
    ))
}

/// What the store kept: (type, message type, seller id, body) in order.
async fn kept(app: &TestApp) -> Vec<(String, Option<i64>, Option<String>, String)> {
    let mut db = sqlx::AnyConnection::connect(app.config.database_url.expose())
        .await
        .unwrap();
    sqlx::query_as("SELECT type, message_type, seller_id, body FROM events ORDER BY id")
        .fetch_all(&mut db)
        .await
        .unwrap()
}

#[apply(each_engine)]
#[tokio::test]
async fn a_signed_push_is_kept_once_as_received_and_anything_else_is_refused(engine: Engine) {
    let Some(app) = spawn_app_on(
        engine,
        &[
            "--app-key",
            KEY,
            "--app-secret",
            SECRET,
            "--metrics-listen",
            "127.0.0.1:0",
        ],
    )
    .await
    else {
        return;
    };
    assert_eq!(send(&app, "/push", BODY, Some(SIGNATURE)).await, 200);
    // The platform's retry of the same push: acknowledged, kept once.
    assert_eq!(send(&app, "/push", BODY, Some(SIGNATURE)).await, 200);
    let after_one = kept(&app).await;
    assert_eq!(
        after_one,
        [(
            "platform.push".to_owned(),
            Some(0),
            Some("1234567".to_owned()),
            BODY.to_owned()
        )],
        "the bytes received, not JSON written again"
    );

    // The same JSON with other spacing is other bytes: the signature does not hold.
    let spaced = BODY.replace(",\"", ", \"");
    assert_eq!(send(&app, "/push", spaced, Some(SIGNATURE)).await, 401);
    assert_eq!(
        send(&app, "/push", BODY.replace('0', "1"), Some(SIGNATURE)).await,
        401
    );
    assert_eq!(send(&app, "/push", BODY, None).await, 401);
    // Over 1 MiB, signed or not: refused unread.
    let huge = format!(r#"{{"pad":"{}"}}"#, "x".repeat(1024 * 1024));
    let huge_signature = signed(&huge);
    assert_eq!(send(&app, "/push", huge, Some(&huge_signature)).await, 413);
    // Signed, but not a JSON object.
    assert_eq!(send(&app, "/push", "[1]", Some(&signed("[1]"))).await, 400);
    assert_eq!(kept(&app).await, after_one, "nothing refused was kept");

    // A numeric seller id, and a broadcast without one; an unknown type is kept as it is.
    for body in [
        r#"{"seller_id":1234567,"message_type":13,"data":{"status":"close"}}"#,
        r#"{"message_type":12,"data":{}}"#,
        r#"{"message_type":99,"verify":true}"#,
    ] {
        assert_eq!(
            send(&app, "/push", body, Some(&signed(body))).await,
            200,
            "{body}"
        );
    }
    let all = kept(&app).await;
    let seen: Vec<(Option<i64>, Option<String>)> = all[1..]
        .iter()
        .map(|(_, t, s, _)| (*t, s.clone()))
        .collect();
    assert_eq!(
        seen,
        [
            (Some(13), Some("1234567".to_owned())),
            (Some(12), None),
            (Some(99), None)
        ]
    );
    assert_eq!(send(&app, "/push/nope", BODY, Some(SIGNATURE)).await, 404);

    // Counted by app, type and outcome; refused ones without a type.
    let metrics = reqwest::get(format!("{}/metrics", app.metrics_address.as_ref().unwrap()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (labels, count) in [
        (r#"app="default",message_type="0",outcome="kept""#, 1),
        (r#"app="default",message_type="0",outcome="duplicate""#, 1),
        (
            r#"app="default",message_type="none",outcome="bad_signature""#,
            3,
        ),
        (r#"app="default",message_type="none",outcome="not_json""#, 1),
        (r#"app="default",message_type="13",outcome="kept""#, 1),
    ] {
        let line = format!("iop_callback_pushes_total{{{labels}}} {count}");
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }
}

#[tokio::test]
async fn events_older_than_the_retention_go() {
    let app = spawn_app_with(&[
        "--app-key",
        KEY,
        "--app-secret",
        SECRET,
        "--events-retention",
        "1h",
    ])
    .await;
    assert_eq!(send(&app, "/push", BODY, Some(SIGNATURE)).await, 200);
    app.clock.advance(std::time::Duration::from_secs(2 * 3_600));
    let later = r#"{"message_type":0,"seller_id":"2"}"#;
    assert_eq!(send(&app, "/push", later, Some(&signed(later))).await, 200);
    let all = kept(&app).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].3, later);
}

/// Signed with the test app of `spawn_app` (helpers' key and secret).
fn signed_for_test_app(body: &str) -> String {
    hex::encode(iop_callback::iop::sign::hmac_sha256(
        APP_SECRET.as_bytes(),
        &[APP_KEY.as_bytes(), body.as_bytes()],
    ))
}

/// Types 8 and 13 are kept on the seller's pair too, and every view shows them; a new
/// authorization clears them.
#[tokio::test]
async fn an_expiring_authorization_and_a_closed_shop_show_in_the_api_cli_and_console() {
    use crate::token_api::API_KEY;
    let app = spawn_app_with(&[
        "--api-keys",
        API_KEY,
        "--admin-password",
        crate::admin::PASSWORD,
    ])
    .await;
    platform_answers(&app, aliexpress_success("CODE")).await;
    Browser::new().authorize_fully(&app, "CODE").await;

    // 2027-01-15T08:00:00Z, in seconds as the platform sends it.
    let expiring = r#"{"message_type":8,"data":{"seller_id":"1001","app_key":"12345678","auth_expiry_time":1800000000}}"#;
    let closed = r#"{"seller_id":"1001","message_type":13,"data":{"status":"close"}}"#;
    for body in [expiring, closed] {
        assert_eq!(
            send(&app, "/push", body, Some(&signed_for_test_app(body))).await,
            200
        );
    }
    let (_, listed) = crate::token_api::get_json(&app, "/api/v1/tokens").await;
    assert_eq!(
        listed[0]["authorization_expires_at"], "2027-01-15T08:00:00Z",
        "{listed}"
    );
    assert!(listed[0]["closed_at"].is_string(), "{listed}");

    let console = crate::admin::Console::new(&app);
    console.sign_in().await;
    let page = console.page("/admin/sellers/default/1001").await;
    assert!(page.contains(r#"id="authorization-expires""#), "{page}");
    assert!(page.contains("2027-01-15 08:00"), "{page}");
    assert!(page.contains(r#"id="closed""#), "{page}");

    let database = app.config.database_url.expose().to_owned();
    let shown = std::process::Command::new(env!("CARGO_BIN_EXE_iop-callback"))
        .args(["--database-url", &database, "tokens", "show", "1001"])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains("authorization    expires 2027-01-15"),
        "{shown}"
    );
    assert!(shown.lines().any(|l| l.starts_with("closed")), "{shown}");

    // The seller authorizes again: what the pushes said is over.
    platform_answers(&app, aliexpress_success("AGAIN")).await;
    Browser::new().authorize_fully(&app, "AGAIN").await;
    let page = console.page("/admin/sellers/default/1001").await;
    assert!(!page.contains(r#"id="closed""#), "{page}");
}

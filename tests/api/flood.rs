//! What anonymous traffic can and cannot do: `/authorize` stores nothing, refused callbacks
//! are counted rather than logged, and one client's platform calls are limited without
//! using up its seller's authorization.

use std::time::Duration;

use sqlx::Connection;

use crate::helpers::*;

#[tokio::test]
async fn a_flood_of_authorize_requests_stores_nothing() {
    let app = spawn_app().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for _ in 0..500 {
        let url = format!("{}/authorize", app.address);
        assert_eq!(http.get(&url).send().await.unwrap().status(), 303);
        assert_eq!(http.head(&url).send().await.unwrap().status(), 303);
    }
    sqlx::any::install_default_drivers();
    let mut db = sqlx::AnyConnection::connect(&app.config.database_url)
        .await
        .unwrap();
    for table in ["flow_claims", "flow_results", "tokens"] {
        let rows: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(&mut db)
                .await
                .unwrap();
        assert_eq!(rows, 0, "{table}");
    }
    // A real seller still authorizes.
    platform_answers(&app, aliexpress_success("after")).await;
    Browser::new().authorize_fully(&app, "after").await;
}

#[tokio::test]
async fn refused_callbacks_are_counted_by_reason() {
    let app = spawn_app_with(&["--metrics-listen", "127.0.0.1:0"]).await;
    platform_must_not_be_called(&app).await;
    let browser = Browser::new();
    for _ in 0..3 {
        browser.callback(&app, "code=x&state=forged").await;
    }
    let state = browser.start_authorization(&app).await;
    Browser::new()
        .callback(&app, &format!("code=x&state={state}"))
        .await;
    let metrics = browser
        .text(&format!(
            "{}/metrics",
            app.metrics_address.as_ref().unwrap()
        ))
        .await;
    for line in [
        r#"iop_callback_callbacks_refused_total{reason="unknown"} 3"#,
        r#"iop_callback_callbacks_refused_total{reason="other_browser"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}

#[tokio::test]
async fn one_client_is_limited_without_losing_the_sellers_authorization() {
    let app = spawn_app_with(&["--exchange-limit", "2"]).await;
    platform_answers(&app, aliexpress_success("limited")).await;
    let browser = Browser::new();
    for _ in 0..2 {
        browser.authorize_fully(&app, "limited").await;
    }
    let state = browser.start_authorization(&app).await;
    let query = format!("code=limited&state={state}");
    let limited = browser.callback(&app, &query).await;
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=61).contains(&retry_after), "{retry_after}");
    assert!(limited.text().await.unwrap().contains("still good"));
    assert_eq!(token_calls(&app).await, 2, "the limited call never left");

    app.clock.advance(Duration::from_secs(retry_after));
    let later = browser.callback(&app, &query).await;
    assert_eq!(
        later.status(),
        303,
        "the same callback URL works after the wait"
    );
    assert_eq!(token_calls(&app).await, 3);
}

#[tokio::test]
async fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
    let app = spawn_app_with(&["--exchange-limit", "1", "--trusted-proxies", "127.0.0.1"]).await;
    platform_answers(&app, aliexpress_success("fwd")).await;
    // Two offices behind the same (trusted) proxy each get their own allowance.
    for office in ["198.51.100.1", "198.51.100.2"] {
        let browser = Browser::new();
        let state = browser.start_authorization(&app).await;
        let response = browser
            .http
            .get(format!("{}/callback?code=fwd&state={state}", app.address))
            .header("x-forwarded-for", office)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303, "{office}");
    }
    // Without the trusted proxy the header is ignored: the peer's own allowance is used.
    let strict = spawn_app_with(&["--exchange-limit", "1"]).await;
    platform_answers(&strict, aliexpress_success("fwd")).await;
    let mut statuses = Vec::new();
    for office in ["198.51.100.1", "198.51.100.2"] {
        let browser = Browser::new();
        let state = browser.start_authorization(&strict).await;
        let response = browser
            .http
            .get(format!(
                "{}/callback?code=fwd&state={state}",
                strict.address
            ))
            .header("x-forwarded-for", office)
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [303, 429]);
}

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
    let mut db = sqlx::AnyConnection::connect(app.config.database_url.expose())
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

/// One route class's request, built for each send of a flood.
type MakeRequest<'a> = Box<dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + 'a>;

/// Sends `count` requests made by `request`, sixteen at a time; returns how long it took.
async fn flood(
    count: usize,
    request: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
) -> Duration {
    let http = reqwest::Client::new();
    let started = std::time::Instant::now();
    let request = &request;
    let workers = (0..16).map(|_| {
        let http = http.clone();
        async move {
            for _ in 0..count / 16 {
                let status = request(&http).send().await.unwrap().status();
                assert!(status.is_client_error(), "{status}");
            }
        }
    });
    futures_util::future::join_all(workers).await;
    started.elapsed()
}

/// The lines a flood of `count` requests may add to the log within `took` and the second
/// after it: the request lines' and the refusals' budgets for every second it touched, plus
/// their "left out" notes and a few lines of the quiet second after.
fn log_bound(took: Duration, count: usize) -> usize {
    let seconds = (took.as_secs_f64() + 1.2).ceil() as usize + 1;
    let bound = seconds * (100 + 10 + 2) + 10;
    assert!(
        bound < count / 2,
        "the flood of {count} requests took {took:?}: too slow to tell a bounded log from one line each"
    );
    bound
}

#[tokio::test]
async fn a_flood_of_anonymous_refusals_writes_a_bounded_log_on_every_route_class() {
    const REQUESTS: usize = 3_200;
    let platform = wiremock::MockServer::start().await;
    let data = tempfile::tempdir().unwrap();
    let with_api = crate::binary::RunningBinary::start(
        &platform,
        &data,
        &[
            "--api-keys",
            "flood-test-api-key-0123456789abcdefghijkl",
            "--admin-password",
            crate::admin::PASSWORD,
        ],
    );
    let off_data = tempfile::tempdir().unwrap();
    let api_off = crate::binary::RunningBinary::start(&platform, &off_data, &[]);

    let classes: [(&str, &crate::binary::RunningBinary, MakeRequest<'_>); 4] = [
        (
            "API off",
            &api_off,
            Box::new(|http: &reqwest::Client| {
                http.get(format!("{}/api/anything", api_off.address))
            }),
        ),
        (
            "API without a key",
            &with_api,
            Box::new(|http: &reqwest::Client| {
                http.get(format!("{}/api/v1/tokens", with_api.address))
            }),
        ),
        (
            "API route unknown",
            &with_api,
            Box::new(|http: &reqwest::Client| {
                http.get(format!("{}/api/v1/nothing-here", with_api.address))
            }),
        ),
        (
            "sign-in without CSRF",
            &with_api,
            Box::new(|http: &reqwest::Client| {
                http.post(format!("{}/admin/login", with_api.address))
                    .form(&[("csrf", "forged"), ("password", "guess")])
            }),
        ),
    ];
    for (class, binary, request) in classes {
        let before = binary.log_lines();
        let took = flood(REQUESTS, request).await;
        // Let the last busy second's "left out" note come out.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let _ = reqwest::get(format!("{}/healthz", binary.address)).await;
        let added = binary.log_lines() - before;
        let bound = log_bound(took, REQUESTS);
        assert!(
            added <= bound,
            "{class}: {added} log lines for {REQUESTS} requests in {took:?} (at most {bound})"
        );
    }
    let log = with_api.kill_and_collect_log("").await;
    assert!(
        log.contains("log lines left out"),
        "the log says what it left out"
    );
}

#[tokio::test]
async fn anonymous_refusals_are_counted_by_route_and_reason() {
    let app = spawn_app_with(&[
        "--metrics-listen",
        "127.0.0.1:0",
        "--api-keys",
        "counted-api-key-0123456789abcdefghijklmno",
    ])
    .await;
    let http = reqwest::Client::new();
    for _ in 0..3 {
        http.get(format!("{}/api/v1/tokens", app.address))
            .send()
            .await
            .unwrap();
    }
    http.get(format!("{}/api/v1/nothing-here", app.address))
        .bearer_auth("a-wrong-key")
        .send()
        .await
        .unwrap();
    let metrics = reqwest::get(format!("{}/metrics", app.metrics_address.unwrap()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        r#"iop_callback_requests_refused_total{route="/api/v1/tokens",reason="unauthorized"} 3"#,
        r#"iop_callback_requests_refused_total{route="(unmatched)",reason="no_route"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}

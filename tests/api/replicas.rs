//! Several processes on one database: a flow started on one replica finishes on another,
//! survives a restart, and two real processes refresh each token once per renewal.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::binary::RunningBinary;
use crate::helpers::*;

/// A second service on the first one's database and platform (another replica, or the
/// same service after a restart).
async fn replica_of(first: &TestApp) -> TestApp {
    let database = first.config.database_url.expose().to_owned();
    let second = spawn_app_with(&["--database-url", &database]).await;
    // Both replicas call the same platform.
    platform_answers(&second, aliexpress_success("replica")).await;
    second
}

#[apply(each_engine)]
#[tokio::test]
async fn a_flow_started_on_one_replica_finishes_on_another(#[case] engine: Engine) {
    let Some(first) = spawn_app_on(engine, &[]).await else {
        return;
    };
    let second = replica_of(&first).await;
    let browser = Browser::new();
    // The load balancer sends /authorize to the first replica...
    let state = browser.start_authorization(&first).await;
    // ...and the platform's redirect to the second, with the same cookie (same host).
    let cookie_host_second = second.address.clone();
    let callback_url = format!("{cookie_host_second}/callback?code=replica&state={state}");
    let response = browser.get(&callback_url).await;
    assert_eq!(response.status(), 303, "{}", response.text().await.unwrap());
    let result = location(&response);

    // The result opens on either replica, and reopening the callback URL on the first
    // redirects to it without another platform call.
    for app in [&first, &second] {
        let page = browser.get(&format!("{}{result}", app.address)).await;
        assert_eq!(page.status(), 200);
        assert!(
            page.text()
                .await
                .unwrap()
                .contains("50000601c30atreplicaACCESS")
        );
    }
    let again = browser
        .get(&format!(
            "{}/callback?code=replica&state={state}",
            first.address
        ))
        .await;
    assert_eq!(again.status(), 303);
    assert_eq!(location(&again), result);
    assert_eq!(token_calls(&second).await, 1);
    assert_eq!(token_calls(&first).await, 0);
}

#[apply(each_engine)]
#[tokio::test]
async fn a_state_is_exchanged_once_even_when_both_replicas_get_it(#[case] engine: Engine) {
    let Some(first) = spawn_app_on(engine, &[]).await else {
        return;
    };
    platform_answers(&first, aliexpress_success("replica")).await;
    let second = replica_of(&first).await;
    let browser = Browser::new();
    let state = browser.start_authorization(&first).await;
    let query = format!("code=replica&state={state}");
    let (a, b) = tokio::join!(
        browser.callback(&first, &query),
        browser.callback(&second, &query)
    );
    let statuses = [a.status().as_u16(), b.status().as_u16()];
    assert!(statuses.contains(&303), "{statuses:?}");
    assert_eq!(
        token_calls(&first).await + token_calls(&second).await,
        1,
        "one platform call in all ({statuses:?})"
    );
}

/// The stand-in's refresh endpoint: answers at once with a pair that lives 4 s, and
/// records which refresh token was renewed when.
#[derive(Clone, Default)]
struct RefreshLog(Arc<Mutex<Vec<(String, Instant)>>>);

impl Respond for RefreshLog {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let refresh_token = form(request)
            .get("refresh_token")
            .cloned()
            .unwrap_or_default();
        self.0
            .lock()
            .unwrap()
            .push((refresh_token.clone(), Instant::now()));
        ResponseTemplate::new(200).set_body_json(json!({
            "access_token": format!("{refresh_token}-{}", rand::random::<u32>()),
            "expires_in": 4, "code": "0", "request_id": "r"
        }))
    }
}

#[tokio::test]
async fn two_processes_on_one_postgres_refresh_each_token_once_per_renewal() {
    let Some(database) = iop_callback::store::test_database::fresh_postgres_url().await else {
        return;
    };
    let platform = MockServer::start().await;
    let refreshes = RefreshLog::default();
    Mock::given(method("POST"))
        .and(path("/rest/auth/token/refresh"))
        .respond_with(refreshes.clone())
        .mount(&platform)
        .await;
    for seller in 1..=4 {
        Mock::given(method("POST"))
            .and(path(CREATE_PATH))
            .and(body_string_contains(format!("code=c{seller}&")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "access_token": format!("a{seller}"), "refresh_token": format!("r{seller}"),
                "seller_id": seller.to_string(), "expires_in": 4, "refresh_expires_in": 3600,
                "code": "0"
            })))
            .mount(&platform)
            .await;
    }
    let flags = ["--database-url", database.as_str()];
    let data = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let first = RunningBinary::start(&platform, &data[0], &flags);
    let second = RunningBinary::start(&platform, &data[1], &flags);
    let app = first.as_test_app(MockServer::start().await);
    for seller in 1..=4 {
        let response = Browser::new()
            .callback_with_code(&app, &format!("c{seller}"))
            .await;
        assert_eq!(response.status(), 303);
    }
    // Each pair is due 3 s after it is issued: about three renewals each in 10 s.
    tokio::time::sleep(Duration::from_secs(10)).await;
    drop((first, second));

    let log = refreshes.0.lock().unwrap().clone();
    let mut by_token: HashMap<String, Vec<Instant>> = HashMap::new();
    for (token, at) in log {
        by_token.entry(token).or_default().push(at);
    }
    assert_eq!(by_token.len(), 4, "every token was renewed: {by_token:?}");
    for (token, times) in &by_token {
        assert!(times.len() >= 2, "{token} renewed on time: {times:?}");
        for pair in times.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                gap > Duration::from_millis(1_500),
                "{token} renewed twice for one renewal ({gap:?} apart): {times:?}"
            );
        }
    }
}

//! Several processes on one database: a flow started on one replica finishes on another,
//! survives a restart, and two replicas refresh each token once per renewal.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use iop_callback::clock::{Clock, ManualClock};

use crate::helpers::*;
use crate::refresher::Rig;

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
/// records which refresh token was renewed.
#[derive(Clone, Default)]
struct RefreshLog(Arc<Mutex<Vec<String>>>);

impl RefreshLog {
    /// How often each refresh token was renewed since the last call.
    fn take_counts(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for token in self.0.lock().unwrap().drain(..) {
            *counts.entry(token).or_default() += 1;
        }
        counts
    }
}

impl Respond for RefreshLog {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let refresh_token = form(request)
            .get("refresh_token")
            .cloned()
            .unwrap_or_default();
        self.0.lock().unwrap().push(refresh_token.clone());
        ResponseTemplate::new(200).set_body_json(json!({
            "access_token": format!("{refresh_token}-{}", rand::random::<u32>()),
            "expires_in": 4, "code": "0", "request_id": "r"
        }))
    }
}

/// Two replicas of the default app on one new PostgreSQL database, one clock, and one
/// platform that answers refreshes with `answer`.
struct Replicas {
    platform: MockServer,
    clock: std::sync::Arc<ManualClock>,
    first: Rig,
    second: Rig,
}

async fn replicas_refreshing_with(answer: impl Respond + 'static) -> Option<Replicas> {
    let database = iop_callback::store::test_database::fresh_postgres_url().await?;
    let platform = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rest/auth/token/refresh"))
        .respond_with(answer)
        .mount(&platform)
        .await;
    let clock = ManualClock::starting_now();
    let flags = ["--database-url", database.as_str()];
    let first = Rig::with(&platform.uri(), &flags, clock.clone()).await;
    let second = Rig::with(&platform.uri(), &flags, clock.clone()).await;
    Some(Replicas {
        platform,
        clock,
        first,
        second,
    })
}

/// Two replicas (each with its own connections and lease holder) on one PostgreSQL
/// database and one clock, whose refreshers run their passes at the same moment, round
/// after round: every pair is renewed exactly once a round, by one of them.
#[tokio::test]
async fn two_processes_on_one_postgres_refresh_each_token_once_per_renewal() {
    let refreshes = RefreshLog::default();
    let Some(Replicas {
        clock,
        first,
        second,
        ..
    }) = replicas_refreshing_with(refreshes.clone()).await
    else {
        return;
    };
    for seller in 1..=4 {
        first
            .store_pair(json!({
                "access_token": format!("a{seller}"), "refresh_token": format!("r{seller}"),
                "seller_id": seller.to_string(), "expires_in": 4, "refresh_expires_in": 3600
            }))
            .await;
    }
    let every_token: HashMap<String, usize> =
        (1..=4).map(|seller| (format!("r{seller}"), 1)).collect();
    for round in 1..=3 {
        // Each pair is due 3 s after it is issued.
        clock.advance(Duration::from_secs(4));
        let now = clock.now_ms();
        let (a, b) = tokio::join!(first.refresher.pass(now), second.refresher.pass(now));
        // The passes say what failed, should a renewal be missing.
        assert_eq!(
            refreshes.take_counts(),
            every_token,
            "round {round}: {a:?} {b:?}"
        );
        // (A replica that waited out the other's lease counts the renewal it then found.)
        assert_eq!(a.failed + b.failed, 0, "round {round}: {a:?} {b:?}");
        assert!(a.refreshed + b.refreshed >= 4, "round {round}: {a:?} {b:?}");
    }
}

/// Two replicas asked at once for one expired token while the platform fails: one refresh
/// in all, and both answer from its failure until the backoff ends.
#[tokio::test]
async fn two_replicas_share_one_failing_refresh_and_its_backoff() {
    let failing = ResponseTemplate::new(500).set_delay(Duration::from_millis(200));
    let Some(Replicas {
        platform,
        clock,
        first,
        second,
    }) = replicas_refreshing_with(failing).await
    else {
        return;
    };
    let id = first
        .store_pair(
            json!({"access_token": "a", "refresh_token": "r", "seller_id": "1",
                           "expires_in": 4, "refresh_expires_in": 3600}),
        )
        .await;
    clock.advance(Duration::from_secs(5));
    let asks = (0..10).map(|n| {
        let rig = if n % 2 == 0 { &first } else { &second };
        async move {
            let token = rig.store.token(id).await.unwrap().unwrap();
            rig.tokens.current(token).await
        }
    });
    for answer in futures_util::future::join_all(asks).await {
        assert!(answer.is_err(), "{answer:?}");
    }
    assert_eq!(platform.received_requests().await.unwrap().len(), 1);
    clock.advance(Duration::from_secs(1));
    let token = second.store.token(id).await.unwrap().unwrap();
    let answer = second.tokens.current(token).await;
    assert!(
        matches!(
            answer,
            Err(iop_callback::renewal::TokenError::Backoff { .. })
        ),
        "{answer:?}"
    );
    assert_eq!(platform.received_requests().await.unwrap().len(), 1);
}

//! The refresher on an injected clock: when it plans to wake, what it renews, how it backs
//! off, and that it works against the sandbox platform.

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use iop_callback::apps::AppId;
use iop_callback::cli::Cli;
use iop_callback::clock::{Clock, EpochMs, ManualClock};
use iop_callback::config::Config;
use iop_callback::iop::{AuthCode, Platform, TokenResponse};
use iop_callback::metrics::Metrics;
use iop_callback::renewal::refresher::{Pass, Refresher};
use iop_callback::renewal::{Changes, Tokens};
use iop_callback::runtime::Apps;
use iop_callback::store::{self, SharedStore};
use iop_callback::tokens::{Owner, RefreshBefore, TokenId, TokenStatus};
use secrecy::ExposeSecret;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;
use crate::sandbox::{SECRET as SANDBOX_SECRET, spawn_sandbox};

const HOUR: Duration = Duration::from_secs(3_600);

/// A store, a refresher of the default app, and the clock they share.
pub struct Rig {
    pub store: SharedStore,
    pub tokens: Arc<Tokens>,
    pub refresher: Refresher,
    pub clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

impl Rig {
    /// A rig whose app calls `server`.
    pub async fn against(server: &MockServer) -> Rig {
        Rig::with(&server.uri(), &[], ManualClock::starting_now()).await
    }

    /// A rig of the default app, configured by the test flags plus `extra`, on `clock`.
    pub async fn with(platform: &str, extra: &[&str], clock: Arc<ManualClock>) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let args = service_args(platform, &dir, extra);
        let config =
            Config::from_settings(&Cli::try_parse_from(args).unwrap().service.settings()).unwrap();
        let store = store::open(&config.database_url, None).await.unwrap();
        let apps = Arc::new(Apps::build(&config, clock.clone()).unwrap());
        let tokens = Arc::new(Tokens::new(
            store.clone(),
            apps,
            Metrics::default(),
            clock.clone(),
            RefreshBefore::default(),
            Duration::from_secs(2),
        ));
        let refresher = Refresher {
            tokens: tokens.clone(),
            recheck: Duration::from_secs(24 * 3_600),
            concurrency: 4,
        };
        Rig {
            store,
            tokens,
            refresher,
            clock,
            _dir: dir,
        }
    }

    /// Stores a pair of the default app as an exchange at the current time would.
    pub async fn store_pair(&self, body: serde_json::Value) -> TokenId {
        let response = TokenResponse::from_json(body.to_string().as_bytes()).unwrap();
        let app = AppId::implicit();
        let owner = Owner {
            app: &app,
            platform: Platform::Aliexpress,
            app_key: APP_KEY,
        };
        self.store
            .save_authorization(owner, &response, EpochMs::new(self.clock.now_ms()))
            .await
            .unwrap()
    }

    pub async fn pass_after(&self, wait: Duration) -> Pass {
        self.clock.advance(wait);
        self.refresher.pass(self.clock.now_ms()).await
    }
}

/// A one-day pair, as AliExpress issues test apps.
pub fn day_pair() -> serde_json::Value {
    json!({"access_token": "old-access", "refresh_token": "the-refresh", "seller_id": "1001",
           "expires_in": 86400, "refresh_expires_in": 172800})
}

pub async fn platform_refreshing_with(answer: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rest/auth/token/refresh"))
        .and(ValidSignature {
            api_path: "/auth/token/refresh",
        })
        .respond_with(answer)
        .mount(&server)
        .await;
    server
}

pub fn renewed(expires_in: i64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!(
        {"access_token": "new-access", "refresh_token": "the-refresh", "expires_in": expires_in,
         "seller_id": "1001", "code": "0"}))
}

#[tokio::test]
async fn the_refresher_renews_a_token_in_its_last_quarter_and_stores_the_new_pair() {
    let server = platform_refreshing_with(renewed(86_400)).await;
    let rig = Rig::against(&server).await;
    let id = rig.store_pair(day_pair()).await;

    assert_eq!(
        rig.pass_after(Duration::ZERO).await,
        Pass::default(),
        "a fresh token is left alone"
    );
    // Eighteen hours on, a quarter of the day is left.
    let pass = rig.pass_after(18 * HOUR + Duration::from_secs(1)).await;
    assert_eq!(
        pass,
        Pass {
            refreshed: 1,
            failed: 0,
            reauthorize: 0
        }
    );
    let row = rig.store.token(id).await.unwrap().unwrap();
    assert_eq!(row.access_token.expose_secret(), "new-access");
    assert_eq!(row.last_refresh_at, Some(rig.clock.now_ms()));
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(form(&requests[0])["refresh_token"], "the-refresh");
}

#[tokio::test]
async fn the_refresher_sleeps_until_the_earliest_due_time() {
    let server = platform_refreshing_with(renewed(9)).await;
    let rig = Rig::against(&server).await;
    assert_eq!(
        rig.refresher.sleep_after(rig.clock.now_ms()).await,
        rig.refresher.recheck,
        "nothing stored: nothing to do until something changes"
    );
    // A token that lives 9 seconds is due 2.25 s before it expires.
    rig.store_pair(
        json!({"access_token": "a", "refresh_token": "r", "seller_id": "9",
                          "expires_in": 9}),
    )
    .await;
    assert_eq!(
        rig.refresher.sleep_after(rig.clock.now_ms()).await,
        Duration::from_millis(6_750)
    );
    assert_eq!(
        rig.pass_after(Duration::from_millis(6_750)).await.refreshed,
        1
    );
    // Renewed for another 9 s: due 6.75 s from now.
    assert_eq!(
        rig.refresher.sleep_after(rig.clock.now_ms()).await,
        Duration::from_millis(6_750)
    );
    // Never a busy loop: a due time in the past still sleeps a second.
    assert_eq!(
        rig.refresher.sleep_after(rig.clock.now_ms() + 60_000).await,
        Duration::from_secs(1)
    );
}

/// Woken by a new authorization, the refresher plans around its due time without reading
/// the store; any other change makes it read the plan from the store.
#[tokio::test]
async fn an_authorization_moves_the_plan_without_a_read_of_the_store() {
    let server = platform_refreshing_with(renewed(9)).await;
    let rig = Rig::against(&server).await;
    let now = rig.clock.now_ms();
    let day = rig.refresher.recheck;
    assert_eq!(
        rig.tokens.take_changes(),
        Changes {
            rescan: false,
            earliest_due: None
        }
    );
    assert_eq!(rig.refresher.replan(now, day).await, day, "nothing changed");

    // A 9-second pair lands in the store behind the refresher's back...
    rig.store_pair(
        json!({"access_token": "a", "refresh_token": "r", "seller_id": "9",
                          "expires_in": 9}),
    )
    .await;
    // ...while this service authorizes a 100-second pair (due 75 s from now).
    rig.tokens.authorized(now, Some(now + 100_000));
    assert_eq!(
        rig.refresher.replan(now, day).await,
        Duration::from_secs(75),
        "planned from what the service was told, not from the store"
    );
    rig.tokens.authorized(now, Some(now + 100_000));
    assert_eq!(
        rig.refresher.replan(now, Duration::from_secs(30)).await,
        Duration::from_secs(30),
        "a plan is never put off"
    );

    rig.tokens.changed();
    assert_eq!(
        rig.refresher.replan(now, day).await,
        Duration::from_millis(6_750),
        "any other change reads the store"
    );
}

#[tokio::test]
async fn a_dead_refresh_token_marks_the_seller_for_reauthorization_instead_of_retrying() {
    let server = platform_refreshing_with(ResponseTemplate::new(200).set_body_json(json!(
        {"type": "ISV", "code": "IllegalRefreshToken", "message": "expired", "request_id": "r"})))
    .await;
    let rig = Rig::against(&server).await;
    let id = rig.store_pair(day_pair()).await;

    assert_eq!(rig.pass_after(20 * HOUR).await.reauthorize, 1);
    let row = rig.store.token(id).await.unwrap().unwrap();
    assert_eq!(row.status, TokenStatus::Reauthorize);
    assert_eq!(
        row.last_error.as_deref(),
        Some("IllegalRefreshToken: expired")
    );
    assert_eq!(rig.pass_after(HOUR).await, Pass::default(), "never retried");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_transient_failure_backs_off_instead_of_retrying_every_pass() {
    let server = platform_refreshing_with(ResponseTemplate::new(503)).await;
    let rig = Rig::against(&server).await;
    let id = rig.store_pair(day_pair()).await;
    assert_eq!(rig.pass_after(20 * HOUR).await.failed, 1);
    assert_eq!(
        rig.pass_after(Duration::from_secs(1)).await,
        Pass::default(),
        "left alone while it backs off"
    );
    let row = rig.store.token(id).await.unwrap().unwrap();
    assert_eq!(row.consecutive_failures, 1);
    assert!(
        row.last_error.as_deref().unwrap().contains("503"),
        "{row:?}"
    );
    // The first backoff is 5 s ± 25 %, the second twice that.
    assert_eq!(rig.pass_after(Duration::from_millis(5_300)).await.failed, 1);
    assert_eq!(
        rig.pass_after(Duration::from_secs(5)).await,
        Pass::default(),
        "the second wait is longer"
    );
    assert_eq!(rig.pass_after(Duration::from_secs(10)).await.failed, 1);
    let row = rig.store.token(id).await.unwrap().unwrap();
    assert_eq!(row.consecutive_failures, 3);
    assert_eq!(row.status, TokenStatus::Active);
}

#[tokio::test]
async fn an_api_call_limit_ban_is_honoured() {
    let server = platform_refreshing_with(ResponseTemplate::new(200).set_body_json(json!(
        {"type": "ISP", "code": "ApiCallLimit", "request_id": "r",
         "message": "The request has exceeded the limit, this ban will last 120 seconds"})))
    .await;
    let rig = Rig::against(&server).await;
    rig.store_pair(day_pair()).await;
    assert_eq!(rig.pass_after(20 * HOUR).await.failed, 1);
    assert_eq!(
        rig.pass_after(Duration::from_secs(119)).await,
        Pass::default()
    );
    assert_eq!(rig.pass_after(Duration::from_secs(2)).await.failed, 1);
}

#[tokio::test]
async fn many_due_tokens_are_renewed_in_one_pass_with_bounded_concurrency() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    /// Refreshes in flight now, and the most there ever were.
    #[derive(Default)]
    struct InFlight {
        now: AtomicUsize,
        most: AtomicUsize,
        calls: AtomicUsize,
    }
    let in_flight = Arc::new(InFlight::default());
    let counted = in_flight.clone();
    // A platform that takes 50 ms per refresh and counts how many overlap.
    let platform = axum::Router::new().route(
        "/rest/auth/token/refresh",
        axum::routing::post(move || {
            let counted = counted.clone();
            async move {
                let now = counted.now.fetch_add(1, Ordering::SeqCst) + 1;
                counted.most.fetch_max(now, Ordering::SeqCst);
                counted.calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
                counted.now.fetch_sub(1, Ordering::SeqCst);
                axum::Json(
                    json!({"access_token": "new-access", "refresh_token": "the-refresh",
                                  "expires_in": 86400, "code": "0"}),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, platform).await });
    let rig = Rig::with(&base, &[], ManualClock::starting_now()).await;
    for seller in 0..25 {
        rig.store_pair(
            json!({"access_token": "a", "refresh_token": format!("r{seller}"),
                              "seller_id": seller.to_string(), "expires_in": 86400}),
        )
        .await;
    }
    let pass = rig.pass_after(20 * HOUR).await;
    assert_eq!(pass.refreshed, 25);
    assert_eq!(in_flight.calls.load(Ordering::SeqCst), 25);
    // The rig's refresher allows four at once: they overlap, but never more than four.
    assert_eq!(in_flight.most.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn the_refresher_works_against_the_sandbox_platform() {
    let sandbox = spawn_sandbox(&[], &[]).await;
    let client = sandbox.client("12345678", SANDBOX_SECRET);
    let code = AuthCode::parse(Some(&sandbox.approve("ae-store").await)).unwrap();
    let issued = client.create_token(&code).await.unwrap();
    // The sandbox's and the service's clock are the same here, as in production.
    let rig = Rig::with(
        &format!("{}/sandbox", sandbox.base),
        &["--app-key", "12345678", "--app-secret", SANDBOX_SECRET],
        sandbox.clock.clone(),
    )
    .await;
    let app = AppId::implicit();
    let owner = Owner {
        app: &app,
        platform: Platform::Aliexpress,
        app_key: "12345678",
    };
    let id = rig
        .store
        .save_authorization(owner, &issued, EpochMs::new(rig.clock.now_ms()))
        .await
        .unwrap();

    // A day-long sandbox token, 19 hours on.
    assert_eq!(rig.pass_after(19 * HOUR).await.refreshed, 1);
    let row = rig.store.token(id).await.unwrap().unwrap();
    assert_ne!(
        row.access_token.expose_secret(),
        issued.access_token.expose_secret()
    );
}

#[tokio::test]
async fn twenty_callers_and_the_refresher_asking_for_one_due_token_cause_one_refresh() {
    let slow = renewed(86_400).set_delay(Duration::from_millis(300));
    let server = platform_refreshing_with(slow).await;
    let rig = Rig::against(&server).await;
    let id = rig.store_pair(day_pair()).await;
    rig.clock.advance(20 * HOUR);

    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (store, tokens) = (rig.store.clone(), rig.tokens.clone());
        callers.spawn(async move {
            let seen = store.token(id).await.unwrap().unwrap();
            let current = tokens.current(seen).await.unwrap();
            current.access_token.expose_secret().to_owned()
        });
    }
    let pass = rig.refresher.pass(rig.clock.now_ms()).await;
    while let Some(handed_out) = callers.join_next().await {
        assert_eq!(handed_out.unwrap(), "new-access");
    }
    assert!(pass.failed == 0 && pass.reauthorize == 0, "{pass:?}");
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "exactly one /auth/token/refresh"
    );
}

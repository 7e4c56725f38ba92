//! A database that goes away for a moment (issue 27): a fault-injecting TCP proxy between
//! the service and PostgreSQL cuts every connection and refuses new ones, the way a
//! failover or a restart does. Within the retry budget nobody notices; past it the token
//! API answers 503 with `Retry-After`, the callback says to reload (and reloading works),
//! and readiness follows the database both ways. These tests need PostgreSQL.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use iop_callback::clock::Clock;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::admin::{Console, first_seller_id};
use crate::helpers::*;
use crate::own_postgres::OwnPostgres;
use crate::refresher::{Rig, day_pair, platform_refreshing_with, renewed};
use crate::token_api::API_KEY;

/// The seller `aliexpress_success` authorizes.
const SELLER_ID: &str = "1001";

/// Forwards connections to PostgreSQL until told to cut them or to refuse new ones.
struct FaultyProxy {
    port: u16,
    /// Each cut closes every connection open at that moment.
    cuts: watch::Sender<u64>,
    refusing: Arc<AtomicBool>,
}

impl FaultyProxy {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (cuts, _) = watch::channel(0_u64);
        let refusing = Arc::new(AtomicBool::new(false));
        let (sender, flag) = (cuts.clone(), refusing.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if flag.load(Ordering::SeqCst) {
                    // Accepted and reset at once: the client's connect fails.
                    let _ = client.set_zero_linger();
                    drop(client);
                    continue;
                }
                let mut cut = sender.subscribe();
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        FaultyProxy {
            port,
            cuts,
            refusing,
        }
    }

    /// Closes every open connection, as a server restart does.
    fn cut(&self) {
        self.cuts.send_modify(|n| *n += 1);
    }

    fn refuse(&self, refusing: bool) {
        self.refusing.store(refusing, Ordering::SeqCst);
    }
}

/// The service on a new PostgreSQL database reached through a faulty proxy.
async fn behind_a_faulty_proxy(extra: &[&str]) -> Option<(TestApp, FaultyProxy)> {
    let direct = iop_callback::store::test_database::fresh_postgres_url().await?;
    let mut url = url::Url::parse(&direct).unwrap();
    let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let proxy = FaultyProxy::start(target).await;
    url.set_port(Some(proxy.port)).unwrap();
    let url = url.to_string();
    let mut flags = vec!["--database-url", url.as_str(), "--refresh-interval", "off"];
    flags.extend_from_slice(extra);
    let app = spawn_app_with(&flags).await;
    Some((app, proxy))
}

async fn authorize_seller(app: &TestApp) {
    platform_answers(app, aliexpress_success("CODE")).await;
    Browser::new().authorize_fully(app, "CODE").await;
}

async fn token_status(app: &TestApp) -> (u16, Option<String>) {
    let response = reqwest::Client::new()
        .get(format!("{}/api/v1/tokens/{SELLER_ID}", app.address))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let status = response.status().as_u16();
    if status >= 500 {
        eprintln!(
            "the token API answered {status}: {}",
            response.text().await.unwrap()
        );
    }
    (status, retry_after)
}

async fn readiness(app: &TestApp) -> u16 {
    reqwest::Client::new()
        .get(format!("{}/readyz", app.address))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

#[tokio::test]
async fn a_database_away_for_less_than_the_budget_goes_unnoticed() {
    let Some((app, proxy)) = behind_a_faulty_proxy(&["--api-keys", API_KEY]).await else {
        return;
    };
    authorize_seller(&app).await;
    assert_eq!(token_status(&app).await.0, 200);

    // Every connection cut, and none taken for a second and a half.
    proxy.refuse(true);
    proxy.cut();
    let back = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        proxy.refuse(false);
        proxy
    });
    let reads: Vec<_> = (0..8)
        .map(|_| {
            let app_address = app.address.clone();
            tokio::spawn(async move {
                reqwest::Client::new()
                    .get(format!("{app_address}/api/v1/tokens/{SELLER_ID}"))
                    .bearer_auth(API_KEY)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    // A seller who comes back from the platform meanwhile is served too.
    platform_answers(&app, aliexpress_success("CODE2")).await;
    let browser = Browser::new();
    let state = browser.start_authorization(&app).await;
    let callback = browser
        .callback(&app, &format!("code=CODE2&state={state}"))
        .await;
    for read in reads {
        assert_eq!(read.await.unwrap(), 200, "a read waited out the outage");
    }
    assert_eq!(callback.status(), 303, "the flow waited out the outage");
    let proxy = back.await.unwrap();
    proxy.cut();
    assert_eq!(token_status(&app).await.0, 200, "and after another cut");
}

#[tokio::test]
async fn past_the_budget_the_api_says_503_and_the_callback_says_reload() {
    let Some((app, proxy)) =
        behind_a_faulty_proxy(&["--api-keys", API_KEY, "--store-retry", "500ms"]).await
    else {
        return;
    };
    authorize_seller(&app).await;
    platform_answers(&app, aliexpress_success("CODE2")).await;
    let browser = Browser::new();
    let state = browser.start_authorization(&app).await;

    proxy.refuse(true);
    proxy.cut();
    let (status, retry_after) = token_status(&app).await;
    assert_eq!(status, 503);
    assert_eq!(retry_after.as_deref(), Some("2"));
    let callback = browser
        .callback(&app, &format!("code=CODE2&state={state}"))
        .await;
    assert_eq!(callback.status(), 503);
    assert!(callback.headers().contains_key("retry-after"));
    let page = callback.text().await.unwrap();
    assert!(page.contains("briefly unavailable"), "{page}");
    assert!(page.contains("Reload this page"), "{page}");
    // Readiness says so within a second or two, and liveness does not.
    let probe = std::time::Instant::now();
    assert_eq!(readiness(&app).await, 503);
    assert!(
        probe.elapsed() < Duration::from_secs(2),
        "{:?}",
        probe.elapsed()
    );
    let live = reqwest::get(format!("{}/healthz", app.address))
        .await
        .unwrap();
    assert_eq!(live.status(), 200);

    proxy.refuse(false);
    let mut ready = 0;
    for _ in 0..40 {
        ready = readiness(&app).await;
        if ready == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ready, 200, "ready again once the database is back");
    // The same callback URL, reloaded, completes: the state was not used up.
    let reloaded = browser
        .callback(&app, &format!("code=CODE2&state={state}"))
        .await;
    assert_eq!(reloaded.status(), 303);
    assert_eq!(token_status(&app).await.0, 200);
}

/// Releases the proxy after `outage`, from a task of its own.
fn back_after(proxy: FaultyProxy, outage: Duration) -> tokio::task::JoinHandle<FaultyProxy> {
    tokio::spawn(async move {
        tokio::time::sleep(outage).await;
        proxy.refuse(false);
        proxy
    })
}

#[tokio::test]
async fn the_refresher_rides_through_a_cut_and_catches_up_after_a_long_one() {
    let Some(direct) = iop_callback::store::test_database::fresh_postgres_url().await else {
        return;
    };
    let mut url = url::Url::parse(&direct).unwrap();
    let proxy = FaultyProxy::start(format!(
        "{}:{}",
        url.host_str().unwrap(),
        url.port().unwrap_or(5432)
    ))
    .await;
    url.set_port(Some(proxy.port)).unwrap();
    let server = platform_refreshing_with(renewed(86_400)).await;
    let rig = Rig::with(
        &server.uri(),
        &["--database-url", url.as_str(), "--store-retry", "2s"],
        iop_callback::clock::ManualClock::starting_now(),
    )
    .await;
    let id = rig.store_pair(day_pair()).await;
    let day = Duration::from_secs(86_400);

    // Away for longer than the budget: the pass does nothing and loses nothing.
    proxy.refuse(true);
    proxy.cut();
    let pass = rig.pass_after(day * 3 / 4 + Duration::from_secs(1)).await;
    assert_eq!(pass.refreshed, 0);
    assert!(server.received_requests().await.unwrap().is_empty());
    proxy.refuse(false);
    assert_eq!(
        rig.pass_after(Duration::ZERO).await.refreshed,
        1,
        "caught up"
    );

    // Away for a moment in the middle of the next pass: it waits, renews and stores.
    proxy.refuse(true);
    proxy.cut();
    let back = back_after(proxy, Duration::from_millis(600));
    let pass = rig.pass_after(day * 3 / 4 + Duration::from_secs(1)).await;
    assert_eq!((pass.refreshed, pass.failed), (1, 0));
    back.await.unwrap();
    let stored = rig.store.token(id).await.unwrap().unwrap();
    assert_eq!(stored.last_refresh_at, Some(rig.clock.now_ms()));
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn the_console_rides_through_a_cut() {
    let Some((app, proxy)) =
        behind_a_faulty_proxy(&["--admin-password", crate::admin::PASSWORD]).await
    else {
        return;
    };
    authorize_seller(&app).await;
    Mock::given(method("POST"))
        .and(path("/rest/auth/token/refresh"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": "renewed-access-token-0001", "expires_in": 86_400,
            "seller_id": SELLER_ID, "code": "0"})))
        .mount(&app.platform)
        .await;
    let console = Console::new(&app);
    console.sign_in().await;
    let id = first_seller_id(&console.page("/admin").await);
    let csrf = console.csrf().await;

    // Every connection cut and none taken for a moment, while the operator reads, signs
    // nothing new, and asks for a refresh: the session, the lease, the renewal and the
    // audit line all wait for the database.
    proxy.refuse(true);
    proxy.cut();
    let back = back_after(proxy, Duration::from_millis(1_500));
    let list = console.get("/admin").await;
    assert_eq!(list.status(), 200);
    let refreshed = console
        .post(&format!("/admin/sellers/{id}/refresh"), &[("csrf", &csrf)])
        .await;
    assert_eq!(refreshed.status(), 303);
    assert_eq!(
        location(&refreshed),
        format!("/admin/sellers/{id}?notice=refreshed")
    );
    let proxy = back.await.unwrap();
    proxy.cut();
    assert!(console.page("/admin/audit").await.contains("Refreshed"));
}

// Several threads: the server is restarted by blocking commands while the flows go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_server_crash_and_restart_costs_no_seller_a_500() {
    let Some(server) = OwnPostgres::start() else {
        return;
    };
    let url = server.url();
    let app = spawn_app_with(&[
        "--database-url",
        url.as_str(),
        "--api-keys",
        API_KEY,
        "--refresh-interval",
        "off",
        "--exchange-limit",
        "off",
    ])
    .await;
    let app = Arc::new(app);
    authorize_seller(&app).await;

    // Sellers keep coming back from the platform, and the token API keeps being read,
    // while the server is killed and started again.
    let running = Arc::new(AtomicBool::new(true));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (app, running) = (app.clone(), running.clone());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                while running.load(Ordering::SeqCst) {
                    let browser = Browser::new();
                    let state = browser.start_authorization(&app).await;
                    let query = format!("code=CODE&state={state}");
                    // A seller told to reload reloads the same URL, as the page asks.
                    let mut callback = browser.callback(&app, &query).await.status().as_u16();
                    for _ in 0..40 {
                        if callback != 503 {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(250)).await;
                        callback = browser.callback(&app, &query).await.status().as_u16();
                    }
                    answers.push(("callback", callback));
                    answers.push(("token API", token_status(&app).await.0));
                }
                answers
            })
        })
        .collect();
    // Three crashes, each down for half a second (longer than a restart takes here,
    // shorter than the budget), so that statements are caught in flight.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        tokio::task::block_in_place(|| {
            server.crash();
            std::thread::sleep(Duration::from_millis(500));
            server.start_again();
        });
        let mut ready = 0;
        for _ in 0..100 {
            ready = readiness(&app).await;
            if ready == 200 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(ready, 200, "ready once the server is back");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    running.store(false, Ordering::SeqCst);

    let mut answers = Vec::new();
    for worker in workers {
        answers.extend(worker.await.unwrap());
    }
    let callbacks = answers.iter().filter(|(what, _)| *what == "callback");
    assert!(callbacks.clone().count() > 4, "{answers:?}");
    assert!(
        callbacks.clone().all(|(_, status)| *status == 303),
        "every seller ended on the result page: {answers:?}"
    );
    assert!(
        answers
            .iter()
            .all(|(_, status)| *status < 500 || *status == 503),
        "no 500: {answers:?}"
    );
    assert_eq!(token_status(&app).await.0, 200);
}

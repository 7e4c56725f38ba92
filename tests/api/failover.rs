//! A database that goes away for a moment (issue 27): a fault-injecting TCP proxy between
//! the service and PostgreSQL cuts every connection and refuses new ones, the way a
//! failover or a restart does. Within the retry budget nobody notices; past it the token
//! API answers 503 with `Retry-After`, the callback says to reload (and reloading works),
//! and readiness follows the database both ways. These tests need PostgreSQL.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::helpers::*;
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

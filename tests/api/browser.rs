//! The whole flow in real headless Chromium over WebDriver, the way a seller clicks it.
//!
//! Needs Debian's `chromium` and `chromium-driver`. Without them the tests skip with a
//! message, unless IOP_E2E_REQUIRED is set (as `.ci/run` does): then a missing browser
//! fails the run. Screenshots go to `target/e2e/`.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use fantoccini::{Client, ClientBuilder, Locator};
use iop_callback::cli::{Cli, Command as CliCommand};
use iop_callback::demo::build_demo;
use serde_json::json;

use crate::helpers::free_port;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver on a free port, a headless Chromium session, and a running demo.
struct Session {
    client: Client,
    demo: String,
    /// The demo's store and apps, for tests that seed sellers directly.
    store: iop_callback::store::SharedStore,
    config: iop_callback::config::Config,
    driver: Child,
    _profile: tempfile::TempDir,
    _data: tempfile::TempDir,
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn browser_installed() -> bool {
    let present = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !present {
        assert!(
            std::env::var_os("IOP_E2E_REQUIRED").is_none(),
            "browser tests are required here (IOP_E2E_REQUIRED) but {CHROMIUM} or {CHROMEDRIVER} is missing"
        );
        eprintln!(
            "SKIPPED browser test: install a browser with `apt-get install -y chromium chromium-driver` to run it"
        );
    }
    present
}

/// A browser session on the single-app demo of `platform`.
async fn start(platform: &str) -> Option<Session> {
    start_with(&["--platform", platform, "demo", "--single"]).await
}

/// A browser session on the demo started with `args` (global flags, `demo`, its flags).
async fn start_with(args: &[&str]) -> Option<Session> {
    if !browser_installed() {
        return None;
    }
    let data = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/e2e.db", data.path().display());
    let mut argv = vec![
        "iop-callback",
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        &db,
    ];
    argv.extend_from_slice(args);
    let cli = Cli::try_parse_from(argv).unwrap();
    let Some(CliCommand::Demo(lifetimes)) = &cli.command else {
        unreachable!()
    };
    let app = build_demo(
        &cli.service.settings(),
        lifetimes,
        iop_callback::clock::system(),
    )
    .await
    .unwrap();
    let demo = format!("http://localhost:{}", app.port());
    let store = app.store();
    let config = app.config().clone();
    tokio::spawn(app.run_until(std::future::pending()));

    // A free port can be taken by another test between our probe and chromedriver's bind;
    // then the session fails and a fresh port is tried.
    let mut attempts = 0;
    let (driver, client, profile) = loop {
        attempts += 1;
        let (mut driver, port) = start_chromedriver().await;
        let profile = tempfile::tempdir().unwrap();
        match ClientBuilder::rustls()
            .unwrap()
            .capabilities(chromium_capabilities(&profile))
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => break (driver, client, profile),
            Err(e) if attempts < 3 => {
                eprintln!("chromedriver session on port {port} failed ({e}); trying another port");
                let _ = driver.kill();
                let _ = driver.wait();
            }
            Err(e) => panic!("a Chromium session: {e}"),
        }
    };
    Some(Session {
        client,
        demo,
        store,
        config,
        driver,
        _profile: profile,
        _data: data,
    })
}

/// Starts chromedriver on a free port and waits until it listens.
async fn start_chromedriver() -> (Child, u16) {
    let port = free_port();
    let driver = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    // chromedriver binds its port a moment after starting; wait for that, not a fixed time.
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not open port {port}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (driver, port)
}

fn chromium_capabilities(
    profile: &tempfile::TempDir,
) -> serde_json::Map<String, serde_json::Value> {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1280,1000",
                format!("--user-data-dir={}", profile.path().display()),
            ]
        }),
    );
    capabilities
}

fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/e2e");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Session {
    async fn text(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// Clicks something that navigates (possibly through redirects) and waits until the
    /// destination page shows `arrives`: a click returns before a redirect chain ends.
    async fn click_to(&self, css: &str, arrives: &str) {
        self.click(css).await;
        self.client
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::Css(arrives))
            .await
            .unwrap_or_else(|e| panic!("after clicking {css}, {arrives} never appeared: {e}"));
    }

    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(screenshot_dir().join(name), png).unwrap();
    }

    async fn open_landing(&self) {
        self.client.goto(&format!("{}/", self.demo)).await.unwrap();
    }

    /// Landing page → "Authorize a seller" → the sandbox's consent page.
    async fn open_consent(&self) {
        self.open_landing().await;
        self.click_to("#authorize", "#approve").await;
        assert!(
            self.client
                .current_url()
                .await
                .unwrap()
                .path()
                .starts_with("/sandbox/oauth/authorize")
        );
    }

    async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_owned()
    }

    async fn close(self) {
        let client = self.client.clone();
        let _ = client.close().await;
    }
}

#[tokio::test]
async fn a_seller_authorizes_in_a_real_browser_and_sees_tokens_expiry_and_identity() {
    let Some(session) = start("aliexpress").await else {
        return;
    };
    session.open_landing().await;
    session.screenshot("landing.png").await;
    session.open_consent().await;
    session.screenshots("sandbox-consent", 1000).await;
    session.click_to("#approve", "#access-token").await;

    assert!(
        session.path().await.starts_with("/result/"),
        "landed on the result page"
    );
    let url = session.client.current_url().await.unwrap();
    assert!(url.query().is_none(), "no code in the result URL");
    let access = session.text("#access-token").await;
    assert!(access.starts_with("50000") && access.len() > 40, "{access}");
    assert!(session.text("#refresh-token").await.starts_with("50001"));
    let access_expiry = session.text("#access-expiry").await;
    assert!(
        access_expiry.contains("UTC") && access_expiry.contains("in 1 day"),
        "{access_expiry}"
    );
    let refresh_expiry = session.text("#refresh-expiry").await;
    assert!(
        refresh_expiry.contains("UTC") && refresh_expiry.contains("in 2 days"),
        "{refresh_expiry}"
    );
    let identity = session.text("#identity").await;
    for value in [
        "2000187331",
        "cn1529093711demo",
        "demo-store@example.com",
        "3000020000814",
    ] {
        assert!(
            identity.contains(value),
            "identity shows {value}: {identity}"
        );
    }
    session.screenshot("result.png").await;

    // Copy: the token reaches the clipboard, or is at least selected for Ctrl+C.
    session
        .click(r#"button[data-copy-target="access-token"]"#)
        .await;
    let selected = session
        .client
        .execute("return window.getSelection().toString().trim();", vec![])
        .await
        .unwrap();
    assert_eq!(
        selected.as_str(),
        Some(access.as_str()),
        "the token is selected"
    );
    let label = session
        .text(r#"button[data-copy-target="access-token"]"#)
        .await;
    assert!(
        label == "Copied" || label.starts_with("Selected"),
        "the button says what happened: {label}"
    );

    // Reload keeps showing the same result; nothing is exchanged again.
    session.client.refresh().await.unwrap();
    assert_eq!(session.text("#access-token").await, access);

    // The same page on a phone-sized screen, for a look.
    session.client.set_window_size(390, 1400).await.unwrap();
    session.screenshot("result-phone.png").await;
    session.close().await;
}

#[tokio::test]
async fn cancelling_in_a_real_browser_shows_the_cancellation_page_and_errors_have_a_page() {
    let Some(session) = start("aliexpress").await else {
        return;
    };
    session.open_consent().await;
    session.click_to("#cancel", "#cancel-reason").await;
    assert_eq!(
        session.path().await,
        "/cancelled",
        "no state left in the address bar"
    );
    session.client.refresh().await.unwrap();
    assert!(
        session.text("h1").await.contains("Authorization cancelled"),
        "after a reload too"
    );
    assert!(
        session
            .text("#cancel-reason")
            .await
            .contains("access_denied")
    );
    session.screenshot("cancelled.png").await;

    // An error page as a person would meet it: an old or forged callback link.
    session
        .client
        .goto(&format!("{}/callback?code=3_x&state=forged", session.demo))
        .await
        .unwrap();
    assert!(session.text("h1").await.contains("not known"));
    assert!(!session.text("#request-id").await.is_empty());
    session.screenshot("error.png").await;
    session.close().await;
}

#[tokio::test]
async fn two_tabs_authorizing_at_the_same_time_both_succeed() {
    let Some(session) = start("lazada").await else {
        return;
    };
    let first = session.client.windows().await.unwrap().remove(0);
    session.open_consent().await;
    let second = session.client.new_window(true).await.unwrap().handle;
    session
        .client
        .switch_to_window(second.clone())
        .await
        .unwrap();
    session.open_consent().await;

    // Both consent pages are open; approve the second, then the first.
    session
        .client
        .find(Locator::Css("#seller input[value=lz-cb]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    session.click_to("#approve", "#access-token").await;
    assert!(session.path().await.starts_with("/result/"));
    let second_token = session.text("#access-token").await;
    assert!(
        session.text("#countries").await.contains("MY1JX8K3"),
        "cross-border seller lists Malaysia"
    );
    assert!(
        session.text("#countries").await.contains("Malaysia"),
        "sites by name"
    );
    session.client.set_window_size(390, 1800).await.unwrap();
    session.screenshot("result-cross-border-phone.png").await;
    session.client.set_window_size(1280, 1000).await.unwrap();

    session.client.switch_to_window(first).await.unwrap();
    session.click_to("#approve", "#access-token").await;
    assert!(session.path().await.starts_with("/result/"));
    let first_token = session.text("#access-token").await;
    assert_ne!(first_token, second_token);
    session.screenshot("result-lazada.png").await;
    session.close().await;
}

#[tokio::test]
async fn the_two_app_demo_lists_both_apps_and_each_authorizes_through_its_own_sandbox() {
    let Some(session) = start_with(&["demo"]).await else {
        return;
    };
    session.open_landing().await;
    session.screenshot("landing-two-apps.png").await;
    for app in ["aliexpress", "lazada"] {
        let redirect_uri = session.text(&format!("#redirect-uri-{app}")).await;
        assert!(
            redirect_uri.ends_with(&format!("/callback/{app}")),
            "{redirect_uri}"
        );
    }
    session.client.set_window_size(390, 1600).await.unwrap();
    session.screenshot("landing-two-apps-phone.png").await;
    session.client.set_window_size(1280, 1000).await.unwrap();

    session.click_to("#authorize-lazada", "#approve").await;
    assert!(
        session
            .path()
            .await
            .starts_with("/sandbox/lazada/oauth/authorize")
    );
    session.click_to("#approve", "#access-token").await;
    assert!(session.path().await.starts_with("/result/"));
    assert!(
        session
            .text("#authorized-on")
            .await
            .to_lowercase()
            .contains("app lazada")
    );

    session.open_landing().await;
    session.click_to("#authorize-aliexpress", "#approve").await;
    session.click_to("#approve", "#access-token").await;
    assert!(
        session
            .text("#authorized-on")
            .await
            .to_lowercase()
            .contains("app aliexpress")
    );
    session.close().await;
}

/// Forty sellers in every state, the way an operator meets them after a few months:
/// mostly healthy, a few refresh tokens running out, one failing, one needing the seller.
async fn seed_sellers(session: &Session) {
    use iop_callback::iop::TokenResponse;
    use iop_callback::tokens::Owner;
    let now = iop_callback::clock::system().now_ms();
    let nicks = [
        "harbor-goods",
        "lotus-home",
        "peak-outdoor",
        "mint-beauty",
        "orbit-tech",
        "cedar-kids",
        "nova-fashion",
        "amber-pets",
        "delta-tools",
        "ember-kitchen",
        "fjord-sports",
        "grove-garden",
        "halo-audio",
        "iris-stationery",
        "jade-jewelry",
        "kite-toys",
        "lumen-lighting",
        "maple-furniture",
        "nimbus-phones",
        "opal-watches",
        "pine-books",
        "quartz-bags",
        "river-shoes",
        "sage-health",
        "tide-swim",
        "umber-coffee",
        "vale-tea",
        "willow-crafts",
        "xeno-gaming",
        "yarrow-baby",
        "zephyr-bikes",
        "atlas-auto",
        "birch-bath",
        "coral-cases",
        "dune-camping",
        "elm-office",
        "flint-hardware",
        "gale-drones",
    ];
    for (n, nick) in nicks.iter().enumerate() {
        let app = &session.config.apps[n % session.config.apps.len()];
        let owner = Owner {
            app: &app.id,
            platform: app.platform,
            app_key: &app.app_key,
        };
        // Refresh tokens that die within days for a few; a month or two for the rest.
        let refresh_days = if n % 13 == 5 {
            3
        } else {
            30 + (n as i64 * 7) % 60
        };
        let body = json!({
            "access_token": format!("50000{n:02}01a8c3Zq7f9seededAccessToken{n:02}"),
            "refresh_token": format!("50001{n:02}00e4b2Kp1m0seededRefreshToken{n:02}"),
            "expires_in": 3_600 * (2 + (n as i64 * 5) % 70),
            "refresh_expires_in": refresh_days * 86_400,
            "seller_id": format!("{}", 2_100_000_000 + n * 7_919),
            "user_id": format!("{}", 3_200_000 + n),
            "user_nick": nick,
            "account": format!("{nick}@example.com"),
            "code": "0",
            "request_id": format!("seed-{n}"),
        });
        let response = TokenResponse::from_json(body.to_string().as_bytes()).unwrap();
        let id = session
            .store
            .save_authorization(
                owner,
                &response,
                iop_callback::clock::EpochMs::new(now - 3_600_000),
            )
            .await
            .unwrap();
        match n {
            7 => session
                .store
                .mark_reauthorize(
                    id,
                    "IllegalRefreshToken: refresh token is expired",
                    iop_callback::clock::EpochMs::new(now),
                )
                .await
                .unwrap(),
            19 => session
                .store
                .record_refresh_failure(
                    id,
                    "platform unreachable: connection timed out",
                    None,
                    iop_callback::clock::EpochMs::new(now + 600_000),
                )
                .await
                .unwrap(),
            _ => {}
        }
    }
}

impl Session {
    async fn fill(&self, css: &str, text: &str) {
        let field = self.client.find(Locator::Css(css)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.demo))
            .await
            .unwrap();
    }

    /// A screenshot at desktop width, then one at phone width (390 px), where nothing may
    /// stick out sideways (the page never scrolls horizontally).
    async fn screenshots(&self, name: &str, phone_height: u32) {
        self.screenshot(&format!("{name}.png")).await;
        self.client
            .set_window_size(390, phone_height)
            .await
            .unwrap();
        self.screenshot(&format!("{name}-phone.png")).await;
        let widths = self
            .client
            .execute(
                "return [document.documentElement.scrollWidth, document.documentElement.clientWidth];",
                vec![],
            )
            .await
            .unwrap();
        let (scroll, client) = (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap());
        assert!(
            scroll <= client,
            "{name} at 390 px is {scroll} px wide, wider than the {client} px screen"
        );
        self.client.set_window_size(1280, 1000).await.unwrap();
    }
}

#[tokio::test]
async fn an_operator_signs_in_reveals_copies_refreshes_and_deletes_in_a_real_browser() {
    const PASSWORD: &str = "operator password 1";
    let Some(session) = start_with(&[
        "--admin-password",
        PASSWORD,
        "--refresh-interval",
        "off",
        "demo",
    ])
    .await
    else {
        return;
    };
    seed_sellers(&session).await;
    // One seller authorizes through the sandbox, as a seller would.
    session.open_landing().await;
    assert!(session.text("#admin-link").await.contains("admin console"));
    session.click_to("#authorize-aliexpress", "#approve").await;
    session.click_to("#approve", "#access-token").await;

    // Unsigned, the console sends the browser to sign in.
    session.goto("/admin").await;
    assert_eq!(session.path().await, "/admin/login");
    session.fill("#password", "not the password").await;
    session
        .click_to("button[type=submit]", "#sign-in-problem")
        .await;
    assert!(session.text("#sign-in-problem").await.contains("not right"));
    session.screenshots("admin-login", 900).await;
    session.fill("#password", PASSWORD).await;
    session.click_to("button[type=submit]", "#sellers").await;
    assert_eq!(session.path().await, "/admin");

    // Forty sellers; the two that need the operator are on top.
    let rows = session
        .client
        .find_all(Locator::Css("#sellers tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 39);
    let first = rows[0].text().await.unwrap();
    let second = rows[1].text().await.unwrap();
    assert!(
        first.contains("Re-authorize") && first.contains("amber-pets"),
        "{first}"
    );
    assert!(
        second.contains("Failing") && second.contains("opal-watches"),
        "{second}"
    );
    assert!(session.text("#summary").await.contains("need attention"));
    session.screenshots("admin-sellers", 2400).await;

    // The seller to re-authorize: the link first, no refresh offered.
    session
        .click_to("#sellers .seller-link", "#reauthorize")
        .await;
    assert!(
        session
            .text("#reauthorize")
            .await
            .contains("must authorize again")
    );
    assert!(session.client.find(Locator::Css("#refresh")).await.is_err());
    session.screenshots("admin-reauthorize", 1800).await;
    session.goto("/admin").await;

    // The filter finds the seller who authorized in the browser.
    session.fill("#filter", "cn1529093711demo").await;
    session.click_to(".filter-form button", "#sellers").await;
    let rows = session
        .client
        .find_all(Locator::Css("#sellers tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    session.click_to("#sellers .seller-link", "#reveal").await;
    let masked = session.text("#access-token-masked").await;
    assert!(masked.contains('…') && masked.len() < 20, "{masked}");
    session.screenshots("admin-seller", 1800).await;

    // Reveal, then copy.
    session.click_to("#reveal", "#access-token").await;
    let access = session.text("#access-token").await;
    assert!(
        access.starts_with(&masked[..4]) && access.len() > 40,
        "{access}"
    );
    session
        .click(r#"button[data-copy-target="access-token"]"#)
        .await;
    let selected = session
        .client
        .execute("return window.getSelection().toString().trim();", vec![])
        .await
        .unwrap();
    assert_eq!(selected.as_str(), Some(access.as_str()));
    session.screenshots("admin-seller-revealed", 2000).await;

    // Refresh now: the sandbox issues a new access token.
    session.client.back().await.unwrap();
    session.click_to("#refresh", "#notice").await;
    assert!(session.text("#notice").await.contains("Refreshed"));
    session.click_to("#reveal", "#access-token").await;
    assert_ne!(session.text("#access-token").await, access, "a new token");

    // Delete, behind a confirmation.
    session.click_to("#delete", "#confirm-delete").await;
    session.screenshots("admin-delete", 900).await;
    session.click_to("#confirm-delete", "#notice").await;
    assert!(session.text("#notice").await.contains("deleted"));
    let rows = session
        .client
        .find_all(Locator::Css("#sellers tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 38);

    // The audit log has it all, newest first.
    session
        .click_to(r#"a[href="/admin/audit"]"#, "#audit")
        .await;
    let audit = session.text("#audit").await;
    let order: Vec<usize> = [
        "Deleted",
        "Revealed tokens",
        "Refreshed",
        "Signed in",
        "Sign-in failed",
    ]
    .iter()
    .map(|label| {
        audit
            .find(label)
            .unwrap_or_else(|| panic!("{label} in {audit}"))
    })
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{audit}");
    assert!(!audit.contains(&access));
    session.screenshots("admin-audit", 1200).await;

    // Sign out: the console is closed to this browser again.
    session.click_to(".admin-nav button", "#signed-out").await;
    session.goto("/admin").await;
    assert_eq!(session.path().await, "/admin/login");
    session.close().await;
}

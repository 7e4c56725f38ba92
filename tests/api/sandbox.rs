//! The built-in sandbox platform: `demo` end to end over HTTP, and the standalone sandbox's
//! authorize page and token API driven by the production client.

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use iop_callback::cli::{Cli, Command};
use iop_callback::clock::{self, Clock, ManualClock};
use iop_callback::demo::{build_demo, build_sandbox};
use iop_callback::iop::{AuthCode, IopClient, IopError};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::helpers::{Browser, location, query_param};

const REDIRECT_URI: &str = "http://localhost:8080/callback";
pub const SECRET: &str = "sandbox_test_secret";

/// A running demo: service and sandbox in one process.
struct Demo {
    address: String,
    _data: tempfile::TempDir,
}

/// `global` flags go before the subcommand, `own` ones after it.
async fn spawn_demo(global: &[&str], own: &[&str]) -> Demo {
    let data = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/demo.db", data.path().display());
    let mut argv = vec![
        "iop-callback",
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        &db,
    ];
    argv.extend_from_slice(global);
    argv.push("demo");
    argv.extend_from_slice(own);
    let cli = Cli::try_parse_from(argv).unwrap();
    let Some(Command::Demo(lifetimes)) = &cli.command else {
        unreachable!()
    };
    let app = build_demo(&cli.service.settings(), lifetimes, clock::system())
        .await
        .unwrap();
    // The browser must use the public URL's host, as a person opening the printed URL
    // does: the cookie is per host.
    let address = format!("http://localhost:{}", app.port());
    tokio::spawn(app.run_until(std::future::pending()));
    Demo {
        address,
        _data: data,
    }
}

/// A running standalone sandbox with a known secret, on a clock the test moves.
pub struct StandaloneSandbox {
    pub base: String,
    pub clock: Arc<ManualClock>,
}

pub async fn spawn_sandbox(global: &[&str], own: &[&str]) -> StandaloneSandbox {
    let mut argv = vec!["iop-callback", "--listen", "127.0.0.1:0"];
    argv.extend_from_slice(global);
    argv.extend([
        "sandbox",
        "--redirect-uri",
        REDIRECT_URI,
        "--secret",
        SECRET,
    ]);
    argv.extend_from_slice(own);
    let cli = Cli::try_parse_from(argv).unwrap();
    let Some(Command::Sandbox(args)) = &cli.command else {
        unreachable!()
    };
    let clock = ManualClock::starting_now();
    let (listener, router, _) = build_sandbox(&cli.service.settings(), args, clock.clone())
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    tokio::spawn(iop_callback::serve::serve(
        listener,
        router,
        std::future::pending(),
        Default::default(),
    ));
    StandaloneSandbox { base, clock }
}

impl StandaloneSandbox {
    pub fn client(&self, app_key: &str, secret: &str) -> IopClient {
        IopClient::new(
            &format!("{}/sandbox/rest", self.base),
            app_key,
            SecretString::from(secret),
            Duration::from_secs(2),
            self.clock.clone(),
        )
        .unwrap()
    }

    /// Approves on the consent form and returns the code sent to the redirect_uri.
    pub async fn approve(&self, seller: &str) -> String {
        let response = self
            .decide(seller, "approve", "12345678", REDIRECT_URI)
            .await;
        assert_eq!(response.status(), 303);
        query_param(&location(&response), "code").expect("a code")
    }

    async fn decide(
        &self,
        seller: &str,
        decision: &str,
        client_id: &str,
        redirect_uri: &str,
    ) -> reqwest::Response {
        Browser::new()
            .http
            .post(format!("{}/sandbox/oauth/decide", self.base))
            .form(&[
                ("client_id", client_id),
                ("redirect_uri", redirect_uri),
                ("state", "st4te"),
                ("seller", seller),
                ("decision", decision),
            ])
            .send()
            .await
            .unwrap()
    }
}

/// A code the sandbox issued for `seller`, ready to exchange.
pub async fn code_for(sandbox: &StandaloneSandbox, seller: &str) -> AuthCode {
    code(&sandbox.approve(seller).await)
}

fn code(raw: &str) -> AuthCode {
    AuthCode::parse(Some(raw)).unwrap()
}

fn platform_code(result: Result<impl Sized, IopError>) -> String {
    match result {
        Err(IopError::Platform(e)) => e.code,
        Err(other) => panic!("expected a platform error, got {other}"),
        Ok(_) => panic!("expected a platform error, got success"),
    }
}

/// Landing → Authorize → sandbox consent → decide → callback; returns the last response.
async fn click_through(
    demo: &Demo,
    browser: &Browser,
    seller: &str,
    decision: &str,
) -> reqwest::Response {
    click_through_at(demo, "/authorize", browser, seller, decision).await
}

/// `seller` approves `app` of a two-app demo: the callback, checked to redirect.
async fn approve_at(demo: &Demo, app: &str, browser: &Browser, seller: &str) -> reqwest::Response {
    let authorize = format!("/authorize/{app}");
    let callback = click_through_at(demo, &authorize, browser, seller, "approve").await;
    assert_eq!(callback.status(), 303, "{app}");
    callback
}

/// `click_through` starting at `authorize_path` (an app's own, beside others).
async fn click_through_at(
    demo: &Demo,
    authorize_path: &str,
    browser: &Browser,
    seller: &str,
    decision: &str,
) -> reqwest::Response {
    let authorize = browser
        .get(&format!("{}{authorize_path}", demo.address))
        .await;
    let consent_url = location(&authorize);
    let consent = browser.get(&consent_url).await;
    assert_eq!(consent.status(), 200);
    let html = consent.text().await.unwrap();
    assert!(html.contains("Sandbox."), "the sandbox says it is one");
    let field = |name: &str| query_param(&consent_url, name).unwrap();
    // The consent page's form posts to its own sandbox's decide path.
    let decide = consent_url.replace("/oauth/authorize", "/oauth/decide");
    let decide = decide.split('?').next().unwrap().to_owned();
    let decided = browser
        .http
        .post(decide)
        .form(&[
            ("client_id", field("client_id")),
            ("redirect_uri", field("redirect_uri")),
            ("state", field("state")),
            ("seller", seller.to_owned()),
            ("decision", decision.to_owned()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(decided.status(), 303);
    browser.get(&location(&decided)).await
}

#[tokio::test]
async fn demo_runs_the_whole_flow_against_the_sandbox_over_http() {
    let demo = spawn_demo(&[], &["--single"]).await;
    let browser = Browser::new();
    let landing = browser.text(&format!("{}/", demo.address)).await;
    assert!(landing.contains("Sandbox."));

    let callback = click_through(&demo, &browser, "ae-outdoor", "approve").await;
    assert_eq!(callback.status(), 303);
    let html = browser
        .text(&format!("{}{}", demo.address, location(&callback)))
        .await;
    assert!(html.contains("cn2000553120outdoor"));
    assert!(
        html.contains(r#"<span class="remaining">in 1 day</span>"#),
        "AliExpress test-app access lifetime"
    );
    assert!(html.contains(r#"<span class="remaining">in 2 days</span>"#));
    assert!(html.contains(r#"id="access-token">50000"#));
}

#[tokio::test]
async fn demo_in_lazada_style_shows_the_cross_border_seller() {
    let demo = spawn_demo(
        &["--platform", "lazada"],
        &["--single", "--access-ttl", "2m"],
    )
    .await;
    let browser = Browser::new();
    let callback = click_through(&demo, &browser, "lz-cb", "approve").await;
    let html = browser
        .text(&format!("{}{}", demo.address, location(&callback)))
        .await;
    for value in [
        "global-gadgets@example.com",
        "TH1JX8K2",
        "MY1JX8K3",
        "19001",
        "19002",
        "in 2 minutes",
        "in 14 days",
    ] {
        assert!(html.contains(value), "shows {value}");
    }
}

#[tokio::test]
async fn the_demo_serves_an_aliexpress_app_and_a_lazada_app_side_by_side() {
    let demo = spawn_demo(&[], &[]).await;
    let browser = Browser::new();
    let landing = browser.text(&format!("{}/", demo.address)).await;
    for expected in [
        "/callback/aliexpress",
        "/callback/lazada",
        r#"href="/authorize/aliexpress""#,
        r#"href="/authorize/lazada""#,
        "/authorize/lazada?country=th",
        "Cross-border (cb)",
    ] {
        assert!(landing.contains(expected), "{expected} in the landing page");
    }
    // Each app's flow goes through its own sandbox and its own callback.
    for (app, seller, shows) in [
        ("aliexpress", "ae-outdoor", "cn2000553120outdoor"),
        ("lazada", "lz-cb", "TH1JX8K2"),
    ] {
        let callback = approve_at(&demo, app, &browser, seller).await;
        let html = browser
            .text(&format!("{}{}", demo.address, location(&callback)))
            .await;
        assert!(html.contains(shows), "{app}: {shows}");
        assert!(
            html.contains(&format!("app {app}")),
            "the result page names {app}"
        );
    }
    // A country outside the app's list is refused, not passed on.
    let refused = browser
        .get(&format!("{}/authorize/lazada?country=uk", demo.address))
        .await;
    assert_eq!(refused.status(), 400);
    let chosen = browser
        .get(&format!("{}/authorize/lazada?country=th", demo.address))
        .await;
    assert_eq!(
        query_param(&location(&chosen), "country").as_deref(),
        Some("th")
    );
    assert_eq!(
        browser
            .get(&format!("{}/authorize", demo.address))
            .await
            .status(),
        404,
        "no implicit app beside named ones"
    );
}

#[tokio::test]
async fn cancelling_on_the_sandbox_shows_the_cancellation_page() {
    let demo = spawn_demo(&[], &["--single"]).await;
    let browser = Browser::new();
    let cancelled = click_through(&demo, &browser, "ae-store", "cancel").await;
    assert_eq!(cancelled.status(), 303);
    let page = browser
        .get(&format!("{}{}", demo.address, location(&cancelled)))
        .await;
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("Authorization cancelled")
    );
}

#[tokio::test]
async fn the_authorize_page_refuses_a_wrong_app_or_redirect_uri_without_redirecting() {
    let sandbox = spawn_sandbox(&[], &[]).await;
    let browser = Browser::new();
    let base = format!("{}/sandbox/oauth/authorize", sandbox.base);
    let good = "response_type=code&force_auth=true&client_id=12345678&redirect_uri=http%3A%2F%2Flocalhost%3A8080%2Fcallback&state=s";
    assert_eq!(browser.get(&format!("{base}?{good}")).await.status(), 200);
    for (bad, says) in [
        (good.replace("callback", "callback%2F"), "does not match"),
        (good.replace("http%3A", "https%3A"), "does not match"),
        (
            good.replace("client_id=12345678", "client_id=999"),
            "client_id",
        ),
        (
            good.replace("response_type=code", "response_type=token"),
            "response_type",
        ),
    ] {
        let response = browser.get(&format!("{base}?{bad}")).await;
        assert_eq!(response.status(), 400, "{bad}");
        assert!(response.headers().get("location").is_none());
        assert!(response.text().await.unwrap().contains(says), "{bad}");
    }
    // The form's hidden fields are checked again.
    let tampered = sandbox
        .decide(
            "ae-store",
            "approve",
            "12345678",
            "https://evil.example/steal",
        )
        .await;
    assert_eq!(tampered.status(), 400);
    assert!(tampered.headers().get("location").is_none());
}

#[tokio::test]
async fn a_sandbox_code_is_exchanged_once_by_the_production_client() {
    let sandbox = spawn_sandbox(&[], &[]).await;
    let client = sandbox.client("12345678", SECRET);
    let issued = sandbox.approve("ae-store").await;
    assert!(issued.starts_with("3_12345678_"));

    let tokens = client.create_token(&code(&issued)).await.unwrap();
    assert!(tokens.access_token.expose_secret().starts_with("50000"));
    assert_eq!(tokens.identity.seller_id.as_deref(), Some("2000187331"));
    assert!(tokens.expire_time.is_some() && tokens.refresh_token_valid_time.is_some());

    assert_eq!(
        platform_code(client.create_token(&code(&issued)).await),
        "InvalidCode"
    );
    assert_eq!(
        platform_code(client.create_token(&code("3_12345678_madeup")).await),
        "InvalidCode"
    );
}

#[tokio::test]
async fn the_sandbox_refuses_a_wrong_secret_or_app_key() {
    let sandbox = spawn_sandbox(&[], &[]).await;
    let issued = sandbox.approve("ae-store").await;
    assert_eq!(
        platform_code(
            sandbox
                .client("12345678", "not-the-secret")
                .create_token(&code(&issued))
                .await
        ),
        "IncompleteSignature"
    );
    assert_eq!(
        platform_code(
            sandbox
                .client("999", SECRET)
                .create_token(&code(&issued))
                .await
        ),
        "InvalidAppkey"
    );
    // Neither attempt spent the code.
    assert!(
        sandbox
            .client("12345678", SECRET)
            .create_token(&code(&issued))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn sandbox_codes_expire() {
    let sandbox = spawn_sandbox(&[], &["--code-ttl", "1ms"]).await;
    let issued = sandbox.approve("ae-store").await;
    sandbox.clock.advance(Duration::from_millis(2));
    assert_eq!(
        platform_code(
            sandbox
                .client("12345678", SECRET)
                .create_token(&code(&issued))
                .await
        ),
        "InvalidCode"
    );
}

#[tokio::test]
async fn refresh_renews_the_access_token_and_refuses_unknown_refresh_tokens() {
    let sandbox = spawn_sandbox(&["--platform", "lazada"], &[]).await;
    let client = sandbox.client("12345678", SECRET);
    let tokens = client
        .create_token(&code(&sandbox.approve("lz-cb").await))
        .await
        .unwrap();
    let refresh = tokens.refresh_token.unwrap();
    let renewed = client.refresh_token(&refresh).await.unwrap();
    assert_ne!(
        renewed.access_token.expose_secret(),
        tokens.access_token.expose_secret()
    );
    assert_eq!(
        renewed.identity.country_user_info.len(),
        2,
        "Lazada refresh answers list the countries"
    );
    assert_eq!(
        platform_code(
            client
                .refresh_token(&SecretString::from("50001forged"))
                .await
        ),
        "IllegalRefreshToken"
    );
}

#[tokio::test]
async fn the_token_api_names_missing_parameters_and_refuses_an_access_token() {
    let sandbox = spawn_sandbox(&[], &[]).await;
    let url = format!("{}/sandbox/rest/auth/token/create", sandbox.base);
    let post = |params: Vec<(&str, &str)>| {
        let request = reqwest::Client::new().post(&url).form(&params);
        async move {
            request
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let body = post(vec![("app_key", "12345678")]).await;
    assert_eq!(body["code"], "MissingParameter");
    assert!(body["request_id"].is_string());

    // A correctly signed call that also carries an access_token.
    let timestamp = sandbox.clock.now_ms().to_string();
    let mut params = vec![
        ("app_key", "12345678"),
        ("timestamp", timestamp.as_str()),
        ("sign_method", "sha256"),
        ("code", "3_12345678_x"),
        ("access_token", "old"),
    ];
    let sign = iop_callback::iop::sign::sign(SECRET, "/auth/token/create", params.iter().copied());
    params.push(("sign", &sign));
    let body = post(params).await;
    assert_eq!(body["code"], "IllegalAccessToken");
    assert_eq!(body["type"], "ISV");
}

#[tokio::test]
async fn the_sandbox_pages_speak_plainly() {
    let sandbox = spawn_sandbox(&[], &[]).await;
    let browser = Browser::new();
    let home = browser.text(&format!("{}/sandbox/", sandbox.base)).await;
    assert!(home.contains("1 day / 2 days"), "{home}");
    assert!(home.contains("was printed when the sandbox started"));
    let refused = browser
        .text(&format!(
            "{}/sandbox/oauth/authorize?response_type=code&client_id=999&redirect_uri=x&state=s",
            sandbox.base
        ))
        .await;
    assert!(
        refused.contains("client_id") && !refused.contains('`'),
        "{refused}"
    );

    let demo = spawn_demo(&[], &["--single"]).await;
    let home = browser.text(&format!("{}/sandbox/", demo.address)).await;
    assert!(!home.contains("was printed"), "demo prints no secret");
    assert!(home.contains("nothing to copy"));
}

#[tokio::test]
async fn the_standalone_sandbox_prints_shell_lines_and_never_the_environments_secret() {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_iop-callback"))
        .args(["--listen", "127.0.0.1:0", "sandbox"])
        .env("IOP_APP_SECRET", "a-real-production-secret")
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let lines: Vec<String> = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .take(8)
            .map(Result::unwrap)
            .collect()
    })
    .await
    .unwrap();
    // The log (on standard error, so that `> sandbox.env` keeps only the lines) says
    // where it listens.
    let started: String = tokio::task::spawn_blocking(move || {
        BufReader::new(stderr)
            .lines()
            .map(Result::unwrap)
            .find(|line| line.contains("sandbox listening"))
            .unwrap_or_default()
    })
    .await
    .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(started.contains("address=127.0.0.1:"), "{started}");
    assert!(
        started.contains("redirect_uri=http://localhost:8080/callback"),
        "{started}"
    );
    // The service beside it: where the registered callback reaches it.
    assert!(lines.contains(&"export IOP_PUBLIC_URL=http://localhost:8080".to_owned()));
    assert!(lines.contains(&"export IOP_LISTEN=127.0.0.1:8080".to_owned()));
    assert!(lines[0].starts_with('#'), "{lines:?}");
    for line in &lines[1..] {
        assert!(
            line.starts_with("export IOP_") && line.contains('='),
            "{line}"
        );
        assert!(!line.contains(' ') || line.starts_with("export "), "{line}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("export IOP_APP_SECRET="))
    );
    assert!(!lines.join("\n").contains("a-real-production-secret"));
}

/// A proxied call against the demo: `{demo}/api/v1/proxy/{tail}` with the test key.
async fn proxied(demo: &Demo, tail: &str, country: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .get(format!("{}/api/v1/proxy/{tail}", demo.address))
        .bearer_auth(crate::token_api::API_KEY);
    if let Some(country) = country {
        request = request.header("iop-country", country);
    }
    request.send().await.unwrap()
}

fn iop_code(response: &reqwest::Response) -> String {
    response.headers()["iop-code"].to_str().unwrap().to_owned()
}

/// The demo shows the signing proxy offline: its sandboxes verify business calls as the
/// gateway does, per Lazada country and on AliExpress's `/sync`, revoke tokens on a button,
/// and throttle a seller who calls too often.
#[tokio::test]
async fn the_demo_answers_business_calls_through_the_proxy() {
    let demo = spawn_demo(&["--api-keys", crate::token_api::API_KEY], &[]).await;
    let browser = Browser::new();
    for (app, seller) in [("aliexpress", "ae-store"), ("lazada", "lz-cb")] {
        approve_at(&demo, app, &browser, seller).await;
    }
    let products = proxied(
        &demo,
        "2000187331/aliexpress.solution.product.list.get",
        None,
    )
    .await;
    assert_eq!(iop_code(&products), "0");
    let body: Value = products.json().await.unwrap();
    assert_eq!(
        body["aliexpress_solution_product_list_get_response"]["result"]["products"][0]["product_id"],
        "1005001"
    );
    let seller = proxied(&demo, "19001/seller/get", Some("my")).await;
    assert_eq!(iop_code(&seller), "0");
    let body: Value = seller.json().await.unwrap();
    assert_eq!(body["country"], "my");
    assert_eq!(
        proxied(&demo, "19001/seller/get", None).await.status(),
        400,
        "a cross-border seller names its country"
    );
    let form = reqwest::multipart::Form::new().part(
        "image",
        reqwest::multipart::Part::bytes(vec![7u8; 1000]).file_name("a.png"),
    );
    let upload = reqwest::Client::new()
        .post(format!("{}/api/v1/proxy/19001/image/upload", demo.address))
        .bearer_auth(crate::token_api::API_KEY)
        .header("iop-country", "th")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(iop_code(&upload), "0");
    assert_eq!(
        upload.json::<Value>().await.unwrap()["data"]["image"]["bytes"],
        1000
    );

    // The button revokes the seller's access token: the proxy refreshes and repeats.
    let token = || async {
        let response = reqwest::Client::new()
            .get(format!("{}/api/v1/tokens/19001", demo.address))
            .bearer_auth(crate::token_api::API_KEY)
            .send()
            .await
            .unwrap();
        response.json::<Value>().await.unwrap()["access_token"].clone()
    };
    let before = token().await;
    let revoked = browser
        .http
        .post(format!("{}/sandbox/lazada/revoke", demo.address))
        .form(&[("seller", "lz-cb")])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 303);
    assert!(location(&revoked).ends_with("revoked=1"));
    // (Past the throttle of the calls above.)
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let again = proxied(&demo, "19001/orders/get", Some("th")).await;
    assert_eq!(iop_code(&again), "0");
    assert_ne!(token().await, before, "renewed after IllegalAccessToken");

    // A seller calling more than five times a second is throttled; the proxy waits it
    // out within its budget, so every call still succeeds.
    let burst = (0..7).map(|_| proxied(&demo, "19001/orders/get", Some("th")));
    for response in futures_util::future::join_all(burst).await {
        assert_eq!(iop_code(&response), "0");
    }
}

/// `text` as the page escapes it.
fn html(text: &str) -> String {
    text.replace('"', "&#34;")
}

/// The demo's webhook page, once it shows `text` (or after five seconds).
async fn webhooks_page(demo: &Demo, browser: &Browser, text: &str) -> String {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let page = browser
            .text(&format!("{}/demo/webhooks", demo.address))
            .await;
        if page.contains(text) || tokio::time::Instant::now() > deadline {
            return page;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn in_the_demo_a_sandbox_push_becomes_an_event_delivered_to_its_own_signed_endpoint() {
    let demo = spawn_demo(&[], &[]).await;
    let browser = Browser::new();
    // A seller authorizes: announced as an event.
    approve_at(&demo, "lazada", &browser, "lz-th").await;
    let page = webhooks_page(&demo, &browser, "seller.authorized").await;
    assert!(page.contains("seller.authorized"), "{page}");
    // The sandbox's Lazada refresh tokens live 14 days: warned of at once.
    let page = webhooks_page(&demo, &browser, "seller.refresh_expiring").await;
    assert!(page.contains(&html(r#""warning": "14d""#)), "{page}");
    // The sandbox's button pushes a signed order message for that seller.
    let home = browser
        .text(&format!("{}/sandbox/lazada/", demo.address))
        .await;
    assert!(home.contains(r#"id="push-order""#), "{home}");
    assert!(
        home.contains("<title>Sandbox Lazada · iop-callback</title>"),
        "the buttons are in the page, not its title: {home}"
    );
    let pushed = browser
        .http
        .post(format!("{}/sandbox/lazada/push", demo.address))
        .form(&[("seller", "lz-th"), ("kind", "order")])
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status(), 303);
    assert!(
        location(&pushed).ends_with("?pushed=200"),
        "{}",
        location(&pushed)
    );
    let page = webhooks_page(&demo, &browser, "platform.push").await;
    assert!(page.contains("platform.push"), "{page}");
    assert!(page.contains("trade_order_id"), "{page}");
    assert!(!page.contains("signature does not hold"), "{page}");
    // An authorization-expiring push sets the seller's deadline two days out: the second
    // warning follows.
    let pushed = browser
        .http
        .post(format!("{}/sandbox/lazada/push", demo.address))
        .form(&[("seller", "lz-th"), ("kind", "expiring")])
        .send()
        .await
        .unwrap();
    assert!(location(&pushed).ends_with("?pushed=200"));
    let page = webhooks_page(&demo, &browser, &html(r#""warning": "2d""#)).await;
    assert!(
        page.contains(&html(r#""deadline_from": "platform""#)),
        "{page}"
    );
}

//! `spawn_app()`, a cookie-keeping browser, and a stand-in platform that checks signatures.

use std::collections::HashMap;
use std::sync::Arc;

use clap::Parser;
use iop_callback::cli::Cli;
use iop_callback::clock::ManualClock;
use iop_callback::config::Config;
use iop_callback::iop::sign;
use iop_callback::startup::Application;
pub use iop_callback::store::Engine;
pub use rstest::rstest;
pub use rstest_reuse::{self, apply, template};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

pub const APP_KEY: &str = "12345678";
pub const APP_SECRET: &str = "test_secret_value_9f3a";
pub const CREATE_PATH: &str = "/rest/auth/token/create";

pub struct TestApp {
    pub address: String,
    /// Set when the test asked for `--metrics-listen`.
    pub metrics_address: Option<String>,
    pub platform: MockServer,
    pub config: Config,
    /// The service's clock: tests move it instead of sleeping.
    pub clock: Arc<ManualClock>,
    pub _data: tempfile::TempDir,
}

/// Starts the service against a fresh stand-in platform and an empty database.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// The black-box tests that run once on each store engine: `#[apply(each_engine)]`.
#[template]
#[export]
#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
pub fn each_engine(#[case] engine: Engine) {}

/// As `spawn_app_with`, on a fresh database of `engine`: `None` where no PostgreSQL server
/// is configured (the test then says it skipped; CI requires one).
pub async fn spawn_app_on(engine: Engine, extra: &[&str]) -> Option<TestApp> {
    match engine {
        Engine::Sqlite => Some(spawn_app_with(extra).await),
        Engine::Postgres => {
            let url = iop_callback::store::test_database::fresh_postgres_url().await?;
            let mut flags = extra.to_vec();
            flags.extend(["--database-url", &url]);
            Some(spawn_app_with(&flags).await)
        }
    }
}

/// As `spawn_app`, with extra command-line flags (`--http-timeout`, `--state-ttl`, ...).
pub async fn spawn_app_with(extra: &[&str]) -> TestApp {
    let platform = MockServer::start().await;
    let data = tempfile::tempdir().unwrap();
    let clock = ManualClock::starting_now();
    let app = Application::build_with_clock(config_for(&platform, &data, extra), clock.clone())
        .await
        .unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    let metrics_address = app
        .metrics_port()
        .map(|port| format!("http://127.0.0.1:{port}"));
    let config = app.config().clone();
    tokio::spawn(app.run_until(std::future::pending()));
    TestApp {
        address,
        metrics_address,
        platform,
        config,
        clock,
        _data: data,
    }
}

impl TestApp {
    /// The redirect_uri of the service's (first) app.
    pub fn redirect_uri(&self) -> String {
        self.config.redirect_uri(&self.config.apps[0])
    }
}

/// The configuration of a service pointed at `platform` and a database in `data`.
pub fn config_for(platform: &MockServer, data: &tempfile::TempDir, extra: &[&str]) -> Config {
    let args = service_args(&platform.uri(), data, extra);
    Config::from_settings(&Cli::try_parse_from(args).unwrap().service.settings()).unwrap()
}

/// The flags that point the service at the stand-in platform and a temporary database.
pub fn service_args(platform: &str, data: &tempfile::TempDir, extra: &[&str]) -> Vec<String> {
    let defaults = [
        ("--app-key", APP_KEY.to_owned()),
        ("--app-secret", APP_SECRET.to_owned()),
        ("--listen", "127.0.0.1:0".to_owned()),
        ("--http-timeout", "2s".to_owned()),
        ("--api-url", format!("{platform}/rest")),
        ("--authorize-url", format!("{platform}/oauth/authorize")),
        (
            "--database-url",
            format!("sqlite://{}/tokens.db", data.path().display()),
        ),
    ];
    let mut args = vec!["iop-callback".to_owned()];
    for (flag, value) in defaults {
        // A flag the test gives itself replaces the default.
        if !extra.contains(&flag) {
            args.extend([flag.to_owned(), value]);
        }
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// A local port nothing listens on now (bound, then let go).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A browser: keeps its own cookies, does not follow redirects (tests look at each hop).
pub struct Browser {
    pub http: reqwest::Client,
}

impl Browser {
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Browser { http }
    }

    pub async fn get(&self, url: &str) -> reqwest::Response {
        self.http.get(url).send().await.unwrap()
    }

    /// The body of `url`, whatever its status.
    pub async fn text(&self, url: &str) -> String {
        self.get(url).await.text().await.unwrap()
    }

    /// Starts an authorization and comes back from the platform with `code`.
    pub async fn callback_with_code(&self, app: &TestApp, code: &str) -> reqwest::Response {
        let state = self.start_authorization(app).await;
        self.callback(app, &format!("code={code}&state={state}"))
            .await
    }

    /// Clicks "Authorize a seller" and returns the `state` sent to the platform.
    pub async fn start_authorization(&self, app: &TestApp) -> String {
        let response = self.get(&format!("{}/authorize", app.address)).await;
        assert_eq!(response.status(), 303);
        let location = location(&response);
        query_param(&location, "state").expect("the authorize URL carries a state")
    }

    /// Plays the platform's redirect back to the callback.
    pub async fn callback(&self, app: &TestApp, query: &str) -> reqwest::Response {
        self.get(&format!("{}/callback?{query}", app.address)).await
    }

    /// The whole happy path: authorize, come back with `code`, follow to the result page.
    /// Returns the result page URL and its HTML.
    pub async fn authorize_fully(&self, app: &TestApp, code: &str) -> (String, String) {
        let state = self.start_authorization(app).await;
        let response = self
            .callback(app, &format!("code={code}&state={state}"))
            .await;
        assert_eq!(
            response.status(),
            303,
            "callback should redirect to the result"
        );
        let result_url = format!("{}{}", app.address, location(&response));
        let page = self.get(&result_url).await;
        assert_eq!(page.status(), 200);
        (result_url, page.text().await.unwrap())
    }
}

pub fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

pub fn query_param(url: &str, name: &str) -> Option<String> {
    let url = url::Url::parse(url).unwrap();
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub fn form(request: &Request) -> HashMap<String, String> {
    url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

/// Matches only requests whose `sign` is right for exactly the parameters received,
/// the way the platform checks it.
pub struct ValidSignature {
    pub api_path: &'static str,
}

impl Match for ValidSignature {
    fn matches(&self, request: &Request) -> bool {
        let mut params = form(request);
        let Some(received) = params.remove("sign") else {
            return false;
        };
        let expected = sign::sign(
            APP_SECRET,
            self.api_path,
            params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        );
        received == expected
    }
}

/// A realistic AliExpress success answer for `code`, with tokens derived from it so each
/// test can recognise its own.
pub fn aliexpress_success(code: &str) -> Value {
    json!({
        "refresh_token_valid_time": 1_900_000_000_000_i64,
        "havana_id": "3000020000814",
        "expire_time": 1_890_000_000_000_i64,
        "locale": "zh_CN",
        "user_nick": "cn1001",
        "access_token": format!("50000601c30at{code}ACCESS"),
        "refresh_token": format!("500016000300bwa{code}REFRESH"),
        "user_id": "10101",
        "account_platform": "seller_center",
        "refresh_expires_in": 5_183_988,
        "expires_in": 2_592_000,
        "sp": "ae",
        "seller_id": "1001",
        "account": "seller@example.com",
        "code": "0",
        "request_id": "212a69f317116001605067741",
        "_trace_id_": "trace"
    })
}

/// The platform answers `/auth/token/create` with `body`, only for correctly signed calls.
pub async fn platform_answers(app: &TestApp, body: Value) {
    Mock::given(method("POST"))
        .and(path(CREATE_PATH))
        .and(ValidSignature {
            api_path: "/auth/token/create",
        })
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&app.platform)
        .await;
}

/// A fresh browser's callback after the platform was set to answer `body`.
pub async fn callback_answered_with(app: &TestApp, body: Value) -> reqwest::Response {
    platform_answers(app, body).await;
    Browser::new().callback_with_code(app, "any-code").await
}

/// Fails the test (when the mock server drops) if the platform was called at all.
pub async fn platform_must_not_be_called(app: &TestApp) {
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&app.platform)
        .await;
}

pub async fn token_calls(app: &TestApp) -> usize {
    app.platform
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == CREATE_PATH)
        .count()
}

/// The configuration of a service pointed at nothing in particular, for a `TestApp` around a
/// separately started binary.
pub fn plain_config() -> Config {
    let args = [
        "iop-callback",
        "--app-key",
        APP_KEY,
        "--app-secret",
        APP_SECRET,
    ];
    Config::from_settings(&Cli::try_parse_from(args).unwrap().service.settings()).unwrap()
}

/// Starts the service of an apps file holding `apps`, written to `data` with its database,
/// with `extra` flags (the API keys); returns its address.
pub async fn spawn_apps_file(apps: &str, data: &tempfile::TempDir, extra: &[&str]) -> String {
    let apps_file = data.path().join("apps.toml");
    std::fs::write(&apps_file, apps).unwrap();
    let database = format!("sqlite://{}/tokens.db", data.path().display());
    let mut args = vec![
        "iop-callback",
        "--apps-file",
        apps_file.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ];
    // A database the test names replaces the folder's own.
    if !extra.contains(&"--database-url") {
        args.extend(["--database-url", &database]);
    }
    args.extend(extra);
    let config =
        Config::from_settings(&Cli::try_parse_from(args).unwrap().service.settings()).unwrap();
    let app = Application::build(config).await.unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until(std::future::pending()));
    address
}

//! Several apps in one deployment: each through its own callback and platform, states
//! that cannot cross apps, one store and one API for all.

use std::collections::HashMap;

use iop_callback::iop::sign;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::*;
use crate::token_api::API_KEY;

const AE_SECRET: &str = "ae-prod-secret-1";
const LZD_SECRET: &str = "lzd-prod-secret-2";

/// Two apps, each with its own stand-in platform checking its own secret.
struct TwoApps {
    address: String,
    ae: MockServer,
    lzd: MockServer,
    _data: tempfile::TempDir,
}

struct SignedWith(&'static str);

impl Match for SignedWith {
    fn matches(&self, request: &Request) -> bool {
        let mut params: HashMap<String, String> = form(request);
        let Some(sent) = params.remove("sign") else {
            return false;
        };
        sent == sign::sign(
            self.0,
            "/auth/token/create",
            params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        )
    }
}

async fn answers(server: &MockServer, secret: &'static str, body: Value) {
    Mock::given(method("POST"))
        .and(path(CREATE_PATH))
        .and(SignedWith(secret))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(server)
        .await;
}

async fn spawn_two_apps() -> TwoApps {
    let (ae, lzd) = (MockServer::start().await, MockServer::start().await);
    let data = tempfile::tempdir().unwrap();
    // The second app's secret comes from a mounted file, as an orchestrator would provide it.
    let secret_file = data.path().join("lzd_secret");
    std::fs::write(&secret_file, format!("{LZD_SECRET}\n")).unwrap();
    let apps = format!(
        r#"
        [apps.ae-prod]
        platform = "aliexpress"
        app_key = "500123"
        app_secret = "{AE_SECRET}"
        authorize_url = "{ae}/oauth/authorize"
        api_url = "{ae}/rest"

        [apps.lzd-prod]
        platform = "lazada"
        app_key = "100200"
        authorize_url = "{lzd}/oauth/authorize"
        api_url = "{lzd}/rest"
        countries = ["sg", "th"]
        app_secret_file = "{secret}"
        "#,
        ae = ae.uri(),
        lzd = lzd.uri(),
        secret = secret_file.display(),
    );
    let address = spawn_apps_file(&apps, &data, &["--api-keys", API_KEY]).await;
    TwoApps {
        address,
        ae,
        lzd,
        _data: data,
    }
}

impl TwoApps {
    /// Starts an authorization of `app` and returns the state.
    async fn start(&self, browser: &Browser, app: &str) -> String {
        let response = browser
            .get(&format!("{}/authorize/{app}", self.address))
            .await;
        assert_eq!(response.status(), 303);
        query_param(&location(&response), "state").unwrap()
    }

    async fn api(&self, path: &str) -> (u16, Value) {
        let response = reqwest::Client::new()
            .get(format!("{}{path}", self.address))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }
}

async fn calls(server: &MockServer) -> usize {
    server.received_requests().await.unwrap_or_default().len()
}

#[tokio::test]
async fn each_app_authorizes_through_its_own_callback_and_platform() {
    let apps = spawn_two_apps().await;
    answers(&apps.ae, AE_SECRET, aliexpress_success("ae")).await;
    answers(
        &apps.lzd,
        LZD_SECRET,
        json!({"access_token": "lzd-access", "refresh_token": "lzd-refresh", "country": "cb",
               "account": "global@example.com", "expires_in": 604800, "code": "0",
               "country_user_info": [{"country": "th", "seller_id": "TH1", "user_id": "U1"}]}),
    )
    .await;
    let browser = Browser::new();
    for (app, platform_host, shows) in [
        ("ae-prod", apps.ae.uri(), "50000601c30ataeACCESS"),
        ("lzd-prod", apps.lzd.uri(), "lzd-access"),
    ] {
        let response = browser
            .get(&format!("{}/authorize/{app}", apps.address))
            .await;
        let to_platform = location(&response);
        assert!(to_platform.starts_with(&platform_host), "{to_platform}");
        assert_eq!(
            query_param(&to_platform, "redirect_uri").unwrap(),
            format!(
                "http://localhost:{}/callback/{app}",
                apps.address.rsplit(':').next().unwrap()
            )
        );
        let state = query_param(&to_platform, "state").unwrap();
        let callback = browser
            .get(&format!(
                "{}/callback/{app}?code=c&state={state}",
                apps.address
            ))
            .await;
        assert_eq!(callback.status(), 303, "{app}");
        let page = browser
            .text(&format!("{}{}", apps.address, location(&callback)))
            .await;
        assert!(
            page.contains(shows) && page.contains(&format!("app {app}")),
            "{app}"
        );
    }
    assert_eq!((calls(&apps.ae).await, calls(&apps.lzd).await), (1, 1));
}

#[tokio::test]
async fn a_state_of_one_app_is_refused_at_another_apps_callback_without_a_platform_call() {
    let apps = spawn_two_apps().await;
    let browser = Browser::new();
    let state = apps.start(&browser, "ae-prod").await;
    let crossed = browser
        .get(&format!(
            "{}/callback/lzd-prod?code=c&state={state}",
            apps.address
        ))
        .await;
    assert_eq!(crossed.status(), 400);
    assert_eq!(calls(&apps.ae).await + calls(&apps.lzd).await, 0);
    // The plain paths belong to no app here.
    let plain = browser
        .get(&format!("{}/callback?code=c&state={state}", apps.address))
        .await;
    assert_eq!(plain.status(), 404);
}

#[tokio::test]
async fn a_country_is_passed_on_only_from_the_apps_list() {
    let apps = spawn_two_apps().await;
    let browser = Browser::new();
    let th = browser
        .get(&format!("{}/authorize/lzd-prod?country=th", apps.address))
        .await;
    assert_eq!(
        query_param(&location(&th), "country").as_deref(),
        Some("th")
    );
    for bad in [
        "/authorize/lzd-prod?country=vn",
        "/authorize/ae-prod?country=sg",
    ] {
        let response = browser.get(&format!("{}{bad}", apps.address)).await;
        assert_eq!(response.status(), 400, "{bad}");
        assert!(response.headers().get("location").is_none());
    }
}

#[tokio::test]
async fn the_same_seller_under_two_apps_is_two_rows_and_the_api_asks_which() {
    let apps = spawn_two_apps().await;
    let same_seller = aliexpress_success("both");
    answers(&apps.ae, AE_SECRET, same_seller.clone()).await;
    answers(&apps.lzd, LZD_SECRET, same_seller).await;
    let browser = Browser::new();
    for app in ["ae-prod", "lzd-prod"] {
        let state = apps.start(&browser, app).await;
        let callback = browser
            .get(&format!(
                "{}/callback/{app}?code=c&state={state}",
                apps.address
            ))
            .await;
        assert_eq!(callback.status(), 303);
    }
    let (_, list) = apps.api("/api/v1/tokens").await;
    let listed: Vec<(&str, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["app"].as_str().unwrap(), t["seller_id"].as_str().unwrap()))
        .collect();
    assert_eq!(listed, [("ae-prod", "1001"), ("lzd-prod", "1001")]);

    let (status, body) = apps.api("/api/v1/tokens/1001").await;
    assert_eq!(status, 409);
    assert_eq!(body["error"], "ambiguous_seller");
    assert_eq!(body["candidates"].as_array().unwrap().len(), 2);
    let (status, body) = apps.api("/api/v1/tokens/1001?app=lzd-prod").await;
    assert_eq!(status, 200);
    assert_eq!(body["app"], "lzd-prod");
}

#[tokio::test]
async fn the_landing_page_lists_every_app_with_its_redirect_uri() {
    let apps = spawn_two_apps().await;
    let page = Browser::new().text(&format!("{}/", apps.address)).await;
    for expected in [
        "ae-prod",
        "lzd-prod",
        "/callback/ae-prod",
        "/callback/lzd-prod",
        r#"href="/authorize/lzd-prod?country=th""#,
        "Thailand",
        "500123",
        "100200",
    ] {
        assert!(page.contains(expected), "{expected}");
    }
}

/// An operator moves from the single-app variables to an apps file: the sellers stored
/// under `default` follow the app with their platform and app key and are refreshed by it;
/// sellers no configured app can refresh are said, not skipped.
#[tokio::test]
async fn moving_to_an_apps_file_keeps_every_seller_refreshable() {
    let single = spawn_app_with(&["--api-keys", API_KEY]).await;
    platform_answers(&single, aliexpress_success("MOVE")).await;
    Browser::new().authorize_fully(&single, "MOVE").await;
    Mock::given(method("POST"))
        .and(path("/rest/auth/token/refresh"))
        .and(ValidSignature {
            api_path: "/auth/token/refresh",
        })
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "moved-access", "expires_in": 86_400, "seller_id": "1001",
            "code": "0", "request_id": "rr"
        })))
        .mount(&single.platform)
        .await;
    let database = single.config.database_url.expose().to_owned();
    let platform = single.platform.uri();
    let apps = |app_key: &str| {
        format!(
            r#"
            [apps.shop]
            platform = "aliexpress"
            app_key = "{app_key}"
            app_secret = "{APP_SECRET}"
            authorize_url = "{platform}/oauth/authorize"
            api_url = "{platform}/rest"
            "#
        )
    };
    let flags = ["--api-keys", API_KEY, "--database-url", &database];

    // Another app key: nobody can refresh the seller, and /readyz says so.
    let elsewhere = tempfile::tempdir().unwrap();
    let stranded = spawn_apps_file(&apps("999999"), &elsewhere, &flags).await;
    let ready = Browser::new().get(&format!("{stranded}/readyz")).await;
    assert_eq!(ready.status(), 200);
    assert!(
        ready
            .text()
            .await
            .unwrap()
            .contains("1 stored sellers cannot be refreshed"),
        "the stranded seller is counted"
    );

    // The same platform and app key under a new name: the seller moves and is renewed.
    let data = tempfile::tempdir().unwrap();
    let moved = spawn_apps_file(&apps(APP_KEY), &data, &flags).await;
    let response = reqwest::Client::new()
        .get(format!("{moved}/api/v1/tokens"))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    let list: Value = response.json().await.unwrap();
    assert_eq!(list[0]["app"], "shop", "{list}");
    let refreshed = reqwest::Client::new()
        .post(format!("{moved}/api/v1/tokens/1001/refresh"))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(
        refreshed.status(),
        200,
        "{}",
        refreshed.text().await.unwrap()
    );
    let ready = Browser::new().get(&format!("{moved}/readyz")).await;
    assert_eq!(ready.text().await.unwrap(), "ready\n");
}

/// Three 404s, each saying its own thing: an unknown app (naming none of the configured
/// ones), the plain paths of a service with several apps (pointing to the home page), and
/// an unknown page.
#[tokio::test]
async fn each_404_says_what_is_missing() {
    let apps = spawn_two_apps().await;
    let browser = Browser::new();
    let page = |path: &'static str| {
        let browser = &browser;
        let address = apps.address.clone();
        async move {
            let response = browser.get(&format!("{address}{path}")).await;
            assert_eq!(response.status(), 404, "{path}");
            response.text().await.unwrap()
        }
    };
    let unknown_app = page("/authorize/nope").await;
    assert!(
        unknown_app.contains("This app is not served here"),
        "{unknown_app}"
    );
    for configured in ["ae-prod", "lzd-prod"] {
        assert!(!unknown_app.contains(configured), "{unknown_app}");
    }
    let plain = page("/authorize").await;
    assert!(plain.contains("Choose the app to authorize"), "{plain}");
    assert!(plain.contains("/authorize/NAME"), "{plain}");
    let nothing = page("/no/such/page").await;
    assert!(
        nothing.contains("There is no page at this address"),
        "{nothing}"
    );
}

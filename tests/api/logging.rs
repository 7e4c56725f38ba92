//! The real binary, logging at debug level through a whole flow, never logs a secret.

use serde_json::json;
use wiremock::MockServer;

use crate::admin;
use crate::binary::RunningBinary;
use crate::helpers::*;

async fn full_flow_log(log_format: &str) -> (String, Vec<String>) {
    let platform = MockServer::start().await;
    let data = tempfile::tempdir().unwrap();
    let api_key = "logging-test-api-key-0123456789abcdefghij";
    let binary = RunningBinary::start(
        &platform,
        &data,
        &[
            "--log-format",
            log_format,
            "--api-keys",
            api_key,
            "--admin-password",
            admin::PASSWORD,
        ],
    );
    let app = binary.as_test_app(platform);

    platform_answers(&app, aliexpress_success("LOGCODE7")).await;
    let browser = Browser::new();
    let state = browser.start_authorization(&app).await;
    let code = "3_12345678_LOGCODE7secret";
    let callback = browser
        .callback(&app, &format!("code={code}&state={state}"))
        .await;
    assert_eq!(callback.status(), 303, "the exchange succeeded");
    let result_url = format!("{}{}", app.address, location(&callback));
    let cookie = callback_cookie(&browser, &app).await;
    assert_eq!(browser.get(&result_url).await.status(), 200);
    // The token API, with the right key and a wrong one.
    for (key, status) in [
        (api_key, 200),
        ("wrong-key-that-must-not-be-logged-0123456789", 401),
    ] {
        let answer = reqwest::Client::new()
            .get(format!("{}/api/v1/tokens/1001", app.address))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), status);
    }

    // The admin console: a wrong password, the right one, a reveal, a refused form.
    let console = admin::Console::new(&app);
    let wrong_password = "wrong admin password 77";
    assert_eq!(console.try_password(wrong_password).await.status(), 401);
    let signed_in = console.try_password(admin::PASSWORD).await;
    let session = admin::session_cookie(&signed_in).unwrap();
    let session = session.split(';').next().unwrap()["iop-admin=".len()..].to_owned();
    let csrf = console.csrf().await;
    let seller = console.page("/admin").await;
    let seller = seller.split("/admin/sellers/").nth(1).unwrap();
    let seller: String = seller.chars().take_while(|c| *c != '"').collect();
    let reveal = format!("/admin/sellers/{seller}/reveal");
    let revealed = console.post(&reveal, &[("csrf", &csrf)]).await;
    assert_eq!(revealed.status(), 303);
    let reveal_pass = location(&revealed)
        .split("revealed=")
        .nth(1)
        .unwrap()
        .to_owned();
    assert_eq!(console.get(&location(&revealed)).await.status(), 200);
    assert_eq!(
        console.post(&reveal, &[("csrf", "forged")]).await.status(),
        403
    );

    // A failed exchange too, so the error path is in the log. (The platform forgets what
    // it received when reset: keep the first exchange's signature.)
    let mut signatures = signatures_received(&app).await;
    assert_eq!(
        signatures.len(),
        1,
        "the first exchange was sent and signed"
    );
    app.platform.reset().await;
    platform_answers(
        &app,
        json!({"code": "InvalidCode", "message": "used", "request_id": "rq"}),
    )
    .await;
    let failed_state = browser.start_authorization(&app).await;
    let failed_code = "3_12345678_FAILEDCODE9";
    let failed = browser
        .callback(&app, &format!("code={failed_code}&state={failed_state}"))
        .await;
    assert_eq!(
        failed.status(),
        502,
        "the platform refused the second exchange"
    );
    signatures.extend(signatures_received(&app).await);
    assert_eq!(signatures.len(), 2);
    let log = binary.kill_and_collect_log("seller authorized").await;
    // What the audit log records is in the process log too.
    for action in ["sign_in_failed", "sign_in", "reveal"] {
        assert!(
            log.lines()
                .any(|line| line.contains("audited") && line.contains(action)),
            "{action}: {log}"
        );
    }

    let tokens = aliexpress_success("LOGCODE7");
    let mut secrets = vec![
        APP_SECRET.to_owned(),
        api_key.to_owned(),
        "wrong-key-that-must-not-be-logged-0123456789".to_owned(),
        code.to_owned(),
        failed_code.to_owned(),
        state.clone(),
        failed_state,
        cookie,
        tokens["access_token"].as_str().unwrap().to_owned(),
        tokens["refresh_token"].as_str().unwrap().to_owned(),
        result_url.rsplit('/').next().unwrap().to_owned(),
        admin::PASSWORD.to_owned(),
        wrong_password.to_owned(),
        session,
        csrf,
        reveal_pass,
    ];
    secrets.extend(signatures);
    (log, secrets)
}

/// The `sign` of every call the stand-in platform received.
async fn signatures_received(app: &TestApp) -> Vec<String> {
    app.platform
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| form(r)["sign"].clone())
        .collect()
}

/// The browser cookie's value, read back the way the service sees it.
async fn callback_cookie(browser: &Browser, app: &TestApp) -> String {
    let response = browser.get(&format!("{}/authorize", app.address)).await;
    let set = response.headers()["set-cookie"].to_str().unwrap();
    set.split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned()
}

fn assert_clean(log: &str, secrets: &[String]) {
    assert!(
        log.contains("/callback") && log.contains("/admin/login"),
        "the log has request lines:\n{log}"
    );
    let authorized = log
        .lines()
        .find(|l| l.contains("seller authorized"))
        .unwrap_or_else(|| panic!("the log has the outcome:\n{log}"));
    for field in ["aliexpress", "1001", "cn1001", "default"] {
        assert!(
            authorized.contains(field),
            "the line names platform, seller, nick and app ({field}): {authorized}"
        );
    }
    assert!(!authorized.contains("{ "), "no Debug text: {authorized}");
    assert!(
        log.contains("InvalidCode"),
        "the log has the failure:\n{log}"
    );
    for secret in secrets {
        assert!(!secret.is_empty());
        assert!(
            !log.contains(secret.as_str()),
            "the log contains a secret value `{secret}`:\n{log}"
        );
    }
}

#[tokio::test]
async fn a_full_flow_at_debug_level_logs_no_secret_code_state_or_token() {
    let (log, secrets) = full_flow_log("text").await;
    assert_clean(&log, &secrets);
}

#[tokio::test]
async fn json_logs_are_just_as_clean() {
    let (log, secrets) = full_flow_log("json").await;
    assert!(
        log.lines()
            .filter(|l| !l.is_empty())
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
    );
    assert_clean(&log, &secrets);
    // One line per request, in the request's span: its route template, our request id,
    // and the app the flow named on it.
    let callback = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|entry| entry["message"] == "response" && entry["span"]["route"] == "/callback")
        .unwrap_or_else(|| panic!("no response line for /callback:\n{log}"));
    assert_eq!(callback["status"], 303, "{callback}");
    assert!(callback["latency_ms"].is_u64(), "{callback}");
    assert_eq!(callback["span"]["app"], "default", "{callback}");
    let id = callback["span"]["request_id"].as_str().unwrap_or_default();
    assert_eq!(id.len(), 16, "{callback}");
}

#[tokio::test]
async fn a_configuration_error_is_logged_for_the_operator_with_the_advice_and_request_ids() {
    let platform = MockServer::start().await;
    let data = tempfile::tempdir().unwrap();
    let binary = RunningBinary::start(&platform, &data, &["--log-format", "json"]);
    let app = binary.as_test_app(platform);
    platform_answers(
        &app,
        json!({"type": "ISV", "code": "IncompleteSignature", "message": "bad sign", "request_id": "plat-rq-9"}),
    )
    .await;
    let response = Browser::new().callback_with_code(&app, "c").await;
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let log = binary.kill_and_collect_log("operator must fix it").await;
    let line = log
        .lines()
        .find(|l| l.contains("operator must fix it"))
        .unwrap_or_else(|| panic!("no operator line in\n{log}"));
    let entry: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(entry["level"], "ERROR");
    assert_eq!(entry["code"], "IncompleteSignature");
    assert_eq!(entry["platform_request_id"], "plat-rq-9");
    assert!(
        entry["advice"]
            .as_str()
            .unwrap()
            .contains("check the app secret")
    );
    assert!(
        line.contains(&request_id),
        "our request id is on the line: {line}"
    );
    // And which app and platform it was, from the request's span.
    assert_eq!(entry["span"]["app"], "default", "{line}");
    assert_eq!(entry["span"]["platform"], "aliexpress", "{line}");
}

#[tokio::test]
async fn a_failed_refresh_through_the_api_is_logged_once() {
    let platform = MockServer::start().await;
    let data = tempfile::tempdir().unwrap();
    let api_key = "logged-once-api-key-0123456789abcdefghij";
    let binary = RunningBinary::start(&platform, &data, &["--api-keys", api_key]);
    let app = binary.as_test_app(platform);
    platform_answers(&app, aliexpress_success("ONCE")).await;
    wiremock::Mock::given(wiremock::matchers::path("/rest/auth/token/refresh"))
        .respond_with(wiremock::ResponseTemplate::new(500))
        .expect(1)
        .mount(&app.platform)
        .await;
    Browser::new().authorize_fully(&app, "ONCE").await;

    let refused = reqwest::Client::new()
        .post(format!("{}/api/v1/tokens/1001/refresh", app.address))
        .bearer_auth(api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 502);
    let log = binary.kill_and_collect_log("refresh failed").await;
    // The process logs at debug level; an operator reads info and above.
    let about_it: Vec<&str> = log
        .lines()
        .filter(|line| {
            [" INFO ", " WARN ", " ERROR "]
                .iter()
                .any(|l| line.contains(l))
        })
        .filter(|line| line.contains("HTTP 500") || line.contains("refresh failed"))
        .collect();
    assert_eq!(about_it.len(), 1, "{about_it:#?}");
    assert!(
        about_it[0].contains("refresh failed, will retry"),
        "{about_it:#?}"
    );
    assert!(about_it[0].contains("seller_id"), "{about_it:#?}");
}

#[tokio::test]
async fn a_nick_with_a_newline_and_an_escape_sequence_cannot_forge_a_log_line() {
    let platform = MockServer::start().await;
    let data = tempfile::tempdir().unwrap();
    let binary = RunningBinary::start(&platform, &data, &[]);
    let app = binary.as_test_app(platform);
    let mut answer = aliexpress_success("FORGED");
    answer["user_nick"] =
        json!("shop\n1999-01-01T00:00:00Z  INFO forged: admin signed in\u{1b}[2J\u{1b}[31m");
    platform_answers(&app, answer).await;
    Browser::new().authorize_fully(&app, "FORGED").await;
    let log = binary.kill_and_collect_log("seller authorized").await;
    assert!(log.contains("seller authorized"), "{log}");
    assert!(
        !log.lines().any(|line| line.starts_with("1999-01-01")),
        "a forged line:\n{log}"
    );
    assert!(!log.contains('\u{1b}'), "a raw escape byte:\n{log}");
    assert!(
        log.contains("shop\\n1999-01-01"),
        "the nick, escaped:\n{log}"
    );
}

#[tokio::test]
async fn startup_says_which_database_it_opened_and_what_is_on() {
    let platform = MockServer::start().await;
    let data = tempfile::tempdir().unwrap();
    let binary = RunningBinary::start(
        &platform,
        &data,
        &["--api-keys", "startup-api-key-0123456789abcdefghijklm"],
    );
    // The lines right after the listening line: wait for them before stopping the process.
    binary.log_containing("serving app").await;
    let log = binary.kill_and_collect_log("serving app").await;
    let line = log
        .lines()
        .find(|line| line.contains("store opened"))
        .unwrap_or_else(|| panic!("no store line:\n{log}"));
    let file = data.path().join("tokens.db");
    assert!(line.contains(&file.display().to_string()), "{line}");
    assert!(line.contains(r#"token_api="on""#), "{line}");
    assert!(line.contains(r#"proxy="on""#), "{line}");
    assert!(line.contains(r#"admin_console="off""#), "{line}");
    assert!(log.contains("serving app"), "{log}");
}

/// On PostgreSQL the URL's password is in no log line and no CLI message: the startup line
/// names host and database, and `tokens list` reads the store (no file is looked for).
#[tokio::test]
async fn a_postgres_password_is_never_shown() {
    let Some(url) = iop_callback::store::test_database::fresh_postgres_url().await else {
        return;
    };
    // The database with a password in its URL (the server trusts local connections or
    // has it set: either way the URL carries one).
    let mut with_password = url::Url::parse(&url).unwrap();
    if with_password.password().is_none() {
        with_password.set_password(Some("pw-never-shown")).unwrap();
    }
    let password = with_password.password().unwrap().to_owned();
    let url = with_password.to_string();
    let platform = MockServer::start().await;
    let data = tempfile::tempdir().unwrap();
    let binary = RunningBinary::start(&platform, &data, &["--database-url", &url]);
    let started = binary.log_containing("database=").await;
    assert!(!started.contains(&password), "{started}");
    assert!(started.contains("postgres://"), "{started}");
    let log = binary.kill_and_collect_log("database=").await;
    assert!(!log.contains(&password), "the whole log");

    let listed = std::process::Command::new(env!("CARGO_BIN_EXE_iop-callback"))
        .args(&service_args(&platform.uri(), &data, &["--database-url", &url])[1..])
        .args(["tokens", "list"])
        .output()
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&listed.stdout),
        String::from_utf8_lossy(&listed.stderr),
    );
    assert!(listed.status.success(), "{out}{err}");
    assert!(!out.contains(&password) && !err.contains(&password));
}

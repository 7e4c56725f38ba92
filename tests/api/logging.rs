//! The real binary, logging at debug level through a whole flow, never logs a secret.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use wiremock::MockServer;

use crate::helpers::*;

/// The binary, run with the test flags and RUST_LOG=debug, its stderr collected.
struct RunningBinary {
    child: Child,
    log: Arc<Mutex<String>>,
    address: String,
}

impl RunningBinary {
    fn start(platform: &MockServer, data: &tempfile::TempDir, log_format: &str) -> Self {
        let args = service_args(&platform.uri(), data, &["--log-format", log_format]);
        let mut child = Command::new(env!("CARGO_BIN_EXE_iop-callback"))
            .args(&args[1..])
            .env("RUST_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("iop-callback listening") {
                    let _ = tx.send(line.clone());
                }
                sink.lock().unwrap().push_str(&line);
                sink.lock().unwrap().push('\n');
            }
        });
        // The startup line names the bound port; waiting for it is waiting for a fact.
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the binary starts and logs its address");
        let port = line
            .split("127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .expect("listen address in the startup line")
            .to_owned();
        RunningBinary {
            child,
            log,
            address: format!("http://127.0.0.1:{port}"),
        }
    }

    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The reader thread drains what is left in the pipe.
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline && !self.log.lock().unwrap().contains("seller authorized") {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.log.lock().unwrap().clone()
    }
}

async fn full_flow_log(log_format: &str) -> (String, Vec<String>) {
    let platform = MockServer::start().await;
    let data = tempfile::tempdir().unwrap();
    let binary = RunningBinary::start(&platform, &data, log_format);
    let app = TestApp {
        address: binary.address.clone(),
        platform,
        config: test_config(),
        _data: tempfile::tempdir().unwrap(),
    };

    platform_answers(&app, aliexpress_success("LOGCODE7")).await;
    let browser = Browser::new();
    let state = browser.start_authorization(&app).await;
    let code = "3_12345678_LOGCODE7secret";
    let callback = browser
        .callback(&app, &format!("code={code}&state={state}"))
        .await;
    let result_url = format!("{}{}", app.address, location(&callback));
    let cookie = callback_cookie(&browser, &app).await;
    assert_eq!(browser.get(&result_url).await.status(), 200);

    // A failed exchange too, so the error path is in the log.
    app.platform.reset().await;
    platform_answers(
        &app,
        json!({"code": "InvalidCode", "message": "used", "request_id": "rq"}),
    )
    .await;
    let failed_state = browser.start_authorization(&app).await;
    let failed_code = "3_12345678_FAILEDCODE9";
    browser
        .callback(&app, &format!("code={failed_code}&state={failed_state}"))
        .await;

    let signatures: Vec<String> = app
        .platform
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| form(r)["sign"].clone())
        .collect();
    let log = binary.stop();

    let tokens = aliexpress_success("LOGCODE7");
    let mut secrets = vec![
        APP_SECRET.to_owned(),
        code.to_owned(),
        failed_code.to_owned(),
        state.clone(),
        failed_state,
        cookie,
        tokens["access_token"].as_str().unwrap().to_owned(),
        tokens["refresh_token"].as_str().unwrap().to_owned(),
        result_url.rsplit('/').next().unwrap().to_owned(),
    ];
    secrets.extend(signatures);
    (log, secrets)
}

fn test_config() -> iop_callback::config::Config {
    use clap::Parser;
    let args = [
        "iop-callback",
        "--app-key",
        APP_KEY,
        "--app-secret",
        APP_SECRET,
    ];
    iop_callback::config::Config::from_args(
        &iop_callback::cli::Cli::try_parse_from(args)
            .unwrap()
            .service,
    )
    .unwrap()
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
        log.contains("/callback"),
        "the log has request lines:\n{log}"
    );
    assert!(
        log.contains("seller authorized"),
        "the log has the outcome:\n{log}"
    );
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
}

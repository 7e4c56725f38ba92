//! Running it as a service: readiness, metrics, shutdown, the healthcheck.

use std::process::Command;
use std::time::Duration;

use iop_callback::startup::Application;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::binary::RunningBinary;
use crate::helpers::*;

#[tokio::test]
async fn readyz_answers_200_while_the_database_answers() {
    let app = spawn_app().await;
    let response = Browser::new().get(&format!("{}/readyz", app.address)).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_closed_database_is_not_ready() {
    let platform = MockServer::start().await;
    let data = tempfile::tempdir().unwrap();
    let app = Application::build(config_for(&platform, &data, &[]))
        .await
        .unwrap();
    let store = app.store();
    let readyz = format!("http://127.0.0.1:{}/readyz", app.port());
    tokio::spawn(app.run_until(std::future::pending()));
    assert_eq!(Browser::new().get(&readyz).await.status(), 200);
    store.close().await;
    assert_eq!(Browser::new().get(&readyz).await.status(), 503);
}

#[tokio::test]
async fn metrics_are_served_on_their_own_listener_only() {
    let app = spawn_app_with(&["--metrics-listen", "127.0.0.1:0"]).await;
    platform_answers(&app, aliexpress_success("metrics")).await;
    Browser::new().authorize_fully(&app, "metrics").await;

    let metrics_address = app.metrics_address.as_ref().expect("a metrics listener");
    let text = Browser::new()
        .get(&format!("{metrics_address}/metrics"))
        .await
        .text()
        .await
        .unwrap();
    for expected in [
        r#"iop_callback_authorizations_started_total{app="default"} 1"#,
        r#"iop_callback_token_exchanges_total{app="default",outcome="success"} 1"#,
        r#"iop_callback_platform_call_duration_seconds_count{app="default",api="create"} 1"#,
        r#"iop_callback_http_requests_total{route="/callback",status="303"} 1"#,
        r#"iop_callback_tokens{app="default",status="active"} 1"#,
    ] {
        assert!(text.contains(expected), "metrics have {expected}:\n{text}");
    }
    assert!(!text.contains("50000601c30atmetricsACCESS"));
    // Not on the public port.
    assert_eq!(
        Browser::new()
            .get(&format!("{}/metrics", app.address))
            .await
            .status(),
        404
    );
}

fn send_sigterm(binary: &RunningBinary) {
    let status = Command::new("kill")
        .args(["-TERM", &binary.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn sigterm_stops_accepting_but_lets_an_in_flight_callback_finish_and_exits_zero() {
    let platform = MockServer::start().await;
    let data = tempfile::tempdir().unwrap();
    let mut binary = RunningBinary::start(
        &platform,
        &data,
        &["--refresh-interval", "1s", "--http-timeout", "10s"],
    );
    let app = binary.as_test_app(platform);
    Mock::given(method("POST"))
        .and(path(CREATE_PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(aliexpress_success("slow"))
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&app.platform)
        .await;
    let browser = Browser::new();
    let state = browser.start_authorization(&app).await;

    let query = format!("code=slow&state={state}");
    let in_flight = tokio::spawn({
        let http = browser.http.clone();
        let url = format!("{}/callback?{query}", app.address);
        async move { http.get(url).send().await }
    });
    // Signal once the platform call is under way, i.e. the request is truly in flight.
    while app
        .platform
        .received_requests()
        .await
        .unwrap_or_default()
        .is_empty()
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    send_sigterm(&binary);

    // It stops accepting at once, while the callback is still waiting on the platform.
    let port: u16 = binary.port.parse().unwrap();
    let refused = async {
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(2), refused)
        .await
        .expect("new connections are refused soon after SIGTERM");
    assert!(
        !in_flight.is_finished(),
        "the callback was still in flight when accepting stopped"
    );

    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight callback gets its answer");
    assert_eq!(response.status(), 303);
    let exit = tokio::task::spawn_blocking(move || binary.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "exit status {exit:?}");
}

#[tokio::test]
async fn sigterm_stops_the_refresher_and_the_log_says_so() {
    let platform = MockServer::start().await;
    let data = tempfile::tempdir().unwrap();
    let binary = RunningBinary::start(&platform, &data, &["--refresh-interval", "1h"]);
    send_sigterm(&binary);
    let log = binary.log_containing("stopped\n").await;
    assert!(log.contains("token refresher stopped"), "{log}");
    assert!(log.contains("stopped"), "{log}");
}

#[tokio::test]
async fn the_healthcheck_subcommand_exits_zero_only_while_the_service_answers() {
    let platform = MockServer::start().await;
    let data = tempfile::tempdir().unwrap();
    let binary = RunningBinary::start(&platform, &data, &[]);
    let healthcheck = |port: &str| {
        Command::new(env!("CARGO_BIN_EXE_iop-callback"))
            .args(["--listen", &format!("0.0.0.0:{port}"), "healthcheck"])
            .output()
            .unwrap()
    };
    assert!(healthcheck(&binary.port).status.success());
    let port = binary.port.clone();
    binary.kill_and_collect_log("").await;
    let down = healthcheck(&port);
    assert!(!down.status.success());
    assert!(String::from_utf8_lossy(&down.stderr).contains("cannot reach"));
}

#[tokio::test]
async fn the_sandbox_is_absent_when_serving_for_real() {
    let app = spawn_app().await;
    for path in [
        "/sandbox/",
        "/sandbox/oauth/authorize",
        "/sandbox/rest/auth/token/create",
    ] {
        let response = Browser::new().get(&format!("{}{path}", app.address)).await;
        assert_eq!(response.status(), 404, "{path}");
    }
}

//! The token client against a stand-in platform: what it sends, and every way an answer
//! can go wrong.

use std::time::Duration;

use iop_callback::clock::{self, Clock, SystemClock};
use iop_callback::iop::{AuthCode, IopClient, IopError};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{APP_KEY, APP_SECRET, ValidSignature, aliexpress_success, form, free_port};

fn client_for(server: &MockServer, timeout: Duration) -> IopClient {
    IopClient::new(
        &format!("{}/rest", server.uri()),
        APP_KEY,
        SecretString::from(APP_SECRET),
        timeout,
        clock::system(),
    )
    .unwrap()
}

fn code(raw: &str) -> AuthCode {
    AuthCode::parse(Some(raw)).unwrap()
}

async fn answering(template: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(template)
        .mount(&server)
        .await;
    server
}

async fn create_with_answer(
    template: ResponseTemplate,
) -> Result<iop_callback::iop::TokenResponse, IopError> {
    let server = answering(template).await;
    client_for(&server, Duration::from_secs(2))
        .create_token(&code("3_500000_abc"))
        .await
}

#[tokio::test]
async fn create_token_posts_a_signed_form_with_exactly_the_documented_parameters() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rest/auth/token/create"))
        .and(ValidSignature {
            api_path: "/auth/token/create",
        })
        .respond_with(ResponseTemplate::new(200).set_body_json(aliexpress_success("c1")))
        .expect(1)
        .mount(&server)
        .await;

    let before = SystemClock.now_ms();
    let response = client_for(&server, Duration::from_secs(2))
        .create_token(&code("3_500000_c1"))
        .await
        .unwrap();

    assert_eq!(
        response.access_token.expose_secret(),
        "50000601c30atc1ACCESS"
    );
    let request = &server.received_requests().await.unwrap()[0];
    assert_eq!(request.url.query(), None, "nothing may travel in the URL");
    assert_eq!(
        request.headers["content-type"].to_str().unwrap(),
        "application/x-www-form-urlencoded;charset=UTF-8"
    );
    let sent = form(request);
    let mut names: Vec<&str> = sent.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["app_key", "code", "sign", "sign_method", "timestamp"]
    );
    assert_eq!(sent["app_key"], APP_KEY);
    assert_eq!(sent["sign_method"], "sha256");
    assert_eq!(sent["code"], "3_500000_c1");
    let timestamp: i64 = sent["timestamp"].parse().unwrap();
    assert!(
        (before..=before + 5_000).contains(&timestamp),
        "timestamp is epoch milliseconds now"
    );
}

#[tokio::test]
async fn refresh_token_posts_the_refresh_token_to_the_refresh_path() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/rest/auth/token/refresh"))
        .and(ValidSignature {
            api_path: "/auth/token/refresh",
        })
        .respond_with(ResponseTemplate::new(200).set_body_json(aliexpress_success("r1")))
        .expect(1)
        .mount(&server)
        .await;

    let refreshed = client_for(&server, Duration::from_secs(2))
        .refresh_token(&SecretString::from("50001600212wmSx1bcd"))
        .await
        .unwrap();

    assert_eq!(
        refreshed.refresh_token.unwrap().expose_secret(),
        "500016000300bwar1REFRESH"
    );
    let sent = form(&server.received_requests().await.unwrap()[0]);
    assert_eq!(sent["refresh_token"], "50001600212wmSx1bcd");
    assert!(!sent.contains_key("access_token") && !sent.contains_key("code"));
}

#[tokio::test]
async fn an_empty_refresh_token_is_never_sent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let result = client_for(&server, Duration::from_secs(2))
        .refresh_token(&SecretString::from(""))
        .await;
    // Refused before sending, so it is not counted as a transport failure either.
    assert!(
        matches!(&result, Err(IopError::EmptyParameter(name)) if name == "refresh_token"),
        "{:?}",
        result.err()
    );
}

#[tokio::test]
async fn lazada_success_with_countries_is_read() {
    let body = json!({
        "access_token": "50000lazada", "country": "cb", "refresh_token": "50001lazada",
        "account_platform": "seller_center", "refresh_expires_in": 1209600, "expires_in": 604800,
        "account": "seller@example.com",
        "country_user_info": [
            {"country": "th", "user_id": "100236220", "seller_id": "17348", "short_code": "TH10FEX"},
            {"country": "my", "user_id": "100236221", "seller_id": "17349", "short_code": "MY10FEX"}
        ],
        "code": "0", "request_id": "0b86d54915393644469808447"
    });
    let response = create_with_answer(ResponseTemplate::new(200).set_body_json(body))
        .await
        .unwrap();
    assert_eq!(response.identity.country.as_deref(), Some("cb"));
    assert_eq!(response.identity.country_user_info.len(), 2);
    assert_eq!(
        response.identity.country_user_info[0].short_code.as_deref(),
        Some("TH10FEX")
    );
    assert_eq!(response.expires_in, Some(604800));
}

#[tokio::test]
async fn numbers_as_strings_and_ids_as_numbers_are_accepted() {
    let body = json!({
        "access_token": "t", "refresh_token": "r", "expires_in": "86400", "refresh_expires_in": "172800",
        "expire_time": "1500", "refresh_token_valid_time": "1500", "user_id": 10101, "seller_id": 1001,
        "havana_id": 10000, "account_id": null, "code": "0"
    });
    let response = create_with_answer(ResponseTemplate::new(200).set_body_json(body))
        .await
        .unwrap();
    assert_eq!(response.expires_in, Some(86400));
    assert_eq!(response.identity.user_id.as_deref(), Some("10101"));
    assert_eq!(response.identity.havana_id.as_deref(), Some("10000"));
}

#[tokio::test]
async fn every_documented_platform_error_is_a_typed_platform_error() {
    for code_name in [
        "IncompleteSignature",
        "InvalidCode",
        "InvalidAppkey",
        "MissingParameter",
        "InvalidParameter",
        "IllegalAccessToken",
        "IllegalRefreshToken",
        "AUTH_TYPE_UNSUPPORTED",
        "ApiCallLimit",
        "ServiceUnavailable",
    ] {
        let body = json!({"type": "ISV", "code": code_name, "message": "explained", "request_id": "0ba28873"});
        match create_with_answer(ResponseTemplate::new(200).set_body_json(body)).await {
            Err(IopError::Platform(e)) => {
                assert_eq!(e.code, code_name);
                assert_eq!(e.kind.as_deref(), Some("ISV"));
                assert_eq!(e.message.as_deref(), Some("explained"));
                assert_eq!(e.request_id.as_deref(), Some("0ba28873"));
            }
            other => panic!(
                "{code_name}: expected a platform error, got {:?}",
                other.err()
            ),
        }
    }
}

#[tokio::test]
async fn http_500_is_an_unexpected_status() {
    let result = create_with_answer(ResponseTemplate::new(500).set_body_string("oops")).await;
    assert!(matches!(result, Err(IopError::HttpStatus { status: 500 })));
}

#[tokio::test]
async fn an_html_body_is_invalid() {
    let result =
        create_with_answer(ResponseTemplate::new(200).set_body_string("<html>gateway</html>"))
            .await;
    assert!(matches!(result, Err(IopError::InvalidBody(_))));
}

#[tokio::test]
async fn truncated_json_is_invalid() {
    let result = create_with_answer(
        ResponseTemplate::new(200).set_body_string(r#"{"access_token":"abc","expi"#),
    )
    .await;
    match result {
        Err(IopError::InvalidBody(reason)) => assert!(reason.contains("truncated"), "{reason}"),
        other => panic!("expected invalid body, got {:?}", other.err()),
    }
}

#[tokio::test]
async fn a_slow_platform_times_out() {
    let server = answering(
        ResponseTemplate::new(200)
            .set_body_json(aliexpress_success("slow"))
            .set_delay(Duration::from_secs(5)),
    )
    .await;
    let result = client_for(&server, Duration::from_millis(200))
        .create_token(&code("c"))
        .await;
    assert!(matches!(result, Err(IopError::Timeout(d)) if d == Duration::from_millis(200)));
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    // Bind and drop a listener: nothing listens on that port afterwards.
    let port = free_port();
    let client = IopClient::new(
        &format!("http://127.0.0.1:{port}/rest"),
        APP_KEY,
        SecretString::from(APP_SECRET),
        Duration::from_secs(2),
        clock::system(),
    )
    .unwrap();
    let result = client.create_token(&code("c")).await;
    assert!(
        matches!(result, Err(IopError::Connect(_))),
        "{:?}",
        result.err()
    );
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let server = MockServer::start().await;
    Mock::given(path("/rest/auth/token/create"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", "/elsewhere"))
        .mount(&server)
        .await;
    Mock::given(path("/elsewhere"))
        .respond_with(ResponseTemplate::new(200).set_body_json(aliexpress_success("x")))
        .expect(0)
        .mount(&server)
        .await;
    let result = client_for(&server, Duration::from_secs(2))
        .create_token(&code("c"))
        .await;
    assert!(matches!(result, Err(IopError::HttpStatus { status: 302 })));
}

#[tokio::test]
async fn error_display_never_contains_the_secret_or_code() {
    let server = answering(ResponseTemplate::new(200).set_body_string("not json")).await;
    let error = client_for(&server, Duration::from_secs(2))
        .create_token(&code("3_500000_topsecretcode"))
        .await
        .err()
        .unwrap();
    let text = format!("{error} {error:?}");
    assert!(
        !text.contains(APP_SECRET) && !text.contains("topsecretcode"),
        "{text}"
    );
}

/// A platform on HTTPS with a self-signed certificate: the client must refuse it. If TLS
/// verification were ever turned off, the call would reach the server and fail later, on
/// its answer, instead.
#[tokio::test]
async fn a_self_signed_https_platform_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is installed (Debian's openssl package)");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let port = free_port();
    /// The TLS server, ended however the test ends.
    struct Server(std::process::Child);
    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut server = Server(
        std::process::Command::new("openssl")
            .args(["s_server", "-quiet", "-www", "-accept"])
            .arg(port.to_string())
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = server.0.try_wait().unwrap() {
            panic!("openssl s_server ended before it listened: {status}");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "openssl s_server did not listen on port {port} within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let client = IopClient::new(
        &format!("https://127.0.0.1:{port}/rest"),
        APP_KEY,
        SecretString::from(APP_SECRET),
        Duration::from_secs(5),
        clock::system(),
    )
    .unwrap();
    let result = client.create_token(&code("c")).await;
    drop(server);
    let error = result.err().expect("refused");
    assert!(
        matches!(error, IopError::Connect(_) | IopError::Transport(_)),
        "refused at the handshake, not after an answer: {error:?}"
    );
    assert!(
        format!("{error:?}").to_lowercase().contains("certificate"),
        "{error:?}"
    );
}

//! The signing proxy against a stand-in gateway that recomputes every signature from what
//! it received: both signing styles, countries, files, payloads kept byte for byte, the
//! repeats it may and may not make, refused inputs, grants, and a log without values.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use iop_callback::iop::sign;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::binary::RunningBinary;
use crate::helpers::*;
use crate::token_api::API_KEY;

/// The access token `aliexpress_success("PROXY")` issues.
const ACCESS: &str = "50000601c30atPROXYACCESS";

/// What the stand-in gateway received in one call.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    path: String,
    /// Every text parameter, `sign` included.
    params: BTreeMap<String, String>,
    files: Files,
    /// Whether `sign` is right for exactly the text parameters received.
    signed: bool,
}

/// File parts: name and bytes.
type Files = Vec<(String, Vec<u8>)>;

type Answer = dyn Fn(&Received, usize) -> ResponseTemplate + Send + Sync;

/// A business gateway: verifies each call's signature the platform's way (path prefix on
/// `/rest`, none on `/sync`, file parts left out), records it, and answers with `answer`
/// (given the call and how many came before it).
#[derive(Clone)]
struct Gateway {
    received: Arc<Mutex<Vec<Received>>>,
    answer: Arc<Answer>,
}

impl Gateway {
    fn answering(
        answer: impl Fn(&Received, usize) -> ResponseTemplate + Send + Sync + 'static,
    ) -> Self {
        Gateway {
            received: Arc::default(),
            answer: Arc::new(answer),
        }
    }

    /// Answers every call with a success naming its API.
    fn ok() -> Self {
        Gateway::answering(|call, _| success(call))
    }

    async fn mount(&self, server: &MockServer) {
        Mock::given(path_regex("^/.*"))
            .respond_with(self.clone())
            .mount(server)
            .await;
    }

    fn calls(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

fn success(call: &Received) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("set-cookie", "gateway=1")
        .insert_header("x-gateway-only", "1")
        .set_body_json(json!({"code": "0", "request_id": "gw-req-1", "data": {"path": call.path}}))
}

fn error(code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(
        json!({"type": "ISV", "code": code, "message": message, "request_id": "gw-req-2"}),
    )
}

impl Respond for Gateway {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let url_path = request.url.path().to_owned();
        let sign_path = match url_path.find("/rest/") {
            Some(at) => url_path[at + "/rest".len()..].to_owned(),
            None => String::new(),
        };
        let content_type = request
            .headers
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let (mut params, files) = if request.method.as_str() == "GET" {
            (
                request
                    .url
                    .query_pairs()
                    .into_owned()
                    .collect::<BTreeMap<_, _>>(),
                Vec::new(),
            )
        } else if let Some(boundary) = content_type.split("boundary=").nth(1) {
            multipart(&request.body, boundary)
        } else {
            (
                url::form_urlencoded::parse(&request.body)
                    .into_owned()
                    .collect(),
                Vec::new(),
            )
        };
        let sent = params.remove("sign").unwrap_or_default();
        let expected = sign::sign(
            APP_SECRET,
            &sign_path,
            params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        );
        params.insert("sign".into(), sent.clone());
        let call = Received {
            method: request.method.to_string(),
            path: url_path,
            params,
            files,
            signed: sent == expected,
        };
        let before = {
            let mut received = self.received.lock().unwrap();
            received.push(call.clone());
            received.len() - 1
        };
        if !call.signed {
            return error(
                "IncompleteSignature",
                "The request signature does not conform to platform standards",
            );
        }
        (self.answer)(&call, before)
    }
}

/// Text parts and file parts (those with a `filename`) of a multipart body.
fn multipart(body: &[u8], boundary: &str) -> (BTreeMap<String, String>, Files) {
    let (mut text, mut files) = (BTreeMap::new(), Vec::new());
    let delimiter = format!("--{boundary}");
    for part in split(body, delimiter.as_bytes()).into_iter().skip(1) {
        let Some(at) = part.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&part[..at]).into_owned();
        let content = &part[at + 4..];
        let content = content.strip_suffix(b"\r\n").unwrap_or(content);
        let name = head
            .split("name=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_default()
            .to_owned();
        if head.contains("filename=") {
            files.push((name, content.to_vec()));
        } else {
            text.insert(name, String::from_utf8(content.to_vec()).unwrap());
        }
    }
    (text, files)
}

/// `body` cut at every `delimiter`.
fn split<'a>(mut body: &'a [u8], delimiter: &[u8]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    while let Some(at) = body.windows(delimiter.len()).position(|w| w == delimiter) {
        parts.push(&body[..at]);
        body = &body[at + delimiter.len()..];
    }
    parts.push(body);
    parts
}

/// The service with the token API, its business gateway at `gateway`, and seller 1001
/// authorized (its access token is `ACCESS`).
async fn proxy_app(gateway: &Gateway, extra: &[&str]) -> TestApp {
    proxy_app_and_gateway(gateway, extra).await.0
}

/// As `proxy_app`, with the gateway's address.
async fn proxy_app_and_gateway(gateway: &Gateway, extra: &[&str]) -> (TestApp, String) {
    let server = MockServer::start().await;
    gateway.mount(&server).await;
    let uri = server.uri();
    let mut flags = vec!["--api-keys", API_KEY, "--business-api-url", &uri];
    flags.extend(extra);
    let app = spawn_app_with(&flags).await;
    platform_answers(&app, aliexpress_success("PROXY")).await;
    Browser::new().authorize_fully(&app, "PROXY").await;
    // The gateway outlives this function with the app: leak the server into it.
    std::mem::forget(server);
    (app, uri)
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn get(app: &TestApp, tail: &str) -> reqwest::Response {
    client()
        .get(format!("{}/api/v1/proxy/{tail}", app.address))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap()
}

async fn post_form(app: &TestApp, tail: &str, form: &[(&str, &str)]) -> reqwest::Response {
    client()
        .post(format!("{}/api/v1/proxy/{tail}", app.address))
        .bearer_auth(API_KEY)
        .form(form)
        .send()
        .await
        .unwrap()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn a_rest_get_is_signed_with_its_path_and_the_answer_passes_through_unchanged() {
    let gateway = Gateway::ok();
    let app = proxy_app(&gateway, &["--metrics-listen", "127.0.0.1:0"]).await;
    let response = get(
        &app,
        "1001/orders/get?created_after=2026-01-01T00%3A00%3A00%2B07%3A00&limit=10",
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "iop-code"), Some("0"));
    assert_eq!(header(&response, "iop-request-id"), Some("gw-req-1"));
    assert_eq!(header(&response, "iop-app"), Some("default"));
    assert_eq!(header(&response, "iop-proxy-error"), None);
    assert_eq!(
        header(&response, "set-cookie"),
        None,
        "no platform header but Content-Type"
    );
    assert_eq!(header(&response, "x-gateway-only"), None);
    assert!(
        header(&response, "content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["path"], "/rest/orders/get");

    let calls = gateway.calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert!(call.signed, "{call:?}");
    assert_eq!(call.method, "GET");
    assert_eq!(call.params["access_token"], ACCESS);
    assert_eq!(call.params["app_key"], APP_KEY);
    assert_eq!(call.params["sign_method"], "sha256");
    assert_eq!(call.params["created_after"], "2026-01-01T00:00:00+07:00");
    assert_eq!(call.params["limit"], "10");
    assert!(!call.params.contains_key("session"));

    let metrics = Browser::new()
        .text(&format!(
            "{}/metrics",
            app.metrics_address.as_ref().unwrap()
        ))
        .await;
    assert!(
        metrics.contains(
            r#"iop_callback_proxy_calls_total{app="default",api="/orders/get",outcome="ok"} 1"#
        ),
        "{metrics}"
    );
    assert!(metrics.contains("iop_callback_proxy_call_duration_seconds_count"));
}

#[tokio::test]
async fn an_aliexpress_method_goes_to_sync_with_session_and_its_payload_byte_for_byte() {
    let gateway = Gateway::ok();
    let app = proxy_app(&gateway, &[]).await;
    let payload = r#"{"Request":{"Product":{"Attributes":{"name":"Tee <b>&</b> ü"}}}}"#;
    let response = post_form(
        &app,
        "1001/aliexpress.solution.product.list.get",
        &[("payload", payload), ("page_size", "20")],
    )
    .await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let call = &gateway.calls()[0];
    assert!(call.signed, "signed without a path prefix: {call:?}");
    assert_eq!(call.method, "POST");
    assert_eq!(call.path, "/sync");
    assert_eq!(
        call.params["method"],
        "aliexpress.solution.product.list.get"
    );
    assert_eq!(call.params["session"], ACCESS);
    assert!(!call.params.contains_key("access_token"));
    assert_eq!(call.params["payload"], payload);
}

#[tokio::test]
async fn a_multipart_post_sends_its_file_as_a_file_outside_the_signature() {
    let gateway = Gateway::ok();
    let app = proxy_app(&gateway, &[]).await;
    let image = b"\x89PNG not really an image".to_vec();
    let form = reqwest::multipart::Form::new()
        .text("title", "front view")
        .part(
            "image",
            reqwest::multipart::Part::bytes(image.clone())
                .file_name("front.png")
                .mime_str("image/png")
                .unwrap(),
        );
    let response = client()
        .post(format!("{}/api/v1/proxy/1001/image/upload", app.address))
        .bearer_auth(API_KEY)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let call = &gateway.calls()[0];
    assert!(call.signed, "{call:?}");
    assert_eq!(call.path, "/rest/image/upload");
    assert_eq!(call.params["title"], "front view");
    assert!(!call.params.contains_key("image"));
    assert_eq!(call.files, vec![("image".to_owned(), image)]);
}

#[tokio::test]
async fn a_stale_token_is_refreshed_once_for_twenty_calls_and_each_is_repeated_once() {
    let gateway = Gateway::answering(|call, _| {
        if call.params.get("access_token").map(String::as_str) == Some(ACCESS) {
            error(
                "IllegalAccessToken",
                "The specified access token is invalid or expired",
            )
        } else {
            success(call)
        }
    });
    let app = proxy_app(&gateway, &[]).await;
    Mock::given(method("POST"))
        .and(path("/rest/auth/token/refresh"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(
                    json!({"access_token": "renewed-access", "expires_in": 86_400,
                                      "seller_id": "1001", "code": "0", "request_id": "rr"}),
                )
                .set_delay(Duration::from_millis(100)),
        )
        .mount(&app.platform)
        .await;
    // A renewal is told from the pair it replaced by its time: let time pass, as it would
    // between an authorization and the first stale answer.
    app.clock.advance(Duration::from_secs(60));
    let calls = (0..20).map(|_| get(&app, "1001/seller/get"));
    for response in futures_util::future::join_all(calls).await {
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "iop-code"), Some("0"));
    }
    let refreshes = app
        .platform
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/rest/auth/token/refresh")
        .count();
    assert_eq!(refreshes, 1);
    let calls = gateway.calls();
    assert_eq!(calls.len(), 40, "each call once stale, once repeated");
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.params["access_token"] == "renewed-access")
            .count(),
        20
    );
    // The proxy remembers a seller's pair for a moment, but not past a renewal made here:
    // the next call carries the renewed token at once, and is not answered stale first.
    let response = get(&app, "1001/seller/get").await;
    assert_eq!(header(&response, "iop-code"), Some("0"));
    let calls = gateway.calls();
    assert_eq!(calls.len(), 41);
    assert_eq!(calls[40].params["access_token"], "renewed-access");
}

#[tokio::test]
async fn a_seller_deleted_here_is_not_called_for_a_moment_longer() {
    let gateway = Gateway::ok();
    let app = proxy_app(&gateway, &[]).await;
    // Remembered by the proxy...
    assert_eq!(get(&app, "1001/seller/get").await.status(), 200);
    let deleted = client()
        .delete(format!("{}/api/v1/tokens/1001", app.address))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    // ...and forgotten with the pair.
    let response = get(&app, "1001/seller/get").await;
    assert_eq!(response.status(), 404);
    assert_eq!(header(&response, "iop-proxy-error"), Some("1"));
    assert_eq!(gateway.calls().len(), 1);
}

#[tokio::test]
async fn a_throttled_call_is_repeated_within_the_budget_then_passed_on() {
    let gateway = Gateway::answering(|call, before| {
        if before == 0 {
            error(
                "ApiCallLimit",
                "The request has exceeded the limit, this ban will last 1 seconds",
            )
        } else {
            success(call)
        }
    });
    let app = proxy_app(&gateway, &[]).await;
    let response = get(&app, "1001/seller/get").await;
    assert_eq!(header(&response, "iop-code"), Some("0"));
    assert_eq!(gateway.calls().len(), 2);

    let always = Gateway::answering(|_, _| {
        error(
            "ApiCallLimit",
            "The request has exceeded the limit, this ban will last 1 seconds",
        )
    });
    let app = proxy_app(&always, &["--proxy-retry-budget", "500ms"]).await;
    let response = get(&app, "1001/seller/get").await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "iop-code"), Some("ApiCallLimit"));
    assert_eq!(
        header(&response, "iop-proxy-error"),
        None,
        "the platform's own answer"
    );
    assert_eq!(
        always.calls().len(),
        1,
        "a wait past the budget is not taken"
    );
}

#[tokio::test]
async fn signature_errors_and_posts_whose_answer_was_lost_are_not_repeated() {
    let refusing = Gateway::answering(|_, _| error("InsufficientPermission", "not granted"));
    let app = proxy_app(&refusing, &[]).await;
    let response = get(&app, "1001/seller/get").await;
    assert_eq!(
        header(&response, "iop-code"),
        Some("InsufficientPermission")
    );
    assert_eq!(refusing.calls().len(), 1);

    let slow = Gateway::answering(|call, _| success(call).set_delay(Duration::from_millis(900)));
    let app = proxy_app(&slow, &["--http-timeout", "300ms"]).await;
    let response = post_form(&app, "1001/product/create", &[("payload", "{}")]).await;
    assert_eq!(response.status(), 504);
    assert_eq!(header(&response, "iop-proxy-error"), Some("1"));
    // The answer may still be on its way; only then count.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(slow.calls().len(), 1, "a POST may have acted: not repeated");
    let response = get(&app, "1001/seller/get").await;
    assert_eq!(response.status(), 504);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(slow.calls().len(), 3, "a GET is repeated once");
}

#[tokio::test]
async fn every_refused_input_is_a_proxy_error_and_reaches_no_gateway() {
    let gateway = Gateway::ok();
    let app = proxy_app(&gateway, &[]).await;
    let mut refused: Vec<(reqwest::Response, u16, &str)> = Vec::new();
    for name in [
        "app_key",
        "sign",
        "sign_method",
        "timestamp",
        "access_token",
        "session",
    ] {
        let response = get(&app, &format!("1001/orders/get?{name}=x")).await;
        refused.push((response, 400, name));
    }
    let sync = post_form(&app, "1001/aliexpress.a.b", &[("method", "other")]).await;
    refused.push((sync, 400, "`method`"));
    for (tail, why) in [
        ("1001/orders/..%2Fauth", "holds"),
        ("1001/auth/token/create", "token APIs"),
        ("1001/orders/get?limit=", "empty"),
        ("1001/orders/get?limit=1&limit=2", "twice"),
        ("1001/orders%2Bget", "holds"),
    ] {
        refused.push((get(&app, tail).await, 400, why));
    }
    refused.push((get(&app, "9999/orders/get").await, 404, "unknown_seller"));
    let orders = format!("{}/api/v1/proxy/1001/orders/get", app.address);
    let keyed =
        |method: reqwest::Method, url: &str| client().request(method, url).bearer_auth(API_KEY);
    let (get, post) = (reqwest::Method::GET, reqwest::Method::POST);
    let requests = [
        (
            keyed(post.clone(), &orders).json(&json!({"limit": 1})),
            415,
            "multipart",
        ),
        (
            keyed(post.clone(), &format!("{orders}?limit=1")).form(&[("a", "b")]),
            400,
            "body, not the query",
        ),
        (
            keyed(post, &orders)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(vec![b'a'; 17 * 1024 * 1024]),
            413,
            "too_large",
        ),
        (
            keyed(get.clone(), &orders).header("iop-app", "nope"),
            400,
            "nope",
        ),
        (
            keyed(get, &orders).header("iop-country", "th"),
            400,
            "Lazada",
        ),
        (client().get(&orders), 401, "unauthorized"),
    ];
    for (request, status, says) in requests {
        refused.push((request.send().await.unwrap(), status, says));
    }
    for (response, status, says) in refused {
        let url = response.url().to_string();
        assert_eq!(response.status(), status, "{url}");
        if status != 401 {
            assert_eq!(header(&response, "iop-proxy-error"), Some("1"), "{url}");
        }
        let body = response.text().await.unwrap();
        assert!(body.contains(says), "{url}: {body}");
    }
    assert!(gateway.calls().is_empty(), "{:?}", gateway.calls());
}

/// A deployment of two apps: `ae` (AliExpress) and `lzd` (Lazada) whose business gateway is
/// one stand-in under a path per country; keys with grants.
struct Deployment {
    address: String,
    keys: [String; 3],
    _servers: (MockServer, MockServer),
    _data: tempfile::TempDir,
}

const LZD_KEY_ALL: &str = "all-0123456789abcdef0123456789abcdef";
const LZD_KEY_PROXY_AE: &str = "proxy-ae-0123456789abcdef0123456789abc";
const LZD_KEY_TOKENS: &str = "tokens-0123456789abcdef0123456789abcdef";

async fn deployment(gateway: &Gateway) -> Deployment {
    let (platform, business) = (MockServer::start().await, MockServer::start().await);
    gateway.mount(&business).await;
    let data = tempfile::tempdir().unwrap();
    let apps = format!(
        r#"
            [apps.ae]
            platform = "aliexpress"
            app_key = "{APP_KEY}"
            app_secret = "{APP_SECRET}"
            authorize_url = "{p}/oauth/authorize"
            api_url = "{p}/rest"
            business_api_url = "{b}/ae"

            [apps.lzd]
            platform = "lazada"
            app_key = "{APP_KEY}"
            app_secret = "{APP_SECRET}"
            authorize_url = "{p}/oauth/authorize"
            api_url = "{p}/rest"
            business_api_url = "{b}/any"
            [apps.lzd.business_api_urls]
            th = "{b}/th"
            sg = "{b}/sg"
            "#,
        p = platform.uri(),
        b = business.uri(),
    );
    let keys_file = data.path().join("keys");
    std::fs::write(
        &keys_file,
        format!(
            "{LZD_KEY_ALL}\n{LZD_KEY_PROXY_AE} proxy app:ae\n{LZD_KEY_TOKENS} tokens # no calls\n"
        ),
    )
    .unwrap();
    let keys = keys_file.to_str().unwrap();
    let address = spawn_apps_file(&apps, &data, &["--api-keys-file", keys]).await;
    // A cross-border Lazada seller who sells in Thailand and Singapore.
    Mock::given(method("POST"))
        .and(path(CREATE_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "lzd-access", "refresh_token": "lzd-refresh", "country": "cb",
            "expires_in": 604_800, "refresh_expires_in": 2_592_000, "account_platform": "seller_center",
            "country_user_info": [
                {"country": "th", "seller_id": "2001", "user_id": "3001", "short_code": "TH1"},
                {"country": "sg", "seller_id": "2002", "user_id": "3002", "short_code": "SG1"}
            ],
            "code": "0", "request_id": "r"
        })))
        .mount(&platform)
        .await;
    let browser = Browser::new();
    let response = browser.get(&format!("{address}/authorize/lzd")).await;
    let state = query_param(&location(&response), "state").unwrap();
    let back = browser
        .get(&format!("{address}/callback/lzd?code=LZD&state={state}"))
        .await;
    assert_eq!(back.status(), 303);
    Deployment {
        address,
        keys: [LZD_KEY_ALL, LZD_KEY_PROXY_AE, LZD_KEY_TOKENS].map(str::to_owned),
        _servers: (platform, business),
        _data: data,
    }
}

impl Deployment {
    async fn get(&self, key: &str, tail: &str, country: Option<&str>) -> reqwest::Response {
        let mut request = client()
            .get(format!("{}/api/v1/{tail}", self.address))
            .bearer_auth(key);
        if let Some(country) = country {
            request = request.header("iop-country", country);
        }
        request.send().await.unwrap()
    }
}

#[tokio::test]
async fn a_lazada_call_goes_to_its_country_s_gateway_and_a_cross_border_seller_must_name_one() {
    let gateway = Gateway::ok();
    let deployment = deployment(&gateway).await;
    let all = &deployment.keys[0];
    let response = deployment.get(all, "proxy/2001/seller/get", None).await;
    assert_eq!(response.status(), 400);
    let body = response.text().await.unwrap();
    assert!(
        body.contains("th (Thailand)") && body.contains("sg (Singapore)"),
        "{body}"
    );

    for (country, root) in [("th", "/th"), ("sg", "/sg")] {
        let response = deployment
            .get(all, "proxy/2001/seller/get", Some(country))
            .await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "iop-app"), Some("lzd"));
        let call = gateway.calls().pop().unwrap();
        assert_eq!(call.path, format!("{root}/rest/seller/get"));
        assert!(call.signed);
        assert_eq!(call.params["access_token"], "lzd-access");
    }
    let response = deployment
        .get(all, "proxy/2001/seller/get", Some("vn"))
        .await;
    assert_eq!(response.status(), 400, "not one of the seller's countries");
    let response = deployment
        .get(all, "proxy/2001/aliexpress.a.b", Some("th"))
        .await;
    assert_eq!(response.status(), 400, "Lazada has no /sync");
    assert_eq!(gateway.calls().len(), 2);
}

#[tokio::test]
async fn a_key_reaches_only_its_grants() {
    let gateway = Gateway::ok();
    let deployment = deployment(&gateway).await;
    let [_, proxy_ae, tokens_only] = &deployment.keys;
    let response = deployment
        .get(tokens_only, "proxy/2001/seller/get", Some("th"))
        .await;
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("`proxy`"));
    assert_eq!(
        deployment
            .get(tokens_only, "tokens/2001", None)
            .await
            .status(),
        200
    );
    let response = deployment.get(proxy_ae, "tokens/2001", None).await;
    assert_eq!(response.status(), 403, "a proxy key never reads a token");
    assert!(!response.text().await.unwrap().contains("lzd-access"));
    let response = deployment
        .get(proxy_ae, "proxy/2001/seller/get", Some("th"))
        .await;
    assert_eq!(
        response.status(),
        403,
        "app:ae does not reach lzd's sellers"
    );
    assert!(response.text().await.unwrap().contains("app:lzd"));
    assert!(gateway.calls().is_empty());
}

#[tokio::test]
async fn a_proxied_call_is_logged_by_name_without_a_token_signature_or_value() {
    let gateway = Gateway::ok();
    let server = MockServer::start().await;
    gateway.mount(&server).await;
    let platform = MockServer::start().await;
    let data = tempfile::tempdir().unwrap();
    let uri = server.uri();
    let binary = RunningBinary::start(
        &platform,
        &data,
        &["--api-keys", API_KEY, "--business-api-url", &uri],
    );
    let app = binary.as_test_app(platform);
    platform_answers(&app, aliexpress_success("PROXY")).await;
    Browser::new().authorize_fully(&app, "PROXY").await;
    let secret_value = "customer-phone-5550123";
    let response = get(&app, &format!("1001/orders/get?buyer_phone={secret_value}")).await;
    assert_eq!(response.status(), 200);
    let log = binary.kill_and_collect_log("proxied call").await;
    let line = log
        .lines()
        .find(|line| line.contains("proxied call"))
        .unwrap_or_else(|| panic!("no proxied-call line in {log}"));
    for expected in ["/orders/get", "1001", "gw-req-1", "GET", "retries"] {
        assert!(line.contains(expected), "{expected} missing: {line}");
    }
    let signature = gateway.calls()[0].params["sign"].clone();
    for secret in [
        ACCESS,
        signature.as_str(),
        secret_value,
        APP_SECRET,
        "buyer_phone=",
    ] {
        assert!(!log.contains(secret), "{secret} reached the log");
    }
}

/// `iop-callback call` from a shell, beside the running service, on its database.
async fn call(app: &TestApp, gateway: &str, command: &[&str]) -> std::process::Output {
    let platform = app.platform.uri();
    let mut process = std::process::Command::new(env!("CARGO_BIN_EXE_iop-callback"));
    process
        .arg("call")
        .args(command)
        .args(["--app-key", APP_KEY, "--app-secret", APP_SECRET])
        .args(["--api-url", &format!("{platform}/rest")])
        .args(["--authorize-url", &format!("{platform}/oauth/authorize")])
        .args(["--database-url", app.config.database_url.expose()])
        .args(["--business-api-url", gateway])
        .env("RUST_LOG", "warn");
    tokio::task::spawn_blocking(move || process.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn the_call_command_prints_the_answer_and_exits_by_its_code() {
    let gateway = Gateway::answering(|call, _| match call.params.get("fail") {
        Some(_) => error("InvalidParameter", "bad limit"),
        None => success(call),
    });
    let (app, uri) = proxy_app_and_gateway(&gateway, &[]).await;
    let out = call(
        &app,
        &uri,
        &[
            "1001",
            "orders/get",
            "limit=10",
            "created_after=2026-01-01T00:00:00+07:00",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let body: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(body["data"]["path"], "/rest/orders/get");
    let sent = gateway.calls().pop().unwrap();
    assert!(sent.signed);
    assert_eq!(sent.params["created_after"], "2026-01-01T00:00:00+07:00");

    let out = call(&app, &uri, &["1001", "orders/get", "fail=1", "--post"]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("InvalidParameter")
            && stderr.contains("bad limit")
            && stderr.contains("gw-req-2"),
        "{stderr}"
    );
    assert_eq!(gateway.calls().pop().unwrap().method, "POST");

    let file = app._data.path().join("front.png");
    std::fs::write(&file, b"png bytes").unwrap();
    let image = format!("image={}", file.display());
    let out = call(&app, &uri, &["1001", "image/upload", "--file", &image]).await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let sent = gateway.calls().pop().unwrap();
    assert!(sent.signed);
    assert_eq!(
        sent.files,
        vec![("image".to_owned(), b"png bytes".to_vec())]
    );

    assert_eq!(
        call(&app, &uri, &["1001", "orders/get", "limit"])
            .await
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        call(&app, &uri, &["1001", "orders/get", "sign=x"])
            .await
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        call(&app, &uri, &["9999", "orders/get"])
            .await
            .status
            .code(),
        Some(3)
    );
    let out = call(&app, "http://127.0.0.1:9", &["1001", "orders/get"]).await;
    assert_eq!(out.status.code(), Some(5), "{out:?}");
}

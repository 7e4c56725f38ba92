//! Headers and escaping on every page.

use serde_json::json;

use crate::helpers::*;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn assert_security_headers(response: &reqwest::Response, what: &str) {
    let h = response.headers();
    assert_eq!(h["content-security-policy"], CSP, "{what}");
    assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(h["referrer-policy"], "no-referrer", "{what}");
    assert!(
        h.get("strict-transport-security").is_none(),
        "{what}: no HSTS over http"
    );
}

#[tokio::test]
async fn every_html_response_carries_the_security_headers() {
    let app = spawn_app().await;
    platform_answers(&app, aliexpress_success("hdr")).await;
    let browser = Browser::new();

    let landing = browser.get(&format!("{}/", app.address)).await;
    assert_security_headers(&landing, "landing");
    let state = browser.start_authorization(&app).await;
    let callback = browser
        .callback(&app, &format!("code=hdr&state={state}"))
        .await;
    assert_security_headers(&callback, "callback redirect");
    let result = browser
        .get(&format!("{}{}", app.address, location(&callback)))
        .await;
    assert_security_headers(&result, "result");
    assert_eq!(result.headers()["cache-control"], "no-store");
    let error = browser.callback(&app, "code=x&state=unknown").await;
    assert_security_headers(&error, "error page");
    assert!(
        error.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let missing = browser.get(&format!("{}/no/such/page", app.address)).await;
    assert_eq!(missing.status(), 404);
    assert_security_headers(&missing, "404 page");
}

#[tokio::test]
async fn https_public_url_adds_hsts_and_secure_host_cookie() {
    let app = spawn_app_with(&["--public-url", "https://auth.example.com"]).await;
    let response = Browser::new()
        .get(&format!("{}/authorize", app.address))
        .await;
    assert!(
        response.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with("__Host-iop-browser=") && cookie.contains("; Secure"),
        "{cookie}"
    );
    assert_eq!(
        query_param(&location(&response), "redirect_uri").as_deref(),
        Some("https://auth.example.com/callback")
    );
}

#[tokio::test]
async fn redirect_uri_ignores_host_and_forwarded_headers() {
    let app = spawn_app().await;
    let response = Browser::new()
        .http
        .get(format!("{}/authorize", app.address))
        .header("host", "evil.example")
        .header("x-forwarded-host", "evil.example")
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(
        query_param(&location(&response), "redirect_uri"),
        Some(app.redirect_uri())
    );
}

#[tokio::test]
async fn everything_from_the_platform_is_escaped() {
    let app = spawn_app().await;
    let mut body = aliexpress_success("esc");
    body["user_nick"] = json!("<script>alert('nick')</script>");
    body["account"] = json!("\"><img src=x onerror=alert(1)>");
    platform_answers(&app, body).await;
    let (_, html) = Browser::new().authorize_fully(&app, "esc").await;
    assert!(!html.contains("<script>alert"));
    assert!(!html.contains("<img src=x"));
    // Shown, escaped (askama writes numeric entities).
    assert!(
        html.contains("&#60;script&#62;alert(&#39;nick&#39;)&#60;/script&#62;"),
        "{html}"
    );
}

#[tokio::test]
async fn platform_error_messages_and_cancel_reasons_are_escaped() {
    let app = spawn_app().await;
    platform_answers(
        &app,
        json!({"code": "InvalidCode", "message": "<b>bold</b>", "request_id": "<i>id</i>"}),
    )
    .await;
    let browser = Browser::new();
    let state = browser.start_authorization(&app).await;
    let html = browser
        .callback(&app, &format!("code=c&state={state}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!html.contains("<b>bold</b>") && !html.contains("<i>id</i>"));

    let state = browser.start_authorization(&app).await;
    let cancelled = browser
        .callback(
            &app,
            &format!("error=%3Cscript%3Ex%3C%2Fscript%3E&state={state}"),
        )
        .await;
    let html = browser
        .text(&format!("{}{}", app.address, location(&cancelled)))
        .await;
    assert!(html.contains("Authorization cancelled"));
    assert!(!html.contains("<script>x</script>"));
}

#[tokio::test]
async fn pages_load_no_third_party_assets() {
    let app = spawn_app().await;
    let html = Browser::new().text(&format!("{}/", app.address)).await;
    for attr in ["src=\"", "href=\""] {
        for (i, _) in html.match_indices(attr) {
            let value = &html[i + attr.len()..];
            assert!(
                value.starts_with('/'),
                "{attr} points off-site: {}",
                &value[..value.len().min(40)]
            );
        }
    }
    let css = Browser::new()
        .get(&format!("{}/static/app.css", app.address))
        .await;
    assert_eq!(css.status(), 200);
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    let js = Browser::new()
        .get(&format!("{}/static/copy.js", app.address))
        .await
        .text()
        .await
        .unwrap();
    assert!(js.contains("clipboard"));
}

#[tokio::test]
async fn an_unreachable_platform_gets_a_fixed_sentence_not_the_os_error() {
    // Bind and drop a listener: nothing listens on that port afterwards.
    let port = free_port();
    let api_url = format!("http://127.0.0.1:{port}/rest");
    let app = spawn_app_with(&["--api-url", &api_url]).await;
    let response = Browser::new().callback_with_code(&app, "c").await;
    assert_eq!(response.status(), 502);
    let html = response.text().await.unwrap();
    assert!(html.contains("could not connect to the platform"), "{html}");
    assert!(!html.to_lowercase().contains("refused"), "{html}");
    assert!(!html.contains(&port.to_string()), "no address on the page");
}

#[tokio::test]
async fn a_missing_page_or_file_is_a_neutral_404() {
    let app = spawn_app().await;
    for path in ["/static/missing.css", "/no/such/page"] {
        let response = Browser::new().get(&format!("{}{path}", app.address)).await;
        assert_eq!(response.status(), 404, "{path}");
        let html = response.text().await.unwrap();
        assert!(html.contains("Not found"), "{path}: {html}");
        assert!(!html.contains("Authorization not completed"), "{path}");
    }
}

#[tokio::test]
async fn the_result_page_says_when_the_refresh_token_is_about_to_die() {
    let app = spawn_app().await;
    let mut body = aliexpress_success("soon");
    let map = body.as_object_mut().unwrap();
    map.remove("refresh_token_valid_time");
    // A refresh token that lives 20 minutes is "expiring" in its last 5.
    map.insert("refresh_expires_in".into(), json!(1_200));
    platform_answers(&app, body).await;
    let browser = Browser::new();
    let (result_url, html) = browser.authorize_fully(&app, "soon").await;
    assert!(!html.contains("id=\"refresh-expiring\""), "not yet");
    app.clock.advance(std::time::Duration::from_secs(16 * 60));
    let html = browser.text(&result_url).await;
    assert!(html.contains("id=\"refresh-expiring\""), "{html}");
}

#[tokio::test]
async fn a_result_whose_pair_needs_reauthorization_says_so_everywhere_on_the_page() {
    let key = "pages-test-api-key-0123456789abcdef0123";
    let app = spawn_app_with(&["--api-keys", key]).await;
    platform_answers(&app, aliexpress_success("dies")).await;
    let browser = Browser::new();
    let (result_url, html) = browser.authorize_fully(&app, "dies").await;
    assert!(html.contains("Authorized on") && html.contains("kept fresh"));
    wiremock::Mock::given(wiremock::matchers::path("/rest/auth/token/refresh"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(json!(
            {"type": "ISV", "code": "IllegalRefreshToken", "message": "dead", "request_id": "r"})))
        .mount(&app.platform)
        .await;
    let refused = reqwest::Client::new()
        .post(format!("{}/api/v1/tokens/1001/refresh", app.address))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 409);

    let html = browser.text(&result_url).await;
    assert!(html.contains("Needs authorization again"), "{html}");
    assert!(html.contains("eyebrow danger"));
    assert!(html.contains("Authorize this seller again"));
    assert!(!html.contains("Authorized on") && !html.contains("kept fresh"));
}

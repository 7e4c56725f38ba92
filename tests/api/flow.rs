//! The seller's trip through the service: landing, authorize, callback, result.

use std::time::Duration;

use iop_callback::clock::Clock;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

#[apply(each_engine)]
#[tokio::test]
async fn landing_page_shows_the_redirect_uri_to_register(#[case] engine: Engine) {
    let Some(app) = spawn_app_on(engine, &[]).await else {
        return;
    };
    let page = Browser::new().text(&format!("{}/", app.address)).await;
    assert!(page.contains(&app.redirect_uri()));
    assert!(page.contains(r#"href="/authorize""#));
    assert!(page.contains(APP_KEY));
    assert!(
        !page.contains("Sandbox."),
        "a real service does not claim to be a sandbox"
    );
}

#[apply(each_engine)]
#[tokio::test]
async fn authorize_redirects_to_the_platform_with_every_parameter_and_sets_the_cookie(
    #[case] engine: Engine,
) {
    let Some(app) = spawn_app_on(engine, &[]).await else {
        return;
    };
    let response = Browser::new()
        .get(&format!("{}/authorize", app.address))
        .await;

    assert_eq!(response.status(), 303);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("iop-browser="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax")
            && cookie.contains("Max-Age=")
    );
    assert!(
        !cookie.contains("Secure"),
        "http public URL: no Secure flag"
    );

    let location = location(&response);
    assert!(location.starts_with(&format!("{}/oauth/authorize?", app.platform.uri())));
    assert_eq!(
        query_param(&location, "response_type").as_deref(),
        Some("code")
    );
    assert_eq!(
        query_param(&location, "force_auth").as_deref(),
        Some("true")
    );
    assert_eq!(
        query_param(&location, "client_id").as_deref(),
        Some(APP_KEY)
    );
    assert_eq!(
        query_param(&location, "redirect_uri"),
        Some(app.redirect_uri())
    );
    assert_eq!(query_param(&location, "uuid"), None);
    let state = query_param(&location, "state").unwrap();
    assert!(state.len() >= 32, "at least 128 bits of state");
}

#[apply(each_engine)]
#[tokio::test]
async fn each_authorization_gets_a_fresh_state(#[case] engine: Engine) {
    let Some(app) = spawn_app_on(engine, &[]).await else {
        return;
    };
    let browser = Browser::new();
    let a = browser.start_authorization(&app).await;
    let b = browser.start_authorization(&app).await;
    assert_ne!(a, b);
}

#[apply(each_engine)]
#[tokio::test]
async fn a_full_authorization_shows_tokens_expiry_and_seller(#[case] engine: Engine) {
    let Some(app) = spawn_app_on(engine, &[]).await else {
        return;
    };
    platform_answers(&app, aliexpress_success("full")).await;

    let browser = Browser::new();
    let state = browser.start_authorization(&app).await;
    let callback = browser
        .callback(&app, &format!("code=3_500000_full&state={state}"))
        .await;

    assert_eq!(callback.status(), 303);
    let result_path = location(&callback);
    assert!(result_path.starts_with("/result/"));
    assert!(!result_path.contains("code") && !result_path.contains(&state));

    let page = browser.get(&format!("{}{result_path}", app.address)).await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    assert!(html.contains("50000601c30atfullACCESS"));
    assert!(html.contains("500016000300bwafullREFRESH"));
    // expire_time 1890000000000 and refresh_token_valid_time 1900000000000, as UTC.
    assert!(html.contains("2029-11-22 00:00:00 UTC"), "access expiry");
    assert!(html.contains("2030-03-17 17:46:40 UTC"), "refresh expiry");
    for value in [
        "1001",
        "10101",
        "cn1001",
        "seller@example.com",
        "seller_center",
        "3000020000814",
        "zh_CN",
        "212a69f317116001605067741",
    ] {
        assert!(html.contains(value), "result page shows {value}");
    }
    assert_eq!(token_calls(&app).await, 1);
}

#[apply(each_engine)]
#[tokio::test]
async fn lifetimes_without_absolute_times_count_from_the_exchange(#[case] engine: Engine) {
    let Some(app) = spawn_app_on(engine, &[]).await else {
        return;
    };
    platform_answers(
        &app,
        json!({"access_token": "acc-rel", "refresh_token": "ref-rel", "expires_in": "86400",
               "refresh_expires_in": 172800, "seller_id": 7, "code": "0"}),
    )
    .await;
    let (_, html) = Browser::new().authorize_fully(&app, "rel").await;
    assert!(
        html.contains(r#"<span class="remaining">in 1 day</span>"#),
        "access token: a day left"
    );
    assert!(
        html.contains(r#"<span class="remaining">in 2 days</span>"#),
        "refresh token: two days left"
    );
}

#[apply(each_engine)]
#[tokio::test]
async fn lazada_cross_border_seller_shows_every_country(#[case] engine: Engine) {
    let Some(app) = spawn_app_on(engine, &["--platform", "lazada"]).await else {
        return;
    };
    platform_answers(
        &app,
        json!({"access_token": "lz-access", "refresh_token": "lz-refresh", "country": "cb",
               "account": "cb-seller@example.com", "account_platform": "seller_center",
               "expires_in": 604800, "refresh_expires_in": 1209600,
               "country_user_info": [
                   {"country": "th", "user_id": "100236220", "seller_id": "17348", "short_code": "TH10FEX"},
                   {"country": "my", "user_id": "100236221", "seller_id": "17349", "short_code": "MY10FEX"}],
               "code": "0", "request_id": "0b86d549"}),
    )
    .await;
    let (_, html) = Browser::new().authorize_fully(&app, "0_12345678_lz").await;
    for value in [
        "Lazada",
        "cb",
        "th",
        "17348",
        "100236220",
        "TH10FEX",
        "my",
        "17349",
        "MY10FEX",
    ] {
        assert!(html.contains(value), "shows {value}");
    }
}

#[apply(each_engine)]
#[tokio::test]
async fn reloading_the_result_page_keeps_showing_it(#[case] engine: Engine) {
    let Some(app) = spawn_app_on(engine, &[]).await else {
        return;
    };
    platform_answers(&app, aliexpress_success("reload")).await;
    let browser = Browser::new();
    let (result_url, _) = browser.authorize_fully(&app, "reload").await;
    let again = browser.get(&result_url).await;
    assert_eq!(again.status(), 200);
    assert!(
        again
            .text()
            .await
            .unwrap()
            .contains("50000601c30atreloadACCESS")
    );
    assert_eq!(token_calls(&app).await, 1);
}

#[apply(each_engine)]
#[tokio::test]
async fn replaying_the_callback_url_never_calls_the_platform_again(#[case] engine: Engine) {
    let Some(app) = spawn_app_on(engine, &[]).await else {
        return;
    };
    platform_answers(&app, aliexpress_success("replay")).await;
    let browser = Browser::new();
    let state = browser.start_authorization(&app).await;
    let query = format!("code=replay&state={state}");
    let first = browser.callback(&app, &query).await;
    assert_eq!(first.status(), 303);

    // Back button / history: the same browser lands on its result again.
    let second = browser.callback(&app, &query).await;
    assert_eq!(second.status(), 303);
    assert_eq!(location(&second), location(&first));
    // Someone else with the URL gets nothing.
    let stranger = Browser::new().callback(&app, &query).await;
    assert_eq!(stranger.status(), 403);

    assert_eq!(token_calls(&app).await, 1);
}

#[apply(each_engine)]
#[tokio::test]
async fn a_stranger_cannot_see_the_result_page(#[case] engine: Engine) {
    let Some(app) = spawn_app_on(engine, &[]).await else {
        return;
    };
    platform_answers(&app, aliexpress_success("private")).await;
    let (result_url, _) = Browser::new().authorize_fully(&app, "private").await;

    let response = Browser::new().get(&result_url).await;
    assert_eq!(response.status(), 404);
    let html = response.text().await.unwrap();
    assert!(!html.contains("privateACCESS") && !html.contains("privateREFRESH"));
}

#[apply(each_engine)]
#[tokio::test]
async fn two_tabs_authorizing_at_once_both_succeed(#[case] engine: Engine) {
    let Some(app) = spawn_app_on(engine, &[]).await else {
        return;
    };
    platform_answers(&app, aliexpress_success("tab")).await;
    let browser = Browser::new();
    let first = browser.start_authorization(&app).await;
    let second = browser.start_authorization(&app).await;
    let (query_a, query_b) = (
        format!("code=tab1&state={first}"),
        format!("code=tab2&state={second}"),
    );
    let (a, b) = tokio::join!(
        browser.callback(&app, &query_a),
        browser.callback(&app, &query_b)
    );
    assert_eq!(a.status(), 303);
    assert_eq!(b.status(), 303);
    assert_ne!(location(&a), location(&b));
    assert_eq!(token_calls(&app).await, 2);
}

#[apply(each_engine)]
#[tokio::test]
async fn the_seller_cancelling_shows_a_cancellation_page_without_a_platform_call(
    #[case] engine: Engine,
) {
    let Some(app) = spawn_app_on(engine, &[]).await else {
        return;
    };
    platform_must_not_be_called(&app).await;
    let browser = Browser::new();
    let state = browser.start_authorization(&app).await;
    let response = browser
        .callback(
            &app,
            &format!("error=access_denied&error_description=User+said+no&state={state}"),
        )
        .await;
    // Like success, it ends on a URL without the state, and a reload shows the same page.
    assert_eq!(response.status(), 303);
    let page = location(&response);
    assert!(
        page.starts_with("/cancelled?") && !page.contains("state="),
        "{page}"
    );
    for _ in 0..2 {
        let html = browser.text(&format!("{}{page}", app.address)).await;
        assert!(html.contains("Authorization cancelled"));
        assert!(html.contains("access_denied") && html.contains("User said no"));
        assert!(!html.contains("already used"));
    }
}

#[apply(each_engine)]
#[tokio::test]
async fn missing_empty_or_oversized_codes_are_rejected_without_a_platform_call(
    #[case] engine: Engine,
) {
    let Some(app) = spawn_app_on(engine, &[]).await else {
        return;
    };
    platform_must_not_be_called(&app).await;
    let browser = Browser::new();
    let long = "a".repeat(513);
    for (code_part, why) in [
        ("".to_owned(), "code is missing"),
        ("code=".to_owned(), "code is missing"),
        (format!("code={long}"), "is longer than"),
    ] {
        let state = browser.start_authorization(&app).await;
        let response = browser
            .callback(&app, &format!("{code_part}&state={state}"))
            .await;
        let shown = &code_part[..code_part.len().min(10)];
        assert_eq!(response.status(), 400, "{shown}");
        let page = response.text().await.unwrap();
        assert!(
            page.contains("The platform sent no usable code"),
            "{shown}: {page}"
        );
        assert!(page.contains(why), "{shown}: says why ({why}): {page}");
        assert!(
            page.contains("Nothing was sent to the platform"),
            "{shown}: {page}"
        );
    }
    assert!(
        app.platform.received_requests().await.unwrap().is_empty(),
        "no platform call"
    );
}

#[apply(each_engine)]
#[tokio::test]
async fn a_platform_error_shows_its_code_message_request_id_and_advice(#[case] engine: Engine) {
    let Some(app) = spawn_app_on(engine, &[]).await else {
        return;
    };
    let response = callback_answered_with(
        &app,
        json!({"type": "ISV", "code": "InvalidCode", "message": "The code is invalid or expired", "request_id": "0ba2887315178178017221014"}),
    )
    .await;

    assert_eq!(response.status(), 502);
    let our_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let html = response.text().await.unwrap();
    assert!(html.contains("InvalidCode"));
    assert!(html.contains("The code is invalid or expired"));
    assert!(html.contains("0ba2887315178178017221014"));
    assert!(html.contains(&our_id), "our own request id is on the page");
    assert!(html.contains("Authorize again"));
}

#[apply(each_engine)]
#[tokio::test]
async fn a_configuration_error_tells_the_seller_the_operator_must_act_and_offers_no_retry(
    #[case] engine: Engine,
) {
    let Some(app) = spawn_app_on(engine, &[]).await else {
        return;
    };
    for code in ["IncompleteSignature", "InvalidAppkey"] {
        let response = callback_answered_with(
            &app,
            json!({"type": "ISV", "code": code, "message": "bad", "request_id": "r"}),
        )
        .await;
        assert_eq!(response.status(), 502);
        let html = response.text().await.unwrap();
        assert!(html.contains("not set up correctly") && html.contains("tell the operator"));
        assert!(
            !html.contains("Authorize again"),
            "{code}: a retry fails the same way"
        );
        assert!(
            !html.contains("check the app secret"),
            "{code}: operator advice goes to the log"
        );
        assert!(html.contains(code), "the platform's code is still shown");
        app.platform.reset().await;
    }
}

#[apply(each_engine)]
#[tokio::test]
async fn a_platform_outage_is_a_502_without_the_raw_body(#[case] engine: Engine) {
    let Some(app) = spawn_app_on(engine, &[]).await else {
        return;
    };
    Mock::given(method("POST"))
        .and(path(CREATE_PATH))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_string("<h1>java.lang.NullPointerException at gateway</h1>"),
        )
        .mount(&app.platform)
        .await;
    let response = Browser::new().callback_with_code(&app, "c").await;
    assert_eq!(response.status(), 502);
    let html = response.text().await.unwrap();
    assert!(html.contains("HTTP 500"));
    assert!(!html.contains("NullPointerException"));
}

#[apply(each_engine)]
#[tokio::test]
async fn a_platform_timeout_is_a_504(#[case] engine: Engine) {
    let Some(app) = spawn_app_on(engine, &["--http-timeout", "300ms"]).await else {
        return;
    };
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(aliexpress_success("late"))
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&app.platform)
        .await;
    let response = Browser::new().callback_with_code(&app, "c").await;
    assert_eq!(response.status(), 504);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("The platform did not answer in time"),
        "{page}"
    );
    assert!(
        page.contains("Authorize again"),
        "offers a new authorization: {page}"
    );
    assert!(
        !page.contains("50000601c30atlate"),
        "no late token shown: {page}"
    );
    let requests = app.platform.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1, "called once, not retried");
}

#[apply(each_engine)]
#[tokio::test]
async fn healthz_answers_200_with_no_data(#[case] engine: Engine) {
    let Some(app) = spawn_app_on(engine, &[]).await else {
        return;
    };
    let response = Browser::new()
        .get(&format!("{}/healthz", app.address))
        .await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().is_empty());
}

/// The title of an error page (its `<h1>`).
fn title_of(html: &str) -> &str {
    let start = html
        .find("<h1")
        .and_then(|i| html[i..].find('>').map(|j| i + j + 1));
    let start = start.expect("a title");
    &html[start..start + html[start..].find("</h1>").unwrap()]
}

/// Each failed exchange, reloaded: the same status and page, never "already used", and the
/// platform is not called again.
#[apply(each_engine)]
#[tokio::test]
async fn each_failure_page_stays_what_it_was_on_reload(#[case] engine: Engine) {
    let Some(app) = spawn_app_on(engine, &["--http-timeout", "300ms"]).await else {
        return;
    };
    let refused = |code: &str| {
        ResponseTemplate::new(200).set_body_json(
            json!({"type": "ISV", "code": code, "message": "no", "request_id": "rq-1"}),
        )
    };
    let failures = [
        (
            "a platform error",
            refused("InvalidCode"),
            "Authorize again",
        ),
        (
            "a configuration error",
            refused("IncompleteSignature"),
            "tell the operator",
        ),
        (
            "a timeout",
            ResponseTemplate::new(200)
                .set_body_json(aliexpress_success("late"))
                .set_delay(Duration::from_secs(2)),
            "within 300ms",
        ),
        ("an outage", ResponseTemplate::new(500), "HTTP 500"),
    ];
    for (what, answer, says) in failures {
        app.platform.reset().await;
        Mock::given(method("POST"))
            .and(path(CREATE_PATH))
            .respond_with(answer)
            .mount(&app.platform)
            .await;
        let browser = Browser::new();
        let state = browser.start_authorization(&app).await;
        let query = format!("code=c&state={state}");
        let first = browser.callback(&app, &query).await;
        let status = first.status();
        let first = first.text().await.unwrap();
        assert!(first.contains(says), "{what}: {first}");
        let reloaded = browser.callback(&app, &query).await;
        assert_eq!(reloaded.status(), status, "{what}");
        let reloaded = reloaded.text().await.unwrap();
        assert_eq!(title_of(&reloaded), title_of(&first), "{what}");
        assert!(reloaded.contains(says), "{what}: {reloaded}");
        assert!(
            reloaded.contains("nothing was sent to the platform again"),
            "{what}: {reloaded}"
        );
        assert!(!reloaded.contains("This link was already used"), "{what}");
        assert_eq!(token_calls(&app).await, 1, "{what}: not called again");
    }
}

/// A platform that could not be reached never saw the code: the page says the
/// authorization is still good, and reloading it once the platform is back completes it.
#[apply(each_engine)]
#[tokio::test]
async fn an_unreachable_platform_leaves_the_authorization_good_for_a_reload(
    #[case] engine: Engine,
) {
    // A port nothing listens on, until the stand-in below takes it.
    let port = free_port();
    let api_url = format!("http://127.0.0.1:{port}/rest");
    let Some(app) = spawn_app_on(engine, &["--api-url", &api_url]).await else {
        return;
    };
    let browser = Browser::new();
    let state = browser.start_authorization(&app).await;
    let query = format!("code=CODE&state={state}");
    let first = browser.callback(&app, &query).await;
    assert_eq!(first.status(), 502);
    let page = first.text().await.unwrap();
    assert!(page.contains("could not be reached"), "{page}");
    assert!(page.contains("still good"), "{page}");
    assert!(page.contains("reload this page"), "{page}");

    let platform = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let answer = aliexpress_success("CODE");
    let stand_in = axum::Router::new().route(
        "/rest/auth/token/create",
        axum::routing::post(move || {
            let answer = answer.clone();
            async move { axum::Json(answer) }
        }),
    );
    tokio::spawn(async move { axum::serve(platform, stand_in).await });
    let reloaded = browser.callback(&app, &query).await;
    assert_eq!(reloaded.status(), 303, "the same URL completes");
    assert!(location(&reloaded).starts_with("/result/"));
}

#[tokio::test]
async fn a_command_line_link_opened_in_a_browser_says_to_run_exchange() {
    let app = spawn_app().await;
    platform_must_not_be_called(&app).await;
    // What `authorize-url` prints: a state bound to the command line, not to a browser.
    let flows = iop_callback::flow::Flows::new(
        iop_callback::apps::AppId::implicit(),
        iop_callback::flow::StateKey::derive(APP_SECRET),
        600_000,
    );
    let state = flows.start(&flows.command_line(), app.clock.now_ms());
    let response = Browser::new()
        .callback(&app, &format!("code=CODE&state={}", state.expose()))
        .await;
    assert_eq!(response.status(), 400);
    let page = response.text().await.unwrap();
    assert!(page.contains("This link is for the command line"), "{page}");
    assert!(page.contains("iop-callback exchange"), "{page}");
    assert!(!page.contains("another browser"), "{page}");
    assert!(!page.contains(state.expose()), "the state is not echoed");
}

//! The token API over HTTP: keys, what it lists and hands out, refresh on demand, errors,
//! and its OpenAPI document.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

pub const API_KEY: &str = "test-api-key-0123456789abcdef-0123456789";

async fn spawn_api(engine: Engine) -> Option<TestApp> {
    spawn_app_on(engine, &["--api-keys", API_KEY]).await
}

/// An AliExpress answer for seller 1001 that expires a day after it is received.
fn day_token(code: &str) -> Value {
    let mut body = aliexpress_success(code);
    let map = body.as_object_mut().unwrap();
    map.remove("expire_time");
    map.remove("refresh_token_valid_time");
    map.insert("expires_in".into(), json!(86_400));
    map.insert("refresh_expires_in".into(), json!(172_800));
    body
}

async fn api(app: &TestApp, verb: reqwest::Method, path: &str) -> reqwest::Response {
    reqwest::Client::new()
        .request(verb, format!("{}{path}", app.address))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap()
}

pub async fn get_json(app: &TestApp, path: &str) -> (u16, Value) {
    let response = api(app, reqwest::Method::GET, path).await;
    let status = response.status().as_u16();
    assert_eq!(response.headers()["cache-control"], "no-store", "{path}");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{path}"
    );
    (status, response.json().await.unwrap())
}

async fn platform_refreshes(app: &TestApp, delay: Duration) {
    Mock::given(method("POST"))
        .and(path("/rest/auth/token/refresh"))
        .and(ValidSignature {
            api_path: "/auth/token/refresh",
        })
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(
                    json!({"access_token": "renewed-access", "expires_in": 86_400,
                                      "seller_id": "1001", "code": "0", "request_id": "rr"}),
                )
                .set_delay(delay),
        )
        .mount(&app.platform)
        .await;
}

/// Seller 1001 authorized a day-long pair 25 hours ago, and the platform now answers
/// refreshes with `answer`.
async fn expired_with_refresh_answering(app: &TestApp, answer: Value) {
    platform_answers(app, day_token("EXPIRED")).await;
    Browser::new().authorize_fully(app, "EXPIRED").await;
    Mock::given(method("POST"))
        .and(path("/rest/auth/token/refresh"))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer))
        .mount(&app.platform)
        .await;
    app.clock.advance(Duration::from_secs(25 * 3_600));
}

/// How many refreshes the stand-in platform has received.
async fn refreshes_so_far(app: &TestApp) -> usize {
    refresh_calls(&app.platform.received_requests().await.unwrap())
}

fn refresh_calls(requests: &[wiremock::Request]) -> usize {
    requests
        .iter()
        .filter(|r| r.url.path() == "/rest/auth/token/refresh")
        .count()
}

#[apply(each_engine)]
#[tokio::test]
async fn without_keys_every_api_route_is_404(#[case] engine: Engine) {
    let Some(app) = spawn_app_on(engine, &[]).await else {
        return;
    };
    for path in [
        "/api/v1/tokens",
        "/api/v1/tokens/1001",
        "/api/v1/openapi.json",
    ] {
        let (status, body) = get_json(&app, path).await;
        assert_eq!(status, 404, "{path}");
        assert!(body["message"].as_str().unwrap().contains("IOP_API_KEYS"));
    }
}

#[apply(each_engine)]
#[tokio::test]
async fn a_missing_or_wrong_key_is_401_with_a_bearer_challenge(#[case] engine: Engine) {
    let Some(app) = spawn_api(engine).await else {
        return;
    };
    let http = reqwest::Client::new();
    // Every door of the API checks the key: the token API, the events and the proxy.
    for door in ["tokens", "events", "proxy/1001/seller/get"] {
        let url = format!("{}/api/v1/{door}", app.address);
        for request in [
            http.get(&url),
            http.get(&url)
                .bearer_auth("wrong-key-0123456789abcdef-0123456789"),
            http.get(&url).bearer_auth(&API_KEY[..API_KEY.len() - 1]),
            http.get(&url)
                .header("authorization", format!("Basic {API_KEY}")),
        ] {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 401, "{door}");
            assert_eq!(response.headers()["www-authenticate"], "Bearer");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"], "unauthorized");
        }
    }
    assert_eq!(get_json(&app, "/api/v1/tokens").await.0, 200);
}

#[apply(each_engine)]
#[tokio::test]
async fn the_list_describes_every_seller_without_token_values(#[case] engine: Engine) {
    let Some(app) = spawn_api(engine).await else {
        return;
    };
    platform_answers(&app, day_token("LIST7")).await;
    Browser::new().authorize_fully(&app, "LIST7").await;

    let response = api(&app, reqwest::Method::GET, "/api/v1/tokens").await;
    let text = response.text().await.unwrap();
    assert!(
        !text.contains("LIST7ACCESS") && !text.contains("LIST7REFRESH"),
        "{text}"
    );
    let list: Value = serde_json::from_str(&text).unwrap();
    let seller = &list[0];
    assert_eq!(seller["app"], "default");
    assert_eq!(seller["platform"], "aliexpress");
    assert_eq!(seller["app_key"], APP_KEY);
    assert_eq!(seller["seller_id"], "1001");
    assert_eq!(seller["user_id"], "10101");
    assert_eq!(seller["nick"], "cn1001");
    assert_eq!(seller["status"], "active");
    assert!(seller["access_expires_at"].as_str().unwrap().ends_with('Z'));
    assert!(seller["last_refresh_at"].is_null());
}

#[apply(each_engine)]
#[tokio::test]
async fn a_current_token_is_handed_out_by_seller_or_user_id(#[case] engine: Engine) {
    let Some(app) = spawn_api(engine).await else {
        return;
    };
    platform_answers(&app, day_token("CUR1")).await;
    Browser::new().authorize_fully(&app, "CUR1").await;
    for id in ["1001", "10101"] {
        let (status, body) = get_json(&app, &format!("/api/v1/tokens/{id}")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["access_token"], "50000601c30atCUR1ACCESS");
        assert_eq!(body["status"], "active");
        assert!(body.get("refresh_token").is_none());
    }
    let (status, body) = get_json(&app, "/api/v1/tokens/999").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "unknown_seller");
}

#[apply(each_engine)]
#[tokio::test]
async fn a_stale_token_is_refreshed_once_for_twenty_concurrent_gets(#[case] engine: Engine) {
    let Some(app) = spawn_api(engine).await else {
        return;
    };
    platform_answers(&app, day_token("STALE")).await;
    Browser::new().authorize_fully(&app, "STALE").await;
    platform_refreshes(&app, Duration::from_millis(300)).await;
    // Twenty hours on, less than a quarter of the day is left.
    app.clock.advance(Duration::from_secs(20 * 3_600));

    let mut gets = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let url = format!("{}/api/v1/tokens/1001", app.address);
        gets.spawn(async move {
            let response = reqwest::Client::new()
                .get(url)
                .bearer_auth(API_KEY)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        });
    }
    while let Some(body) = gets.join_next().await {
        assert_eq!(body.unwrap()["access_token"], "renewed-access");
    }
    let requests = app.platform.received_requests().await.unwrap();
    assert_eq!(refresh_calls(&requests), 1);
}

#[apply(each_engine)]
#[tokio::test]
async fn refresh_now_renews_and_delete_forgets(#[case] engine: Engine) {
    let Some(app) = spawn_api(engine).await else {
        return;
    };
    platform_answers(&app, day_token("RN")).await;
    Browser::new().authorize_fully(&app, "RN").await;
    platform_refreshes(&app, Duration::ZERO).await;

    let response = api(&app, reqwest::Method::POST, "/api/v1/tokens/1001/refresh").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body["last_refresh_at"].is_string(), "{body}");
    assert!(body.get("access_token").is_none());
    let (_, current) = get_json(&app, "/api/v1/tokens/1001").await;
    assert_eq!(current["access_token"], "renewed-access");

    let response = api(&app, reqwest::Method::DELETE, "/api/v1/tokens/1001").await;
    assert_eq!(response.status(), 204);
    assert_eq!(get_json(&app, "/api/v1/tokens/1001").await.0, 404);
    assert_eq!(get_json(&app, "/api/v1/tokens").await.1, json!([]));
}

#[apply(each_engine)]
#[tokio::test]
async fn a_dead_refresh_token_is_409_with_the_link_to_authorize_again(#[case] engine: Engine) {
    let Some(app) = spawn_api(engine).await else {
        return;
    };
    expired_with_refresh_answering(
        &app,
        json!({"type": "ISV", "code": "IllegalRefreshToken", "message": "expired", "request_id": "r9"}),
    )
    .await;

    let (status, body) = get_json(&app, "/api/v1/tokens/1001").await;
    assert_eq!(status, 409);
    assert_eq!(body["error"], "reauthorize");
    assert_eq!(
        body["authorize_url"],
        format!(
            "{}/authorize",
            app.config.public_url.as_str().trim_end_matches('/')
        )
    );
    let (_, list) = get_json(&app, "/api/v1/tokens").await;
    assert_eq!(list[0]["status"], "reauthorize");
    assert_eq!(list[0]["last_error"], "IllegalRefreshToken: expired");
}

#[apply(each_engine)]
#[tokio::test]
async fn a_failing_platform_is_502_with_its_code_when_the_token_has_expired(
    #[case] engine: Engine,
) {
    let Some(app) = spawn_api(engine).await else {
        return;
    };
    expired_with_refresh_answering(
        &app,
        json!({"type": "ISP", "code": "ServiceUnavailable", "message": "busy", "request_id": "r5"}),
    )
    .await;

    let (status, body) = get_json(&app, "/api/v1/tokens/1001").await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["platform"]["code"], "ServiceUnavailable");
    assert_eq!(body["platform"]["request_id"], "r5");
}

#[apply(each_engine)]
#[tokio::test]
async fn tokens_survive_a_restart_and_are_refreshed_by_the_next_process(#[case] engine: Engine) {
    let Some(first) = spawn_api(engine).await else {
        return;
    };
    platform_answers(&first, day_token("RESTART")).await;
    Browser::new().authorize_fully(&first, "RESTART").await;
    let database = first.config.database_url.expose().to_owned();

    let second = spawn_app_with(&["--api-keys", API_KEY, "--database-url", &database]).await;
    platform_refreshes(&second, Duration::ZERO).await;
    // Stopped past the token's expiry, then started again.
    second
        .clock
        .advance(Duration::from_secs(2 * 86_400 - 3_600));
    let (status, body) = get_json(&second, "/api/v1/tokens/1001").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["access_token"], "renewed-access");
}

#[apply(each_engine)]
#[tokio::test]
async fn the_openapi_document_matches_the_routes(#[case] engine: Engine) {
    let Some(app) = spawn_api(engine).await else {
        return;
    };
    let (status, doc) = get_json(&app, "/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let methods = ["get", "post", "put", "patch", "delete"];
    for (template, operations) in paths {
        let concrete = template
            .replace("{seller}", "1001")
            .replace("{api}", "seller/get")
            .replace("{id}", "evt_0123abcd");
        for verb in methods {
            let response = api(&app, verb.to_uppercase().parse().unwrap(), &concrete).await;
            let status = response.status().as_u16();
            if operations.get(verb).is_some() {
                assert!(
                    status != 405
                        && !(status == 404
                            && response.text().await.unwrap().contains("No such API route")),
                    "{verb} {template} is documented but not routed ({status})"
                );
            } else {
                assert_eq!(
                    status, 405,
                    "{verb} {template} is routed but not documented"
                );
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["error"], "method_not_allowed", "a 405 is JSON too");
            }
        }
    }
    for unlisted in ["/api/v1/sellers", "/api/v1/tokens/1001/reveal"] {
        assert_eq!(get_json(&app, unlisted).await.0, 404, "{unlisted}");
    }
    // Derived from the handlers: every operation names itself and what it can answer.
    let mut operations = Vec::new();
    for (template, item) in paths {
        for (verb, operation) in item.as_object().unwrap() {
            operations.push(operation["operationId"].as_str().unwrap().to_owned());
            let statuses = operation["responses"].as_object().unwrap();
            if template != "/api/v1/openapi.json" {
                assert!(
                    statuses.contains_key("401"),
                    "{verb} {template}: {statuses:?}"
                );
                assert!(
                    statuses.contains_key("400"),
                    "{verb} {template}: {statuses:?}"
                );
            }
        }
    }
    operations.sort();
    assert_eq!(
        operations,
        [
            "currentToken",
            "forgetSeller",
            "listEvents",
            "listTokens",
            "openapi",
            "proxyGet",
            "proxyPost",
            "redeliverEvent",
            "refreshToken",
            "showEvent"
        ]
    );
    assert_eq!(
        doc["paths"]["/api/v1/tokens/{seller}"]["get"]["responses"]["409"]["content"]["application/json"]
            ["schema"]["$ref"],
        "#/components/schemas/Error"
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

/// Seller 1001 authorized a day-long pair, and the platform answers every refresh with
/// `answer`, counted.
async fn stored_with_refresh_failing(app: &TestApp, answer: ResponseTemplate) {
    platform_answers(app, day_token("FAILING")).await;
    Browser::new().authorize_fully(app, "FAILING").await;
    Mock::given(method("POST"))
        .and(path("/rest/auth/token/refresh"))
        .respond_with(answer)
        .mount(&app.platform)
        .await;
}

#[apply(each_engine)]
#[tokio::test]
async fn a_failing_refresh_is_tried_once_for_a_crowd_and_not_again_before_its_backoff(
    #[case] engine: Engine,
) {
    let Some(app) = spawn_api(engine).await else {
        return;
    };
    stored_with_refresh_failing(&app, ResponseTemplate::new(500)).await;
    app.clock.advance(Duration::from_secs(25 * 3_600));

    // Thirty callers at once, for an expired token: one refresh, thirty answers from it.
    let answers = futures_util::future::join_all(
        (0..30).map(|_| api(&app, reqwest::Method::GET, "/api/v1/tokens/1001")),
    )
    .await;
    assert_eq!(refreshes_so_far(&app).await, 1);
    for answer in answers {
        assert_eq!(answer.status(), 502);
    }

    // Asked again within the backoff: the recorded failure, and when the next try is.
    app.clock.advance(Duration::from_secs(1));
    let answer = api(&app, reqwest::Method::GET, "/api/v1/tokens/1001").await;
    assert_eq!(answer.status(), 502);
    assert!(answer.headers().contains_key("retry-after"));
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"], "platform");
    assert!(body["retry_after"].as_str().is_some(), "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("HTTP 500"),
        "{body}"
    );
    assert_eq!(refreshes_so_far(&app).await, 1);
}

#[apply(each_engine)]
#[tokio::test]
async fn a_platform_ban_is_honoured_and_a_still_valid_token_is_handed_out_meanwhile(
    #[case] engine: Engine,
) {
    let Some(app) = spawn_api(engine).await else {
        return;
    };
    let banned = ResponseTemplate::new(200).set_body_json(json!({
        "type": "ISP", "code": "ApiCallLimit",
        "message": "The request has exceeded the limit, ban will last 600 seconds",
        "request_id": "banned-1"
    }));
    stored_with_refresh_failing(&app, banned).await;
    // 20 hours into a day: due, but the access token still works.
    app.clock.advance(Duration::from_secs(20 * 3_600));
    let (status, body) = get_json(&app, "/api/v1/tokens/1001").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["access_token"], "50000601c30atFAILINGACCESS");
    assert_eq!(refreshes_so_far(&app).await, 1);

    // Five minutes later the ban still runs: no call, the same working token.
    app.clock.advance(Duration::from_secs(300));
    let (status, _) = get_json(&app, "/api/v1/tokens/1001").await;
    assert_eq!(status, 200);
    assert_eq!(refreshes_so_far(&app).await, 1);

    // Once the token has expired (the ban is over by then), one more try, banned again...
    app.clock.advance(Duration::from_secs(4 * 3_600 - 300 + 1));
    let (status, body) = get_json(&app, "/api/v1/tokens/1001").await;
    assert_eq!(refreshes_so_far(&app).await, 2, "{body}");
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["platform"]["code"], "ApiCallLimit", "{body}");
    // ...and within that ban the answer is the recorded failure, without a call.
    app.clock.advance(Duration::from_secs(60));
    let (status, body) = get_json(&app, "/api/v1/tokens/1001").await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["platform"]["code"], "ApiCallLimit", "{body}");
    assert!(body["retry_after"].as_str().is_some(), "{body}");
    assert_eq!(refreshes_so_far(&app).await, 2);
}

#[apply(each_engine)]
#[tokio::test]
async fn refreshes_and_deletes_through_the_api_are_audited(#[case] engine: Engine) {
    let Some(app) = spawn_api(engine).await else {
        return;
    };
    platform_answers(&app, day_token("AUDITED")).await;
    Browser::new().authorize_fully(&app, "AUDITED").await;
    platform_refreshes(&app, Duration::ZERO).await;
    assert_eq!(
        api(&app, reqwest::Method::POST, "/api/v1/tokens/1001/refresh")
            .await
            .status(),
        200
    );
    assert_eq!(
        api(&app, reqwest::Method::DELETE, "/api/v1/tokens/1001")
            .await
            .status(),
        204
    );
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut db = sqlx::AnyConnection::connect(app.config.database_url.expose())
        .await
        .unwrap();
    let audited: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT action, client, subject FROM admin_audit ORDER BY id")
            .fetch_all(&mut db)
            .await
            .unwrap();
    assert_eq!(audited.len(), 2, "{audited:?}");
    for ((action, client, subject), expected) in audited.iter().zip(["refresh", "delete"]) {
        assert_eq!(action, expected);
        assert_eq!(client, "127.0.0.1 (token API)");
        assert!(subject.as_deref().unwrap().contains("1001"), "{subject:?}");
    }
}

#[apply(each_engine)]
#[tokio::test]
async fn a_seller_who_must_authorize_again_keeps_a_working_token_until_it_expires(
    #[case] engine: Engine,
) {
    let Some(app) = spawn_api(engine).await else {
        return;
    };
    let dead = ResponseTemplate::new(200).set_body_json(json!({
        "type": "ISV", "code": "IllegalRefreshToken", "message": "expired", "request_id": "r9"
    }));
    stored_with_refresh_failing(&app, dead).await;
    // Due (20 hours into a day), the renewal finds the refresh token dead...
    app.clock.advance(Duration::from_secs(20 * 3_600));
    let (status, body) = get_json(&app, "/api/v1/tokens/1001").await;
    // ...but the access token works for four more hours: handed out, marked.
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "reauthorize");
    assert_eq!(body["access_token"], "50000601c30atFAILINGACCESS");
    let (status, body) = get_json(&app, "/api/v1/tokens/1001").await;
    assert_eq!((status, &body["status"]), (200, &json!("reauthorize")));
    assert_eq!(refreshes_so_far(&app).await, 1);
    // Once it expires, the 409 with the link for the seller.
    app.clock.advance(Duration::from_secs(4 * 3_600 + 1));
    let (status, body) = get_json(&app, "/api/v1/tokens/1001").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "reauthorize");
    assert!(body["authorize_url"].as_str().is_some());
}

#[apply(each_engine)]
#[tokio::test]
async fn an_app_that_is_not_configured_is_named_as_unknown(#[case] engine: Engine) {
    let Some(app) = spawn_api(engine).await else {
        return;
    };
    platform_answers(&app, day_token("NAMED")).await;
    Browser::new().authorize_fully(&app, "NAMED").await;
    for path in ["/api/v1/tokens?app=nope", "/api/v1/tokens/1001?app=nope"] {
        let (status, body) = get_json(&app, path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(
            body["message"], "unknown app `nope`; configured: default",
            "{path}"
        );
    }
    let (status, _) = get_json(&app, "/api/v1/tokens/1001?app=default").await;
    assert_eq!(status, 200);
}

/// Seven sellers stored straight into the service's database (`Shop 0` to `Shop 6`).
async fn seven_sellers(app: &TestApp) {
    let store = iop_callback::store::open(&app.config.database_url, None)
        .await
        .unwrap();
    let default = iop_callback::apps::AppId::implicit();
    for n in 0..7 {
        let body = json!({"access_token": format!("a{n}"), "seller_id": format!("70{n}"),
                          "user_nick": format!("Shop {n}"), "expires_in": 86_400});
        let response =
            iop_callback::iop::TokenResponse::from_json(body.to_string().as_bytes()).unwrap();
        let owner = iop_callback::tokens::Owner {
            app: &default,
            platform: iop_callback::iop::Platform::Aliexpress,
            app_key: APP_KEY,
        };
        store
            .save_authorization(
                owner,
                &response,
                iop_callback::clock::Clock::now(app.clock.as_ref()),
            )
            .await
            .unwrap();
    }
    store.close().await;
}

#[apply(each_engine)]
#[tokio::test]
async fn the_list_pages_with_a_link_and_filters_in_the_database(#[case] engine: Engine) {
    let Some(app) = spawn_api(engine).await else {
        return;
    };
    seven_sellers(&app).await;
    let mut next = Some("/api/v1/tokens?limit=3".to_owned());
    let (mut ids, mut pages) = (Vec::new(), 0);
    while let Some(path) = next.take() {
        let response = api(&app, reqwest::Method::GET, &path).await;
        assert_eq!(response.status(), 200, "{path}");
        next = response.headers().get("link").map(|link| {
            let link = link.to_str().unwrap();
            assert!(link.ends_with(r#">; rel="next""#), "{link}");
            link.trim_start_matches('<')
                .split('>')
                .next()
                .unwrap()
                .to_owned()
        });
        let page: Vec<Value> = response.json().await.unwrap();
        assert!(page.len() <= 3);
        ids.extend(
            page.iter()
                .map(|s| s["seller_id"].as_str().unwrap().to_owned()),
        );
        pages += 1;
    }
    assert_eq!(pages, 3);
    assert_eq!(ids, ["700", "701", "702", "703", "704", "705", "706"]);

    let (status, found) = get_json(&app, "/api/v1/tokens?q=shop%205").await;
    assert_eq!(status, 200);
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found[0]["seller_id"], "705");
    let (_, active) = get_json(&app, "/api/v1/tokens?status=active").await;
    assert_eq!(active.as_array().unwrap().len(), 7);
    let (_, failing) = get_json(&app, "/api/v1/tokens?status=failing").await;
    assert_eq!(failing.as_array().unwrap().len(), 0);
    for bad in [
        "?status=dead",
        "?limit=0",
        "?limit=1001",
        "?limit=x",
        "?after=nope",
    ] {
        let (status, body) = get_json(&app, &format!("/api/v1/tokens{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"], "bad_request");
    }
}

//! Outbound webhooks (issue 24, items 3, 4 and 8): every event POSTed to each endpoint,
//! signed as the Standard Webhooks specification says (checked here by an implementation
//! of the specification written for the test, not the service's), retried on a schedule,
//! one endpoint never delaying another, shared by replicas, and surviving a kill -9.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use iop_callback::clock::Clock;
use serde_json::Value;
use sha2::Sha256;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::binary::RunningBinary;
use crate::helpers::*;

/// A secret of the specification's examples.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A webhook as an endpoint received it, after checking its signature.
#[derive(Debug, Clone)]
struct Delivered {
    id: String,
    /// `webhook-timestamp`, in seconds.
    sent_at: i64,
    body: String,
    payload: Value,
}

/// The Standard Webhooks check: the key is the base64 after `whsec_`; the header holds
/// space-separated `v1,<base64>` signatures over `{id}.{timestamp}.{body}`. (The
/// timestamp is the service's clock, which these tests move: its freshness is checked
/// where the clock has not moved.)
fn verified(request: &Request) -> Result<Delivered, String> {
    let header = |name: &str| {
        request
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or(format!("no {name}"))
    };
    let (id, timestamp, signatures) = (
        header("webhook-id")?,
        header("webhook-timestamp")?,
        header("webhook-signature")?,
    );
    let sent_at: i64 = timestamp.parse().map_err(|_| "timestamp")?;
    let key = STANDARD
        .decode(SECRET.trim_start_matches("whsec_"))
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&request.body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    if !signatures.split(' ').any(|s| s == expected) {
        return Err(format!("no signature matches: {signatures}"));
    }
    let body = String::from_utf8(request.body.clone()).map_err(|_| "not UTF-8")?;
    let payload = serde_json::from_str(&body).map_err(|e| e.to_string())?;
    Ok(Delivered {
        id,
        sent_at,
        body,
        payload,
    })
}

/// An endpoint answering `status` (after `delay`) at `/hook`.
async fn endpoint(status: u16, delay: Duration) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(path("/hook"))
        .respond_with(ResponseTemplate::new(status).set_delay(delay))
        .mount(&server)
        .await;
    server
}

fn hook(server: &MockServer) -> String {
    format!("{}/hook", server.uri())
}

/// What `server` received, each checked.
async fn received(server: &MockServer) -> Vec<Delivered> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|request| verified(request).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// Waits (up to `within`) until `server` received `count` webhooks; returns them.
async fn wait_for(server: &MockServer, count: usize, within: Duration) -> Vec<Delivered> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let got = received(server).await;
        if got.len() >= count || tokio::time::Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A push signed for the test app, as the platform signs it.
fn signature(body: &str) -> String {
    hex::encode(iop_callback::iop::sign::hmac_sha256(
        APP_SECRET.as_bytes(),
        &[APP_KEY.as_bytes(), body.as_bytes()],
    ))
}

async fn push(address: &str, body: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{address}/push"))
        .header("authorization", signature(body))
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn order(n: usize) -> String {
    format!(
        r#"{{"seller_id":"1001","message_type":0,"data":{{"trade_order_id":"{n}","order_status":"unpaid"}},"timestamp":1603766859530,"site":"lazada_vn"}}"#
    )
}

#[tokio::test]
async fn a_push_is_delivered_once_signed_the_standard_webhooks_way_with_its_bytes_as_sent() {
    let server = endpoint(200, Duration::ZERO).await;
    let app = spawn_app_with(&["--webhook-urls", &hook(&server), "--webhook-secret", SECRET]).await;
    // Spacing the platform chose: kept byte for byte under `data`.
    let body = r#"{"seller_id": 1001, "message_type":0,  "data":{"trade_order_id":"7"}}"#;
    assert_eq!(push(&app.address, body).await, 200);
    let got = wait_for(&server, 1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1, "delivered");
    let webhook = &got[0];
    assert!(webhook.id.starts_with("evt_"), "{webhook:?}");
    let now = app.clock.now_ms() / 1_000;
    assert!((now - webhook.sent_at).abs() < 60, "a current timestamp");
    assert_eq!(webhook.payload["id"], webhook.id.as_str());
    assert_eq!(webhook.payload["type"], "platform.push");
    assert_eq!(webhook.payload["app"], "default");
    assert_eq!(webhook.payload["platform"], "aliexpress");
    assert_eq!(webhook.payload["seller_id"], "1001");
    assert!(
        webhook.body.ends_with(&format!(r#""data":{body}}}"#)),
        "{}",
        webhook.body
    );
    // The platform's retry of the same body: acknowledged, not delivered again.
    assert_eq!(push(&app.address, body).await, 200);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(received(&server).await.len(), 1);
}

#[tokio::test]
async fn a_failing_endpoint_is_retried_on_schedule_and_a_slow_one_delays_no_other() {
    let failing = endpoint(503, Duration::ZERO).await;
    let slow = endpoint(200, Duration::from_secs(30)).await;
    let fine = endpoint(200, Duration::ZERO).await;
    let urls = [hook(&slow), hook(&failing), hook(&fine)].join(",");
    let app = spawn_app_with(&[
        "--webhook-urls",
        &urls,
        "--webhook-secret",
        SECRET,
        "--metrics-listen",
        "127.0.0.1:0",
    ])
    .await;
    for n in 0..3 {
        assert_eq!(push(&app.address, &order(n)).await, 200);
    }
    // The slow endpoint holds its three for up to 10 s each; the others go on.
    let started = tokio::time::Instant::now();
    assert_eq!(wait_for(&fine, 3, Duration::from_secs(5)).await.len(), 3);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(wait_for(&failing, 3, Duration::from_secs(5)).await.len(), 3);
    // Not again before its time (about 5 s on the service's clock)...
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(received(&failing).await.len(), 3);
    // ...then once each, then not before about 30 s more.
    app.clock.advance(Duration::from_secs(7));
    assert_eq!(wait_for(&failing, 6, Duration::from_secs(5)).await.len(), 6);
    // The next wait runs from an attempt's end on the service's clock: the clock moves on
    // only once the second attempts are kept (three retries, and three more), or an
    // attempt still in flight would end after the advance and be scheduled past it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while counted(&metrics_text(&app).await, "retry") < 6 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the second attempts were not kept"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.clock.advance(Duration::from_secs(10));
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(received(&failing).await.len(), 6);
    app.clock.advance(Duration::from_secs(30));
    assert_eq!(wait_for(&failing, 9, Duration::from_secs(5)).await.len(), 9);
    // Counted by outcome; the oldest waiting event's age is a gauge an alert can watch.
    let metrics = metrics_text(&app).await;
    let outcome = |o: &str| counted(&metrics, o);
    assert_eq!(outcome("delivered"), 3);
    // The failing endpoint's nine; the slow one's time out after 10 s, if they have yet.
    assert!((9..=12).contains(&outcome("retry")), "{metrics}");
    let age = metric(
        &metrics,
        "iop_callback_oldest_undelivered_event_age_seconds",
    );
    assert!((45..60).contains(&age), "{age}");
    // A day after the event the schedule gives up: marked failed, not sent again.
    app.clock.advance(Duration::from_secs(25 * 3600));
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let after_a_day = received(&failing).await.len();
    app.clock.advance(Duration::from_secs(3 * 3600));
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(received(&failing).await.len(), after_a_day);
}

/// The metrics page of `app` (started with `--metrics-listen`).
async fn metrics_text(app: &TestApp) -> String {
    Browser::new()
        .text(&format!(
            "{}/metrics",
            app.metrics_address.as_ref().unwrap()
        ))
        .await
}

/// A metric's value on the page.
fn metric(metrics: &str, name: &str) -> i64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} in {metrics}"))
}

/// The test app's deliveries counted with `outcome`, or 0 before the first.
fn counted(metrics: &str, outcome: &str) -> i64 {
    let name =
        format!(r#"iop_callback_webhook_deliveries_total{{app="default",outcome="{outcome}"}}"#);
    if metrics.contains(&name) {
        metric(metrics, &name)
    } else {
        0
    }
}

/// The lifecycle events of one seller, as received, by type.
fn types(got: &[Delivered]) -> Vec<String> {
    got.iter()
        .map(|d| d.payload["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_seller_s_lifecycle_is_announced_once_each_on_the_service_s_clock() {
    let server = endpoint(200, Duration::ZERO).await;
    let app = spawn_app_with(&[
        "--webhook-urls",
        &hook(&server),
        "--webhook-secret",
        SECRET,
        "--refresh-interval",
        "off",
    ])
    .await;
    platform_answers(&app, aliexpress_success("LIFE")).await;
    Browser::new().authorize_fully(&app, "LIFE").await;
    let got = wait_for(&server, 1, Duration::from_secs(10)).await;
    assert_eq!(types(&got), ["seller.authorized"]);
    let data = &got[0].payload["data"];
    assert_eq!(got[0].payload["seller_id"], "1001");
    assert_eq!(data["nick"], "cn1001");
    assert_eq!(
        data["authorize_url"],
        app.config.public_url.join("/authorize").unwrap().as_str()
    );
    let body = &got[0].body;
    for secret in ["ACCESS", "REFRESH", APP_SECRET] {
        assert!(!body.contains(secret), "{secret} in {body}");
    }
    let deadline = humantime::parse_rfc3339(data["deadline"].as_str().unwrap())
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let day = 24 * 3600 * 1000;
    let move_to = |at: i64| {
        app.clock.advance(Duration::from_millis(
            (at - app.clock.now_ms()).max(0) as u64
        ));
    };
    move_to(deadline - 14 * day + 60_000);
    let got = wait_for(&server, 2, Duration::from_secs(5)).await;
    assert_eq!(types(&got)[1], "seller.refresh_expiring");
    assert_eq!(got[1].payload["data"]["warning"], "14d");
    // Once: a day later nothing new.
    move_to(deadline - 13 * day);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(received(&server).await.len(), 2);
    move_to(deadline - 2 * day + 60_000);
    let got = wait_for(&server, 3, Duration::from_secs(5)).await;
    assert_eq!(got[2].payload["data"]["warning"], "2d");
    move_to(deadline + 60_000);
    let got = wait_for(&server, 4, Duration::from_secs(5)).await;
    assert_eq!(types(&got)[3], "seller.reauthorization_needed");
    assert_eq!(got[3].payload["data"]["reason"], "deadline_passed");
    // The platform says the shop closed (type 13).
    let closed =
        r#"{"seller_id":"1001","message_type":13,"data":{"seller_id":"1001","status":"close"}}"#;
    assert_eq!(push(&app.address, closed).await, 200);
    let got = wait_for(&server, 6, Duration::from_secs(5)).await;
    let mut last_two = types(&got)[4..].to_vec();
    last_two.sort();
    assert_eq!(last_two, ["platform.push", "seller.closed"]);
    // The seller authorizes again, with a new deadline: announced afresh.
    app.platform.reset().await;
    let mut again = aliexpress_success("LIFE");
    again["refresh_token_valid_time"] = (app.clock.now_ms() + 60 * day).into();
    again["expire_time"] = (app.clock.now_ms() + 30 * day).into();
    platform_answers(&app, again).await;
    Browser::new().authorize_fully(&app, "LIFE").await;
    let got = wait_for(&server, 7, Duration::from_secs(5)).await;
    assert_eq!(types(&got)[6], "seller.authorized");
}

#[tokio::test]
async fn two_processes_on_one_postgres_deliver_each_event_once() {
    let Some(url) = iop_callback::store::test_database::fresh_postgres_url().await else {
        return;
    };
    // Slow enough that a batch is still under way when the other process looks.
    let server = endpoint(200, Duration::from_millis(200)).await;
    let flags = [
        "--database-url",
        &url,
        "--webhook-urls",
        &hook(&server),
        "--webhook-secret",
        SECRET,
    ];
    let platform = MockServer::start().await;
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = RunningBinary::start(&platform, &one, &flags);
    let second = RunningBinary::start(&platform, &two, &flags);
    // Both processes look at the store at once for the same due deliveries: each is
    // rung by the pushes it takes, and every push rings one of them.
    let pushes = 96;
    let bodies: Vec<String> = (0..pushes).map(order).collect();
    let sends = bodies.iter().enumerate().map(|(n, body)| {
        let to = if n % 2 == 0 { &first } else { &second };
        push(&to.address, body)
    });
    for status in futures_util::future::join_all(sends).await {
        assert_eq!(status, 200);
    }
    let got = wait_for(&server, pushes, Duration::from_secs(30)).await;
    // Time for a second delivery of anything, if one were coming.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got_after = received(&server).await;
    assert_eq!(got.len(), pushes);
    let mut by_id: BTreeMap<String, usize> = BTreeMap::new();
    for webhook in &got_after {
        *by_id.entry(webhook.id.clone()).or_default() += 1;
    }
    assert_eq!(by_id.len(), pushes, "every event delivered");
    assert!(by_id.values().all(|n| *n == 1), "each once: {by_id:?}");
    // And the work was shared: each process delivered some.
    for process in [&first, &second] {
        let log = process.log_containing("attempt=").await;
        assert!(log.contains("attempt=1"), "{log}");
    }
}

#[tokio::test]
async fn a_process_killed_after_the_200_delivers_the_push_after_its_restart() {
    // The endpoint is down when the push arrives, and the process is killed right after
    // its first, failed attempt.
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let platform = MockServer::start().await;
    let data = tempfile::tempdir().unwrap();
    let flags = ["--webhook-urls", url.as_str(), "--webhook-secret", SECRET];
    let mut first = RunningBinary::start(&platform, &data, &flags);
    let body = order(1);
    assert_eq!(push(&first.address, &body).await, 200);
    let log = first.log_containing("attempt=1").await;
    // One line for the push and one per attempt, with ids, never the body.
    let line = |text: &str| {
        log.lines()
            .find(|line| line.contains(text))
            .unwrap_or_else(|| panic!("{text} in {log}"))
            .to_owned()
    };
    assert!(line("push received").contains("event_id="), "{log}");
    let attempt = line("attempt=1");
    assert!(
        attempt.contains("event_id=evt_") && attempt.contains("retry"),
        "{attempt}"
    );
    assert!(
        !log.contains("unpaid") && !log.contains("trade_order_id"),
        "{log}"
    );
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    // The endpoint comes up; a new process on the same store delivers what was kept.
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let server = MockServer::builder().listener(listener).start().await;
    Mock::given(path("/hook"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let _second = RunningBinary::start(&platform, &data, &flags);
    let got = wait_for(&server, 1, Duration::from_secs(15)).await;
    assert_eq!(got.len(), 1, "delivered after the restart");
    assert!(got[0].body.ends_with(&format!(r#""data":{body}}}"#)));
}

/// `iop-callback ARGS…` beside the running `app`, on its database, with its app.
async fn command(app: &TestApp, args: &[&str]) -> std::process::Output {
    let mut process = std::process::Command::new(env!("CARGO_BIN_EXE_iop-callback"));
    process
        .args(args)
        .args(["--app-key", APP_KEY, "--app-secret", APP_SECRET])
        .args(["--database-url", app.config.database_url.expose()])
        .args(["--public-url", app.config.public_url.as_str()])
        .env("RUST_LOG", "warn");
    tokio::task::spawn_blocking(move || process.output().unwrap())
        .await
        .unwrap()
}

/// A GET of the API with `key`, as JSON.
async fn read<T: serde::de::DeserializeOwned>(app: &TestApp, key: &str, tail: &str) -> T {
    api(app, key, reqwest::Method::GET, tail)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn api(app: &TestApp, key: &str, method: reqwest::Method, tail: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .request(method, format!("{}/api/v1/{tail}", app.address))
        .bearer_auth(key)
}

#[tokio::test]
async fn events_are_listed_shown_and_sent_again_by_the_api_and_the_command_line() {
    let failing = endpoint(503, Duration::ZERO).await;
    let keys_file = tempfile::NamedTempFile::new().unwrap();
    let (all, tokens_only) = ("e".repeat(40), "t".repeat(40));
    std::fs::write(keys_file.path(), format!("{all}\n{tokens_only} tokens\n")).unwrap();
    let app = spawn_app_with(&[
        "--webhook-urls",
        &hook(&failing),
        "--webhook-secret",
        SECRET,
        "--api-keys-file",
        keys_file.path().to_str().unwrap(),
    ])
    .await;
    for n in 0..3 {
        assert_eq!(push(&app.address, &order(n)).await, 200);
    }
    wait_for(&failing, 3, Duration::from_secs(5)).await;

    // Newest first, a page at a time.
    let first = api(&app, &all, reqwest::Method::GET, "events?limit=2")
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    let link = first.headers()["link"].to_str().unwrap().to_owned();
    let page: Vec<Value> = first.json().await.unwrap();
    assert_eq!(page.len(), 2);
    assert_eq!(page[0]["data"]["data"]["trade_order_id"], "2");
    assert_eq!(page[1]["data"]["data"]["trade_order_id"], "1");
    let next = link
        .trim_start_matches("</api/v1/")
        .split('>')
        .next()
        .unwrap()
        .to_owned();
    let rest: Vec<Value> = read(&app, &all, &next).await;
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0]["data"]["data"]["trade_order_id"], "0");
    let lifecycle: Vec<Value> = read(&app, &all, "events?type=seller.authorized").await;
    assert!(lifecycle.is_empty());
    let bad = api(&app, &all, reqwest::Method::GET, "events?type=nope")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    // One event with its delivery and attempt.
    let id = page[0]["id"].as_str().unwrap().to_owned();
    let detail: Value = api(&app, &all, reqwest::Method::GET, &format!("events/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let delivery = &detail["deliveries"][0];
    assert_eq!(delivery["state"], "pending");
    assert_eq!(delivery["endpoint"], failing.uri());
    assert_eq!(delivery["history"][0]["status"], 503);
    let unknown = api(&app, &all, reqwest::Method::GET, "events/evt_0123abcd")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        unknown.json::<Value>().await.unwrap()["error"],
        "unknown_event"
    );
    let not_an_id = api(&app, &all, reqwest::Method::GET, "events/1%27%20OR")
        .send()
        .await
        .unwrap();
    assert_eq!(not_an_id.status(), 400);
    let refused = api(&app, &tokens_only, reqwest::Method::GET, "events")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);

    // Sent again at once, though its schedule said seconds from now.
    let again = api(
        &app,
        &all,
        reqwest::Method::POST,
        &format!("events/{id}/redeliver"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(again.status(), 202);
    assert_eq!(again.json::<Value>().await.unwrap()["deliveries"], 1);
    let got = wait_for(&failing, 4, Duration::from_secs(5)).await;
    assert_eq!(got[3].id, id);

    // The same from the command line.
    let listed = command(&app, &["events", "list", "--json"]).await;
    assert_eq!(listed.status.code(), Some(0), "{listed:?}");
    let listed: Vec<Value> = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed.len(), 3);
    let shown = command(&app, &["events", "show", &id]).await;
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["deliveries"][0]["attempts"], 2);
    let missing = command(&app, &["events", "show", "evt_nope"]).await;
    assert_eq!(missing.status.code(), Some(3));
    let redelivered = command(&app, &["events", "redeliver", &id]).await;
    assert_eq!(redelivered.status.code(), Some(0), "{redelivered:?}");
    // Due at the command's time, which the service's clock (held by the test) reaches.
    app.clock.advance(Duration::from_secs(60));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while received(&failing)
        .await
        .iter()
        .filter(|d| d.id == id)
        .count()
        < 3
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "sent again from the command line"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // `push test` sends a signed sample push, which becomes an event.
    let tested = command(&app, &["push", "test", "--type", "8"]).await;
    assert_eq!(tested.status.code(), Some(0), "{tested:?}");
    let pushes: Vec<Value> = read(&app, &all, "events?type=platform.push&limit=1").await;
    assert_eq!(pushes[0]["message_type"], 8);
    assert_eq!(pushes[0]["data"]["data"]["test"], true);
}

#[tokio::test]
async fn the_console_shows_failed_deliveries_and_sends_one_again_audited() {
    use crate::admin::{Console, PASSWORD};
    let failing = endpoint(503, Duration::ZERO).await;
    let app = spawn_app_with(&[
        "--webhook-urls",
        &hook(&failing),
        "--webhook-secret",
        SECRET,
        "--admin-password",
        PASSWORD,
    ])
    .await;
    assert_eq!(push(&app.address, &order(1)).await, 200);
    wait_for(&failing, 1, Duration::from_secs(5)).await;
    // A day on, the next attempt fails too and the schedule gives up.
    app.clock.advance(Duration::from_secs(25 * 3600));
    wait_for(&failing, 2, Duration::from_secs(5)).await;
    let console = Console::new(&app);
    console.sign_in().await;
    let id = received(&failing).await[0].id.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let page = loop {
        let page = console.page("/admin/events").await;
        if page.contains("id=\"failed\"") || tokio::time::Instant::now() > deadline {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let failed = &page[page.find("id=\"failed\"").expect("a failed list")..];
    assert!(failed.contains(&id), "{page}");
    assert!(failed.contains("1 failed"), "{page}");

    // Without the session's token nothing is sent.
    let forged = console
        .post(&format!("/admin/events/{id}/redeliver"), &[("csrf", "x")])
        .await;
    assert_eq!(forged.status(), 403);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(received(&failing).await.len(), 2);

    let sent = console.act(&format!("/admin/events/{id}/redeliver")).await;
    assert_eq!(sent.status(), 303);
    assert_eq!(location(&sent), "/admin/events?notice=redelivered");
    assert_eq!(wait_for(&failing, 3, Duration::from_secs(5)).await.len(), 3);
    let audit = console.page("/admin/audit").await;
    assert!(
        audit.contains("Sent an event again") && audit.contains(&id),
        "{audit}"
    );
}

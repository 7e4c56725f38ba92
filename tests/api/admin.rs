//! The admin console over HTTP: off without a password; sign-in right, wrong and
//! throttled; sessions that end; CSRF on every form; reveal, refresh and delete, each in
//! the audit log.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::Connection;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

pub const PASSWORD: &str = "operator password 1";

async fn spawn_console(engine: Engine, extra: &[&str]) -> Option<TestApp> {
    let mut flags = vec!["--admin-password", PASSWORD, "--refresh-interval", "off"];
    flags.extend_from_slice(extra);
    spawn_app_on(engine, &flags).await
}

/// A browser signing in to the console.
pub struct Console {
    pub browser: Browser,
    pub base: String,
}

/// The hidden CSRF field of the first form in `html`.
pub fn csrf_of(html: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = html.find(marker).expect("a form with a CSRF token") + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

impl Console {
    pub fn new(app: &TestApp) -> Self {
        Console {
            browser: Browser::new(),
            base: app.address.clone(),
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.browser.get(&format!("{}{path}", self.base)).await
    }

    pub async fn page(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        response.text().await.unwrap()
    }

    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.browser
            .http
            .post(format!("{}{path}", self.base))
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    /// Opens the sign-in form and sends `password` with its token.
    pub async fn try_password(&self, password: &str) -> reqwest::Response {
        let form = self.page("/admin/login").await;
        self.post(
            "/admin/login",
            &[("csrf", &csrf_of(&form)), ("password", password)],
        )
        .await
    }

    pub async fn sign_in(&self) {
        let response = self.try_password(PASSWORD).await;
        assert_eq!(response.status(), 303);
        assert_eq!(location(&response), "/admin");
    }

    /// The session's CSRF token, from any page behind the sign-in.
    pub async fn csrf(&self) -> String {
        csrf_of(&self.page("/admin").await)
    }

    /// Posts a console form with the session's token.
    pub async fn act(&self, path: &str) -> reqwest::Response {
        let csrf = self.csrf().await;
        self.post(path, &[("csrf", &csrf)]).await
    }
}

/// An AliExpress answer for seller `seller`, whose refresh token lives `refresh_days`.
fn seller_answer(code: &str, seller: &str, nick: &str, refresh_days: i64) -> Value {
    let mut body = aliexpress_success(code);
    let map = body.as_object_mut().unwrap();
    map.remove("expire_time");
    map.remove("refresh_token_valid_time");
    map.insert("seller_id".into(), json!(seller));
    map.insert("user_id".into(), json!(format!("u{seller}")));
    map.insert("user_nick".into(), json!(nick));
    map.insert("expires_in".into(), json!(30 * 86_400));
    map.insert("refresh_expires_in".into(), json!(refresh_days * 86_400));
    body
}

/// Authorizes one seller through the real flow.
async fn authorize(app: &TestApp, answer: Value) {
    app.platform.reset().await;
    platform_answers(app, answer).await;
    Browser::new().authorize_fully(app, "CODE").await;
}

/// A console on `engine` with one authorized seller (first-shop, 2001), signed in: the
/// app, the console and the seller's id in the console.
async fn console_with_seller(engine: Engine) -> Option<(TestApp, Console, String)> {
    let app = spawn_console(engine, &[]).await?;
    authorize(&app, seller_answer("A", "2001", "first-shop", 60)).await;
    let console = Console::new(&app);
    console.sign_in().await;
    let id = first_seller_id(&console.page("/admin").await);
    Some((app, console, id))
}

/// The session cookie (`iop-admin=...; HttpOnly; ...`) a response sets, if it sets one.
pub fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("iop-admin="))
}

/// The `{app}/{seller id}` of the first `/admin/sellers/{app}/{seller id}` link of `html`.
pub fn first_seller_id(html: &str) -> String {
    let marker = "/admin/sellers/";
    let start = html.find(marker).expect("a seller link") + marker.len();
    html[start..].chars().take_while(|c| *c != '"').collect()
}

#[tokio::test]
async fn without_a_password_the_console_does_not_exist() {
    let app = spawn_app().await;
    let browser = Browser::new();
    for path in ["/admin", "/admin/login", "/admin/audit", "/admin/sellers/1"] {
        let response = browser.get(&format!("{}{path}", app.address)).await;
        assert_eq!(response.status(), 404, "{path}");
    }
    let landing = browser.text(&format!("{}/", app.address)).await;
    assert!(!landing.contains("/admin"), "{landing}");

    let on = spawn_app_with(&["--admin-password", PASSWORD]).await;
    let landing = browser.text(&format!("{}/", on.address)).await;
    assert!(landing.contains(r#"href="/admin""#), "{landing}");
}

#[tokio::test]
async fn weak_or_conflicting_password_settings_are_refused_at_startup() {
    let data = tempfile::tempdir().unwrap();
    let hash_file = data.path().join("pw");
    std::fs::write(&hash_file, "short-pw-11\n").unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &["--admin-password", "elevenchars"],
            "IOP_ADMIN_PASSWORD: is shorter than 12",
        ),
        (
            &["--admin-password-file", hash_file.to_str().unwrap()],
            "IOP_ADMIN_PASSWORD_FILE: is shorter than 12",
        ),
        (
            &["--admin-password-hash", "$2b$12$notargon"],
            "IOP_ADMIN_PASSWORD_HASH: is not an argon2",
        ),
        (
            &[
                "--admin-password",
                PASSWORD,
                "--admin-password-hash",
                "$argon2id$x",
            ],
            "not both",
        ),
    ];
    for (flags, expected) in cases {
        let args = service_args("http://127.0.0.1:1", &data, flags);
        let cli = <iop_callback::cli::Cli as clap::Parser>::try_parse_from(args).unwrap();
        let error =
            iop_callback::config::Config::from_settings(&cli.service.settings()).unwrap_err();
        assert!(error.to_string().contains(expected), "{flags:?}: {error}");
    }
}

#[tokio::test]
async fn a_hashed_password_signs_in() {
    let hash = iop_callback::admin::password::hash_password(PASSWORD).unwrap();
    let app = spawn_app_with(&["--admin-password-hash", &hash]).await;
    let console = Console::new(&app);
    assert_eq!(
        console.try_password("operator password 2").await.status(),
        401
    );
    console.sign_in().await;
    assert_eq!(console.get("/admin").await.status(), 200);
}

#[apply(each_engine)]
#[tokio::test]
async fn requests_without_a_session_are_sent_to_sign_in_and_change_nothing(engine: Engine) {
    let Some(app) = spawn_console(engine, &[]).await else {
        return;
    };
    authorize(&app, seller_answer("A", "2001", "first-shop", 60)).await;
    let stranger = Console::new(&app);
    for path in [
        "/admin",
        "/admin/audit",
        "/admin/sellers/1",
        "/admin/sellers/default/2001",
        "/admin/sellers/default/2001/delete",
    ] {
        let response = stranger.get(path).await;
        assert_eq!(response.status(), 303, "{path}");
        assert_eq!(location(&response), "/admin/login", "{path}");
    }
    for path in [
        "/admin/sellers/default/2001/delete",
        "/admin/sellers/default/2001/reveal",
        "/admin/logout",
    ] {
        let response = stranger.post(path, &[("csrf", "x")]).await;
        assert_eq!(response.status(), 303, "{path}");
        let body = response.text().await.unwrap();
        assert!(!body.contains("50000601c30at"), "{path}: {body}");
    }
    let console = Console::new(&app);
    console.sign_in().await;
    assert!(
        console.page("/admin").await.contains("first-shop"),
        "still there"
    );
}

#[apply(each_engine)]
#[tokio::test]
async fn a_wrong_password_is_refused_and_the_right_one_opens_a_strict_session(engine: Engine) {
    let Some(app) = spawn_console(engine, &[]).await else {
        return;
    };
    let console = Console::new(&app);
    let wrong = console.try_password("not the password").await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(
        session_cookie(&wrong),
        None,
        "no session for a wrong password"
    );
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("That password is not right")
    );
    assert_eq!(console.get("/admin").await.status(), 303);

    let response = console.try_password(PASSWORD).await;
    assert_eq!(response.status(), 303);
    let session = session_cookie(&response).expect("a session cookie");
    assert!(
        session.contains("HttpOnly")
            && session.contains("SameSite=Strict")
            && session.contains("Path=/"),
        "{session}"
    );
    let sellers = console.page("/admin").await;
    assert!(
        sellers.contains("No seller has authorized yet"),
        "{sellers}"
    );
    assert!(
        sellers.contains(&format!("{}/authorize", app.config.public_base())),
        "{sellers}"
    );

    let audit = console.page("/admin/audit").await;
    let failed = audit
        .find("Sign-in failed")
        .expect("the failure is audited");
    let signed_in = audit.find("Signed in").expect("the sign-in is audited");
    assert!(signed_in < failed, "newest first: {audit}");
    assert!(
        audit.contains("127.0.0.1"),
        "with the client address: {audit}"
    );
    assert!(!audit.contains("not the password") && !audit.contains(PASSWORD));
}

#[tokio::test]
async fn the_sign_in_form_needs_its_own_token() {
    let app = spawn_console(Engine::Sqlite, &[]).await.unwrap();
    let console = Console::new(&app);
    // No form loaded: no token cookie.
    let response = console
        .post("/admin/login", &[("password", PASSWORD)])
        .await;
    assert_eq!(response.status(), 403);
    let form = console.page("/admin/login").await;
    let csrf = csrf_of(&form);
    for fields in [
        vec![("password", PASSWORD)],
        vec![("password", PASSWORD), ("csrf", "0000")],
    ] {
        assert_eq!(console.post("/admin/login", &fields).await.status(), 403);
    }
    assert_eq!(console.get("/admin").await.status(), 303, "not signed in");
    let ok = console
        .post("/admin/login", &[("csrf", &csrf), ("password", PASSWORD)])
        .await;
    assert_eq!(ok.status(), 303);
}

#[apply(each_engine)]
#[tokio::test]
async fn five_failures_in_a_minute_pause_that_address_only_and_the_pause_ends(engine: Engine) {
    let Some(app) = spawn_console(engine, &["--trusted-proxies", "127.0.0.1"]).await else {
        return;
    };
    let attacker = Console::new(&app);
    for n in 1..=4 {
        assert_eq!(
            attacker.try_password("guess").await.status(),
            401,
            "attempt {n}"
        );
    }
    let fifth = attacker.try_password("guess").await;
    assert_eq!(fifth.status(), 429);
    assert!(fifth.headers().contains_key("retry-after"));
    let page = fifth.text().await.unwrap();
    assert!(page.contains("paused until"), "{page}");
    assert!(!page.contains(r#"name="password""#), "no form while paused");

    // The sign-in page says so before anyone tries again.
    let form = attacker.page("/admin/login").await;
    assert!(form.contains("paused until"), "{form}");

    // Even the right password is not checked from there now.
    assert_eq!(attacker.try_password(PASSWORD).await.status(), 429);
    assert_eq!(attacker.get("/admin").await.status(), 303);

    // Another address (behind the trusted proxy) signs in meanwhile.
    let form = attacker.page("/admin/login").await;
    let elsewhere = attacker
        .browser
        .http
        .post(format!("{}/admin/login", app.address))
        .header("x-forwarded-for", "198.51.100.20")
        .form(&[("csrf", csrf_of(&form).as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 303);

    // Refused attempts did not extend the pause: it ends five minutes after it began.
    app.clock.advance(Duration::from_secs(5 * 60 + 1));
    let later = Console::new(&app);
    later.sign_in().await;
    assert!(later.page("/admin/audit").await.contains("Sign-ins locked"));
}

#[apply(each_engine)]
#[tokio::test]
async fn guesses_sent_all_at_once_get_no_more_checks_than_serial_ones(engine: Engine) {
    let Some(app) = spawn_console(engine, &[]).await else {
        return;
    };
    let attacker = Console::new(&app);
    let csrf = csrf_of(&attacker.page("/admin/login").await);
    let guess = |password: String| {
        let (http, url, csrf) = (
            attacker.browser.http.clone(),
            format!("{}/admin/login", app.address),
            csrf.clone(),
        );
        async move {
            http.post(url)
                .form(&[("csrf", csrf.as_str()), ("password", password.as_str())])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // Sixty wrong passwords at once: as many checks as five sent one by one.
    let statuses =
        futures_util::future::join_all((0..60).map(|n| guess(format!("guess {n}")))).await;
    let wrong = statuses.iter().filter(|s| **s == 401).count();
    let paused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(wrong + paused, 60, "{statuses:?}");
    assert_eq!(
        wrong, 4,
        "the fifth check failed and paused the address: {statuses:?}"
    );
    // The audit says the same: four failures and one pause. (Had the other fifty-five been
    // checked, each would have failed and paused the address again.)
    sqlx::any::install_default_drivers();
    let mut db = sqlx::AnyConnection::connect(app.config.database_url.expose())
        .await
        .unwrap();
    let actions: Vec<String> = sqlx::query_scalar("SELECT action FROM admin_audit ORDER BY id")
        .fetch_all(&mut db)
        .await
        .unwrap();
    let failed = actions.iter().filter(|a| *a == "sign_in_failed").count();
    let locked = actions.iter().filter(|a| *a == "sign_in_locked").count();
    assert_eq!((failed, locked), (4, 1), "{actions:?}");
    // And the address stays paused.
    assert_eq!(attacker.try_password(PASSWORD).await.status(), 429);
}

#[apply(each_engine)]
#[tokio::test]
async fn a_session_ends_after_twelve_idle_hours_but_not_while_used(engine: Engine) {
    let Some(app) = spawn_console(engine, &[]).await else {
        return;
    };
    let console = Console::new(&app);
    console.sign_in().await;
    for _ in 0..3 {
        app.clock.advance(Duration::from_secs(11 * 3_600));
        assert_eq!(
            console.get("/admin").await.status(),
            200,
            "used within 12 h"
        );
    }
    app.clock.advance(Duration::from_secs(12 * 3_600));
    let expired = console.get("/admin").await;
    assert_eq!(expired.status(), 303);
    assert_eq!(location(&expired), "/admin/login");
}

#[apply(each_engine)]
#[tokio::test]
async fn signing_out_ends_the_session_even_for_a_copied_cookie(engine: Engine) {
    let Some(app) = spawn_console(engine, &[]).await else {
        return;
    };
    let console = Console::new(&app);
    let response = console.try_password(PASSWORD).await;
    let cookie = session_cookie(&response).unwrap();
    let pair = cookie.split(';').next().unwrap().to_owned();
    let copy = |path: &str| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(format!("{}{path}", app.address))
            .header("cookie", pair.clone())
            .send()
    };
    assert_eq!(copy("/admin").await.unwrap().status(), 200);

    let out = console.act("/admin/logout").await;
    assert_eq!(out.status(), 303);
    assert_eq!(location(&out), "/admin/login?signed_out=1");
    assert_eq!(
        copy("/admin").await.unwrap().status(),
        303,
        "ended everywhere"
    );
    assert!(
        console
            .page("/admin/login?signed_out=1")
            .await
            .contains("You have signed out")
    );
}

#[tokio::test]
async fn a_new_password_ends_the_sessions_of_the_old_one() {
    let before = spawn_console(Engine::Sqlite, &[]).await.unwrap();
    let console = Console::new(&before);
    console.sign_in().await;
    // A replica (or a restart) on the same database with another password.
    let after = spawn_app_with(&[
        "--database-url",
        before.config.database_url.expose(),
        "--admin-password",
        "a brand new password",
    ])
    .await;
    // Cookies are per host, not per port: the same browser brings its cookie along.
    let moved = Console {
        browser: console.browser,
        base: after.address.clone(),
    };
    assert_eq!(moved.get("/admin").await.status(), 303);
    let same_password = Console {
        browser: moved.browser,
        base: before.address.clone(),
    };
    assert_eq!(
        same_password.get("/admin").await.status(),
        200,
        "still good where it was made"
    );
}

#[apply(each_engine)]
#[tokio::test]
async fn forms_without_the_sessions_token_are_forbidden_and_change_nothing(engine: Engine) {
    let Some((app, console, id)) = console_with_seller(engine).await else {
        return;
    };
    platform_must_not_be_called(&app).await;
    let other_session = Console::new(&app);
    other_session.sign_in().await;
    let foreign = other_session.csrf().await;
    for action in ["reveal", "refresh", "delete"] {
        let path = format!("/admin/sellers/{id}/{action}");
        for fields in [vec![], vec![("csrf", "")], vec![("csrf", foreign.as_str())]] {
            let response = console.post(&path, &fields).await;
            assert_eq!(response.status(), 403, "{action} {fields:?}");
            let body = response.text().await.unwrap();
            assert!(body.contains("nothing was changed"), "{body}");
            assert!(!body.contains("50000601c30atA"), "not revealed");
        }
    }
    assert_eq!(console.post("/admin/logout", &[]).await.status(), 403);
    assert_eq!(console.get("/admin").await.status(), 200, "still signed in");
    let audit = console.page("/admin/audit").await;
    assert!(
        !audit.contains("Revealed") && !audit.contains("Deleted") && !audit.contains("Refreshed")
    );
    assert!(
        console
            .page(&format!("/admin/sellers/{id}"))
            .await
            .contains("first-shop")
    );
}

#[apply(each_engine)]
#[tokio::test]
async fn tokens_are_masked_until_revealed_and_each_reveal_is_audited(engine: Engine) {
    let Some((app, console, id)) = console_with_seller(engine).await else {
        return;
    };
    let access = "50000601c30atAACCESS";
    let refresh = "500016000300bwaAREFRESH";
    let page = console.page(&format!("/admin/sellers/{id}")).await;
    assert!(!page.contains(access) && !page.contains(refresh), "{page}");
    assert!(
        page.contains("5000…CESS") && page.contains("5000…RESH"),
        "{page}"
    );
    assert!(
        page.contains(&format!("{}/authorize", app.config.public_base())),
        "re-authorization link"
    );

    // The POST ends on a GET (a reload resubmits nothing), which shows the tokens while
    // its pass holds, to this session only.
    let reveal = console.act(&format!("/admin/sellers/{id}/reveal")).await;
    assert_eq!(reveal.status(), 303);
    let shown_at = location(&reveal);
    assert!(
        shown_at.starts_with(&format!("/admin/sellers/{id}?revealed=")),
        "{shown_at}"
    );
    for _ in 0..2 {
        let revealed = console.get(&shown_at).await;
        assert_eq!(revealed.status(), 200);
        assert_eq!(revealed.headers()["cache-control"], "no-store");
        let revealed = revealed.text().await.unwrap();
        assert!(revealed.contains(access) && revealed.contains(refresh));
        assert!(revealed.contains(r#"data-copy-target="access-token""#));
    }
    let other_session = Console::new(&app);
    other_session.sign_in().await;
    let elsewhere = other_session.page(&shown_at).await;
    assert!(!elsewhere.contains(access), "the pass is this session's");
    app.clock.advance(Duration::from_secs(61));
    let later = console.page(&shown_at).await;
    assert!(
        !later.contains(access) && !later.contains(refresh),
        "{later}"
    );
    assert!(later.contains("masked again"), "{later}");

    let audit = console.page("/admin/audit").await;
    assert!(audit.contains("Revealed tokens"), "{audit}");
    assert!(audit.contains("first-shop (2001)"), "{audit}");
    assert!(!audit.contains(access) && !audit.contains(refresh));
}

#[apply(each_engine)]
#[tokio::test]
async fn refresh_now_renews_the_pair_and_records_it(engine: Engine) {
    let Some((app, console, id)) = console_with_seller(engine).await else {
        return;
    };
    Mock::given(method("POST"))
        .and(path("/rest/auth/token/refresh"))
        .and(ValidSignature {
            api_path: "/auth/token/refresh",
        })
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "renewed-access-token-0001", "expires_in": 86_400,
            "seller_id": "2001", "code": "0", "request_id": "rr"})))
        .expect(1)
        .mount(&app.platform)
        .await;
    let response = console.act(&format!("/admin/sellers/{id}/refresh")).await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        location(&response),
        format!("/admin/sellers/{id}?notice=refreshed")
    );
    let page = console.page(&location(&response)).await;
    assert!(
        page.contains("Refreshed: the seller has a new access token"),
        "{page}"
    );
    assert!(page.contains("rene…0001"), "{page}");
    assert!(!page.contains("renewed-access-token-0001"), "still masked");
    assert!(console.page("/admin/audit").await.contains("Refreshed"));
}

#[apply(each_engine)]
#[tokio::test]
async fn a_failed_refresh_is_shown_and_audited(engine: Engine) {
    let Some((app, console, id)) = console_with_seller(engine).await else {
        return;
    };
    Mock::given(method("POST"))
        .and(path("/rest/auth/token/refresh"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "code": "ServiceUnavailable", "message": "try <b>later</b>", "request_id": "rq"})))
        .mount(&app.platform)
        .await;
    let response = console.act(&format!("/admin/sellers/{id}/refresh")).await;
    assert_eq!(
        location(&response),
        format!("/admin/sellers/{id}?notice=refresh_failed")
    );
    let page = console.page(&location(&response)).await;
    assert!(page.contains("The refresh failed"), "{page}");
    assert!(page.contains("ServiceUnavailable"), "{page}");
    assert!(
        page.contains("try &#60;b&#62;later") || page.contains("try &lt;b&gt;later"),
        "escaped: {page}"
    );
    let sellers = console.page("/admin").await;
    assert!(sellers.contains("Failing"), "{sellers}");
    let audit = console.page("/admin/audit").await;
    assert!(
        audit.contains("Refresh failed") && audit.contains("ServiceUnavailable"),
        "{audit}"
    );
}

#[apply(each_engine)]
#[tokio::test]
async fn delete_asks_first_then_forgets_the_seller(engine: Engine) {
    let Some((_app, console, id)) = console_with_seller(engine).await else {
        return;
    };
    let confirm = console.page(&format!("/admin/sellers/{id}/delete")).await;
    assert!(confirm.contains("Delete first-shop?"), "{confirm}");
    assert!(
        console.page("/admin").await.contains("first-shop"),
        "asking deletes nothing"
    );

    let response = console.act(&format!("/admin/sellers/{id}/delete")).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/admin?notice=deleted");
    let sellers = console.page("/admin?notice=deleted").await;
    assert!(
        sellers.contains("The seller&#39;s tokens were deleted")
            || sellers.contains("The seller's tokens were deleted"),
        "{sellers}"
    );
    assert!(
        sellers.contains("No seller has authorized yet"),
        "{sellers}"
    );
    assert_eq!(
        console.get(&format!("/admin/sellers/{id}")).await.status(),
        404
    );
    let audit = console.page("/admin/audit").await;
    assert!(
        audit.contains("Deleted") && audit.contains("first-shop (2001)"),
        "{audit}"
    );
}

#[apply(each_engine)]
#[tokio::test]
async fn sellers_needing_attention_come_first_and_the_filter_narrows(engine: Engine) {
    let Some(app) = spawn_console(engine, &[]).await else {
        return;
    };
    // Authorized 24 days ago with a 30-day refresh token: expiring within the week.
    authorize(&app, seller_answer("B", "2002", "old-shop", 30)).await;
    app.clock.advance(Duration::from_secs(24 * 86_400));
    authorize(&app, seller_answer("A", "2001", "new-shop", 60)).await;
    authorize(&app, seller_answer("C", "2003", "other-shop", 60)).await;

    let console = Console::new(&app);
    console.sign_in().await;
    let page = console.page("/admin").await;
    let old = page.find("old-shop").unwrap();
    assert!(
        old < page.find("new-shop").unwrap() && old < page.find("other-shop").unwrap(),
        "{page}"
    );
    assert!(page.contains("Refresh expiring"), "{page}");
    assert!(page.contains("1 needs attention"), "{page}");
    assert!(page.contains("in 6 days"), "a countdown: {page}");
    assert!(page.contains(" UTC"), "and a UTC time: {page}");

    let filtered = console.page("/admin?q=NEW-shop").await;
    assert!(
        filtered.contains("new-shop")
            && !filtered.contains("old-shop")
            && !filtered.contains("other-shop")
    );
    let by_id = console.page("/admin?q=2003").await;
    assert!(by_id.contains("other-shop") && !by_id.contains("new-shop"));
    assert!(by_id.contains("1 seller matches “2003”."), "{by_id}");
    let none = console.page("/admin?q=%3Cscript%3E").await;
    assert!(
        none.contains("No seller matches") && !none.contains("<script>"),
        "{none}"
    );

    // A badge's words list that state, and the count says how many.
    let expiring = console.page("/admin?q=refresh+EXPIRING").await;
    assert!(
        expiring.contains("old-shop") && !expiring.contains("new-shop"),
        "{expiring}"
    );
    assert!(
        expiring.contains("1 seller in state “Refresh expiring”."),
        "{expiring}"
    );
    let active = console.page("/admin?status=active").await;
    assert!(active.contains("2 sellers in state “Active”."), "{active}");
    // A healthy row's last error is a plain dash, not an error.
    assert!(!active.contains(r#"class="error-cell""#), "{active}");
}

/// The `href` of the element with this id, unescaped, if the page has it.
fn link_of(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!(r#"id="{id}""#))?;
    let tag_start = html[..at].rfind('<')?;
    let tag = &html[tag_start..];
    let href = tag.split(r#"href=""#).nth(1)?;
    Some(
        href[..href.find('"')?]
            .replace("&amp;", "&")
            .replace("&#x2f;", "/"),
    )
}

/// The seller ids of a sellers page, in the order shown.
fn listed(html: &str) -> Vec<String> {
    html.split(r#"class="seller-link">"#)
        .skip(1)
        .map(|rest| rest[..rest.find('<').unwrap()].to_owned())
        .collect()
}

#[apply(each_engine)]
#[tokio::test]
async fn the_sellers_list_pages_both_ways_counts_by_state_and_searches(engine: Engine) {
    let Some(app) = spawn_console(engine, &["--exchange-limit", "off"]).await else {
        return;
    };
    // 110 sellers; every tenth authorized 24 days before the rest with a 30-day refresh
    // token, so expiring within the week.
    for n in 0..110 {
        if n % 10 == 0 {
            authorize(
                &app,
                seller_answer("E", &format!("{}", 5000 + n), "aging-shop", 30),
            )
            .await;
        }
    }
    app.clock.advance(Duration::from_secs(24 * 86_400));
    for n in 0..110 {
        if n % 10 != 0 {
            let nick = format!("shop-{n}");
            authorize(
                &app,
                seller_answer("F", &format!("{}", 5000 + n), &nick, 60),
            )
            .await;
        }
    }
    let console = Console::new(&app);
    console.sign_in().await;

    let first = console.page("/admin").await;
    assert!(first.contains("110 authorized"), "{first}");
    assert!(first.contains("11 need attention"), "{first}");
    assert!(
        link_of(&first, "previous-page").is_none(),
        "nothing before the first page"
    );
    let mut seen = listed(&first);
    assert_eq!(seen.len(), 50);
    assert!(
        seen[..11]
            .iter()
            .all(|id| (id.parse::<u32>().unwrap() - 5000) % 10 == 0),
        "the expiring ones first: {seen:?}"
    );
    let mut page = first.clone();
    let mut pages = vec![first.clone()];
    while let Some(next) = link_of(&page, "next-page") {
        page = console.page(&next).await;
        seen.extend(listed(&page));
        pages.push(page.clone());
    }
    assert_eq!(pages.len(), 3, "50, 50 and 10");
    let unique: std::collections::BTreeSet<_> = seen.iter().collect();
    assert_eq!((seen.len(), unique.len()), (110, 110), "every seller once");

    // Back from the last page, the same pages.
    let mut back = pages.pop().unwrap();
    while let Some(previous) = link_of(&back, "previous-page") {
        back = console.page(&previous).await;
        assert_eq!(listed(&back), listed(&pages.pop().unwrap()));
    }
    assert!(pages.is_empty(), "back to the first page");

    // The count of a state is a link to its sellers.
    let expiring = first
        .split("state-count")
        .find(|part| part.contains("Refresh expiring"))
        .unwrap();
    assert!(
        expiring.contains("</span> 11</a>") || expiring.contains(" 11</a>"),
        "{expiring}"
    );
    let only = console.page("/admin?status=refresh_expiring").await;
    assert_eq!(listed(&only).len(), 11);
    assert!(only.contains("All states"));

    // The search runs in the database: an id prefix, a word of the nick.
    let by_prefix = listed(&console.page("/admin?q=510").await);
    let expected: Vec<String> = (5100..5110).map(|id| id.to_string()).collect();
    assert_eq!(
        by_prefix, expected,
        "the expiring 5100 first, then by expiry and age"
    );
    let by_nick = listed(&console.page("/admin?q=SHOP-11").await);
    assert_eq!(by_nick, ["5011"], "a nick, ignoring case");
    let aging = listed(&console.page("/admin?q=aging&status=refresh_expiring").await);
    assert_eq!(aging.len(), 11);
}

#[tokio::test]
async fn the_audit_log_is_paged_newest_first() {
    let app = spawn_console(Engine::Sqlite, &[]).await.unwrap();
    authorize(&app, seller_answer("A", "2001", "first-shop", 60)).await;
    let console = Console::new(&app);
    console.sign_in().await;
    let id = first_seller_id(&console.page("/admin").await);
    let csrf = console.csrf().await;
    for _ in 0..55 {
        let response = console
            .post(&format!("/admin/sellers/{id}/reveal"), &[("csrf", &csrf)])
            .await;
        assert_eq!(response.status(), 303);
    }
    let first = console.page("/admin/audit").await;
    assert_eq!(first.matches("Revealed tokens").count(), 50);
    assert!(
        !first.contains("Signed in"),
        "the sign-in is older than 50 reveals"
    );
    let older = first.split(r#"href="/admin/audit?before="#).nth(1).unwrap();
    let before: String = older.chars().take_while(char::is_ascii_digit).collect();
    let second = console.page(&format!("/admin/audit?before={before}")).await;
    assert_eq!(second.matches("Revealed tokens").count(), 5);
    assert!(second.contains("Signed in"));
    assert!(!second.contains(r#"id="older""#));
}

/// A Lazada seller has no top-level seller id: every view shows its first country's, and
/// each country's ids and short code where there is room.
#[tokio::test]
async fn a_lazada_seller_has_the_same_seller_id_in_every_view() {
    use crate::token_api::API_KEY;
    let app = spawn_console(
        Engine::Sqlite,
        &["--platform", "lazada", "--api-keys", API_KEY],
    )
    .await
    .unwrap();
    platform_answers(
        &app,
        json!({"access_token": "lz-access", "refresh_token": "lz-refresh", "country": "cb",
               "account": "cb-seller@example.com", "expires_in": 604800,
               "refresh_expires_in": 1209600,
               "country_user_info": [
                   {"country": "th", "user_id": "100236220", "seller_id": "17348", "short_code": "TH10FEX"},
                   {"country": "my", "user_id": "100236221", "seller_id": "17349", "short_code": "MY10FEX"}],
               "code": "0", "request_id": "0b86d549"}),
    )
    .await;
    let (_, result) = Browser::new().authorize_fully(&app, "0_1_lz").await;
    assert!(result.contains("<dt>Seller ID</dt>"), "{result}");

    let console = Console::new(&app);
    console.sign_in().await;
    let list = console.page("/admin").await;
    assert!(
        list.contains(r#"class="seller-link">17348</a>"#),
        "the link is the seller id: {list}"
    );
    let id = first_seller_id(&list);
    let page = console.page(&format!("/admin/sellers/{id}")).await;
    for shown in ["17348", "17349", "TH10FEX", "MY10FEX"] {
        assert!(page.contains(shown), "{shown}: {page}");
    }

    let (_, listed) = crate::token_api::get_json(&app, "/api/v1/tokens").await;
    assert_eq!(listed[0]["seller_id"], "17348", "{listed}");
    assert_eq!(listed[0]["countries"][1]["short_code"], "MY10FEX");
    for lookup in ["17348", "17349"] {
        let (_, one) = crate::token_api::get_json(&app, &format!("/api/v1/tokens/{lookup}")).await;
        assert_eq!(one["seller_id"], "17348", "looked up by {lookup}: {one}");
    }

    // The command line, on the same database (reading needs no app settings).
    let database = format!("sqlite://{}/tokens.db", app._data.path().display());
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_iop-callback"))
            .args(["--database-url", database.as_str()])
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(output.status.success(), "{args:?}: {output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let table = run(&["tokens", "list"]);
    let row = table.lines().nth(1).unwrap();
    assert!(row.starts_with("17348"), "{table}");
    let shown = run(&["tokens", "show", "17349"]);
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("seller") && l.ends_with("17348")),
        "{shown}"
    );
    assert!(
        shown.contains("TH10FEX") && shown.contains("MY10FEX"),
        "{shown}"
    );
}

/// A seller whose refresh token the platform refused: the link for the seller comes
/// first, no refresh is offered, and the refresh token shows no countdown as if it lived.
#[apply(each_engine)]
#[tokio::test]
async fn a_seller_to_reauthorize_gets_the_link_first_and_no_refresh(engine: Engine) {
    let Some((app, console, id)) = console_with_seller(engine).await else {
        return;
    };
    let refresh_card = |page: &str| {
        let card = &page[page.find("<h2>Refresh token</h2>").unwrap()..];
        card[..card.find("</section>").unwrap()].to_owned()
    };
    let page = console.page(&format!("/admin/sellers/{id}")).await;
    assert!(page.contains(r#"id="refresh""#), "offered while it works");
    let countdown = refresh_card(&page);
    let countdown = countdown.split(r#"class="remaining">"#).nth(1).unwrap();
    let countdown = &countdown[..countdown.find('<').unwrap()];
    assert!(countdown.starts_with("in "), "{countdown}");
    Mock::given(method("POST"))
        .and(path("/rest/auth/token/refresh"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "code": "IllegalRefreshToken", "message": "expired", "request_id": "rr"})))
        .mount(&app.platform)
        .await;
    let refused = console.act(&format!("/admin/sellers/{id}/refresh")).await;
    assert_eq!(
        location(&refused),
        format!("/admin/sellers/{id}?notice=reauthorize")
    );

    let page = console.page(&format!("/admin/sellers/{id}")).await;
    assert!(page.contains("This seller must authorize again"), "{page}");
    let link = page.find(r#"id="reauthorize-link""#).unwrap();
    for later in [
        r#"id="access-expiry""#,
        r#"id="reveal""#,
        r#"id="identity""#,
    ] {
        assert!(link < page.find(later).unwrap(), "the link before {later}");
    }
    assert!(!page.contains(r#"id="refresh""#), "{page}");
    let card = refresh_card(&page);
    assert!(card.contains("No longer accepted"), "{card}");
    assert!(!card.contains(countdown), "{card}");
    // The access token still works until it expires, and says when.
    assert!(page.contains(r#"id="access-expiry""#));
}

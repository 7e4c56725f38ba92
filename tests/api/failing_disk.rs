//! A failing disk loses nothing: readiness says when the store cannot be written, and
//! tokens the store will not take are shown to the seller's browser instead of dropped.

use sqlx::{Connection, Executor};

use std::time::Duration;

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::binary::RunningBinary;
use crate::helpers::*;

fn database_file(app: &TestApp) -> std::path::PathBuf {
    std::path::PathBuf::from(
        app.config
            .database_url
            .expose()
            .trim_start_matches("sqlite://"),
    )
}

#[tokio::test]
async fn a_deleted_or_replaced_database_file_is_not_ready() {
    for replace in [false, true] {
        let app = spawn_app().await;
        let readyz = format!("{}/readyz", app.address);
        assert_eq!(Browser::new().get(&readyz).await.status(), 200);
        let file = database_file(&app);
        std::fs::remove_file(&file).unwrap();
        if replace {
            std::fs::write(&file, b"").unwrap();
        }
        assert_eq!(
            Browser::new().get(&readyz).await.status(),
            503,
            "replaced: {replace}"
        );
    }
}

#[tokio::test]
async fn tokens_the_store_will_not_take_are_shown_once_with_a_warning_and_counted() {
    let app = spawn_app_with(&["--metrics-listen", "127.0.0.1:0"]).await;
    platform_answers(&app, aliexpress_success("UNSAVED")).await;
    let browser = Browser::new();
    let state = browser.start_authorization(&app).await;
    // The disk goes bad between the seller leaving and coming back: the tokens table is gone.
    sqlx::any::install_default_drivers();
    let mut db = sqlx::AnyConnection::connect(app.config.database_url.expose())
        .await
        .unwrap();
    db.execute("DROP TABLE token_sellers").await.unwrap();
    db.execute("DROP TABLE tokens").await.unwrap();

    let response = browser
        .callback(&app, &format!("code=UNSAVED&state={state}"))
        .await;
    assert_eq!(response.status(), 500);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let html = response.text().await.unwrap();
    assert!(html.contains("NOT SAVED") && html.contains("give them to the operator"));
    assert!(
        html.contains("50000601c30atUNSAVEDACCESS"),
        "the access token is on the page"
    );
    assert!(html.contains("500016000300bwaUNSAVEDREFRESH"));
    assert_eq!(token_calls(&app).await, 1, "the code was exchanged once");

    let metrics = browser
        .text(&format!(
            "{}/metrics",
            app.metrics_address.as_ref().unwrap()
        ))
        .await;
    assert!(
        metrics.contains(r#"iop_callback_tokens_unsaved_total{app="default"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_authorization_after_the_database_file_was_deleted_claims_nothing_stored() {
    let app = spawn_app().await;
    platform_answers(&app, aliexpress_success("DELETED")).await;
    let browser = Browser::new();
    let state = browser.start_authorization(&app).await;
    std::fs::remove_file(database_file(&app)).unwrap();

    let response = browser
        .callback(&app, &format!("code=DELETED&state={state}"))
        .await;
    assert_eq!(response.status(), 500);
    let html = response.text().await.unwrap();
    assert!(!html.contains("stored and kept fresh"), "{html}");
    assert_eq!(
        token_calls(&app).await,
        0,
        "nothing was written, so the code was not spent: the seller can try again"
    );
}

/// Makes every file of the database immutable (`chattr +i`) until dropped: the files stay
/// where they are and open, and no process may write them, root included.
struct Frozen(Vec<std::ffi::OsString>);

impl Frozen {
    fn database(database: &std::path::Path) -> Frozen {
        let files: Vec<_> = ["", "-wal", "-shm", "-journal"]
            .iter()
            .map(|suffix| {
                let mut name = database.as_os_str().to_owned();
                name.push(suffix);
                name
            })
            .filter(|name| std::path::Path::new(name).exists())
            .collect();
        chattr("+i", &files);
        Frozen(files)
    }
}

/// Thawed even when the test fails, or the temporary folder could not be removed.
impl Drop for Frozen {
    fn drop(&mut self) {
        chattr("-i", &self.0);
    }
}

fn chattr(flag: &str, files: &[std::ffi::OsString]) {
    let status = std::process::Command::new("chattr")
        .arg(flag)
        .args(files)
        .status()
        .expect("chattr runs");
    assert!(status.success(), "chattr {flag} {files:?}");
}

/// The database files turn immutable while the platform exchanges the code (a frozen
/// volume, a snapshot tool): the process keeps running, the seller sees the tokens once
/// with the warning, and the next request is still answered.
#[tokio::test]
async fn a_database_frozen_mid_exchange_does_not_kill_the_process_and_the_tokens_are_shown_once() {
    let platform = MockServer::start().await;
    let data = tempfile::tempdir().unwrap();
    let mut binary = RunningBinary::start(&platform, &data, &[]);
    let app = binary.as_test_app(platform);
    Mock::given(method("POST"))
        .and(path(CREATE_PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(aliexpress_success("FROZEN"))
                .set_delay(Duration::from_millis(700)),
        )
        .mount(&app.platform)
        .await;
    let browser = Browser::new();
    let state = browser.start_authorization(&app).await;
    let query = format!("code=FROZEN&state={state}");
    let callback = browser.callback(&app, &query);
    let freeze = async {
        // The state is claimed and the platform called by now; the answer is on its way.
        while token_calls(&app).await == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Frozen::database(&data.path().join("tokens.db"))
    };
    let (response, frozen) = tokio::join!(callback, freeze);
    let alive = binary.child.try_wait().unwrap().is_none();
    drop(frozen);
    assert!(alive, "the process died: {:?}", binary.child.try_wait());
    assert_eq!(response.status(), 500);
    let html = response.text().await.unwrap();
    assert!(html.contains("NOT SAVED"), "{html}");
    assert!(html.contains("50000601c30atFROZENACCESS"), "{html}");
    assert_eq!(
        Browser::new()
            .get(&format!("{}/healthz", app.address))
            .await
            .status(),
        200
    );
}

//! Startup errors that lead to the fix: each names its variable, exits 2, and touches
//! nothing that is not the service's.

use std::process::Output;

use crate::helpers::{APP_KEY, APP_SECRET};

/// Runs `iop-callback serve` with `args` and returns how it ended (it must not start).
async fn serve(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_iop-callback"));
        command.args(["--app-key", APP_KEY, "--app-secret", APP_SECRET]);
        if !args.iter().any(|a| a == "--listen") {
            command.args(["--listen", "127.0.0.1:0"]);
        }
        command.args(&args).arg("serve").output().unwrap()
    })
    .await
    .unwrap()
}

fn refused(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(2), "exit code 2");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn a_database_path_under_a_file_names_the_variable_the_path_and_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-folder");
    std::fs::write(&file, "x").unwrap();
    let url = format!("sqlite://{}/tokens.db", file.display());
    let stderr = refused(&serve(vec!["--database-url".into(), url]).await);
    assert!(stderr.contains("IOP_DATABASE_URL"), "{stderr}");
    assert!(stderr.contains(&file.display().to_string()), "{stderr}");
    assert!(stderr.contains("is a file, not a folder"), "{stderr}");
}

#[cfg(unix)]
#[tokio::test]
async fn a_file_that_is_not_a_database_is_refused_and_left_as_it_was() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "someone else's file\n").unwrap();
    std::fs::set_permissions(&notes, std::fs::Permissions::from_mode(0o644)).unwrap();
    let url = format!("sqlite://{}", notes.display());
    let stderr = refused(&serve(vec!["--database-url".into(), url]).await);
    assert!(stderr.contains("not a SQLite database"), "{stderr}");
    let mode = std::fs::metadata(&notes).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o644, "its mode was not touched");
    assert_eq!(
        std::fs::read_to_string(&notes).unwrap(),
        "someone else's file\n"
    );
}

#[tokio::test]
async fn an_address_in_use_names_the_listener_and_the_flag() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/t.db", dir.path().display());
    let stderr = refused(
        &serve(vec![
            "--database-url".into(),
            database.clone(),
            "--metrics-listen".into(),
            address.clone(),
        ])
        .await,
    );
    assert!(
        stderr.contains("IOP_METRICS_LISTEN") && stderr.contains("--metrics-listen"),
        "{stderr}"
    );
    let stderr = refused(
        &serve(vec![
            "--database-url".into(),
            database,
            "--listen".into(),
            address,
        ])
        .await,
    );
    assert!(
        stderr.contains("IOP_LISTEN") && stderr.contains("--listen"),
        "{stderr}"
    );
}

#[tokio::test]
async fn an_empty_secret_file_names_that_variable() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "\n").unwrap();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_iop-callback"))
            .args(["--app-key", APP_KEY, "--app-secret-file"])
            .arg(&secret)
            .arg("serve")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = refused(&output);
    assert!(stderr.contains("IOP_APP_SECRET_FILE: is empty"), "{stderr}");
}

#[tokio::test]
async fn an_unreachable_postgres_names_the_host_and_port_and_why_but_not_the_password() {
    // Nothing listens on port 1.
    let url = "postgres://someone:secretpw@127.0.0.1:1/tokens".to_owned();
    let started = std::time::Instant::now();
    let stderr = refused(&serve(vec!["--database-url".into(), url]).await);
    assert!(stderr.contains("IOP_DATABASE_URL"), "{stderr}");
    assert!(stderr.contains("someone@127.0.0.1:1/tokens"), "{stderr}");
    assert!(stderr.contains("connection refused"), "{stderr}");
    assert!(!stderr.contains("secretpw"), "{stderr}");
    assert!(!stderr.contains("pool timed out"), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

#[tokio::test]
async fn a_missing_postgres_database_is_named_as_missing() {
    let Some(server) = iop_callback::store::test_database::fresh_postgres_url().await else {
        return;
    };
    let mut url = url::Url::parse(&server).unwrap();
    url.set_path("/iop_no_such_database");
    let stderr = refused(&serve(vec!["--database-url".into(), url.to_string()]).await);
    assert!(stderr.contains("/iop_no_such_database"), "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");
}

#[cfg(unix)]
#[tokio::test]
async fn another_applications_sqlite_database_or_an_empty_file_is_refused_and_left_alone() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let theirs = dir.path().join("theirs.db");
    {
        let db = rusqlite::Connection::open(&theirs).unwrap();
        db.execute_batch("CREATE TABLE x (y INTEGER); INSERT INTO x VALUES (1);")
            .unwrap();
    }
    std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o644)).unwrap();
    let before = std::fs::read(&theirs).unwrap();
    let stderr = refused(
        &serve(vec![
            "--database-url".into(),
            format!("sqlite://{}", theirs.display()),
        ])
        .await,
    );
    assert!(
        stderr.contains("another application's SQLite database"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&theirs).unwrap(), before, "not migrated");
    let mode = std::fs::metadata(&theirs).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o644, "not chmod-ed");

    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, "").unwrap();
    let stderr = refused(
        &serve(vec![
            "--database-url".into(),
            format!("sqlite://{}", empty.display()),
        ])
        .await,
    );
    assert!(stderr.contains("exists and is empty"), "{stderr}");
    assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0);
}

/// A value clap refuses names the environment variable it came from, as well as the flag.
#[tokio::test]
async fn a_refused_value_from_the_environment_names_its_variable() {
    let run = |env: Option<&'static str>, flag: Option<&'static str>| {
        tokio::task::spawn_blocking(move || {
            let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_iop-callback"));
            if let Some(value) = env {
                command.env("IOP_PLATFORM", value);
            }
            if let Some(value) = flag {
                command.args(["--platform", value]);
            }
            command.args(["tokens", "list"]).output().unwrap()
        })
    };
    let from_env = refused(&run(Some("aliexpres"), None).await.unwrap());
    assert!(from_env.contains("--platform"), "{from_env}");
    assert!(
        from_env.contains("the environment variable IOP_PLATFORM"),
        "{from_env}"
    );
    let from_flag = refused(&run(Some("lazada"), Some("aliexpres")).await.unwrap());
    assert!(!from_flag.contains("environment variable"), "{from_flag}");
}

#[tokio::test]
async fn webhook_urls_need_a_secret_in_the_form_generate_secret_prints() {
    let hook = "http://127.0.0.1:9/hook".to_owned();
    let stderr = refused(&serve(vec!["--webhook-urls".into(), hook.clone()]).await);
    assert!(stderr.contains("IOP_WEBHOOK_SECRET"), "{stderr}");
    assert!(stderr.contains("webhooks generate-secret"), "{stderr}");
    let stderr = refused(
        &serve(vec![
            "--webhook-urls".into(),
            hook.clone(),
            "--webhook-secret".into(),
            "not-a-whsec-secret".into(),
        ])
        .await,
    );
    assert!(stderr.contains("whsec_"), "{stderr}");
    assert!(
        !stderr.contains("not-a-whsec-secret"),
        "the secret is not echoed: {stderr}"
    );
    let stderr = refused(&serve(vec!["--webhook-urls".into(), "ftp://x/".into()]).await);
    assert!(stderr.contains("IOP_WEBHOOK_URLS"), "{stderr}");

    // What the command prints is taken.
    let printed = tokio::task::spawn_blocking(|| {
        std::process::Command::new(env!("CARGO_BIN_EXE_iop-callback"))
            .args(["webhooks", "generate-secret"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(printed.status.code(), Some(0));
    let secret = String::from_utf8(printed.stdout).unwrap().trim().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let app =
        crate::helpers::spawn_app_with(&["--webhook-urls", &hook, "--webhook-secret", &secret])
            .await;
    let healthz = crate::helpers::Browser::new()
        .get(&format!("{}/healthz", app.address))
        .await;
    assert_eq!(healthz.status(), 200);
}

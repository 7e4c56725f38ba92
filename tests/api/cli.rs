//! The command line against the stand-in platform: each `tokens` command, `exchange`,
//! `authorize-url`, `import`, and the documented exit codes.

use std::process::Output;

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;
use crate::sandbox::{SECRET as SANDBOX_SECRET, StandaloneSandbox, spawn_sandbox};

/// The binary's configuration: a platform at `api_base` and a database in `data`.
struct Cli {
    args: Vec<String>,
    _data: tempfile::TempDir,
}

impl Cli {
    fn against(api_url: &str, authorize_url: &str, app_key: &str, secret: &str) -> Cli {
        let data = tempfile::tempdir().unwrap();
        let args = vec![
            "--app-key".to_owned(),
            app_key.to_owned(),
            "--app-secret".to_owned(),
            secret.to_owned(),
            "--api-url".to_owned(),
            api_url.to_owned(),
            "--authorize-url".to_owned(),
            authorize_url.to_owned(),
            "--database-url".to_owned(),
            format!("sqlite://{}/tokens.db", data.path().display()),
        ];
        Cli { args, _data: data }
    }

    fn sandbox(sandbox: &StandaloneSandbox) -> Cli {
        Cli::against(
            &format!("{}/sandbox/rest", sandbox.base),
            &format!("{}/sandbox/oauth/authorize", sandbox.base),
            "12345678",
            SANDBOX_SECRET,
        )
    }

    fn database_url(&self) -> String {
        format!("sqlite://{}/tokens.db", self._data.path().display())
    }

    /// Runs `iop-callback <command...>` to the end (off the async runtime's threads).
    async fn run(&self, command: &[&str]) -> Output {
        self.run_with(command, &[]).await
    }

    /// The same, with more environment.
    async fn run_with(&self, command: &[&str], env: &[(&str, &str)]) -> Output {
        let mut process = std::process::Command::new(env!("CARGO_BIN_EXE_iop-callback"));
        process
            .args(command)
            .args(&self.args)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied());
        tokio::task::spawn_blocking(move || process.output().unwrap())
            .await
            .unwrap()
    }

    async fn stdout(&self, command: &[&str]) -> String {
        let output = self.run(command).await;
        assert_eq!(
            output.status.code(),
            Some(0),
            "{command:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }
}

fn exit_code(output: &Output) -> Option<i32> {
    output.status.code()
}

#[tokio::test]
async fn exchange_then_list_show_refresh_and_delete_a_seller() {
    let sandbox = spawn_sandbox(&[], &[]).await;
    let cli = Cli::sandbox(&sandbox);
    let code = sandbox.approve("ae-store").await;

    let exchanged = cli.stdout(&["exchange", "--code", &code]).await;
    assert!(exchanged.contains("stored seller"), "{exchanged}");
    // The code is spent: a second exchange is the platform's refusal, exit 1, told as
    // the error page tells it (code, message, request id, advice).
    let spent = cli.run(&["exchange", "--code", &code]).await;
    assert_eq!(exit_code(&spent), Some(1));
    let said = String::from_utf8_lossy(&spent.stderr);
    assert!(said.contains("InvalidCode"), "{said}");
    assert!(said.contains("platform request id"), "{said}");
    assert!(said.contains("Authorize again"), "the advice: {said}");

    let table = cli.stdout(&["tokens", "list"]).await;
    let header = table.lines().next().unwrap();
    assert!(
        header.starts_with("SELLER") && header.contains("ACCESS EXPIRES"),
        "{table}"
    );
    assert!(
        table.lines().nth(1).unwrap().contains("in 1 day"),
        "{table}"
    );
    let listed: Value =
        serde_json::from_str(&cli.stdout(&["tokens", "list", "--json"]).await).unwrap();
    let seller = listed[0]["seller_id"].as_str().unwrap().to_owned();
    assert!(table.contains(&seller));

    let shown = cli.stdout(&["tokens", "show", &seller]).await;
    assert!(
        shown.contains("status") && !shown.contains("access token"),
        "{shown}"
    );
    // Reading needs the database and nothing else: no app key, no app secret.
    let reader = Cli {
        args: vec!["--database-url".to_owned(), cli.database_url()],
        _data: tempfile::tempdir().unwrap(),
    };
    let read = reader.stdout(&["tokens", "list", "--json"]).await;
    assert_eq!(serde_json::from_str::<Value>(&read).unwrap(), listed);
    assert_eq!(reader.stdout(&["tokens", "show", &seller]).await, shown);
    let default_only = reader
        .stdout(&["tokens", "list", "--json", "--app", "default"])
        .await;
    assert_eq!(
        serde_json::from_str::<Value>(&default_only).unwrap(),
        listed
    );
    // Refreshing signs a call: that still needs the app.
    let refused = reader.run(&["tokens", "refresh", &seller]).await;
    assert_eq!(exit_code(&refused), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("IOP_APP_KEY"));
    let revealed: Value = serde_json::from_str(
        &cli.stdout(&["tokens", "show", &seller, "--json", "--reveal"])
            .await,
    )
    .unwrap();
    let first_token = revealed["access_token"].as_str().unwrap().to_owned();
    assert!(!first_token.is_empty());

    let refreshed = cli.stdout(&["tokens", "refresh", &seller]).await;
    assert!(refreshed.contains("refreshed"), "{refreshed}");
    let after: Value = serde_json::from_str(
        &cli.stdout(&["tokens", "show", &seller, "--json", "--reveal"])
            .await,
    )
    .unwrap();
    assert_ne!(after["access_token"], first_token);
    // A refresh that happened is "ago", never "expired".
    let shown = cli.stdout(&["tokens", "show", &seller]).await;
    let last_refresh = shown
        .lines()
        .find(|line| line.starts_with("last refresh"))
        .unwrap();
    assert!(
        last_refresh.ends_with("(just now)") || last_refresh.ends_with("ago)"),
        "{last_refresh}"
    );
    assert!(!last_refresh.contains("expired"), "{last_refresh}");

    assert!(
        cli.stdout(&["tokens", "delete", &seller])
            .await
            .contains("forgot")
    );
    let gone = cli.run(&["tokens", "show", &seller]).await;
    assert_eq!(exit_code(&gone), Some(3));
    assert!(String::from_utf8_lossy(&gone.stderr).contains("no stored seller"));
    assert!(gone.stdout.is_empty(), "errors go to stderr");

    // Every reveal, refresh and delete from the command line is in the audit log.
    let audited: Vec<(String, String)> = {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut db = sqlx::AnyConnection::connect(&cli.database_url())
            .await
            .unwrap();
        sqlx::query_as("SELECT action, client FROM admin_audit ORDER BY id")
            .fetch_all(&mut db)
            .await
            .unwrap()
    };
    let by_command_line = |action: &str| (action.to_owned(), "command line".to_owned());
    assert_eq!(
        audited,
        [
            by_command_line("reveal"),
            by_command_line("refresh"),
            by_command_line("reveal"),
            by_command_line("delete")
        ]
    );

    // An app that is not configured is named as such, not "no sellers".
    let unknown = cli.run(&["tokens", "list", "--app", "nope"]).await;
    assert_eq!(exit_code(&unknown), Some(2));
    assert!(
        String::from_utf8_lossy(&unknown.stderr)
            .contains("unknown app `nope`; configured: default"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
}

#[tokio::test]
async fn a_state_printed_by_authorize_url_is_accepted_once_by_exchange() {
    let sandbox = spawn_sandbox(&[], &[]).await;
    let cli = Cli::sandbox(&sandbox);
    let url = cli.stdout(&["authorize-url"]).await;
    let state = query_param(url.trim(), "state").expect("a state in the URL");
    assert_eq!(
        query_param(url.trim(), "client_id").as_deref(),
        Some("12345678")
    );

    let code = sandbox.approve("ae-store").await;
    cli.stdout(&["exchange", "--code", &code, "--state", &state])
        .await;
    let again = sandbox.approve("ae-store").await;
    let reused = cli
        .run(&["exchange", "--code", &again, "--state", &state])
        .await;
    assert_eq!(exit_code(&reused), Some(2));
    assert!(String::from_utf8_lossy(&reused.stderr).contains("already used"));
    let forged = cli
        .run(&["exchange", "--code", &again, "--state", "forged"])
        .await;
    assert_eq!(exit_code(&forged), Some(2));
}

#[tokio::test]
async fn import_adopts_a_refresh_token_made_elsewhere() {
    let sandbox = spawn_sandbox(&[], &[]).await;
    let code = crate::sandbox::code_for(&sandbox, "ae-store").await;
    let made_elsewhere = sandbox
        .client("12345678", SANDBOX_SECRET)
        .create_token(&code)
        .await
        .unwrap();
    let cli = Cli::sandbox(&sandbox);
    // Without the token: what is missing, not every setting of the service.
    let missing = cli.run(&["import"]).await;
    assert_eq!(exit_code(&missing), Some(2));
    let said = String::from_utf8_lossy(&missing.stderr);
    assert!(said.contains("IOP_IMPORT_REFRESH_TOKEN"), "{said}");
    assert!(
        !said.contains("--app-key") && !said.contains("Usage"),
        "{said}"
    );
    let refresh =
        secrecy::ExposeSecret::expose_secret(made_elsewhere.refresh_token.as_ref().unwrap())
            .to_owned();
    let mut process = std::process::Command::new(env!("CARGO_BIN_EXE_iop-callback"));
    process
        .arg("import")
        .args(&cli.args)
        .env("IOP_IMPORT_REFRESH_TOKEN", &refresh);
    let output = tokio::task::spawn_blocking(move || process.output().unwrap())
        .await
        .unwrap();
    assert_eq!(
        exit_code(&output),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("imported"));
    let listed: Value =
        serde_json::from_str(&cli.stdout(&["tokens", "list", "--json"]).await).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);

    let bogus = cli.run(&["import", "--refresh-token", "not-a-token"]).await;
    assert_eq!(exit_code(&bogus), Some(1), "the platform refused it");
}

#[tokio::test]
async fn platform_calls_go_through_the_http_proxy_the_environment_names() {
    // The proxy answers what it is asked to forward as the platform would.
    let proxy = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(CREATE_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(aliexpress_success("P1")))
        .mount(&proxy)
        .await;
    // Nothing listens at the platform's address: only the proxy can answer.
    let cli = Cli::against(
        "http://127.0.0.1:9/rest",
        "http://127.0.0.1:9/oauth/authorize",
        APP_KEY,
        APP_SECRET,
    );
    let direct = cli.run(&["exchange", "--code", "P1"]).await;
    assert_ne!(
        exit_code(&direct),
        Some(0),
        "nothing answers without the proxy"
    );
    assert!(proxy.received_requests().await.unwrap().is_empty());
    let proxied = cli
        .run_with(
            &["exchange", "--code", "P1"],
            &[("HTTP_PROXY", &proxy.uri()), ("NO_PROXY", "")],
        )
        .await;
    assert_eq!(
        exit_code(&proxied),
        Some(0),
        "{}",
        String::from_utf8_lossy(&proxied.stderr)
    );
    let forwarded = proxy.received_requests().await.unwrap();
    assert_eq!(forwarded.len(), 1);
    assert_eq!(forwarded[0].url.port(), Some(9), "{}", forwarded[0].url);
}

#[tokio::test]
async fn a_seller_who_must_authorize_again_exits_4_and_bad_configuration_exits_2() {
    let platform = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(CREATE_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(aliexpress_success("R4")))
        .mount(&platform)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/auth/token/refresh"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!(
            {"type": "ISV", "code": "IllegalRefreshToken", "message": "expired", "request_id": "r"})))
        .mount(&platform)
        .await;
    let cli = Cli::against(
        &format!("{}/rest", platform.uri()),
        &format!("{}/oauth/authorize", platform.uri()),
        APP_KEY,
        APP_SECRET,
    );
    cli.stdout(&["exchange", "--code", "R4"]).await;
    let dead = cli.run(&["tokens", "refresh", "1001"]).await;
    assert_eq!(exit_code(&dead), Some(4));
    assert!(String::from_utf8_lossy(&dead.stderr).contains("/authorize"));

    // A refresh signs a call: without an app it is a configuration error.
    let elsewhere = tempfile::tempdir().unwrap();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_iop-callback"))
            .args(["tokens", "refresh", "1001"])
            .env_remove("IOP_APP_KEY")
            .current_dir(elsewhere.path())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(exit_code(&output), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("IOP_APP_KEY"));
}

#[tokio::test]
async fn a_plain_store_is_encrypted_rotated_and_backed_up_from_the_command_line() {
    let sandbox = spawn_sandbox(&[], &[]).await;
    let cli = Cli::sandbox(&sandbox);
    let code = sandbox.approve("ae-store").await;
    cli.stdout(&["exchange", "--code", &code]).await;

    let key = cli
        .stdout(&["store", "generate-key"])
        .await
        .trim()
        .to_owned();
    assert_eq!(key.len(), 44, "base64 of 32 bytes: {key}");
    // The plain store refuses a key until it is converted.
    let refused = cli.run(&["tokens", "list", "--encryption-key", &key]).await;
    assert_eq!(exit_code(&refused), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("store encrypt"));
    assert!(
        cli.stdout(&["store", "encrypt", "--encryption-key", &key])
            .await
            .contains("encrypted 1")
    );
    let listed = cli
        .stdout(&["tokens", "list", "--json", "--encryption-key", &key])
        .await;
    assert!(listed.contains("seller_id"));
    let without = cli.run(&["tokens", "list"]).await;
    assert_eq!(exit_code(&without), Some(2));
    assert!(String::from_utf8_lossy(&without.stderr).contains("IOP_ENCRYPTION_KEY"));

    let new_key = cli
        .stdout(&["store", "generate-key"])
        .await
        .trim()
        .to_owned();
    let new_key_file = cli._data.path().join("new.key");
    std::fs::write(&new_key_file, format!("{new_key}\n")).unwrap();
    cli.stdout(&[
        "store",
        "rotate-key",
        "--encryption-key",
        &key,
        "--new-key-file",
        new_key_file.to_str().unwrap(),
    ])
    .await;
    let old = cli.run(&["tokens", "list", "--encryption-key", &key]).await;
    assert_eq!(exit_code(&old), Some(2), "the old key no longer opens it");

    let backup = cli._data.path().join("copy.db");
    // A folder that is not there is named as such, with the backup's path.
    let nowhere = cli._data.path().join("missing-folder/copy.db");
    let refused = cli
        .run(&[
            "store",
            "backup",
            nowhere.to_str().unwrap(),
            "--encryption-key",
            &new_key,
        ])
        .await;
    assert_eq!(exit_code(&refused), Some(2));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains(&format!("cannot write the backup to {}", nowhere.display()))
            && said.contains("missing-folder does not exist")
            && !said.contains("IOP_DATABASE_URL"),
        "{said}"
    );
    cli.stdout(&[
        "store",
        "backup",
        backup.to_str().unwrap(),
        "--encryption-key",
        &new_key,
    ])
    .await;
    let copy = Cli {
        args: cli
            .args
            .iter()
            .map(|a| {
                if a.starts_with("sqlite://") {
                    format!("sqlite://{}", backup.display())
                } else {
                    a.clone()
                }
            })
            .collect(),
        _data: tempfile::tempdir().unwrap(),
    };
    let restored = copy
        .stdout(&["tokens", "list", "--json", "--encryption-key", &new_key])
        .await;
    assert_eq!(restored, listed);
}

/// Every command path of the binary (`[]`, `["tokens"]`, `["tokens", "list"]`, ...).
fn command_paths() -> Vec<Vec<String>> {
    use clap::CommandFactory;
    fn walk(command: &clap::Command, path: Vec<String>, out: &mut Vec<Vec<String>>) {
        out.push(path.clone());
        for sub in command.get_subcommands() {
            let mut longer = path.clone();
            longer.push(sub.get_name().to_owned());
            walk(sub, longer, out);
        }
    }
    let mut out = Vec::new();
    walk(&iop_callback::cli::Cli::command(), Vec::new(), &mut out);
    out
}

#[test]
fn no_help_shows_a_secret_from_the_environment() {
    let secrets = [
        (
            "IOP_DATABASE_URL",
            "postgres://u:secretpw-db@127.0.0.1:5432/db",
        ),
        ("IOP_APP_SECRET", "secret-app-value"),
        ("IOP_API_KEYS", "secret-api-key-value-0123456789abcdef"),
        ("IOP_ADMIN_PASSWORD", "secret admin password"),
        ("IOP_ADMIN_PASSWORD_HASH", "$argon2id$secret-hash"),
        (
            "IOP_ENCRYPTION_KEY",
            "c2VjcmV0LWVuY3J5cHRpb24ta2V5LXZhbHVlLTAxMjM=",
        ),
        (
            "IOP_NEW_ENCRYPTION_KEY",
            "c2VjcmV0LW5ldy1rZXktdmFsdWUtMDEyMzQ1Njc4OWE=",
        ),
        ("IOP_IMPORT_REFRESH_TOKEN", "secret-refresh-token-value"),
    ];
    let paths = command_paths();
    assert!(paths.len() > 10, "{paths:?}");
    for path in paths {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_iop-callback"))
            .args(&path)
            .arg("--help")
            .envs(secrets)
            .output()
            .unwrap();
        assert!(output.status.success(), "{path:?}");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.contains("Usage"), "{path:?}: {text}");
        for (variable, value) in secrets {
            assert!(
                !text.contains(value) && !text.contains("secretpw"),
                "`{}` --help shows {variable}:\n{text}",
                path.join(" ")
            );
        }
    }
}

#[tokio::test]
async fn commands_about_stored_sellers_never_create_a_database() {
    let cli = Cli::against(
        "http://127.0.0.1:9/rest",
        "http://127.0.0.1:9/oauth/authorize",
        APP_KEY,
        APP_SECRET,
    );
    let file = cli._data.path().join("tokens.db");
    for command in [
        &["tokens", "list"][..],
        &["tokens", "show", "1001"],
        &["tokens", "delete", "1001"],
        &["store", "backup", "/tmp/never-written.db"],
    ] {
        let output = cli.run(command).await;
        assert_eq!(exit_code(&output), Some(2), "{command:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!("no database at {}", file.display())),
            "{command:?}: {stderr}"
        );
        assert!(stderr.contains("IOP_DATABASE_URL"), "{stderr}");
        assert!(!file.exists(), "{command:?} created {}", file.display());
    }
}

/// `tokens list` reads and prints a page at a time: over a thousand sellers come out in
/// every format, and `--limit` stops early.
#[tokio::test]
async fn tokens_list_streams_every_seller_in_pages() {
    let cli = Cli::against(
        "http://127.0.0.1:9/rest",
        "http://127.0.0.1:9/auth",
        "123",
        "s",
    );
    let url = iop_callback::store::DatabaseUrl::parse(&cli.database_url()).unwrap();
    let store = iop_callback::store::open(&url, None).await.unwrap();
    let default = iop_callback::apps::AppId::implicit();
    let saves = (0..1_100).map(|n| {
        let (store, default) = (&store, &default);
        async move {
            let body = format!(r#"{{"access_token":"a{n}","seller_id":"{n}","expires_in":86400}}"#);
            let response = iop_callback::iop::TokenResponse::from_json(body.as_bytes()).unwrap();
            let owner = iop_callback::tokens::Owner {
                app: default,
                platform: iop_callback::iop::Platform::Aliexpress,
                app_key: "123",
            };
            store
                .save_authorization(owner, &response, iop_callback::clock::EpochMs::new(1))
                .await
                .unwrap();
        }
    });
    futures_util::future::join_all(saves).await;
    store.close().await;

    let lines = cli.stdout(&["tokens", "list", "--jsonl"]).await;
    let sellers: Vec<Value> = lines
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(sellers.len(), 1_100);
    let mut ids: Vec<&str> = sellers
        .iter()
        .map(|s| s["seller_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 1_100, "each seller once");
    let array: Vec<Value> =
        serde_json::from_str(&cli.stdout(&["tokens", "list", "--json"]).await).unwrap();
    assert_eq!(array.len(), 1_100);
    let table = cli.stdout(&["tokens", "list"]).await;
    assert_eq!(
        table.lines().count(),
        1_101,
        "a header and a line per seller"
    );
    assert_eq!(table.lines().filter(|l| l.starts_with("SELLER")).count(), 1);
    let some = cli
        .stdout(&["tokens", "list", "--jsonl", "--limit", "3"])
        .await;
    assert_eq!(some.lines().count(), 3);
}

/// The README's configuration tables and `--help` say the same: every setting's variable
/// with its flag, and the default clap applies.
#[test]
fn the_readme_configuration_table_matches_the_help() {
    use clap::CommandFactory;
    let readme = include_str!("../../README.md");
    let rows: Vec<Vec<String>> = readme
        .lines()
        .filter(|line| line.starts_with("| `IOP_"))
        .map(|line| {
            line.trim_matches('|')
                .split(" | ")
                .map(|cell| cell.trim().to_owned())
                .collect()
        })
        .collect();
    assert!(rows.len() > 30, "{rows:?}");
    let mut command = iop_callback::cli::Cli::command();
    command.build();
    let mut settings = Vec::new();
    fn walk(command: &clap::Command, out: &mut Vec<clap::Arg>) {
        out.extend(command.get_arguments().cloned());
        for sub in command.get_subcommands() {
            walk(sub, out);
        }
    }
    walk(&command, &mut settings);
    for arg in &settings {
        let (Some(variable), Some(long)) = (arg.get_env(), arg.get_long()) else {
            continue;
        };
        let variable = variable.to_string_lossy();
        if [
            "IOP_NEW_ENCRYPTION_KEY",
            "IOP_NEW_ENCRYPTION_KEY_FILE",
            "IOP_IMPORT_REFRESH_TOKEN",
        ]
        .contains(&variable.as_ref())
        {
            continue; // one command's own input, documented with that command
        }
        let row = rows
            .iter()
            .find(|row| row[0] == format!("`{variable}`"))
            .unwrap_or_else(|| panic!("{variable} is not in the README's tables"));
        assert_eq!(row[1], format!("`--{long}`"), "{variable}");
        for default in arg.get_default_values() {
            let default = default.to_string_lossy();
            assert!(
                row[2].contains(&format!("`{default}`")),
                "{variable}: --help says the default is {default}, the README says {}",
                row[2]
            );
        }
    }
    for row in &rows {
        let variable = row[0].trim_matches('`');
        assert!(
            settings
                .iter()
                .any(|arg| arg.get_env().is_some_and(|env| env == variable)),
            "the README lists {variable}, which no command reads"
        );
    }
}

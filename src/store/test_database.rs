//! Fresh databases for tests of the PostgreSQL engine. Tests read the server from
//! IOP_TEST_POSTGRES_URL (`.ci/run` starts one and sets it); without it they say
//! `SKIPPED postgres test`, except where IOP_POSTGRES_REQUIRED=1 (CI) makes that a failure.

use sqlx::{Connection, Executor};

/// A URL of a new, empty database on the test server, or `None` (after saying so) when
/// no server is configured and none is required.
pub async fn fresh_postgres_url() -> Option<String> {
    let Ok(server) = std::env::var("IOP_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("IOP_POSTGRES_REQUIRED").as_deref() != Ok("1"),
            "IOP_TEST_POSTGRES_URL is not set, and IOP_POSTGRES_REQUIRED=1 forbids skipping"
        );
        eprintln!(
            "SKIPPED postgres test: set IOP_TEST_POSTGRES_URL=postgres://user@127.0.0.1:5432/postgres"
        );
        return None;
    };
    Some(fresh_postgres_url_from(&server).await)
}

/// A URL of a new, empty database on the server `server` names.
pub async fn fresh_postgres_url_from(server: &str) -> String {
    sqlx::any::install_default_drivers();
    let name = format!("iop_test_{}", crate::random::random_hex::<8>());
    let mut admin = sqlx::AnyConnection::connect(server)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the PostgreSQL server: {e}"));
    // The name is ours: a fixed prefix and hex digits.
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .unwrap_or_else(|e| panic!("cannot create a test database: {e}"));
    let _ = admin.close().await;
    let mut url = url::Url::parse(server).expect("a postgres:// URL");
    url.set_path(&name);
    url.to_string()
}

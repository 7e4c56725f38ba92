//! Opening the database: which engine a URL names, the SQLite file owner-only before
//! SQLite touches it, the engine's pragmas, and this version's migrations.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyPool, Executor};

use super::StoreError;

/// The database engines iop-callback runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// One file; one box.
    Sqlite,
    /// Several replicas sharing one database.
    Postgres,
}

impl Engine {
    pub fn of(database_url: &str) -> Option<Engine> {
        let url = database_url.trim();
        if url.starts_with("sqlite:") {
            Some(Engine::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Engine::Postgres)
        } else {
            None
        }
    }
}

pub(super) async fn open_pool(database_url: &str) -> Result<(AnyPool, Engine), StoreError> {
    sqlx::any::install_default_drivers();
    let engine = Engine::of(database_url).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "`{database_url}` is neither a sqlite: nor a postgres:// URL"
        ))
    })?;
    let pool = match engine {
        Engine::Sqlite => {
            let in_memory =
                database_url.contains(":memory:") || database_url.contains("mode=memory");
            if !in_memory {
                let options = SqliteConnectOptions::from_str(database_url)?;
                prepare_file(options.get_filename())?;
            }
            let pool = AnyPoolOptions::new()
                .max_connections(4)
                .after_connect(|connection, _| {
                    Box::pin(async move {
                        // WAL lets the CLI read and write while the service runs; the busy
                        // timeout makes writers wait for each other instead of failing.
                        connection
                            .execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                                 PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;",
                            )
                            .await?;
                        Ok(())
                    })
                })
                .connect(database_url)
                .await
                .map_err(StoreError::Unreachable)?;
            sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
            pool
        }
        Engine::Postgres => {
            let pool = AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(5))
                .connect(database_url)
                .await
                .map_err(StoreError::Unreachable)?;
            sqlx::migrate!("./migrations/postgres").run(&pool).await?;
            pool
        }
    };
    Ok((pool, engine))
}

/// Creates the folder (owner-only) and an empty owner-only file, so that the tokens are
/// never readable by others, not even for the moment between SQLite creating the file and
/// a chmod. SQLite gives its -wal and -shm files the same mode as the database. A file
/// that exists already is left as it is unless it is a SQLite database: a wrong
/// IOP_DATABASE_URL must not change the mode of somebody else's file.
fn prepare_file(path: &Path) -> Result<(), StoreError> {
    // Errors name the absolute path: a relative one depends on where the service started.
    let shown = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let err = |source| StoreError::File {
        path: shown.display().to_string(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let mut folder = std::fs::DirBuilder::new();
        folder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut folder, 0o700);
        folder.create(parent).map_err(|e| {
            // create_dir_all says "File exists" when a parent is a file.
            err(if e.kind() == std::io::ErrorKind::AlreadyExists {
                std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a folder")
            } else {
                e
            })
        })?;
    }
    #[cfg(unix)]
    {
        use std::io::Read;
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .mode(0o600)
            .open(path)
            .map_err(err)?;
        let mut header = [0u8; 16];
        let read = file.read(&mut header).map_err(err)?;
        let ours = read == 0 || header == *b"SQLite format 3\0";
        if !ours {
            return Err(StoreError::File {
                path: shown.display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "the file exists and is not a SQLite database",
                ),
            });
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{ClaimStage, ResultId};
    use crate::store::{SqlStore, Store};

    /// A database of the version before the flow tables were clustered (migration 6) keeps
    /// its in-flight claims, result pages and lookup ids through the upgrade.
    #[tokio::test]
    async fn flow_rows_of_an_earlier_version_survive_the_clustering_migration() {
        let folder = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", folder.path().join("old.db").display());
        sqlx::any::install_default_drivers();
        {
            let pool = AnyPoolOptions::new()
                .connect(&format!("{url}?mode=rwc"))
                .await
                .unwrap();
            sqlx::migrate!("./migrations/sqlite")
                .run_to(5, &pool)
                .await
                .unwrap();
            pool.execute(
                "INSERT INTO tokens (platform, app_key, account_key, access_token, refreshable,
                     identity, created_at, updated_at)
                 VALUES ('aliexpress', '500000', 'seller:7001', 'at-old', 0, '{}', 1, 1);
                 INSERT INTO token_sellers (token_id, seller_key) VALUES (1, '7001');
                 INSERT INTO flow_claims (state_digest, app_id, browser_digest, stage, result_id,
                     keep_until)
                 VALUES (zeroblob(32), 'default', zeroblob(32), 'finished',
                     '0123456789abcdef0123456789abcdef', 9000000000000);
                 INSERT INTO flow_results (result_id, app_id, browser_digest, token_id, expires_at)
                 VALUES ('0123456789abcdef0123456789abcdef', 'default', zeroblob(32), 1,
                     9000000000000);",
            )
            .await
            .unwrap();
            pool.close().await;
        }

        let store = SqlStore::open(&url, None).await.unwrap();
        let old_result = ResultId::parse("0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(
            store.claim_stage(&[0; 32]).await.unwrap(),
            Some(ClaimStage::Finished(Some(old_result.clone())))
        );
        assert_eq!(
            store.result(&old_result).await.unwrap().unwrap().token_id,
            1
        );
        let found = store.find_seller("7001").await.unwrap();
        assert_eq!(found.iter().map(|t| t.id).collect::<Vec<_>>(), [1]);
        assert!(store.delete_token(1).await.unwrap());
        store.close().await;
        let pool = AnyPoolOptions::new().connect(&url).await.unwrap();
        let (lookup_ids,): (i64,) = sqlx::query_as("SELECT count(*) FROM token_sellers")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(lookup_ids, 0, "the foreign key still cascades");
    }
}

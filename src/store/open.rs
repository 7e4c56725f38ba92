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

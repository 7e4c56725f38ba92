//! Opening the database: which engine a URL names, the SQLite file owner-only before
//! SQLite touches it, the engine's pragmas, and this version's migrations.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyConnection, Connection, Executor};

use super::StoreError;
use super::db::{Db, FileIdentity};
use super::sqlite_thread::sqlite_pragmas;
use super::sqlite_writer::SqliteWriter;
use super::url::{DatabaseUrl, Engine};

/// How long opening may take before the database counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens the database `url` names, migrated to this version's schema.
pub(super) async fn open_db(url: &DatabaseUrl) -> Result<Db, StoreError> {
    sqlx::any::install_default_drivers();
    match url.engine() {
        Engine::Sqlite => open_sqlite(url).await,
        Engine::Postgres => open_postgres(url).await,
    }
}

/// SQLite: migrated on a connection of its own; then a pool that only reads (so that no
/// write can bypass the writer thread) and the writer.
async fn open_sqlite(url: &DatabaseUrl) -> Result<Db, StoreError> {
    let raw = url.expose();
    if raw.contains(":memory:") || raw.contains("mode=memory") {
        return Err(StoreError::Usage(
            "IOP_DATABASE_URL: an in-memory SQLite database is not supported (each connection \
             would see a database of its own, and the tokens would vanish with the process): \
             name a file, like sqlite://data/iop-callback.db"
                .into(),
        ));
    }
    let options = SqliteConnectOptions::from_str(raw)?;
    let path = options.get_filename().to_owned();
    prepare_file(&path)?;
    let mut connection = AnyConnection::connect(raw)
        .await
        .map_err(|e| unreachable(url, &e))?;
    connection.execute(sqlite_pragmas!()).await?;
    warn_unless_rollback_journal(&mut connection).await?;
    sqlx::migrate!("./migrations/sqlite")
        .run(&mut connection)
        .await?;
    connection.close().await?;
    let pool = AnyPoolOptions::new()
        .max_connections(4)
        .after_connect(|connection, _| {
            Box::pin(async move {
                // A page cache of 1 MiB per reader instead of SQLite's 2: reads go through
                // indexes to what they show, so a small cache costs them little, and the
                // service's memory stays nearly the same with 100,000 sellers as with 1,000.
                connection
                    .execute(concat!(
                        sqlite_pragmas!(),
                        " PRAGMA query_only = ON; PRAGMA cache_size = -1024;"
                    ))
                    .await?;
                Ok(())
            })
        })
        .connect(raw)
        .await
        .map_err(|e| unreachable(url, &e))?;
    let file = FileIdentity::of(&path);
    let writer = SqliteWriter::start(&path)?;
    Ok(Db::new(pool, Engine::Sqlite, Some(writer), file))
}

/// A database that another process still holds open in WAL mode (a replica of an older
/// version) stays in it: SQLite changes the mode only with the file to itself, and says
/// which mode it kept. The service works either way, but until every process restarts the
/// `-shm` mapping (and its SIGBUS, see `sqlite_thread.rs`) is back.
async fn warn_unless_rollback_journal(connection: &mut AnyConnection) -> Result<(), StoreError> {
    let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
        .fetch_one(&mut *connection)
        .await?;
    if !mode.eq_ignore_ascii_case("truncate") {
        tracing::warn!(
            journal_mode = %mode,
            "the SQLite database stays in this journal mode while another process has it \
             open; restart every process that uses it to move it to a rollback journal"
        );
    }
    Ok(())
}

/// PostgreSQL: one connection first, whose error says why the server cannot be used
/// (a pool's would only say that it timed out), which then runs the migrations.
async fn open_postgres(url: &DatabaseUrl) -> Result<Db, StoreError> {
    let raw = url.expose();
    let mut connection = tokio::time::timeout(CONNECT_TIMEOUT, AnyConnection::connect(raw))
        .await
        .map_err(|_| StoreError::Unreachable {
            target: url.redacted(),
            why: format!("no answer within {}s", CONNECT_TIMEOUT.as_secs()),
        })?
        .map_err(|e| unreachable(url, &e))?;
    sqlx::migrate!("./migrations/postgres")
        .run(&mut connection)
        .await?;
    connection.close().await?;
    let pool = AnyPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(CONNECT_TIMEOUT)
        // While the server is away every waiting request is a "slow acquire" warning, one
        // line each, dozens a second; the retries and readiness already say it once.
        .acquire_slow_level(log::LevelFilter::Debug)
        .connect(raw)
        .await
        .map_err(|e| unreachable(url, &e))?;
    Ok(Db::new(pool, Engine::Postgres, None, None))
}

/// Why the database could not be reached, in an operator's words, without the URL's
/// password.
fn unreachable(url: &DatabaseUrl, error: &sqlx::Error) -> StoreError {
    let why = match error {
        sqlx::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => {
                "connection refused (is the server running, on this host and port?)".to_owned()
            }
            _ => format!("cannot connect: {io}"),
        },
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some("28P01" | "28000") => {
                "authentication failed: check the user and password".to_owned()
            }
            Some("3D000") => "the database does not exist: create it first".to_owned(),
            _ => db.message().to_owned(),
        },
        sqlx::Error::PoolTimedOut => "no connection within the connect timeout".to_owned(),
        other => other.to_string(),
    };
    StoreError::Unreachable {
        target: url.redacted(),
        why,
    }
}

/// Whether an existing SQLite database is this service's: it has our migrations table, or
/// no table at all (a database SQLite made and nothing filled in).
#[cfg(unix)]
fn is_ours(path: &Path) -> rusqlite::Result<bool> {
    use rusqlite::OpenFlags;
    let tables = |flags: OpenFlags| -> rusqlite::Result<Vec<String>> {
        rusqlite::Connection::open_with_flags(path, flags)?
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?
            .query_map([], |row| row.get(0))?
            .collect()
    };
    let tables = match tables(OpenFlags::SQLITE_OPEN_READ_ONLY) {
        // A process killed mid-write left a hot journal, which only a connection that may
        // write can roll back: looked at that way (the file exists; nothing is created).
        Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ReadOnly => {
            tables(OpenFlags::SQLITE_OPEN_READ_WRITE)?
        }
        other => other?,
    };
    Ok(tables.is_empty() || tables.iter().any(|t| t == "_sqlx_migrations"))
}

/// Says so when the database's folder can be written by anyone: another user could replace
/// the database or its WAL.
fn warn_if_world_writable(folder: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(folder)
            && meta.permissions().mode() & 0o002 != 0
        {
            tracing::warn!(
                folder = %folder.display(),
                "the database's folder can be written by every user: give it to the service's user (chmod 700)"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = folder;
}

/// Creates the folder (owner-only) and an empty owner-only file, so that the tokens are
/// never readable by others, not even for the moment between SQLite creating the file and
/// a chmod. SQLite gives its journal the same mode as the database. A file
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
        warn_if_world_writable(parent);
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
        let refuse = |why: &str| StoreError::File {
            path: shown.display().to_string(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_owned()),
        };
        let created = std::fs::OpenOptions::new()
            .create_new(true)
            .append(true)
            .mode(0o600)
            .open(path);
        match created {
            // New: SQLite fills it in.
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(err(e)),
        }
        let mut file = std::fs::File::open(path).map_err(err)?;
        let mut header = [0u8; 16];
        let read = file.read(&mut header).map_err(err)?;
        if read == 0 {
            return Err(refuse(
                "the file exists and is empty, so this service did not make it",
            ));
        }
        if header != *b"SQLite format 3\0" {
            return Err(refuse("the file exists and is not a SQLite database"));
        }
        if !is_ours(path).map_err(|e| refuse(&e.to_string()))? {
            return Err(refuse(
                "the file is another application's SQLite database (it has tables of its own and none of this service's)",
            ));
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{ClaimStage, ResultId};
    use crate::store::Store;

    /// A process killed in the middle of a write leaves a hot journal (rollback journal
    /// mode): the next start rolls it back and opens, instead of refusing the file as
    /// read-only. The journal is made as a crash leaves it: a write whose pages spilled
    /// into the database file, copied with its journal while still open.
    #[tokio::test]
    async fn a_database_left_by_a_killed_process_opens_and_is_rolled_back() {
        let folder = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", folder.path().join("live.db").display());
        let store = Store::open(&DatabaseUrl::parse(&url).unwrap(), None)
            .await
            .unwrap();
        store.close().await;
        let live = folder.path().join("live.db");
        let writer = rusqlite::Connection::open(&live).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = TRUNCATE; PRAGMA cache_size = 1;
                 CREATE TABLE before (x INTEGER); INSERT INTO before VALUES (1);",
            )
            .unwrap();
        writer
            .execute_batch(
                "BEGIN; CREATE TABLE bulk (x BLOB);
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
                 INSERT INTO bulk SELECT randomblob(1000) FROM n;
                 DELETE FROM before;",
            )
            .unwrap();
        let crashed = folder.path().join("crashed.db");
        std::fs::copy(&live, &crashed).unwrap();
        std::fs::copy(
            folder.path().join("live.db-journal"),
            folder.path().join("crashed.db-journal"),
        )
        .unwrap();
        drop(writer);
        assert!(
            std::fs::metadata(folder.path().join("crashed.db-journal"))
                .unwrap()
                .len()
                > 0,
            "a hot journal to roll back"
        );
        let url = format!("sqlite://{}", crashed.display());
        let store = Store::open(&DatabaseUrl::parse(&url).unwrap(), None)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        store.close().await;
        let rolled_back = rusqlite::Connection::open(&crashed).unwrap();
        let kept: i64 = rolled_back
            .query_row("SELECT COUNT(*) FROM before", [], |row| row.get(0))
            .unwrap();
        assert_eq!(kept, 1, "the unfinished write was rolled back");
    }

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

        let store = Store::open(&DatabaseUrl::parse(&url).unwrap(), None)
            .await
            .unwrap();
        let old_result = ResultId::parse("0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(
            store.claim_stage(&[0; 32]).await.unwrap(),
            Some(ClaimStage::Finished(Some(old_result.clone())))
        );
        assert_eq!(
            store.result(&old_result).await.unwrap().unwrap().token_id,
            crate::tokens::TokenId::new(1)
        );
        let found = store.find_seller("7001").await.unwrap();
        let id = crate::tokens::TokenId::new(1);
        assert_eq!(found.iter().map(|t| t.id).collect::<Vec<_>>(), [id]);
        assert!(store.delete_token(id).await.unwrap());
        store.close().await;
        let pool = AnyPoolOptions::new().connect(&url).await.unwrap();
        let (lookup_ids,): (i64,) = sqlx::query_as("SELECT count(*) FROM token_sellers")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(lookup_ids, 0, "the foreign key still cascades");
    }
}

//! The one road to the database for every query of the store: reads through the sqlx pool
//! on both engines; writes through the SQLite writer thread (`sqlite_writer`), or on
//! PostgreSQL through the pool, each write in a transaction of its own.

use std::path::{Path, PathBuf};

use sqlx::any::AnyRow;
use sqlx::{AnyPool, FromRow};

use super::StoreError;
use super::retry::{self, Backoff};
use super::sqlite_writer::SqliteWriter;
use super::statement::{Outcome, Statement};
use super::url::Engine;

pub(super) struct Db {
    pub(super) pool: AnyPool,
    pub(super) engine: Engine,
    /// SQLite: the writer thread every write goes through. PostgreSQL takes concurrent
    /// writers, so each request commits its own.
    writer: Option<SqliteWriter>,
    /// A SQLite store's file as it was opened: a write to a file deleted or replaced under
    /// the running service would land where nobody can open it again.
    file: Option<FileIdentity>,
    /// How long a read, or a write that surely did not land, is tried again while the
    /// database is unreachable (`retry.rs`).
    retry_for: std::sync::atomic::AtomicU64,
    /// Tests: how the next PostgreSQL write breaks at its COMMIT (`Db::break_next_write`).
    #[cfg(test)]
    next_write_breaks: std::sync::Mutex<Option<BrokenWrite>>,
}

/// Tests: a write whose connection broke at the COMMIT, so that its caller cannot tell
/// whether it landed.
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BrokenWrite {
    /// It landed; only the answer was lost.
    Landed,
    /// It never landed.
    Lost,
}

/// A write that failed, and whether it may have landed all the same.
struct WriteFailure {
    error: StoreError,
    maybe_committed: bool,
}

impl WriteFailure {
    fn before_commit(error: impl Into<StoreError>) -> Self {
        WriteFailure {
            error: error.into(),
            maybe_committed: false,
        }
    }

    /// A lone statement or a COMMIT that failed: landed or not, unless the failure shows
    /// it was never sent (or was refused for what it is).
    fn at_commit(error: impl Into<StoreError>) -> Self {
        let error = error.into();
        let maybe_committed = retry::transient(&error) && !retry::never_sent(&error);
        WriteFailure {
            error,
            maybe_committed,
        }
    }
}

/// Tries `$attempt` (an expression giving a `Result<_, StoreError>`) again while it fails
/// transiently, within the budget.
macro_rules! retrying {
    ($db:expr, $attempt:expr) => {{
        let mut backoff = Backoff::new($db.retry_budget());
        loop {
            match $attempt {
                Err(error) if retry::transient(&error) && backoff.wait().await => {
                    tracing::debug!(error = %error, "the database is unreachable; trying again");
                }
                other => break other,
            }
        }
    }};
}

impl Db {
    pub(super) fn new(
        pool: AnyPool,
        engine: Engine,
        writer: Option<SqliteWriter>,
        file: Option<FileIdentity>,
    ) -> Self {
        Db {
            pool,
            engine,
            writer,
            file,
            retry_for: std::sync::atomic::AtomicU64::new(
                u64::try_from(retry::DEFAULT_BUDGET.as_millis()).unwrap_or(u64::MAX),
            ),
            #[cfg(test)]
            next_write_breaks: std::sync::Mutex::new(None),
        }
    }

    /// Tests: the next PostgreSQL write fails as a connection reset at its COMMIT, after
    /// it landed or without landing.
    #[cfg(test)]
    pub(super) fn break_next_write(&self, how: BrokenWrite) {
        *crate::lock::lock(&self.next_write_breaks) = Some(how);
    }

    pub(super) fn set_retry_budget(&self, budget: std::time::Duration) {
        self.retry_for.store(
            u64::try_from(budget.as_millis()).unwrap_or(u64::MAX),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    fn retry_budget(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.retry_for.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Applies `statements` in one transaction, all or nothing; on SQLite in the writer's
    /// next group commit. Returns what each did.
    pub(super) async fn write(
        &self,
        statements: Vec<Statement>,
    ) -> Result<Vec<Outcome>, StoreError> {
        match &self.writer {
            Some(writer) => {
                self.check_file()?;
                writer.submit(statements).await
            }
            None => self.write_postgres(statements).await,
        }
    }

    /// A write of one statement.
    pub(super) async fn write_one(&self, statement: Statement) -> Result<Outcome, StoreError> {
        let mut outcomes = self.write(vec![statement]).await?;
        outcomes
            .pop()
            .ok_or_else(|| StoreError::Statement("a write answered nothing".into()))
    }

    /// Tries the write again while it fails transiently and surely did not land, or could
    /// land twice without harm (every statement `Sql::repeatable`).
    async fn write_postgres(&self, statements: Vec<Statement>) -> Result<Vec<Outcome>, StoreError> {
        let repeatable = statements.iter().all(Statement::is_repeatable);
        let mut backoff = Backoff::new(self.retry_budget());
        loop {
            match self.attempt(statements.clone()).await {
                Ok(outcomes) => return Ok(outcomes),
                Err(failure)
                    if (repeatable || !failure.maybe_committed)
                        && retry::transient(&failure.error)
                        && backoff.wait().await =>
                {
                    tracing::debug!(error = %failure.error, "the database is unreachable; writing again");
                }
                Err(failure) => return Err(failure.error),
            }
        }
    }

    /// One try of a PostgreSQL write; tests can make it break at its COMMIT
    /// (`break_next_write`).
    async fn attempt(&self, statements: Vec<Statement>) -> Result<Vec<Outcome>, WriteFailure> {
        #[cfg(test)]
        {
            let broken = crate::lock::lock(&self.next_write_breaks).take();
            if let Some(how) = broken {
                if how == BrokenWrite::Landed {
                    self.write_postgres_once(statements).await?;
                }
                let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
                return Err(WriteFailure::at_commit(sqlx::Error::Io(reset)));
            }
        }
        self.write_postgres_once(statements).await
    }

    async fn write_postgres_once(
        &self,
        mut statements: Vec<Statement>,
    ) -> Result<Vec<Outcome>, WriteFailure> {
        // A connection first: failing to get one sent nothing.
        let mut connection = self
            .pool
            .acquire()
            .await
            .map_err(WriteFailure::before_commit)?;
        if statements.len() == 1 && !statements[0].is_guarded() {
            // Alone, a statement is its own transaction: no BEGIN and COMMIT round trips.
            let statement = statements.remove(0);
            return Ok(vec![
                statement
                    .run(&mut *connection)
                    .await
                    .map_err(WriteFailure::at_commit)?,
            ]);
        }
        let mut tx = sqlx::Connection::begin(&mut *connection)
            .await
            .map_err(WriteFailure::before_commit)?;
        let mut outcomes = Vec::with_capacity(statements.len());
        for statement in statements {
            // A failure here leaves the transaction uncommitted: the server rolls it back
            // when the connection is gone.
            outcomes.push(
                statement
                    .run(&mut *tx)
                    .await
                    .map_err(WriteFailure::before_commit)?,
            );
        }
        tx.commit().await.map_err(WriteFailure::at_commit)?;
        Ok(outcomes)
    }

    pub(super) async fn fetch_all<T>(&self, statement: Statement) -> Result<Vec<T>, StoreError>
    where
        T: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
    {
        retrying!(
            self,
            statement
                .clone()
                .query_as()
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from)
        )
    }

    pub(super) async fn fetch_optional<T>(
        &self,
        statement: Statement,
    ) -> Result<Option<T>, StoreError>
    where
        T: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
    {
        retrying!(
            self,
            statement
                .clone()
                .query_as()
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::from)
        )
    }

    pub(super) async fn fetch_one<T>(&self, statement: Statement) -> Result<T, StoreError>
    where
        T: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
    {
        retrying!(
            self,
            statement
                .clone()
                .query_as()
                .fetch_one(&self.pool)
                .await
                .map_err(StoreError::from)
        )
    }

    /// The SQLite file is still the one opened.
    pub(super) fn check_file(&self) -> Result<(), StoreError> {
        match &self.file {
            Some(opened) if !opened.still_there() => Err(StoreError::File {
                path: opened.path.display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "the database file was deleted or replaced while the service ran; restart it",
                ),
            }),
            _ => Ok(()),
        }
    }

    pub(super) fn sqlite_file(&self) -> Option<&std::path::Path> {
        self.file.as_ref().map(|file| file.path.as_path())
    }

    pub(super) async fn close(&self) {
        if let Some(writer) = &self.writer {
            writer.close().await;
        }
        self.pool.close().await;
    }
}

/// A SQLite file as it was opened, to notice it deleted or replaced under the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FileIdentity {
    pub(super) path: PathBuf,
    device: u64,
    inode: u64,
}

impl FileIdentity {
    pub(super) fn of(path: &Path) -> Option<Self> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let meta = std::fs::metadata(path).ok()?;
            Some(FileIdentity {
                path: path.to_owned(),
                device: meta.dev(),
                inode: meta.ino(),
            })
        }
        #[cfg(not(unix))]
        {
            let _ = path;
            None
        }
    }

    /// Whether the path still names the file that was opened.
    pub(super) fn still_there(&self) -> bool {
        FileIdentity::of(&self.path).as_ref() == Some(self)
    }
}

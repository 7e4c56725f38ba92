//! Group commit for SQLite: the seller flow's writes go to one writer thread with its own
//! connection, which commits everything queued while it was busy in one transaction.
//!
//! SQLite lets one connection write at a time. Before this, every flow took the write lock
//! twice on one of the pool's connections: the others waited in SQLite's busy handler,
//! which polls by sleeping (so the lock sat free while they slept), every commit appended
//! the pages it touched to the WAL on its own, and every statement was handed to a sqlx
//! worker thread and back. Profiled under the side-by-side benchmark, half the service's
//! time was in the kernel switching threads, while a core stood idle (see BENCHMARKS.md).
//! Here a batch is a single hand-over to a thread that runs its statements back to back;
//! under load dozens of flows share a commit and the pages it writes, and a lone flow is
//! committed at once (nothing waits for a batch to fill).
//!
//! A batch is all or nothing in SQL, but not for its callers: when it fails, each of its
//! writes is tried again alone, so one bad write fails only its own request.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior, params_from_iter};
use tokio::sync::{mpsc, oneshot};

use super::StoreError;
use super::sqlite_thread::{open, spawn, sqlite_pragmas};
use super::statement::{Outcome, Statement, Value};

/// Writes committed together at most: bounds how long one commit holds the write lock.
const MAX_BATCH: usize = 128;
/// Writes waiting for the writer at most; further writers wait to queue (back pressure,
/// not memory).
const QUEUE: usize = 1024;

/// One write: statements applied in one transaction, all or nothing.
pub(super) type Write = Vec<Statement>;

enum Message {
    Write(Job),
    /// Stop after what is queued, close the connection, then answer.
    Close(oneshot::Sender<()>),
}

struct Job {
    write: Write,
    reply: oneshot::Sender<Result<Vec<Outcome>, StoreError>>,
}

/// The queue to the writer thread. Clones share the thread, which ends when the store is
/// closed or the last clone is dropped.
#[derive(Clone)]
pub(super) struct SqliteWriter {
    queue: mpsc::Sender<Message>,
}

impl SqliteWriter {
    /// Opens a second connection to the (already migrated) database file and starts the
    /// writer thread on it.
    pub(super) fn start(file: &Path) -> Result<Self, StoreError> {
        let connection = open(file)?;
        // Every connection's settings; the busy timeout covers other processes (the CLI).
        // secure_delete: what a write frees (a deleted pair, a token replaced by its renewal
        // or its ciphertext) is overwritten with zeros, not left in free pages.
        connection.execute_batch(concat!(sqlite_pragmas!(), " PRAGMA secure_delete = ON;"))?;
        let (queue, messages) = mpsc::channel(QUEUE);
        spawn("sqlite-writer", file, move || run(connection, messages))?;
        Ok(SqliteWriter { queue })
    }

    /// Applies `write` in the next batch; returns once that batch is committed.
    pub(super) async fn submit(&self, write: Write) -> Result<Vec<Outcome>, StoreError> {
        let (reply, done) = oneshot::channel();
        self.queue
            .send(Message::Write(Job { write, reply }))
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        // The writer answers every job it takes; a dropped reply means it is gone.
        done.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Commits what is queued and closes the writer's connection.
    pub(super) async fn close(&self) {
        let (reply, done) = oneshot::channel();
        if self.queue.send(Message::Close(reply)).await.is_ok() {
            let _ = done.await;
        }
    }
}

fn run(mut connection: Connection, mut messages: mpsc::Receiver<Message>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut closing = None;
    while closing.is_none() {
        let Some(first) = messages.blocking_recv() else {
            return;
        };
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Write(job) => batch.push(job),
                Message::Close(reply) => closing = Some(reply),
            }
            if batch.len() < MAX_BATCH && closing.is_none() {
                next = messages.try_recv().ok();
            }
        }
        commit(&mut connection, &mut batch);
    }
    drop(connection);
    if let Some(reply) = closing {
        let _ = reply.send(());
    }
}

/// Commits `batch` and answers each of its writers.
fn commit(connection: &mut Connection, batch: &mut Vec<Job>) {
    if batch.is_empty() {
        return;
    }
    let writes: Vec<&Write> = batch.iter().map(|job| &job.write).collect();
    match apply_together(connection, &writes) {
        Ok(outcomes) => {
            for (job, outcome) in batch.drain(..).zip(outcomes) {
                // A caller that went away no longer needs its answer.
                let _ = job.reply.send(Ok(outcome));
            }
        }
        Err(error) if batch.len() == 1 => {
            if let Some(job) = batch.pop() {
                let _ = job.reply.send(Err(error));
            }
        }
        Err(_) => {
            // Rolled back: now each alone, so that only the failing ones fail.
            for job in batch.drain(..) {
                let _ = job.reply.send(apply_alone(connection, &job.write));
            }
        }
    }
}

/// Applies `write` in a transaction of its own.
fn apply_alone(connection: &mut Connection, write: &Write) -> Result<Vec<Outcome>, StoreError> {
    apply_together(connection, &[write]).map(|mut outcomes| outcomes.remove(0))
}

/// Applies `writes` in one transaction, all or none.
fn apply_together(
    connection: &mut Connection,
    writes: &[&Write],
) -> Result<Vec<Vec<Outcome>>, StoreError> {
    // IMMEDIATE: take the write lock now, waiting in the busy handler for another process,
    // instead of failing at the first write if a reader upgraded first.
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let outcomes = writes
        .iter()
        .map(|write| write.iter().map(|s| apply(&tx, s)).collect())
        .collect::<Result<Vec<Vec<_>>, _>>()?;
    tx.commit()?;
    Ok(outcomes)
}

/// Runs one statement through rusqlite.
fn apply(connection: &Connection, statement: &Statement) -> Result<Outcome, StoreError> {
    let mut prepared = connection.prepare_cached(statement.text())?;
    let values = params_from_iter(statement.values());
    let outcome = if statement.selects() {
        let columns = prepared.column_count();
        let rows = prepared
            .query_map(values, |row| {
                (0..columns)
                    .map(|i| Value::from_sqlite(row, i))
                    .collect::<rusqlite::Result<Vec<_>>>()
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Outcome {
            rows_affected: u64::try_from(rows.len()).unwrap_or(u64::MAX),
            returned: Vec::new(),
            rows,
        }
    } else if statement.returns_rows() {
        let returned = prepared
            .query_map(values, |row| row.get::<_, i64>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Outcome {
            rows_affected: u64::try_from(returned.len()).unwrap_or(u64::MAX),
            returned,
            rows: Vec::new(),
        }
    } else {
        Outcome {
            rows_affected: u64::try_from(prepared.execute(values)?).unwrap_or(u64::MAX),
            returned: Vec::new(),
            rows: Vec::new(),
        }
    };
    statement.guard().check(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance::temp_sqlite;
    use crate::store::statement::Sql;

    static INSERT: Sql = Sql::new("INSERT INTO store_meta (name, value) VALUES (:name, 'x')");

    fn insert(name: &str) -> Write {
        vec![Statement::new(&INSERT, [("name", name.into())]).unwrap()]
    }

    /// Queues `write` without waiting for its answer.
    async fn send(
        writer: &SqliteWriter,
        write: Write,
    ) -> oneshot::Receiver<Result<Vec<Outcome>, StoreError>> {
        let (reply, done) = oneshot::channel();
        let sent = writer
            .queue
            .send(Message::Write(Job { write, reply }))
            .await;
        assert!(sent.is_ok(), "the writer is running");
        done
    }

    /// How many transactions the database has seen committed since `since`.
    fn commits(blocker: &Connection) -> i64 {
        blocker
            .query_row(
                "SELECT COUNT(*) FROM store_meta WHERE name LIKE 'w%'",
                [],
                |row| row.get(0),
            )
            .unwrap()
    }

    /// While another process holds the write lock, writes pile up; once it lets go they
    /// are committed in at most two transactions (the one the writer was waiting to start,
    /// and one for everything queued meanwhile), and the one that breaks a constraint
    /// fails alone.
    #[tokio::test]
    async fn writes_queued_behind_a_busy_database_commit_together_and_fail_alone() {
        let (dir, _store) = temp_sqlite().await;
        let file = dir.path().join("nested/tokens.db");
        let writer = SqliteWriter::start(&file).unwrap();
        let blocker = Connection::open(&file).unwrap();
        let before: i64 = blocker
            .query_row("PRAGMA data_version", [], |row| row.get(0))
            .unwrap();
        blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
        // Eight writes while the database is busy: the writer takes the first into SQLite's
        // busy wait (up to 5 s), the others queue behind it.
        let mut queued = Vec::new();
        for n in 0..8 {
            queued.push(send(&writer, insert(&format!("w{n}"))).await);
        }
        blocker.execute_batch("COMMIT").unwrap();
        for done in queued {
            assert!(done.await.unwrap().is_ok());
        }
        assert_eq!(commits(&blocker), 8);
        let together: i64 = blocker
            .query_row("PRAGMA data_version", [], |row| row.get(0))
            .unwrap();
        assert!(
            (1..=2).contains(&(together - before)),
            "eight writes in {} commits",
            together - before
        );

        // Now one of a queued batch breaks a constraint: only it fails.
        blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
        let mut queued = Vec::new();
        for name in ["x1", "x2", "x3", "w3", "x4"] {
            queued.push((name, send(&writer, insert(name)).await));
        }
        blocker.execute_batch("COMMIT").unwrap();
        let mut failed = Vec::new();
        for (name, done) in queued {
            if let Err(error) = done.await.unwrap() {
                failed.push((name, error.to_string()));
            }
        }
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert_eq!(failed[0].0, "w3", "{failed:?}");
        let stored: i64 = blocker
            .query_row(
                "SELECT COUNT(*) FROM store_meta WHERE name LIKE 'x%'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(stored, 4);
    }

    #[tokio::test]
    async fn a_closed_writer_refuses_writes_instead_of_hanging() {
        let (dir, _store) = temp_sqlite().await;
        let writer = SqliteWriter::start(&dir.path().join("nested/tokens.db")).unwrap();
        writer.close().await;
        let refused = writer.submit(insert("late")).await;
        assert!(
            matches!(refused, Err(StoreError::WriterStopped)),
            "{refused:?}"
        );
    }
}

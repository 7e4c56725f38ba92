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
use std::time::Duration;

use rusqlite::types::ToSqlOutput;
use rusqlite::{Connection, OpenFlags, ToSql, TransactionBehavior, params, params_from_iter};
use tokio::sync::{mpsc, oneshot};

use super::StoreError;
use super::sqlite_wal::{AUTOCHECKPOINT_FRAMES, Checkpointer};
use super::writes::{
    CLAIM_STATE, DELETE_LOOKUP_IDS, ExchangeRows, FINISH_CLAIM, INSERT_LOOKUP_ID, INSERT_RESULT,
    PairRow, Param, UPSERT_PAIR, Write, Written, claim_params, finish_params, pair_params,
    result_params,
};

/// Writes committed together at most: bounds how long one commit holds the write lock.
const MAX_BATCH: usize = 128;
/// Writes waiting for the writer at most; further writers wait to queue (back pressure,
/// not memory).
const QUEUE: usize = 1024;

enum Message {
    Write(Job),
    /// Stop after what is queued, close the connection, then answer.
    Close(oneshot::Sender<()>),
}

struct Job {
    write: Write,
    reply: oneshot::Sender<Result<Written, StoreError>>,
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
        // The pool's settings (open.rs); the busy timeout covers other processes (the CLI).
        connection.busy_timeout(Duration::from_secs(5))?;
        connection.execute_batch(&format!(
            "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
             PRAGMA wal_autocheckpoint = {AUTOCHECKPOINT_FRAMES};"
        ))?;
        let checkpointer = Checkpointer::start(file)?;
        let (queue, messages) = mpsc::channel(QUEUE);
        spawn("sqlite-writer", file, move || {
            run(connection, messages, checkpointer)
        })?;
        Ok(SqliteWriter { queue })
    }

    /// Applies `write` in the next batch; returns once that batch is committed.
    pub(super) async fn submit(&self, write: Write) -> Result<Written, StoreError> {
        let (reply, done) = oneshot::channel();
        self.queue
            .send(Message::Write(Job { write, reply }))
            .await
            .map_err(|_| closed())?;
        // The writer answers every job it takes; a dropped reply means it is gone.
        done.await.map_err(|_| closed())?
    }

    /// Commits what is queued and closes the writer's connection.
    pub(super) async fn close(&self) {
        let (reply, done) = oneshot::channel();
        if self.queue.send(Message::Close(reply)).await.is_ok() {
            let _ = done.await;
        }
    }
}

/// A connection of this thread's own to the database the pool migrated.
pub(super) fn open(file: &Path) -> rusqlite::Result<Connection> {
    Connection::open_with_flags(
        file,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
}

pub(super) fn spawn(
    name: &str,
    file: &Path,
    body: impl FnOnce() + Send + 'static,
) -> Result<(), StoreError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(body)
        .map(drop)
        .map_err(|source| StoreError::File {
            path: file.display().to_string(),
            source,
        })
}

fn closed() -> StoreError {
    StoreError::Database(sqlx::Error::PoolClosed)
}

fn run(
    mut connection: Connection,
    mut messages: mpsc::Receiver<Message>,
    checkpointer: Checkpointer,
) {
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
        checkpointer.restart_if_due(&connection);
        commit(&mut connection, &mut batch);
        checkpointer.committed();
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
        Ok(written) => {
            for (job, written) in batch.drain(..).zip(written) {
                // A caller that went away no longer needs its answer.
                let _ = job.reply.send(Ok(written));
            }
        }
        Err(error) if batch.len() == 1 => {
            if let Some(job) = batch.pop() {
                let _ = job.reply.send(Err(error.into()));
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
fn apply_alone(connection: &mut Connection, write: &Write) -> Result<Written, StoreError> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let written = apply(&tx, write)?;
    tx.commit()?;
    Ok(written)
}

/// Applies `writes` in one transaction, all or none.
fn apply_together(
    connection: &mut Connection,
    writes: &[&Write],
) -> rusqlite::Result<Vec<Written>> {
    // IMMEDIATE: take the write lock now, waiting in the busy handler for another process,
    // instead of failing at the first write if a reader upgraded first.
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let written = writes
        .iter()
        .map(|write| apply(&tx, write))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    tx.commit()?;
    Ok(written)
}

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            Param::Text(value) => value.to_sql(),
            Param::OptText(value) => value.to_sql(),
            Param::Blob(value) => value.to_sql(),
            Param::Int(value) => value.to_sql(),
            Param::OptInt(value) => value.to_sql(),
        }
    }
}

/// The statements of `writes.rs`, bound for rusqlite.
fn apply(connection: &Connection, write: &Write) -> rusqlite::Result<Written> {
    match write {
        Write::Claim(record) => {
            let inserted = connection
                .prepare_cached(CLAIM_STATE)?
                .execute(params_from_iter(claim_params(record)))?;
            Ok(Written::Claim {
                claimed: inserted == 1,
            })
        }
        Write::Exchange(rows) => {
            let ExchangeRows {
                pair,
                grant,
                state_digest,
            } = &**rows;
            let token_id = upsert_pair(connection, pair)?;
            connection
                .prepare_cached(INSERT_RESULT)?
                .execute(params_from_iter(result_params(grant, token_id)))?;
            connection
                .prepare_cached(FINISH_CLAIM)?
                .execute(params_from_iter(finish_params(
                    Some(&grant.id),
                    state_digest,
                )))?;
            Ok(Written::Exchange { token_id })
        }
    }
}

fn upsert_pair(connection: &Connection, pair: &PairRow) -> rusqlite::Result<i64> {
    let id = connection
        .prepare_cached(UPSERT_PAIR)?
        .query_row(params_from_iter(pair_params(pair)), |row| row.get(0))?;
    connection
        .prepare_cached(DELETE_LOOKUP_IDS)?
        .execute(params![id])?;
    let mut insert = connection.prepare_cached(INSERT_LOOKUP_ID)?;
    for key in &pair.lookup_ids {
        insert.execute(params![id, key])?;
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::AppId;
    use crate::flow::{ResultGrant, ResultId};
    use crate::store::conformance::temp_sqlite;

    fn exchange(seller: usize, result: &ResultId) -> Write {
        Write::Exchange(Box::new(ExchangeRows {
            pair: PairRow {
                app_id: "default".into(),
                platform: "aliexpress",
                app_key: "k".into(),
                account_key: format!("seller:{seller}"),
                access_token: format!("a{seller}"),
                refresh_token: None,
                access_expires_at: None,
                refresh_expires_at: None,
                refreshable: false,
                identity: "{}".into(),
                request_id: None,
                lookup_ids: vec![seller.to_string()],
                now_ms: 1,
            },
            grant: ResultGrant {
                id: result.clone(),
                app: AppId::implicit(),
                browser_digest: [7; 32],
                token_id: 0,
                expires_at: 2,
            },
            state_digest: [seller as u8; 32],
        }))
    }

    /// Queues `write` without waiting for its answer.
    async fn send(
        writer: &SqliteWriter,
        write: Write,
    ) -> oneshot::Receiver<Result<Written, StoreError>> {
        let (reply, done) = oneshot::channel();
        let sent = writer
            .queue
            .send(Message::Write(Job { write, reply }))
            .await;
        assert!(sent.is_ok(), "the writer is running");
        done
    }

    /// While another process holds the write lock, writes pile up; once it lets go they
    /// are committed together, and the one that breaks a constraint fails alone.
    #[tokio::test]
    async fn writes_queued_behind_a_busy_database_commit_together_and_fail_alone() {
        let (dir, _store) = temp_sqlite().await.unwrap();
        let file = dir.path().join("nested/tokens.db");
        let writer = SqliteWriter::start(&file).unwrap();
        let blocker = Connection::open(&file).unwrap();
        blocker.execute_batch("BEGIN IMMEDIATE").unwrap();

        // The first write takes the writer into SQLite's busy wait (up to 5 s)...
        let first = send(&writer, exchange(0, &ResultId::generate(1))).await;
        tokio::time::timeout(Duration::from_secs(2), async {
            while writer.queue.capacity() < QUEUE {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .expect("the writer takes the first write");
        // ...while the others queue behind it.
        let shared = ResultId::generate(1);
        let mut rest = Vec::new();
        for seller in 1..8 {
            let result = if seller == 3 || seller == 6 {
                shared.clone()
            } else {
                ResultId::generate(1)
            };
            rest.push((seller, send(&writer, exchange(seller, &result)).await));
        }
        blocker.execute_batch("COMMIT").unwrap();

        assert!(matches!(first.await.unwrap(), Ok(Written::Exchange { .. })));
        let mut failed = Vec::new();
        for (seller, done) in rest {
            match done.await.unwrap() {
                Ok(Written::Exchange { .. }) => {}
                other => failed.push((seller, format!("{other:?}"))),
            }
        }
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert_eq!(failed[0].0, 6, "the later of the two fails: {failed:?}");
        let stored: i64 = blocker
            .query_row("SELECT COUNT(*) FROM tokens", [], |row| row.get(0))
            .unwrap();
        assert_eq!(stored, 7);
    }

    #[tokio::test]
    async fn a_closed_writer_refuses_writes_instead_of_hanging() {
        let (dir, _store) = temp_sqlite().await.unwrap();
        let writer = SqliteWriter::start(&dir.path().join("nested/tokens.db")).unwrap();
        writer.close().await;
        let refused = writer.submit(exchange(1, &ResultId::generate(1))).await;
        assert!(
            matches!(refused, Err(StoreError::Database(sqlx::Error::PoolClosed))),
            "{refused:?}"
        );
    }
}

//! Keeping SQLite's WAL short while the writer thread (`sqlite_writer.rs`) commits without
//! pause.
//!
//! Two costs are kept off the writer. Copying committed pages into the database file (a
//! checkpoint, with an fsync of the WAL before and of the database after) runs on a thread
//! of its own: a passive checkpoint never blocks the writer. But SQLite only starts the WAL
//! over when a transaction begins while *every* frame has been copied, and under steady
//! load the writer has always appended a few more by the time a checkpoint ends: the WAL
//! grew by 150 MB a second in the side-by-side benchmark. Left to itself SQLite then
//! checkpoints inside the commit that crosses `wal_autocheckpoint`, copying everything not
//! yet copied, fsyncs included, while every flow waits; at 10,000 pages that was a 20-40 ms
//! stall of all 64 benchmark browsers five times a second (BENCHMARKS.md).
//!
//! So the checkpointer catches up (passes back to back until one finds little new), and
//! once the WAL is long it asks the writer to copy the last few frames itself between two
//! batches: with no commit in between, the writer's next transaction starts the WAL over.
//! That short stop is the only one, and it comes once per `RESTART_FRAMES`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::time::Duration;

use rusqlite::Connection;

use super::StoreError;
use super::sqlite_thread::{open, spawn};

/// WAL length (in pages) past which the writer stops once to let it start over. Each stop
/// holds up every flow in flight for a few milliseconds, so they should be rare under load
/// (about every 1.3 s at the benchmark's 6,400 flows a second); the WAL file stays at most
/// about this long: 256 MiB at SQLite's 4 KiB pages. At rest it starts over by itself.
const RESTART_FRAMES: i64 = 65_536;

/// The writer's own checkpoint (SQLite's `wal_autocheckpoint`), only a backstop should the
/// checkpointer thread fall behind.
pub(super) const AUTOCHECKPOINT_FRAMES: i64 = 2 * RESTART_FRAMES;

/// How long the checkpointer waits after a commit, so that one checkpoint covers a burst.
const CHECKPOINT_DELAY: Duration = Duration::from_millis(100);

/// A catch-up pass that found fewer new frames than this was the last: what the writer
/// copies when it stops (each pass takes a fraction of the one before).
const CAUGHT_UP_FRAMES: i64 = 512;

/// Catch-up passes at most, should the writer append as fast as they copy.
const MAX_PASSES: usize = 8;

/// The checkpointer thread, as the writer sees it.
pub(super) struct Checkpointer {
    /// Holds at most one pending "something was committed".
    committed: SyncSender<()>,
    /// Set by the checkpointer once it has caught up on a long WAL.
    restart_due: Arc<AtomicBool>,
}

impl Checkpointer {
    pub(super) fn start(file: &Path) -> Result<Self, StoreError> {
        let connection = open(file)?;
        let (committed, commits) = sync_channel(1);
        let restart_due = Arc::new(AtomicBool::new(false));
        let due = restart_due.clone();
        spawn("sqlite-checkpoint", file, move || {
            // Ends with the writer, which holds the sender.
            while commits.recv().is_ok() {
                std::thread::sleep(CHECKPOINT_DELAY);
                while commits.try_recv().is_ok() {}
                match catch_up(&connection, RESTART_FRAMES) {
                    Ok(restart) => due.fetch_or(restart, Ordering::Relaxed),
                    Err(error) => {
                        tracing::warn!(%error, "SQLite checkpoint failed; the WAL grows until one succeeds");
                        false
                    }
                };
            }
        })?;
        Ok(Checkpointer {
            committed,
            restart_due,
        })
    }

    /// Called by the writer after each commit.
    pub(super) fn committed(&self) {
        // Full: a checkpoint is pending anyway.
        let _ = self.committed.try_send(());
    }

    /// Called by the writer between batches: when the checkpointer has caught up on a long
    /// WAL, copies the frames committed since, so that the next transaction starts it over.
    pub(super) fn restart_if_due(&self, writer: &Connection) {
        if self.restart_due.swap(false, Ordering::Relaxed)
            && let Err(error) = checkpoint(writer)
        {
            tracing::warn!(%error, "SQLite checkpoint on the writer failed; the WAL grows until one succeeds");
        }
    }
}

/// Copies what it can of the WAL into the database file without waiting for anyone.
/// Returns the WAL's length in frames when it started.
fn checkpoint(connection: &Connection) -> rusqlite::Result<i64> {
    connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))
}

/// Checkpoints back to back until a pass finds fewer than `CAUGHT_UP_FRAMES` frames new
/// since the one before. Returns whether the WAL is long enough (`restart_at` frames) to
/// be worth starting over.
fn catch_up(connection: &Connection, restart_at: i64) -> rusqlite::Result<bool> {
    let mut before = checkpoint(connection)?;
    for _ in 1..MAX_PASSES {
        if before < restart_at {
            return Ok(false);
        }
        let length = checkpoint(connection)?;
        // A shorter WAL than before means it started over during the pass.
        if length < before || length - before < CAUGHT_UP_FRAMES {
            return Ok(length >= restart_at);
        }
        before = length;
    }
    Ok(before >= restart_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance::temp_sqlite;

    fn commit_rows(connection: &Connection, rows: usize) {
        for _ in 0..rows {
            connection
                .execute(
                    "INSERT INTO store_meta (name, value) VALUES (hex(randomblob(16)), zeroblob(3000))",
                    [],
                )
                .unwrap();
        }
    }

    /// The WAL header's salts, which change each time the WAL starts over; read from the
    /// file, since asking SQLite (a checkpoint) would change what is measured.
    fn wal_salts(file: &Path) -> Vec<u8> {
        let wal = std::fs::read(file.with_extension("db-wal")).unwrap();
        wal[16..24].to_vec()
    }

    /// Under steady writes a checkpoint never catches the writer, so the WAL only starts
    /// over after the writer copies the last frames itself.
    #[tokio::test]
    async fn the_wal_starts_over_once_the_writer_copies_what_the_checkpointer_left() {
        let (dir, _store) = temp_sqlite().await;
        let file = dir.path().join("nested/tokens.db");
        let writer = open(&file).unwrap();
        writer
            .execute_batch("PRAGMA wal_autocheckpoint = 0")
            .unwrap();
        let checkpointer = open(&file).unwrap();

        commit_rows(&writer, 200);
        // The writer goes on while the checkpointer works; here a reader's snapshot keeps
        // the checkpoint from the frames committed after it, as time would.
        let reader = open(&file).unwrap();
        reader
            .execute_batch("BEGIN; SELECT COUNT(*) FROM store_meta;")
            .unwrap();
        commit_rows(&writer, 5);
        assert!(
            !catch_up(&checkpointer, 100_000).unwrap(),
            "not long enough"
        );
        assert!(
            catch_up(&checkpointer, 100).unwrap(),
            "a long WAL, caught up"
        );
        reader.execute_batch("COMMIT").unwrap();

        let salts = wal_salts(&file);
        commit_rows(&writer, 1);
        assert_eq!(
            wal_salts(&file),
            salts,
            "frames were left to copy, so the WAL goes on growing"
        );
        let due = Checkpointer {
            committed: sync_channel(1).0,
            restart_due: Arc::new(AtomicBool::new(true)),
        };
        due.restart_if_due(&writer);
        assert!(!due.restart_due.load(Ordering::Relaxed), "done once");
        commit_rows(&writer, 1);
        assert_ne!(wal_salts(&file), salts, "the WAL started over");
    }
}

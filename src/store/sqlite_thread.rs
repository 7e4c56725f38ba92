//! The settings of every SQLite connection, the writer thread's own connection, and how
//! that thread is started.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::StoreError;

/// What every connection to the SQLite file sets first (the migrations', the read pool's
/// and the writer's).
///
/// A rollback journal, not WAL. WAL maps its `-shm` file into memory, and when that file
/// can no longer be written (a volume frozen, or the files made immutable, under the
/// running service) the next write to the mapping kills the process with SIGBUS, and the
/// tokens the platform just issued die with it: no error, no page, no log line. A rollback
/// journal uses plain reads and writes, whose failures come back as errors, so the seller
/// is shown the tokens once as for a full disk (`tests/api/failing_disk.rs`). Other
/// processes (the CLI, a second replica) still read and write the file; the busy timeout
/// makes them wait for each other instead of failing. `synchronous = FULL` because in
/// rollback mode NORMAL can corrupt the file on a power cut at the wrong moment; the
/// group commit (`sqlite_writer.rs`) shares those syncs among the writes of a batch.
macro_rules! sqlite_pragmas {
    () => {
        "PRAGMA journal_mode = TRUNCATE; PRAGMA synchronous = FULL; \
         PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;"
    };
}
pub(super) use sqlite_pragmas;

/// A connection of a thread's own to the database the pool migrated.
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

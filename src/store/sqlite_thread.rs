//! The SQLite threads' own connections (the writer's and the checkpointer's), and how
//! they are started.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::StoreError;

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

//! All shared state behind one asynchronous interface: tokens, the states that callbacks
//! claimed, result grants, and refresh leases. Anything two replicas (or a restart) must
//! agree on lives here, never in one process's memory.
//!
//! `Store` is one type for both engines, its methods split by concern: `tokens` (the
//! pairs), `refresh` (due pairs, failures, leases), `flow` (claims, result grants, the
//! exchange), `admin` (the console's sessions, sign-in throttle and audit log),
//! `maintenance` (the key check, encrypting, rotating keys, backups, readiness), and the
//! lists: `listing` (pages by id), `urgency` (the console's order) and `search`. Rows of
//! `tokens` are read and sealed by `codec`. Every statement is written once, with named
//! parameters (`statement`), and runs through `db`: reads through the sqlx pool, writes on
//! SQLite through one writer thread that commits them in batches (`sqlite_writer`; every
//! connection's settings, a rollback journal among them, in `sqlite_thread`), on
//! PostgreSQL through the pool.
//! `conformance` holds the tests both engines pass. Adding a column: `README.md` here.

mod admin;
mod cipher;
mod codec;
#[cfg(test)]
mod conformance;
mod db;
mod deliveries;
mod events;
mod flow;
mod listing;
mod maintenance;
mod notices;
mod open;
mod ownership;
mod refresh;
mod retry;
mod search;
mod sqlite_thread;
mod sqlite_writer;
mod statement;
mod sweep;
#[doc(hidden)]
pub mod test_database;
mod tokens;
mod urgency;
mod url;

use std::sync::Arc;

pub use cipher::{CipherError, TokenCipher};
pub use deliveries::{
    AfterAttempt, AttemptRecord, DeliveryRecord, EventFilter, EventRecord, TakenDelivery,
};
pub use flow::ClaimAttempt;
pub use listing::PairFilter;
pub use maintenance::Progress;
pub use notices::{NewEvent, NoticeDue};
pub use ownership::StoredOwner;
pub use retry::DEFAULT_BUDGET as DEFAULT_RETRY_BUDGET;
pub use urgency::{Place, Toward, UrgencyFilter, UrgencyPage};
pub use url::{DatabaseUrl, Engine};

use codec::Codec;
use db::Db;
use sweep::Sweeps;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// From the SQLite writer's own connection (`sqlite_writer.rs`).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("IOP_DATABASE_URL: cannot use {path}: {source}{}", file_hint(source))]
    File {
        path: String,
        source: std::io::Error,
    },
    /// The database could not be reached or opened: where (without the password), and why.
    #[error("IOP_DATABASE_URL: cannot open the database at {target}: {why}")]
    Unreachable { target: String, why: String },
    #[error("stored identity is unreadable: {0}")]
    Identity(#[from] serde_json::Error),
    /// A stored value this version does not understand.
    #[error("stored value is not understood: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Encryption(String),
    /// What was asked of the store cannot be done (the wrong engine, a bad path).
    #[error("{0}")]
    Usage(String),
    /// The SQLite writer thread has stopped (the store was closed).
    #[error("the store is closed: its SQLite writer has stopped")]
    WriterStopped,
    /// A guarded statement found the rows changed under it; nothing was written.
    #[error("the store changed during the operation; nothing was written: {0}")]
    Changed(String),
    /// A statement and its named values do not fit: a bug, reported instead of a panic.
    #[error("a statement is malformed: {0}")]
    Statement(String),
}

impl StoreError {
    /// The database could not be reached, or the connection broke: the request may work
    /// again in a moment (a 503 with `Retry-After`, not a 500).
    pub fn is_unavailable(&self) -> bool {
        retry::transient(self)
    }
}

/// What to do about a database file that cannot be used.
fn file_hint(error: &std::io::Error) -> &'static str {
    match error.kind() {
        std::io::ErrorKind::PermissionDenied => {
            " (the service's user may not write there: fix the folder's owner or mode, or point IOP_DATABASE_URL elsewhere)"
        }
        std::io::ErrorKind::NotADirectory => " (a parent of that path is a file, not a folder)",
        std::io::ErrorKind::InvalidData => {
            " (point IOP_DATABASE_URL at a new file, or at this service's own database)"
        }
        _ => "",
    }
}

/// All shared state, on SQLite or PostgreSQL. `Debug` names the engine only: the pool and
/// the key stay out of logs.
pub struct Store {
    db: Db,
    codec: Codec,
    /// When expired claims, results and sign-in failures were last swept away.
    sweeps: Sweeps,
    /// The console's counts per state, kept a few seconds.
    counts: urgency::CountsMemo,
}

pub type SharedStore = Arc<Store>;

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("engine", &self.db.engine)
            .field("encrypted", &self.codec.cipher().is_some())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the database `url` names, migrating it to this version's schema, and checks
    /// that `cipher` is the key its tokens are encrypted with (or that they are plain,
    /// without one).
    pub async fn open(url: &DatabaseUrl, cipher: Option<TokenCipher>) -> Result<Self, StoreError> {
        let store = Self::open_unchecked(url, cipher).await?;
        store.check_key().await?;
        store.index_search_terms().await?;
        Ok(store)
    }

    /// Opens without the key check: for `store encrypt`, which makes it true.
    pub async fn open_unchecked(
        url: &DatabaseUrl,
        cipher: Option<TokenCipher>,
    ) -> Result<Self, StoreError> {
        Ok(Store {
            db: open::open_db(url).await?,
            codec: Codec::new(cipher),
            sweeps: Sweeps::default(),
            counts: urgency::CountsMemo::default(),
        })
    }

    pub fn engine(&self) -> Engine {
        self.db.engine
    }

    /// How long a step is tried again while the database is unreachable
    /// (`IOP_STORE_RETRY`; 5 s unless set).
    pub fn set_retry_budget(&self, budget: std::time::Duration) {
        self.db.set_retry_budget(budget);
    }

    /// Commits what is queued and closes every connection.
    pub async fn close(&self) {
        self.db.close().await;
    }
}

/// Opens the store a database URL names, shared, with tokens encrypted under `cipher` if
/// given.
pub async fn open(
    url: &DatabaseUrl,
    cipher: Option<TokenCipher>,
) -> Result<SharedStore, StoreError> {
    Ok(Arc::new(Store::open(url, cipher).await?))
}

//! All shared state behind one asynchronous interface: tokens, the states that callbacks
//! claimed, result grants, and refresh leases. Anything two replicas (or a restart) must
//! agree on lives here, never in one process's memory.
//!
//! `Store` is the interface (tests put failing stores behind it); `sql` implements it for
//! SQLite and PostgreSQL alike, except that on SQLite the seller flow's writes (`writes`)
//! go through one writer thread that commits them in batches (`sqlite_writer`, which
//! `sqlite_wal` keeps from waiting for checkpoints); and
//! `conformance` holds the tests both engines pass.

mod cipher;
#[cfg(test)]
mod conformance;
mod open;
mod sql;
mod sqlite_wal;
mod sqlite_writer;
#[doc(hidden)]
pub mod test_database;
mod writes;

use std::sync::Arc;

use async_trait::async_trait;
use secrecy::SecretString;

use crate::admin::{AuditEntry, SessionRecord};
use crate::apps::AppId;
use crate::flow::{ClaimRecord, ClaimStage, ResultGrant, ResultId};
use crate::iop::{Platform, SellerIdentity, TokenResponse};
use crate::tokens::RefreshBefore;

pub use cipher::{CipherError, TokenCipher};
pub use open::Engine;
pub use sql::SqlStore;

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
    /// The database could not be reached or opened (the URL is not repeated: it may hold a
    /// password).
    #[error("IOP_DATABASE_URL: cannot open the database: {0}")]
    Unreachable(sqlx::Error),
    #[error("stored identity is unreadable: {0}")]
    Identity(#[from] serde_json::Error),
    #[error("stored value is not understood: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Encryption(String),
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

/// Whether a stored pair can still be used and renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStatus {
    Active,
    /// The refresh token is dead: only the seller can renew the pair, by authorizing again.
    Reauthorize,
}

impl TokenStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenStatus::Active => "active",
            TokenStatus::Reauthorize => "reauthorize",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, StoreError> {
        match raw {
            "active" => Ok(TokenStatus::Active),
            "reauthorize" => Ok(TokenStatus::Reauthorize),
            other => Err(StoreError::Corrupt(format!("token status `{other}`"))),
        }
    }
}

/// The app a token is stored for: its local name and its identity at the platform.
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    pub app: &'a AppId,
    pub platform: Platform,
    pub app_key: &'a str,
}

/// A stored token pair with its seller. Tokens are `SecretString`, so `Debug` is redacted.
#[derive(Debug)]
pub struct StoredToken {
    pub id: i64,
    pub app: AppId,
    pub platform: Platform,
    pub app_key: String,
    /// The seller's key within the app (`seller:1001`): with platform and app key, the
    /// row's identity.
    pub account_key: String,
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub access_expires_at: Option<i64>,
    pub refresh_expires_at: Option<i64>,
    pub refreshable: bool,
    pub identity: SellerIdentity,
    pub last_request_id: Option<String>,
    pub status: TokenStatus,
    pub created_at: i64,
    /// Also the row's version: a refresh is stored only over the row it started from.
    pub updated_at: i64,
    /// When the current access token was issued (by an exchange or a refresh).
    pub issued_at: i64,
    /// When the seller last authorized: the refresh token's life counts from here.
    pub authorized_at: i64,
    pub last_refresh_at: Option<i64>,
    /// The last refresh failure, in words for an operator.
    pub last_error: Option<String>,
    pub consecutive_failures: i64,
    /// After a transient failure, the refresher leaves the pair alone until then.
    pub retry_after: Option<i64>,
}

impl StoredToken {
    /// The pair an exchange returned, as it would have been stored: for the page that
    /// shows tokens the store would not take.
    pub fn unsaved(owner: Owner<'_>, response: &TokenResponse, now_ms: i64) -> Self {
        let expiries = response.expiries(now_ms);
        StoredToken {
            id: 0,
            app: owner.app.clone(),
            platform: owner.platform,
            app_key: owner.app_key.to_owned(),
            account_key: account_key(response, now_ms),
            access_token: response.access_token.clone(),
            refresh_token: response.refresh_token.clone(),
            access_expires_at: expiries.access_expires_at,
            refresh_expires_at: expiries.refresh_expires_at,
            refreshable: expiries.refreshable,
            identity: response.identity.clone(),
            last_request_id: response.request_id.clone(),
            status: TokenStatus::Active,
            created_at: now_ms,
            updated_at: now_ms,
            issued_at: now_ms,
            authorized_at: now_ms,
            last_refresh_at: None,
            last_error: None,
            consecutive_failures: 0,
            retry_after: None,
        }
    }
}

/// Token counts of one app for the metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenCounts {
    pub app: AppId,
    /// Usable now.
    pub active: i64,
    /// Active, but the access token has expired (the refresher is behind or off).
    pub expired: i64,
    pub reauthorize: i64,
}

/// What a claim attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimAttempt {
    /// This request holds the claim now.
    Claimed,
    /// Someone claimed it before.
    Taken(ClaimStage),
}

#[async_trait]
pub trait Store: Send + Sync {
    // Tokens.

    /// Stores the answer of a code exchange, replacing the seller's previous pair of the
    /// same app. Returns the row id.
    async fn save_authorization(
        &self,
        owner: Owner<'_>,
        response: &TokenResponse,
        now_ms: i64,
    ) -> Result<i64, StoreError>;

    /// The whole outcome of a successful exchange in one transaction: the pair (as
    /// `save_authorization`), the result page `grant` for the stored row (its `token_id` is
    /// that row's, whatever `grant` says), and the end of the claim `state_digest` with
    /// that result. One commit instead of three on the seller's path. Returns the row id.
    async fn save_exchange(
        &self,
        owner: Owner<'_>,
        response: &TokenResponse,
        now_ms: i64,
        state_digest: &[u8; 32],
        grant: &ResultGrant,
    ) -> Result<i64, StoreError>;

    async fn token(&self, id: i64) -> Result<Option<StoredToken>, StoreError>;

    /// Every pair, of one app or of all, ordered by app and id.
    async fn list_tokens(&self, app: Option<&AppId>) -> Result<Vec<StoredToken>, StoreError>;

    /// The pairs whose seller has this seller id or user id (a Lazada country's too).
    async fn find_seller(&self, seller: &str) -> Result<Vec<StoredToken>, StoreError>;

    /// Forgets a pair. Returns whether there was one.
    async fn delete_token(&self, id: i64) -> Result<bool, StoreError>;

    /// Active, refreshable pairs of this app that `policy` says are due at `now` (see
    /// `RefreshBefore::due_at`), whose refresh token still lives and that are not waiting
    /// out a failure.
    async fn due_for_refresh(
        &self,
        app: &AppId,
        policy: RefreshBefore,
        now_ms: i64,
    ) -> Result<Vec<StoredToken>, StoreError>;

    /// The earliest time a pair of this app falls due (or its backoff ends), if any can.
    async fn next_due_at(
        &self,
        app: &AppId,
        policy: RefreshBefore,
    ) -> Result<Option<i64>, StoreError>;

    /// Records a failed refresh that will be tried again, not before `retry_after`.
    async fn record_refresh_failure(
        &self,
        id: i64,
        error: &str,
        retry_after: i64,
    ) -> Result<(), StoreError>;

    /// Stores a refreshed pair over `refreshed`, only if the row is still the version the
    /// refresh started from: a newer authorization that landed meanwhile wins. The refresh
    /// token and its expiry are replaced only when the platform sent new ones. Returns
    /// whether it was stored.
    async fn save_refresh(
        &self,
        refreshed: &StoredToken,
        response: &TokenResponse,
        now_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Marks one pair as needing the seller to authorize again, saying why.
    async fn mark_reauthorize(&self, id: i64, error: &str, now_ms: i64) -> Result<(), StoreError>;

    /// Marks every pair that can no longer be renewed: refresh token expired, or not
    /// refreshable and the access token expired. Returns how many.
    async fn mark_dead(&self, now_ms: i64) -> Result<u64, StoreError>;

    async fn count_by_status(&self, now_ms: i64) -> Result<Vec<TokenCounts>, StoreError>;

    // Refresh leases: one refresh in flight per token, across processes.

    /// Takes the refresh lease of the token `seen` until `until`, unless another holder's
    /// lease is still running or the row changed since `seen` was read (someone renewed it:
    /// renewing again from a stale read would spend the refresh token twice). Returns
    /// whether `holder` has it now.
    async fn lease_refresh(
        &self,
        seen: &StoredToken,
        holder: &str,
        until: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError>;

    async fn release_refresh(&self, token_id: i64, holder: &str) -> Result<(), StoreError>;

    // Authorizations in progress.

    /// Atomically claims a verified state, or reports how it was claimed before. Also
    /// forgets claims past their `keep_until`.
    async fn claim_state(
        &self,
        record: &ClaimRecord,
        now_ms: i64,
    ) -> Result<ClaimAttempt, StoreError>;

    /// How a state was claimed, if it was.
    async fn claim_stage(&self, state_digest: &[u8; 32]) -> Result<Option<ClaimStage>, StoreError>;

    /// Ends a claim, with the result page when the exchange succeeded.
    async fn finish_claim(
        &self,
        state_digest: &[u8; 32],
        result: Option<&ResultId>,
    ) -> Result<(), StoreError>;

    /// Records which browser may open a result page. Also forgets expired grants.
    async fn save_result(&self, grant: &ResultGrant, now_ms: i64) -> Result<(), StoreError>;

    async fn result(&self, id: &ResultId) -> Result<Option<ResultGrant>, StoreError>;

    // The admin console.

    /// Stores a new session. Also forgets sessions idle since before `idle_before`.
    async fn create_session(
        &self,
        session: &SessionRecord,
        idle_before: i64,
    ) -> Result<(), StoreError>;

    async fn session(&self, digest: &[u8; 32]) -> Result<Option<SessionRecord>, StoreError>;

    /// Records that the session was used at `now`.
    async fn touch_session(&self, digest: &[u8; 32], now_ms: i64) -> Result<(), StoreError>;

    async fn delete_session(&self, digest: &[u8; 32]) -> Result<(), StoreError>;

    /// Counts a failed sign-in of `client` and returns the failures in its current window
    /// (this one included); a window older than `window_ms` starts again. Also forgets
    /// clients with neither a recent failure nor a lock.
    async fn count_login_failure(
        &self,
        client: &str,
        now_ms: i64,
        window_ms: i64,
    ) -> Result<i64, StoreError>;

    /// Refuses `client`'s sign-ins until `until`, and starts its count again.
    async fn lock_logins(&self, client: &str, until: i64) -> Result<(), StoreError>;

    /// Until when `client` may not sign in, if it is locked out at `now`.
    async fn logins_locked_until(
        &self,
        client: &str,
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError>;

    /// Forgets `client`'s failures (after it signed in).
    async fn clear_login_failures(&self, client: &str) -> Result<(), StoreError>;

    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;

    /// Up to `limit` audit entries older than `before` (an id), newest first.
    async fn audit_page(
        &self,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError>;

    // Operations.

    /// Cheap round trip for readiness checks.
    async fn ping(&self) -> Result<(), StoreError>;

    async fn close(&self);
}

pub type SharedStore = Arc<dyn Store>;

/// Opens the store a database URL names, with tokens encrypted under `cipher` if given.
pub async fn open(
    database_url: &str,
    cipher: Option<TokenCipher>,
) -> Result<SharedStore, StoreError> {
    Ok(Arc::new(SqlStore::open(database_url, cipher).await?))
}

/// The key a seller's row is found by: the platform's most stable id. Without any id the
/// seller cannot be matched later; keep the tokens anyway, under the platform's request
/// id (or the time), rather than lose them.
fn account_key(response: &TokenResponse, now_ms: i64) -> String {
    response.identity.account_key().unwrap_or_else(|| {
        format!(
            "unidentified:{}",
            response
                .request_id
                .clone()
                .unwrap_or_else(|| now_ms.to_string())
        )
    })
}

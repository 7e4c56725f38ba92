//! The store in SQL, one implementation for both engines: SQLite (embedded, one box) and
//! PostgreSQL (several replicas), through sqlx's `Any` driver. The statements are written
//! in the SQL both understand: `$N` placeholders, `CASE` instead of `MAX(a, b)` or
//! `GREATEST`, `COUNT(*) FILTER`, integers for times and flags. What differs (connecting,
//! the schema's migrations) lives in `open.rs` and `migrations/{sqlite,postgres}`.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use sqlx::AnyPool;

use super::cipher::{Row, TokenCipher, is_encrypted};
use super::open::{Engine, open_pool};
use super::sqlite_writer::SqliteWriter;
use super::writes::{
    DELETE_LOOKUP_IDS, ExchangeRows, FINISH_CLAIM, INSERT_RESULT, PairRow, Write, Written,
    apply_alone, bound, finish_params, result_params, upsert_pair,
};
use super::{
    ClaimAttempt, Owner, Store, StoreError, StoredToken, TokenCounts, TokenStatus, account_key,
};
use crate::admin::{AuditAction, AuditEntry, SessionRecord};
use crate::apps::AppId;
use crate::flow::{ClaimRecord, ClaimStage, ResultGrant, ResultId};
use crate::iop::{Platform, TokenResponse};
use crate::tokens::RefreshBefore;

/// `Debug` names the engine only: the pool and the key stay out of logs.
#[derive(Clone)]
pub struct SqlStore {
    pool: AnyPool,
    engine: Engine,
    /// SQLite's flow writes go through one writer thread that commits them in batches;
    /// PostgreSQL takes concurrent writers, so each request commits its own.
    writer: Option<SqliteWriter>,
    /// Tokens are encrypted at rest with this key, when the operator gave one.
    cipher: Option<TokenCipher>,
    /// When expired claims and results were last swept away.
    sweeps: Arc<Sweeps>,
    /// A SQLite store's file as it was opened: a file deleted or replaced under the running
    /// service makes it not ready (writes would go to a file nobody can open again).
    file: Option<FileIdentity>,
}

/// Expired claims and results are deleted at most every `SWEEP_EVERY_MS`, not on every
/// insert: a sweep is a write, and every flow would pay for it. Nothing reads an expired
/// record as valid meanwhile (claims and grants carry their own expiry).
const SWEEP_EVERY_MS: i64 = 10_000;

#[derive(Default)]
struct Sweeps {
    claims: Sweep,
    results: Sweep,
    logins: Sweep,
}

#[derive(Default)]
struct Sweep {
    last_ms: AtomicI64,
}

impl Sweep {
    /// Whether a sweep is due at `now`; if so, this caller does it.
    fn due(&self, now_ms: i64) -> bool {
        let last = self.last_ms.load(Ordering::Relaxed);
        now_ms - last >= SWEEP_EVERY_MS
            && self
                .last_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct FileIdentity {
    path: std::path::PathBuf,
    device: u64,
    inode: u64,
}

impl FileIdentity {
    fn of(path: &std::path::Path) -> Option<Self> {
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
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("engine", &self.engine)
            .field("encrypted", &self.cipher.is_some())
            .finish_non_exhaustive()
    }
}

/// The columns whose values are encrypted, as named in the associated data.
const ACCESS: &str = "access_token";
const REFRESH: &str = "refresh_token";

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: i64,
    app_id: String,
    platform: String,
    app_key: String,
    access_token: String,
    refresh_token: Option<String>,
    access_expires_at: Option<i64>,
    refresh_expires_at: Option<i64>,
    refreshable: i64,
    identity: String,
    last_request_id: Option<String>,
    status: String,
    created_at: i64,
    updated_at: i64,
    account_key: String,
    issued_at: Option<i64>,
    authorized_at: Option<i64>,
    last_refresh_at: Option<i64>,
    last_error: Option<String>,
    consecutive_failures: i64,
    retry_after: Option<i64>,
}

/// The columns of a `TokenRow`; a macro so that queries stay static strings.
macro_rules! token_columns {
    () => {
        "id, app_id, platform, app_key, access_token, refresh_token, access_expires_at, \
         refresh_expires_at, refreshable, identity, last_request_id, status, created_at, \
         updated_at, account_key, issued_at, authorized_at, last_refresh_at, last_error, \
         consecutive_failures, retry_after"
    };
}

/// When a pair is due under the policy's `$1` (thousandths of the lifetime) and `$2`
/// (milliseconds ahead): the later of that and half its life, as `RefreshBefore::due_at`.
macro_rules! due_at {
    () => {
        "CASE WHEN access_expires_at - (access_expires_at - issued_at) * $1 / 1000 - $2 \
                   > issued_at + (access_expires_at - issued_at) / 2 \
              THEN access_expires_at - (access_expires_at - issued_at) * $1 / 1000 - $2 \
              ELSE issued_at + (access_expires_at - issued_at) / 2 END"
    };
}

/// The pairs the refresher may renew at all.
macro_rules! refreshable {
    () => {
        "status = 'active' AND refreshable = 1 AND refresh_token IS NOT NULL \
         AND access_expires_at IS NOT NULL"
    };
}

impl SqlStore {
    /// Opens the database a URL names (`sqlite:` or `postgres:`), migrating it to this
    /// version's schema, and checks that `cipher` is the key its tokens are encrypted with
    /// (or that they are plain, without one).
    pub async fn open(database_url: &str, cipher: Option<TokenCipher>) -> Result<Self, StoreError> {
        let store = Self::open_unchecked(database_url, cipher).await?;
        store.check_key().await?;
        Ok(store)
    }

    /// Opens without the key check: for `store encrypt`, which makes it true.
    pub async fn open_unchecked(
        database_url: &str,
        cipher: Option<TokenCipher>,
    ) -> Result<Self, StoreError> {
        let (pool, engine) = open_pool(database_url).await?;
        let file = (engine == Engine::Sqlite)
            .then(|| sqlx::sqlite::SqliteConnectOptions::from_str(database_url).ok())
            .flatten()
            .and_then(|options| FileIdentity::of(options.get_filename()));
        let writer = file
            .as_ref()
            .map(|file| SqliteWriter::start(&file.path))
            .transpose()?;
        Ok(SqlStore {
            pool,
            engine,
            writer,
            cipher,
            sweeps: Arc::default(),
            file,
        })
    }

    async fn key_check(&self) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT value FROM store_meta WHERE name = 'key_check'")
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn check_key(&self) -> Result<(), StoreError> {
        match (self.key_check().await?, &self.cipher) {
            (None, None) => Ok(()),
            (Some(check), Some(cipher)) if cipher.accepts_key_check(&check) => Ok(()),
            (Some(_), Some(_)) => Err(StoreError::Encryption(
                "IOP_ENCRYPTION_KEY is not the key this store's tokens are encrypted with \
                 (to change keys, use `iop-callback store rotate-key`)"
                    .into(),
            )),
            (Some(_), None) => Err(StoreError::Encryption(
                "the store's tokens are encrypted: set IOP_ENCRYPTION_KEY (or \
                 IOP_ENCRYPTION_KEY_FILE) to its key"
                    .into(),
            )),
            (None, Some(cipher)) => {
                let plain: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tokens")
                    .fetch_one(&self.pool)
                    .await?;
                if plain > 0 {
                    return Err(StoreError::Encryption(
                        "IOP_ENCRYPTION_KEY is set, but the store holds unencrypted tokens: \
                         run `iop-callback store encrypt` once with the key set"
                            .into(),
                    ));
                }
                // A new store: encrypted from the start.
                sqlx::query(
                    "INSERT INTO store_meta (name, value) VALUES ('key_check', $1)
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(cipher.key_check())
                .execute(&self.pool)
                .await?;
                Ok(())
            }
        }
    }

    /// Encrypts every plain token under the store's key (`iop-callback store encrypt`),
    /// in one transaction. Returns how many pairs it encrypted.
    pub async fn encrypt_all(&self) -> Result<u64, StoreError> {
        let cipher = self.cipher.clone().ok_or_else(|| {
            StoreError::Encryption("set IOP_ENCRYPTION_KEY to the key to encrypt with".into())
        })?;
        if let Some(check) = self.key_check().await? {
            if cipher.accepts_key_check(&check) {
                return Ok(0);
            }
            return Err(StoreError::Encryption(
                "the store is already encrypted under another key: use `store rotate-key`".into(),
            ));
        }
        let plain = SqlStore {
            cipher: None,
            ..self.clone()
        };
        self.reseal_all(&plain, &cipher).await
    }

    /// Re-encrypts every token under `new` (`iop-callback store rotate-key`), in one
    /// transaction. Returns how many pairs it re-encrypted.
    pub async fn rotate_key(&self, new: TokenCipher) -> Result<u64, StoreError> {
        if self.cipher.is_none() {
            return Err(StoreError::Encryption(
                "the store is not encrypted: use `store encrypt`".into(),
            ));
        }
        self.reseal_all(self, &new).await
    }

    /// Reads every pair with `from`'s key and writes it back under `to`, key check
    /// included, all or nothing.
    async fn reseal_all(&self, from: &SqlStore, to: &TokenCipher) -> Result<u64, StoreError> {
        let target = SqlStore {
            cipher: Some(to.clone()),
            ..self.clone()
        };
        let mut tx = self.pool.begin().await?;
        let rows: Vec<TokenRow> =
            sqlx::query_as(concat!("SELECT ", token_columns!(), " FROM tokens"))
                .fetch_all(&mut *tx)
                .await?;
        let count = u64::try_from(rows.len()).unwrap_or(u64::MAX);
        for row in rows {
            let id = row.id;
            let token = from.decode(row)?;
            let identity = Row {
                platform: token.platform.as_str(),
                app_key: &token.app_key,
                account_key: &token.account_key,
            };
            sqlx::query("UPDATE tokens SET access_token = $1, refresh_token = $2 WHERE id = $3")
                .bind(target.seal(token.access_token.expose_secret(), &identity, ACCESS))
                .bind(
                    token
                        .refresh_token
                        .as_ref()
                        .map(|t| target.seal(t.expose_secret(), &identity, REFRESH)),
                )
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO store_meta (name, value) VALUES ('key_check', $1)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(to.key_check())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(count)
    }

    /// A consistent copy of a SQLite store while it runs (`iop-callback store backup`).
    pub async fn backup(&self, file: &std::path::Path) -> Result<(), StoreError> {
        if self.engine != Engine::Sqlite {
            return Err(StoreError::Corrupt(
                "`store backup` copies SQLite stores; back up PostgreSQL with pg_dump".into(),
            ));
        }
        if file.exists() {
            return Err(StoreError::File {
                path: file.display().to_string(),
                source: std::io::Error::new(std::io::ErrorKind::AlreadyExists, "already exists"),
            });
        }
        let path = file
            .to_str()
            .ok_or_else(|| StoreError::Corrupt("the backup path is not valid UTF-8".into()))?;
        // VACUUM INTO writes a transactionally consistent copy while others keep writing.
        sqlx::query("VACUUM INTO $1")
            .bind(path)
            .execute(&self.pool)
            .await?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).map_err(
                |source| StoreError::File {
                    path: file.display().to_string(),
                    source,
                },
            )?;
        }
        Ok(())
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }
}

impl SqlStore {
    /// The seller's pair of this app as a row: sealed, with its identity and lookup ids.
    fn pair_row(
        &self,
        owner: Owner<'_>,
        response: &TokenResponse,
        now_ms: i64,
    ) -> Result<PairRow, StoreError> {
        let expiries = response.expiries(now_ms);
        let account_key = account_key(response, now_ms);
        let (access_token, refresh_token) = self.seal_pair(
            response,
            &Row {
                platform: owner.platform.as_str(),
                app_key: owner.app_key,
                account_key: &account_key,
            },
        );
        Ok(PairRow {
            app_id: owner.app.as_str().to_owned(),
            platform: owner.platform.as_str(),
            app_key: owner.app_key.to_owned(),
            account_key,
            access_token,
            refresh_token,
            access_expires_at: expiries.access_expires_at,
            refresh_expires_at: expiries.refresh_expires_at,
            refreshable: expiries.refreshable,
            identity: serde_json::to_string(&response.identity)?,
            request_id: response.request_id.clone(),
            lookup_ids: response.identity.lookup_ids(),
            now_ms,
        })
    }

    /// Commits one of the flow's writes: in the next group commit on SQLite, alone on
    /// PostgreSQL.
    async fn write(&self, write: Write) -> Result<Written, StoreError> {
        match &self.writer {
            Some(writer) => writer.submit(write).await,
            None => apply_alone(&self.pool, &write).await,
        }
    }

    /// Forgets expired result grants, at most every `SWEEP_EVERY_MS`.
    async fn sweep_results(&self, now_ms: i64) -> Result<(), StoreError> {
        if self.sweeps.results.due(now_ms) {
            sqlx::query("DELETE FROM flow_results WHERE expires_at < $1")
                .bind(now_ms)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn save_authorization(
        &self,
        owner: Owner<'_>,
        response: &TokenResponse,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        let pair = self.pair_row(owner, response, now_ms)?;
        let mut tx = self.pool.begin().await?;
        let id = upsert_pair(&mut tx, &pair).await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn save_exchange(
        &self,
        owner: Owner<'_>,
        response: &TokenResponse,
        now_ms: i64,
        state_digest: &[u8; 32],
        grant: &ResultGrant,
    ) -> Result<i64, StoreError> {
        self.sweep_results(now_ms).await?;
        let rows = ExchangeRows {
            pair: self.pair_row(owner, response, now_ms)?,
            grant: grant.clone(),
            state_digest: *state_digest,
        };
        match self.write(Write::Exchange(Box::new(rows))).await? {
            Written::Exchange { token_id } => Ok(token_id),
            other => Err(unexpected(other)),
        }
    }

    async fn list_tokens(&self, app: Option<&AppId>) -> Result<Vec<StoredToken>, StoreError> {
        let rows: Vec<TokenRow> = sqlx::query_as(concat!(
            "SELECT ",
            token_columns!(),
            " FROM tokens WHERE $1 IS NULL OR app_id = $1 ORDER BY app_id, id"
        ))
        .bind(app.map(AppId::as_str))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(|row| self.decode(row)).collect()
    }

    async fn find_seller(&self, seller: &str) -> Result<Vec<StoredToken>, StoreError> {
        let rows: Vec<TokenRow> = sqlx::query_as(concat!(
            "SELECT ",
            token_columns!(),
            " FROM tokens WHERE id IN (SELECT token_id FROM token_sellers WHERE seller_key = $1)
             ORDER BY app_id, id"
        ))
        .bind(seller)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(|row| self.decode(row)).collect()
    }

    async fn delete_token(&self, id: i64) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(DELETE_LOOKUP_IDS)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM tokens WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn token(&self, id: i64) -> Result<Option<StoredToken>, StoreError> {
        let row: Option<TokenRow> = sqlx::query_as(concat!(
            "SELECT ",
            token_columns!(),
            " FROM tokens WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| self.decode(row)).transpose()
    }

    async fn due_for_refresh(
        &self,
        app: &AppId,
        policy: RefreshBefore,
        now_ms: i64,
    ) -> Result<Vec<StoredToken>, StoreError> {
        let (permille, ahead) = policy.sql_params();
        let rows: Vec<TokenRow> = sqlx::query_as(concat!(
            "SELECT ",
            token_columns!(),
            " FROM tokens WHERE app_id = $3 AND ",
            refreshable!(),
            " AND ",
            due_at!(),
            " <= $4
               AND (refresh_expires_at IS NULL OR refresh_expires_at > $4)
               AND (retry_after IS NULL OR retry_after <= $4)
             ORDER BY access_expires_at"
        ))
        .bind(permille)
        .bind(ahead)
        .bind(app.as_str())
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(|row| self.decode(row)).collect()
    }

    async fn next_due_at(
        &self,
        app: &AppId,
        policy: RefreshBefore,
    ) -> Result<Option<i64>, StoreError> {
        let (permille, ahead) = policy.sql_params();
        // The later of the due time and the end of a backoff, earliest over the pairs.
        let next: Option<i64> = sqlx::query_scalar(concat!(
            "SELECT MIN(CASE WHEN retry > due THEN retry ELSE due END) FROM (SELECT ",
            due_at!(),
            " AS due, COALESCE(retry_after, 0) AS retry FROM tokens WHERE app_id = $3 AND ",
            refreshable!(),
            ") AS pending"
        ))
        .bind(permille)
        .bind(ahead)
        .bind(app.as_str())
        .fetch_one(&self.pool)
        .await?;
        Ok(next)
    }

    async fn record_refresh_failure(
        &self,
        id: i64,
        error: &str,
        retry_after: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE tokens SET last_error = $1, consecutive_failures = consecutive_failures + 1,
                 retry_after = $2
             WHERE id = $3",
        )
        .bind(error)
        .bind(retry_after)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn save_refresh(
        &self,
        refreshed: &StoredToken,
        response: &TokenResponse,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let expiries = response.expiries(now_ms);
        let row = Row {
            platform: refreshed.platform.as_str(),
            app_key: &refreshed.app_key,
            account_key: &refreshed.account_key,
        };
        let (access_token, refresh_token) = self.seal_pair(response, &row);
        let done = sqlx::query(
            "UPDATE tokens SET
                 access_token = $1,
                 refresh_token = COALESCE($2, refresh_token),
                 access_expires_at = $3,
                 refresh_expires_at = COALESCE($4, refresh_expires_at),
                 last_request_id = $5,
                 updated_at = $6,
                 issued_at = $6,
                 last_refresh_at = $6,
                 last_error = NULL,
                 consecutive_failures = 0,
                 retry_after = NULL
             WHERE id = $7 AND updated_at = $8",
        )
        .bind(access_token)
        .bind(refresh_token)
        .bind(expiries.access_expires_at)
        .bind(expiries.refresh_expires_at)
        .bind(response.request_id.as_deref())
        .bind(now_ms)
        .bind(refreshed.id)
        .bind(refreshed.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn mark_reauthorize(&self, id: i64, error: &str, now_ms: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE tokens SET status = $1, last_error = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(TokenStatus::Reauthorize.as_str())
        .bind(error)
        .bind(now_ms)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn mark_dead(&self, now_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE tokens SET status = $1, updated_at = $2,
                 last_error = 'the refresh token expired (or the pair was not refreshable)'
             WHERE status = $3
               AND ((refresh_expires_at IS NOT NULL AND refresh_expires_at <= $4)
                    OR (refreshable = 0 AND access_expires_at IS NOT NULL AND access_expires_at <= $5))",
        )
        .bind(TokenStatus::Reauthorize.as_str())
        .bind(now_ms)
        .bind(TokenStatus::Active.as_str())
        .bind(now_ms)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn count_by_status(&self, now_ms: i64) -> Result<Vec<TokenCounts>, StoreError> {
        let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
            "SELECT app_id,
                 COUNT(*) FILTER (WHERE status = $1
                     AND (access_expires_at IS NULL OR access_expires_at > $3)),
                 COUNT(*) FILTER (WHERE status = $1 AND access_expires_at <= $3),
                 COUNT(*) FILTER (WHERE status = $2)
             FROM tokens GROUP BY app_id ORDER BY app_id",
        )
        .bind(TokenStatus::Active.as_str())
        .bind(TokenStatus::Reauthorize.as_str())
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(app, active, expired, reauthorize)| {
                Ok(TokenCounts {
                    app: app_id(&app)?,
                    active,
                    expired,
                    reauthorize,
                })
            })
            .collect()
    }

    async fn lease_refresh(
        &self,
        seen: &StoredToken,
        holder: &str,
        until: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE tokens SET lease_holder = $1, lease_until = $2
             WHERE id = $3 AND updated_at = $4
               AND (lease_until IS NULL OR lease_until < $5 OR lease_holder = $6)",
        )
        .bind(holder)
        .bind(until)
        .bind(seen.id)
        .bind(seen.updated_at)
        .bind(now_ms)
        .bind(holder)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_refresh(&self, token_id: i64, holder: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE tokens SET lease_holder = NULL, lease_until = NULL
             WHERE id = $1 AND lease_holder = $2",
        )
        .bind(token_id)
        .bind(holder)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn claim_state(
        &self,
        record: &ClaimRecord,
        now_ms: i64,
    ) -> Result<ClaimAttempt, StoreError> {
        if self.sweeps.claims.due(now_ms) {
            sqlx::query("DELETE FROM flow_claims WHERE keep_until < $1")
                .bind(now_ms)
                .execute(&self.pool)
                .await?;
        }
        match self.write(Write::Claim(record.clone())).await? {
            Written::Claim { claimed: true } => return Ok(ClaimAttempt::Claimed),
            Written::Claim { claimed: false } => {}
            other => return Err(unexpected(other)),
        }
        let stage = self.claim_stage(&record.state_digest).await?;
        // Gone between the two statements only if it expired just then: claimed before.
        Ok(ClaimAttempt::Taken(
            stage.unwrap_or(ClaimStage::Finished(None)),
        ))
    }

    async fn claim_stage(&self, state_digest: &[u8; 32]) -> Result<Option<ClaimStage>, StoreError> {
        let row: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT stage, result_id FROM flow_claims WHERE state_digest = $1")
                .bind(&state_digest[..])
                .fetch_optional(&self.pool)
                .await?;
        row.map(|(stage, result)| claim_stage(&stage, result))
            .transpose()
    }

    async fn finish_claim(
        &self,
        state_digest: &[u8; 32],
        result: Option<&ResultId>,
    ) -> Result<(), StoreError> {
        bound(FINISH_CLAIM, &finish_params(result, state_digest))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn save_result(&self, grant: &ResultGrant, now_ms: i64) -> Result<(), StoreError> {
        self.sweep_results(now_ms).await?;
        bound(INSERT_RESULT, &result_params(grant, grant.token_id))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn result(&self, id: &ResultId) -> Result<Option<ResultGrant>, StoreError> {
        let row: Option<(String, Vec<u8>, i64, i64)> = sqlx::query_as(
            "SELECT app_id, browser_digest, token_id, expires_at
             FROM flow_results WHERE result_id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|(app, browser, token_id, expires_at)| {
            Ok(ResultGrant {
                id: id.clone(),
                app: app_id(&app)?,
                browser_digest: digest_bytes(&browser)?,
                token_id,
                expires_at,
            })
        })
        .transpose()
    }

    async fn create_session(
        &self,
        session: &SessionRecord,
        idle_before: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM admin_sessions WHERE last_seen_at < $1")
            .bind(idle_before)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO admin_sessions
                 (session_digest, password_tag, client, created_at, last_seen_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&session.digest[..])
        .bind(&session.password_tag)
        .bind(&session.client)
        .bind(session.created_at)
        .bind(session.last_seen_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn session(&self, digest: &[u8; 32]) -> Result<Option<SessionRecord>, StoreError> {
        let row: Option<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT password_tag, client, created_at, last_seen_at
             FROM admin_sessions WHERE session_digest = $1",
        )
        .bind(&digest[..])
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(
            |(password_tag, client, created_at, last_seen_at)| SessionRecord {
                digest: *digest,
                password_tag,
                client,
                created_at,
                last_seen_at,
            },
        ))
    }

    async fn touch_session(&self, digest: &[u8; 32], now_ms: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE admin_sessions SET last_seen_at = $1 WHERE session_digest = $2")
            .bind(now_ms)
            .bind(&digest[..])
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_session(&self, digest: &[u8; 32]) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM admin_sessions WHERE session_digest = $1")
            .bind(&digest[..])
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn count_login_failure(
        &self,
        client: &str,
        now_ms: i64,
        window_ms: i64,
    ) -> Result<i64, StoreError> {
        let window_opened_after = now_ms - window_ms;
        if self.sweeps.logins.due(now_ms) {
            sqlx::query(
                "DELETE FROM admin_login_failures
                 WHERE window_start <= $1 AND (locked_until IS NULL OR locked_until <= $2)",
            )
            .bind(window_opened_after)
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        }
        // One statement, so concurrent failures are all counted.
        let (failures,): (i64,) = sqlx::query_as(
            "INSERT INTO admin_login_failures (client, window_start, failures)
             VALUES ($1, $2, 1)
             ON CONFLICT (client) DO UPDATE SET
                 failures = CASE WHEN admin_login_failures.window_start <= $3
                                 THEN 1 ELSE admin_login_failures.failures + 1 END,
                 window_start = CASE WHEN admin_login_failures.window_start <= $4
                                     THEN $5 ELSE admin_login_failures.window_start END
             RETURNING failures",
        )
        .bind(client)
        .bind(now_ms)
        .bind(window_opened_after)
        .bind(window_opened_after)
        .bind(now_ms)
        .fetch_one(&self.pool)
        .await?;
        Ok(failures)
    }

    async fn lock_logins(&self, client: &str, until: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE admin_login_failures SET locked_until = $1, failures = 0 WHERE client = $2",
        )
        .bind(until)
        .bind(client)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn logins_locked_until(
        &self,
        client: &str,
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT locked_until FROM admin_login_failures
             WHERE client = $1 AND locked_until > $2",
        )
        .bind(client)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(until,)| until))
    }

    async fn clear_login_failures(&self, client: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM admin_login_failures WHERE client = $1")
            .bind(client)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO admin_audit (at, action, client, token_id, subject, detail)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(entry.at)
        .bind(entry.action.as_str())
        .bind(&entry.client)
        .bind(entry.token_id)
        .bind(entry.subject.as_deref())
        .bind(entry.detail.as_deref())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn audit_page(
        &self,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        type AuditRow = (
            i64,
            i64,
            String,
            String,
            Option<i64>,
            Option<String>,
            Option<String>,
        );
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT id, at, action, client, token_id, subject, detail FROM admin_audit
             WHERE id < $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(id, at, action, client, token_id, subject, detail)| {
                Ok(AuditEntry {
                    id,
                    at,
                    action: AuditAction::parse(&action)?,
                    client,
                    token_id,
                    subject,
                    detail,
                })
            })
            .collect()
    }

    /// Ready means writable: the SQLite file is still the one opened, and a write lands.
    async fn ping(&self) -> Result<(), StoreError> {
        if let Some(opened) = &self.file
            && FileIdentity::of(&opened.path).as_ref() != Some(opened)
        {
            return Err(StoreError::File {
                path: opened.path.display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "the database file was deleted or replaced while the service ran; restart it",
                ),
            });
        }
        sqlx::query(
            "INSERT INTO store_meta (name, value) VALUES ('ready_probe', $1)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(crate::random::random_hex::<4>())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn close(&self) {
        if let Some(writer) = &self.writer {
            writer.close().await;
        }
        self.pool.close().await;
    }
}

/// A write answered with another write's outcome: a bug, reported rather than panicking.
fn unexpected(written: Written) -> StoreError {
    StoreError::Corrupt(format!("the store answered a write with {written:?}"))
}

fn app_id(raw: &str) -> Result<AppId, StoreError> {
    AppId::parse(raw).map_err(StoreError::Corrupt)
}

fn digest_bytes(raw: &[u8]) -> Result<[u8; 32], StoreError> {
    raw.try_into()
        .map_err(|_| StoreError::Corrupt("a digest that is not 32 bytes".into()))
}

fn claim_stage(stage: &str, result: Option<String>) -> Result<ClaimStage, StoreError> {
    match stage {
        "exchanging" => Ok(ClaimStage::Exchanging),
        "finished" => Ok(ClaimStage::Finished(
            result.as_deref().and_then(ResultId::parse),
        )),
        other => Err(StoreError::Corrupt(format!("claim stage `{other}`"))),
    }
}

impl SqlStore {
    /// A token value as stored: encrypted when the store has a key.
    fn seal(&self, value: &str, row: &Row<'_>, column: &str) -> String {
        match &self.cipher {
            Some(cipher) => cipher.encrypt(value, row, column),
            None => value.to_owned(),
        }
    }

    /// An answer's access and refresh tokens as stored.
    fn seal_pair(&self, response: &TokenResponse, row: &Row<'_>) -> (String, Option<String>) {
        (
            self.seal(response.access_token.expose_secret(), row, ACCESS),
            response
                .refresh_token
                .as_ref()
                .map(|t| self.seal(t.expose_secret(), row, REFRESH)),
        )
    }

    /// A stored token value as it was given.
    fn unseal(
        &self,
        stored: String,
        row: &Row<'_>,
        column: &str,
    ) -> Result<SecretString, StoreError> {
        match &self.cipher {
            Some(cipher) => cipher
                .decrypt(&stored, row, column)
                .map_err(|e| StoreError::Encryption(e.to_string())),
            None if is_encrypted(&stored) => Err(StoreError::Encryption(
                "a token is encrypted, but no IOP_ENCRYPTION_KEY is set".into(),
            )),
            None => Ok(stored.into()),
        }
    }

    fn decode(&self, row: TokenRow) -> Result<StoredToken, StoreError> {
        let identity = Row {
            platform: &row.platform,
            app_key: &row.app_key,
            account_key: &row.account_key,
        };
        let access_token = self.unseal(row.access_token.clone(), &identity, ACCESS)?;
        let refresh_token = row
            .refresh_token
            .clone()
            .map(|t| self.unseal(t, &identity, REFRESH))
            .transpose()?;
        Ok(StoredToken {
            id: row.id,
            app: app_id(&row.app_id)?,
            platform: Platform::parse(&row.platform)
                .ok_or_else(|| StoreError::Corrupt(format!("platform `{}`", row.platform)))?,
            app_key: row.app_key,
            account_key: row.account_key,
            access_token,
            refresh_token,
            access_expires_at: row.access_expires_at,
            refresh_expires_at: row.refresh_expires_at,
            refreshable: row.refreshable != 0,
            identity: serde_json::from_str(&row.identity)?,
            last_request_id: row.last_request_id,
            status: TokenStatus::parse(&row.status)?,
            created_at: row.created_at,
            updated_at: row.updated_at,
            issued_at: row.issued_at.unwrap_or(row.updated_at),
            authorized_at: row.authorized_at.unwrap_or(row.created_at),
            last_refresh_at: row.last_refresh_at,
            last_error: row.last_error,
            consecutive_failures: row.consecutive_failures,
            retry_after: row.retry_after,
        })
    }
}

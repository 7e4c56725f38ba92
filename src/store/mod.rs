//! Token storage in SQLite: one row per seller account, per app key and platform.

mod open;

use secrecy::{ExposeSecret, SecretString};
use sqlx::SqlitePool;

use crate::iop::{SellerIdentity, TokenResponse};

pub use open::open_pool;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("cannot prepare the database file {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("stored identity is unreadable: {0}")]
    Identity(#[from] serde_json::Error),
}

/// A stored token pair with its seller. Tokens are `SecretString`, so `Debug` is redacted.
#[derive(Debug)]
pub struct StoredToken {
    pub id: i64,
    pub platform: String,
    pub app_key: String,
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub access_expires_at: Option<i64>,
    pub refresh_expires_at: Option<i64>,
    pub refreshable: bool,
    pub identity: SellerIdentity,
    pub last_request_id: Option<String>,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: i64,
    platform: String,
    app_key: String,
    access_token: String,
    refresh_token: Option<String>,
    access_expires_at: Option<i64>,
    refresh_expires_at: Option<i64>,
    refreshable: bool,
    identity: String,
    last_request_id: Option<String>,
    status: String,
    created_at: i64,
    updated_at: i64,
}

#[derive(Clone)]
pub struct TokenStore {
    pool: SqlitePool,
}

impl TokenStore {
    pub async fn open(database_url: &str) -> Result<Self, StoreError> {
        Ok(TokenStore {
            pool: open_pool(database_url).await?,
        })
    }

    /// Stores the answer of a code exchange, replacing the seller's previous pair.
    /// Returns the row id.
    pub async fn save_authorization(
        &self,
        platform: &str,
        app_key: &str,
        response: &TokenResponse,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        let expiries = response.expiries(now_ms);
        // Without any id the seller cannot be matched later; keep the tokens anyway, under
        // the platform's request id (or the time), rather than lose them.
        let account_key = response.identity.account_key().unwrap_or_else(|| {
            format!(
                "unidentified:{}",
                response
                    .request_id
                    .clone()
                    .unwrap_or_else(|| now_ms.to_string())
            )
        });
        let identity = serde_json::to_string(&response.identity)?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO tokens (platform, app_key, account_key, access_token, refresh_token,
                 access_expires_at, refresh_expires_at, refreshable, identity, last_request_id,
                 status, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?)
             ON CONFLICT (platform, app_key, account_key) DO UPDATE SET
                 access_token = excluded.access_token,
                 refresh_token = excluded.refresh_token,
                 access_expires_at = excluded.access_expires_at,
                 refresh_expires_at = excluded.refresh_expires_at,
                 refreshable = excluded.refreshable,
                 identity = excluded.identity,
                 last_request_id = excluded.last_request_id,
                 status = 'active',
                 updated_at = excluded.updated_at
             RETURNING id",
        )
        .bind(platform)
        .bind(app_key)
        .bind(account_key)
        .bind(response.access_token.expose_secret())
        .bind(response.refresh_token.as_ref().map(|t| t.expose_secret()))
        .bind(expiries.access_expires_at)
        .bind(expiries.refresh_expires_at)
        .bind(expiries.refreshable)
        .bind(identity)
        .bind(response.request_id.as_deref())
        .bind(now_ms)
        .bind(now_ms)
        .fetch_one(&self.pool)
        .await?;
        Ok(id)
    }

    pub async fn get(&self, id: i64) -> Result<Option<StoredToken>, StoreError> {
        let row: Option<TokenRow> = sqlx::query_as("SELECT * FROM tokens WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(StoredToken::try_from).transpose()
    }

    /// Active pairs of this app whose access token has less than a quarter of its lifetime
    /// left (counted from the last exchange or refresh) and whose refresh token still lives.
    pub async fn due_for_refresh(
        &self,
        platform: &str,
        app_key: &str,
        now_ms: i64,
    ) -> Result<Vec<StoredToken>, StoreError> {
        let rows: Vec<TokenRow> = sqlx::query_as(
            "SELECT * FROM tokens
             WHERE platform = ? AND app_key = ? AND status = 'active' AND refreshable
               AND refresh_token IS NOT NULL AND access_expires_at IS NOT NULL
               AND (access_expires_at - ?) * 4 <= (access_expires_at - updated_at)
               AND (refresh_expires_at IS NULL OR refresh_expires_at > ?)
             ORDER BY access_expires_at",
        )
        .bind(platform)
        .bind(app_key)
        .bind(now_ms)
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(StoredToken::try_from).collect()
    }

    /// Stores a refreshed pair. The refresh token and its expiry are replaced only when the
    /// platform sent new ones.
    pub async fn save_refresh(
        &self,
        id: i64,
        response: &TokenResponse,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let expiries = response.expiries(now_ms);
        sqlx::query(
            "UPDATE tokens SET
                 access_token = ?,
                 refresh_token = COALESCE(?, refresh_token),
                 access_expires_at = ?,
                 refresh_expires_at = COALESCE(?, refresh_expires_at),
                 last_request_id = ?,
                 updated_at = ?
             WHERE id = ?",
        )
        .bind(response.access_token.expose_secret())
        .bind(response.refresh_token.as_ref().map(|t| t.expose_secret()))
        .bind(expiries.access_expires_at)
        .bind(expiries.refresh_expires_at)
        .bind(response.request_id.as_deref())
        .bind(now_ms)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks one pair as needing the seller to authorize again.
    pub async fn mark_reauthorize(&self, id: i64, now_ms: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE tokens SET status = 'reauthorize', updated_at = ? WHERE id = ?")
            .bind(now_ms)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Marks every pair that can no longer be renewed: refresh token expired, or not
    /// refreshable and the access token expired. Returns how many.
    pub async fn mark_dead(&self, now_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE tokens SET status = 'reauthorize', updated_at = ?
             WHERE status = 'active'
               AND ((refresh_expires_at IS NOT NULL AND refresh_expires_at <= ?)
                    OR (NOT refreshable AND access_expires_at IS NOT NULL AND access_expires_at <= ?))",
        )
        .bind(now_ms)
        .bind(now_ms)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Token counts for the metrics: usable, expired (access token), and waiting for the
    /// seller to authorize again.
    pub async fn count_by_status(
        &self,
        now_ms: i64,
    ) -> Result<[(&'static str, i64); 3], StoreError> {
        let (active, expired, reauthorize): (i64, i64, i64) = sqlx::query_as(
            "SELECT
                 COALESCE(SUM(status = 'active' AND (access_expires_at IS NULL OR access_expires_at > ?)), 0),
                 COALESCE(SUM(status = 'active' AND access_expires_at <= ?), 0),
                 COALESCE(SUM(status = 'reauthorize'), 0)
             FROM tokens",
        )
        .bind(now_ms)
        .bind(now_ms)
        .fetch_one(&self.pool)
        .await?;
        Ok([
            ("active", active),
            ("expired", expired),
            ("reauthorize", reauthorize),
        ])
    }

    /// Cheap round trip for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

impl TryFrom<TokenRow> for StoredToken {
    type Error = StoreError;

    fn try_from(row: TokenRow) -> Result<Self, StoreError> {
        Ok(StoredToken {
            id: row.id,
            platform: row.platform,
            app_key: row.app_key,
            access_token: row.access_token.into(),
            refresh_token: row.refresh_token.map(Into::into),
            access_expires_at: row.access_expires_at,
            refresh_expires_at: row.refresh_expires_at,
            refreshable: row.refreshable,
            identity: serde_json::from_str(&row.identity)?,
            last_request_id: row.last_request_id,
            status: row.status,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(body: &str) -> TokenResponse {
        TokenResponse::from_json(body.as_bytes()).unwrap()
    }

    async fn temp_store() -> (tempfile::TempDir, TokenStore) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/nested/tokens.db", dir.path().display());
        let store = TokenStore::open(&url).await.unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn reauthorizing_a_seller_updates_its_row() {
        let (_dir, store) = temp_store().await;
        let first = response(
            r#"{"access_token":"a1","refresh_token":"r1","seller_id":"1001","expires_in":10}"#,
        );
        let second = response(
            r#"{"access_token":"a2","refresh_token":"r2","seller_id":"1001","expires_in":20}"#,
        );
        let other = response(r#"{"access_token":"b1","seller_id":"2002"}"#);
        let id1 = store
            .save_authorization("aliexpress", "k", &first, 1_000)
            .await
            .unwrap();
        let id2 = store
            .save_authorization("aliexpress", "k", &second, 2_000)
            .await
            .unwrap();
        let id3 = store
            .save_authorization("aliexpress", "k", &other, 3_000)
            .await
            .unwrap();
        assert_eq!(id1, id2);
        assert_ne!(id1, id3);
        let row = store.get(id1).await.unwrap().unwrap();
        assert_eq!(row.access_token.expose_secret(), "a2");
        assert_eq!(row.access_expires_at, Some(22_000));
        assert_eq!(row.created_at, 1_000);
        assert_eq!(row.updated_at, 2_000);
        assert_eq!(row.identity.seller_id.as_deref(), Some("1001"));
    }

    #[tokio::test]
    async fn the_same_seller_under_another_app_key_is_another_row() {
        let (_dir, store) = temp_store().await;
        let r = response(r#"{"access_token":"a","seller_id":"1001"}"#);
        let a = store
            .save_authorization("aliexpress", "k1", &r, 1)
            .await
            .unwrap();
        let b = store
            .save_authorization("aliexpress", "k2", &r, 1)
            .await
            .unwrap();
        let c = store
            .save_authorization("lazada", "k1", &r, 1)
            .await
            .unwrap();
        assert!(a != b && b != c && a != c);
    }

    #[tokio::test]
    async fn tokens_survive_reopening_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/tokens.db", dir.path().display());
        let store = TokenStore::open(&url).await.unwrap();
        let id = store
            .save_authorization(
                "lazada",
                "k",
                &response(r#"{"access_token":"kept","account":"s@x"}"#),
                5,
            )
            .await
            .unwrap();
        store.close().await;
        let reopened = TokenStore::open(&url).await.unwrap();
        let row = reopened.get(id).await.unwrap().unwrap();
        assert_eq!(row.access_token.expose_secret(), "kept");
    }

    #[tokio::test]
    async fn a_pair_is_due_for_refresh_when_a_quarter_of_its_lifetime_is_left() {
        let (_dir, store) = temp_store().await;
        // Issued at 0 for 100 s; the refresh token lives 1000 s.
        let r = response(
            r#"{"access_token":"a","refresh_token":"r","seller_id":"1","expires_in":100,"refresh_expires_in":1000}"#,
        );
        let id = store
            .save_authorization("aliexpress", "k", &r, 0)
            .await
            .unwrap();
        let due = |now| {
            let store = store.clone();
            async move {
                store
                    .due_for_refresh("aliexpress", "k", now)
                    .await
                    .unwrap()
                    .len()
            }
        };
        assert_eq!(due(74_000).await, 0);
        assert_eq!(due(75_000).await, 1);
        assert_eq!(
            store
                .due_for_refresh("aliexpress", "other-app", 75_000)
                .await
                .unwrap()
                .len(),
            0
        );

        let renewed = response(r#"{"access_token":"a2","expires_in":100}"#);
        store.save_refresh(id, &renewed, 80_000).await.unwrap();
        let row = store.get(id).await.unwrap().unwrap();
        assert_eq!(row.access_token.expose_secret(), "a2");
        assert_eq!(
            row.refresh_token.unwrap().expose_secret(),
            "r",
            "kept when not sent"
        );
        assert_eq!(row.refresh_expires_at, Some(1_000_000), "not extended");
        assert_eq!(due(90_000).await, 0, "fresh again");
    }

    #[tokio::test]
    async fn dead_pairs_are_marked_for_reauthorization_and_counted() {
        let (_dir, store) = temp_store().await;
        let dying = response(
            r#"{"access_token":"a","refresh_token":"r","seller_id":"1","expires_in":10,"refresh_expires_in":20}"#,
        );
        let fixed = response(
            r#"{"access_token":"b","refresh_token":"r","seller_id":"2","expires_in":10,"refresh_expires_in":0}"#,
        );
        let healthy = response(
            r#"{"access_token":"c","refresh_token":"r","seller_id":"3","expires_in":1000,"refresh_expires_in":2000}"#,
        );
        for r in [&dying, &fixed, &healthy] {
            store
                .save_authorization("aliexpress", "k", r, 0)
                .await
                .unwrap();
        }
        assert_eq!(
            store.count_by_status(15_000).await.unwrap(),
            [("active", 1), ("expired", 2), ("reauthorize", 0)]
        );
        assert_eq!(store.mark_dead(25_000).await.unwrap(), 2);
        assert_eq!(
            store.count_by_status(25_000).await.unwrap(),
            [("active", 1), ("expired", 0), ("reauthorize", 2)]
        );
        assert!(
            store
                .due_for_refresh("aliexpress", "k", 25_000)
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_database_file_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, _store) = temp_store().await;
        let mode = std::fs::metadata(dir.path().join("nested/tokens.db"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

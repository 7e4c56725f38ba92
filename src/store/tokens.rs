//! The `tokens` table, its lookup ids (`token_sellers`) and search terms (`search.rs`): storing a seller's pair,
//! reading, finding and forgetting pairs, and counting them.

use super::codec::{TokenRow, app_id, pair_by_identity, token_columns};
use super::statement::{Sql, Statement, Value};
use super::{Store, StoreError};
use crate::clock::EpochMs;
use crate::iop::TokenResponse;
use crate::tokens::{Owner, StoredToken, TokenCounts, TokenId, TokenStatus, account_key};

/// A new pair, or the seller's pair of this app replaced; returns its id.
static UPSERT_PAIR: Sql = Sql::repeatable(
    "INSERT INTO tokens (app_id, platform, app_key, account_key, access_token,
         refresh_token, access_expires_at, refresh_expires_at, refreshable, identity,
         last_request_id, status, created_at, updated_at, issued_at, authorized_at,
         last_refresh_at, last_error, consecutive_failures, retry_after, notices,
         next_notice_at)
     VALUES (:app_id, :platform, :app_key, :account_key, :access_token, :refresh_token,
         :access_expires_at, :refresh_expires_at, :refreshable, :identity, :request_id,
         :active, :now, :now, :now, :now, NULL, NULL, 0, NULL, 0, :now)
     ON CONFLICT (platform, app_key, account_key) DO UPDATE SET
         app_id = excluded.app_id,
         access_token = excluded.access_token,
         refresh_token = excluded.refresh_token,
         access_expires_at = excluded.access_expires_at,
         refresh_expires_at = excluded.refresh_expires_at,
         refreshable = excluded.refreshable,
         identity = excluded.identity,
         last_request_id = excluded.last_request_id,
         status = excluded.status,
         updated_at = excluded.updated_at,
         issued_at = excluded.issued_at,
         authorized_at = excluded.authorized_at,
         last_error = NULL,
         last_error_code = NULL,
         consecutive_failures = 0,
         retry_after = NULL,
         next_check_at = NULL,
         authorization_expires_at = NULL,
         closed_at = NULL,
         notices = 0,
         next_notice_at = excluded.next_notice_at
     RETURNING id",
);

static DELETE_LOOKUP_IDS: Sql = Sql::repeatable(concat!(
    "DELETE FROM token_sellers WHERE token_id = ",
    pair_by_identity!()
));

static INSERT_LOOKUP_ID: Sql = Sql::repeatable(concat!(
    "INSERT INTO token_sellers (token_id, seller_key) SELECT id, :seller_key FROM ",
    pair_by_identity!(),
    " AS pair"
));

static TOKEN: Sql = Sql::new(concat!(
    "SELECT ",
    token_columns!(),
    " FROM tokens WHERE id = :id"
));

static FIND_SELLER: Sql = Sql::new(concat!(
    "SELECT ",
    token_columns!(),
    " FROM tokens WHERE id IN (SELECT token_id FROM token_sellers WHERE seller_key = :seller)
     ORDER BY app_id, id"
));

/// A pair by its account key, for one without any seller or user id (`SellerIdentity::
/// account_key`): rare enough that no index serves it.
static FIND_ACCOUNT: Sql = Sql::new(concat!(
    "SELECT ",
    token_columns!(),
    " FROM tokens WHERE app_id = :app AND account_key = :account_key ORDER BY id LIMIT 1"
));

static DELETE_TOKEN: Sql = Sql::repeatable("DELETE FROM tokens WHERE id = :id");

/// Pairs per state and app, with how many have an expired access token: one walk of the
/// `tokens_by_owner` index, never the rows, grouped in the index's own order (app,
/// platform, app key, state) so that nothing is sorted; the app's groups are added up here.
static COUNT_BY_STATUS: Sql = Sql::new(
    "SELECT status, app_id, COUNT(*), COUNT(CASE WHEN access_expires_at <= :now THEN 1 END)
     FROM tokens GROUP BY app_id, platform, app_key, status",
);

/// The statements that store a seller's pair, and the row's identity, which later
/// statements of the same write name the row by (`pair_by_identity!`).
pub(super) struct PairWrite {
    pub(super) statements: Vec<Statement>,
    identity: [(&'static str, Value); 3],
}

impl PairWrite {
    /// The `:platform`, `:app_key` and `:account_key` of the stored row.
    pub(super) fn identity(&self) -> [(&'static str, Value); 3] {
        self.identity.clone()
    }
}

/// The statements that store the pair an exchange returned, with its lookup ids. The
/// tokens are sealed here, in the request's task, so that the writer only runs statements.
pub(super) fn save_pair(
    store: &Store,
    owner: Owner<'_>,
    response: &TokenResponse,
    now: EpochMs,
) -> Result<PairWrite, StoreError> {
    let expiries = response.expiries(now.get());
    let account_key = account_key(response, now.get());
    let (access_token, refresh_token) = store.codec.seal_pair(
        &response.access_token,
        response.refresh_token.as_ref(),
        &super::cipher::Row {
            platform: owner.platform.as_str(),
            app_key: owner.app_key,
            account_key: &account_key,
        },
    );
    let identity = [
        ("platform", Value::from(owner.platform.as_str())),
        ("app_key", Value::from(owner.app_key)),
        ("account_key", Value::from(account_key.as_str())),
    ];
    let [platform, app_key, account] = identity.clone();
    let mut statements = vec![
        Statement::new(
            &UPSERT_PAIR,
            [
                ("app_id", owner.app.as_str().into()),
                platform,
                app_key,
                account,
                ("access_token", access_token.into()),
                ("refresh_token", refresh_token.into()),
                ("access_expires_at", expiries.access_expires_at.into()),
                ("refresh_expires_at", expiries.refresh_expires_at.into()),
                ("refreshable", expiries.refreshable.into()),
                (
                    "identity",
                    serde_json::to_string(&response.identity)?.into(),
                ),
                ("request_id", response.request_id.as_deref().into()),
                ("active", TokenStatus::Active.as_str().into()),
                ("now", now.into()),
            ],
        )?,
        Statement::new(&DELETE_LOOKUP_IDS, identity.clone())?,
    ];
    statements.extend(super::search::replace_terms(
        owner.app.as_str(),
        &response.identity,
        &identity,
    )?);
    for seller_key in response.identity.lookup_ids() {
        let [platform, app_key, account] = identity.clone();
        statements.push(Statement::new(
            &INSERT_LOOKUP_ID,
            [
                platform,
                app_key,
                account,
                ("seller_key", seller_key.into()),
            ],
        )?);
    }
    Ok(PairWrite {
        statements,
        identity,
    })
}

/// The id an upsert returned, from the outcomes of a write that began with it.
pub(super) fn saved_id(outcomes: &[super::statement::Outcome]) -> Result<TokenId, StoreError> {
    outcomes
        .first()
        .and_then(|upsert| upsert.returned.first())
        .map(|id| TokenId::new(*id))
        .ok_or_else(|| StoreError::Statement("the upsert returned no id".into()))
}

impl Store {
    /// Stores the answer of a code exchange, replacing the seller's previous pair of the
    /// same app. Returns the row id.
    pub async fn save_authorization(
        &self,
        owner: Owner<'_>,
        response: &TokenResponse,
        now: EpochMs,
    ) -> Result<TokenId, StoreError> {
        let outcomes = self
            .db
            .write(save_pair(self, owner, response, now)?.statements)
            .await;
        self.counts.forget();
        saved_id(&outcomes?)
    }

    pub async fn token(&self, id: TokenId) -> Result<Option<StoredToken>, StoreError> {
        let row: Option<TokenRow> = self
            .db
            .fetch_optional(Statement::new(&TOKEN, [("id", id.get().into())])?)
            .await?;
        row.map(|row| self.codec.token(row)).transpose()
    }

    /// The pairs whose seller has this seller id or user id (a Lazada country's too).
    pub async fn find_seller(&self, seller: &str) -> Result<Vec<StoredToken>, StoreError> {
        let rows: Vec<TokenRow> = self
            .db
            .fetch_all(Statement::new(&FIND_SELLER, [("seller", seller.into())])?)
            .await?;
        rows.into_iter().map(|row| self.codec.token(row)).collect()
    }

    /// The pair of `app` stored under `account_key` (`seller:…`, `account:…`), if any.
    pub async fn find_account(
        &self,
        app: &crate::apps::AppId,
        account_key: &str,
    ) -> Result<Option<StoredToken>, StoreError> {
        let row = self
            .db
            .fetch_optional(Statement::new(
                &FIND_ACCOUNT,
                [
                    ("app", app.as_str().into()),
                    ("account_key", account_key.into()),
                ],
            )?)
            .await?;
        row.map(|row| self.codec.token(row)).transpose()
    }

    /// Forgets a pair (its lookup ids go with it: the foreign key cascades). Returns whether
    /// there was one.
    pub async fn delete_token(&self, id: TokenId) -> Result<bool, StoreError> {
        let done = self
            .db
            .write_one(Statement::new(&DELETE_TOKEN, [("id", id.get().into())])?)
            .await;
        self.counts.forget();
        Ok(done?.rows_affected == 1)
    }

    /// Token counts per app for the metrics, by one aggregate query.
    pub async fn count_by_status(&self, now: EpochMs) -> Result<Vec<TokenCounts>, StoreError> {
        let rows: Vec<(String, String, i64, i64)> = self
            .db
            .fetch_all(Statement::new(&COUNT_BY_STATUS, [("now", now.into())])?)
            .await?;
        let mut counts: Vec<TokenCounts> = Vec::new();
        for (status, app, pairs, expired) in rows {
            let app = app_id(&app)?;
            let index = match counts.iter().position(|c| c.app == app) {
                Some(index) => index,
                None => {
                    counts.push(TokenCounts {
                        app,
                        active: 0,
                        expired: 0,
                        reauthorize: 0,
                    });
                    counts.len() - 1
                }
            };
            let entry = &mut counts[index];
            if status == TokenStatus::Reauthorize.as_str() {
                entry.reauthorize += pairs;
            } else {
                entry.active += pairs - expired;
                entry.expired += expired;
            }
        }
        counts.sort_by(|a, b| a.app.cmp(&b.app));
        Ok(counts)
    }
}

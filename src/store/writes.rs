//! The writes of the seller flow (claiming a state, storing what an exchange brought),
//! prepared by the request that makes them and applied inside a transaction by whoever
//! commits it: the request itself on PostgreSQL (here, through sqlx), the group commit on
//! SQLite (`sqlite_writer.rs`, through rusqlite). Both run the statements below; SQLite
//! numbers `$N` parameters in order of first appearance, as both bind them.
//!
//! Preparing is everything that needs no database: sealing the tokens, the identity as
//! JSON, the lookup ids. It runs in the request's task, in parallel with other requests,
//! so that the part that holds the database's write lock is only statements.

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, AnyPool, Row};

use super::StoreError;
use crate::flow::{ClaimRecord, ResultGrant, ResultId};

pub(super) const CLAIM_STATE: &str =
    "INSERT INTO flow_claims (state_digest, app_id, browser_digest, stage, keep_until)
     VALUES ($1, $2, $3, 'exchanging', $4)
     ON CONFLICT (state_digest) DO NOTHING";

pub(super) const INSERT_RESULT: &str =
    "INSERT INTO flow_results (result_id, app_id, browser_digest, token_id, expires_at)
     VALUES ($1, $2, $3, $4, $5)";

pub(super) const FINISH_CLAIM: &str =
    "UPDATE flow_claims SET stage = 'finished', result_id = $1 WHERE state_digest = $2";

/// A new pair, or the seller's pair of this app replaced; returns its id.
pub(super) const UPSERT_PAIR: &str = "INSERT INTO tokens (app_id, platform, app_key, account_key, access_token,
         refresh_token, access_expires_at, refresh_expires_at, refreshable, identity,
         last_request_id, status, created_at, updated_at, issued_at, authorized_at,
         last_refresh_at, last_error, consecutive_failures, retry_after)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'active', $12, $12, $12, $12, NULL, NULL, 0, NULL)
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
         consecutive_failures = 0,
         retry_after = NULL
     RETURNING id";

pub(super) const DELETE_LOOKUP_IDS: &str = "DELETE FROM token_sellers WHERE token_id = $1";

pub(super) const INSERT_LOOKUP_ID: &str =
    "INSERT INTO token_sellers (token_id, seller_key) VALUES ($1, $2)";

/// One statement parameter, whichever driver binds it: the lists below are the one place
/// that says what each statement's `$N` are, for sqlx here and rusqlite in the writer.
#[derive(Clone, Copy)]
pub(super) enum Param<'a> {
    Text(&'a str),
    OptText(Option<&'a str>),
    Blob(&'a [u8]),
    Int(i64),
    OptInt(Option<i64>),
}

pub(super) fn claim_params(record: &ClaimRecord) -> [Param<'_>; 4] {
    [
        Param::Blob(&record.state_digest),
        Param::Text(record.app.as_str()),
        Param::Blob(&record.browser_digest),
        Param::Int(record.keep_until),
    ]
}

pub(super) fn pair_params(pair: &PairRow) -> [Param<'_>; 12] {
    [
        Param::Text(&pair.app_id),
        Param::Text(pair.platform),
        Param::Text(&pair.app_key),
        Param::Text(&pair.account_key),
        Param::Text(&pair.access_token),
        Param::OptText(pair.refresh_token.as_deref()),
        Param::OptInt(pair.access_expires_at),
        Param::OptInt(pair.refresh_expires_at),
        Param::Int(i64::from(pair.refreshable)),
        Param::Text(&pair.identity),
        Param::OptText(pair.request_id.as_deref()),
        Param::Int(pair.now_ms),
    ]
}

pub(super) fn result_params(grant: &ResultGrant, token_id: i64) -> [Param<'_>; 5] {
    [
        Param::Text(grant.id.as_str()),
        Param::Text(grant.app.as_str()),
        Param::Blob(&grant.browser_digest),
        Param::Int(token_id),
        Param::Int(grant.expires_at),
    ]
}

/// For `FINISH_CLAIM`: the result, or none when the exchange failed.
pub(super) fn finish_params<'a>(
    result: Option<&'a ResultId>,
    state_digest: &'a [u8; 32],
) -> [Param<'a>; 2] {
    [
        Param::OptText(result.map(ResultId::as_str)),
        Param::Blob(state_digest),
    ]
}

/// `sql` with `params` bound for sqlx.
pub(super) fn bound<'q>(sql: &'static str, params: &[Param<'q>]) -> Query<'q, Any, AnyArguments> {
    params
        .iter()
        .fold(sqlx::query(sql), |query, param| match *param {
            Param::Text(value) => query.bind(value),
            Param::OptText(value) => query.bind(value),
            Param::Blob(value) => query.bind(value),
            Param::Int(value) => query.bind(value),
            Param::OptInt(value) => query.bind(value),
        })
}

/// A seller's pair, sealed and ready for `upsert_pair`.
pub(super) struct PairRow {
    pub app_id: String,
    pub platform: &'static str,
    pub app_key: String,
    pub account_key: String,
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub access_expires_at: Option<i64>,
    pub refresh_expires_at: Option<i64>,
    pub refreshable: bool,
    pub identity: String,
    pub request_id: Option<String>,
    pub lookup_ids: Vec<String>,
    pub now_ms: i64,
}

/// One write of the flow.
pub(super) enum Write {
    /// Claims a state, unless it was claimed before.
    Claim(ClaimRecord),
    /// The pair, the browser's result grant and the end of the claim, all or nothing.
    Exchange(Box<ExchangeRows>),
}

pub(super) struct ExchangeRows {
    pub pair: PairRow,
    pub grant: ResultGrant,
    pub state_digest: [u8; 32],
}

/// What a `Write` did.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Written {
    /// False when the state had been claimed already.
    Claim {
        claimed: bool,
    },
    Exchange {
        token_id: i64,
    },
}

impl Write {
    /// Runs the write's statements on `connection`, inside a transaction its caller
    /// commits.
    async fn apply(&self, connection: &mut AnyConnection) -> Result<Written, StoreError> {
        match self {
            Write::Claim(record) => {
                let inserted = bound(CLAIM_STATE, &claim_params(record))
                    .execute(&mut *connection)
                    .await?;
                Ok(Written::Claim {
                    claimed: inserted.rows_affected() == 1,
                })
            }
            Write::Exchange(rows) => {
                let token_id = upsert_pair(connection, &rows.pair).await?;
                bound(INSERT_RESULT, &result_params(&rows.grant, token_id))
                    .execute(&mut *connection)
                    .await?;
                bound(
                    FINISH_CLAIM,
                    &finish_params(Some(&rows.grant.id), &rows.state_digest),
                )
                .execute(&mut *connection)
                .await?;
                Ok(Written::Exchange { token_id })
            }
        }
    }
}

/// Applies one write in its own transaction.
pub(super) async fn apply_alone(pool: &AnyPool, write: &Write) -> Result<Written, StoreError> {
    let mut tx = pool.begin().await?;
    let written = write.apply(&mut tx).await?;
    tx.commit().await?;
    Ok(written)
}

/// Inserts or replaces the seller's pair of this app and its lookup ids.
pub(super) async fn upsert_pair(
    connection: &mut AnyConnection,
    pair: &PairRow,
) -> Result<i64, StoreError> {
    let id: i64 = bound(UPSERT_PAIR, &pair_params(pair))
        .fetch_one(&mut *connection)
        .await?
        .try_get(0)?;
    sqlx::query(DELETE_LOOKUP_IDS)
        .bind(id)
        .execute(&mut *connection)
        .await?;
    for key in &pair.lookup_ids {
        sqlx::query(INSERT_LOOKUP_ID)
            .bind(id)
            .bind(key)
            .execute(&mut *connection)
            .await?;
    }
    Ok(id)
}

//! The seller flow's tables: claimed states (`flow_claims`), so that a code is exchanged
//! once, and result grants (`flow_results`), so that only the browser that authorized sees
//! the result page; and the exchange's outcome written with them in one transaction.

use super::codec::app_id;
use super::codec::pair_by_identity;
use super::statement::{Sql, Statement};
use super::tokens::{save_pair, saved_id};
use super::{Store, StoreError};
use crate::clock::EpochMs;
use crate::flow::{ClaimRecord, ClaimStage, ResultGrant, ResultId};
use crate::iop::TokenResponse;
use crate::tokens::{Owner, TokenId};

/// What a claim attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimAttempt {
    /// This request holds the claim now.
    Claimed,
    /// Someone claimed it before.
    Taken(ClaimStage),
}

static CLAIM_STATE: Sql = Sql::new(
    "INSERT INTO flow_claims (state_digest, app_id, browser_digest, stage, keep_until, claimant)
     VALUES (:state_digest, :app_id, :browser_digest, :exchanging, :keep_until, :claimant)
     ON CONFLICT (state_digest) DO NOTHING",
);

static CLAIMANT: Sql =
    Sql::new("SELECT claimant FROM flow_claims WHERE state_digest = :state_digest");

static SWEEP_CLAIMS: Sql = Sql::repeatable("DELETE FROM flow_claims WHERE keep_until < :now");

static CLAIM_STAGE: Sql =
    Sql::new("SELECT stage, result_id FROM flow_claims WHERE state_digest = :state_digest");

static FINISH_CLAIM: Sql = Sql::repeatable(
    "UPDATE flow_claims SET stage = :finished, result_id = :result_id
     WHERE state_digest = :state_digest",
);

static FAIL_CLAIM: Sql = Sql::repeatable(
    "UPDATE flow_claims SET stage = :finished, failure = :failure
     WHERE state_digest = :state_digest",
);

static CLAIM_FAILURE: Sql =
    Sql::new("SELECT failure FROM flow_claims WHERE state_digest = :state_digest");

/// Only a claim still exchanging: one that ended stays ended.
static RELEASE_CLAIM: Sql = Sql::repeatable(
    "DELETE FROM flow_claims WHERE state_digest = :state_digest AND stage = :exchanging",
);

static INSERT_RESULT: Sql = Sql::new(
    "INSERT INTO flow_results (result_id, app_id, browser_digest, token_id, expires_at)
     VALUES (:result_id, :app_id, :browser_digest, :token_id, :expires_at)",
);

/// The grant of an exchange's result, for the pair the same write stored. Written again
/// by a retry whose first try did land (the connection broke at its COMMIT), it matches
/// the grant there and changes nothing, so the whole exchange write can be repeated; a
/// grant of that id for another pair or browser changes no row, and the write fails.
static INSERT_EXCHANGE_RESULT: Sql = Sql::repeatable(concat!(
    "INSERT INTO flow_results (result_id, app_id, browser_digest, token_id, expires_at)
     SELECT :result_id, :app_id, :browser_digest, id, :expires_at FROM ",
    pair_by_identity!(),
    " AS pair WHERE true
     ON CONFLICT (result_id) DO UPDATE SET expires_at = excluded.expires_at
     WHERE flow_results.token_id = excluded.token_id
       AND flow_results.browser_digest = excluded.browser_digest"
));

static SWEEP_RESULTS: Sql = Sql::repeatable("DELETE FROM flow_results WHERE expires_at < :now");

static RESULT: Sql = Sql::new(
    "SELECT app_id, browser_digest, token_id, expires_at
     FROM flow_results WHERE result_id = :result_id",
);

fn finish_claim(
    state_digest: &[u8; 32],
    result: Option<&ResultId>,
) -> Result<Statement, StoreError> {
    Statement::new(
        &FINISH_CLAIM,
        [
            ("finished", ClaimStage::FINISHED.into()),
            ("result_id", result.map(ResultId::as_str).into()),
            ("state_digest", state_digest.into()),
        ],
    )
}

impl Store {
    /// Atomically claims a verified state, or reports how it was claimed before. Also
    /// forgets claims past their `keep_until`.
    pub async fn claim_state(
        &self,
        record: &ClaimRecord,
        now: EpochMs,
    ) -> Result<ClaimAttempt, StoreError> {
        let mut write = Vec::with_capacity(2);
        if self.sweeps.claims.due(now.get()) {
            write.push(Statement::new(&SWEEP_CLAIMS, [("now", now.into())])?);
        }
        let claimant = crate::random::random_hex::<16>();
        write.push(Statement::new(
            &CLAIM_STATE,
            [
                ("state_digest", (&record.state_digest).into()),
                ("app_id", record.app.as_str().into()),
                ("browser_digest", (&record.browser_digest).into()),
                ("exchanging", ClaimStage::EXCHANGING.into()),
                ("keep_until", record.keep_until.into()),
                ("claimant", claimant.as_str().into()),
            ],
        )?);
        // The connection may break after the claim was sent, and then it may have landed:
        // read back whose it is. None there means it did not land, so it is sent again,
        // a few times; after that the error stands (nothing was used up: the seller
        // reloads).
        let mut tries_left = 3;
        let claimed = loop {
            match self.db.write(write.clone()).await {
                Ok(outcomes) => break outcomes.last().map(|o| o.rows_affected) == Some(1),
                Err(error) if error.is_unavailable() => {
                    let made_by: Option<(Option<String>,)> = self
                        .db
                        .fetch_optional(Statement::new(
                            &CLAIMANT,
                            [("state_digest", (&record.state_digest).into())],
                        )?)
                        .await?;
                    match made_by {
                        Some((made_by,)) => break made_by.as_deref() == Some(claimant.as_str()),
                        None if tries_left > 0 => tries_left -= 1,
                        None => return Err(error),
                    }
                }
                Err(error) => return Err(error),
            }
        };
        if claimed {
            return Ok(ClaimAttempt::Claimed);
        }
        let stage = self.claim_stage(&record.state_digest).await?;
        // Gone between the two statements only if it expired just then: claimed before.
        Ok(ClaimAttempt::Taken(
            stage.unwrap_or(ClaimStage::Finished(None)),
        ))
    }

    /// How a state was claimed, if it was.
    pub async fn claim_stage(
        &self,
        state_digest: &[u8; 32],
    ) -> Result<Option<ClaimStage>, StoreError> {
        let row: Option<(String, Option<String>)> = self
            .db
            .fetch_optional(Statement::new(
                &CLAIM_STAGE,
                [("state_digest", state_digest.into())],
            )?)
            .await?;
        row.map(|(stage, result)| {
            ClaimStage::from_stored(&stage, result.as_deref())
                .ok_or_else(|| StoreError::Corrupt(format!("claim stage `{stage}`")))
        })
        .transpose()
    }

    /// Ends a claim, with the result page when the exchange succeeded.
    pub async fn finish_claim(
        &self,
        state_digest: &[u8; 32],
        result: Option<&ResultId>,
    ) -> Result<(), StoreError> {
        self.db
            .write_one(finish_claim(state_digest, result)?)
            .await?;
        Ok(())
    }

    /// Ends a claim whose exchange failed after its code may have reached the platform,
    /// keeping how (`failure`, the error as the web layer wrote it) for a reload to show.
    pub async fn fail_claim(
        &self,
        state_digest: &[u8; 32],
        failure: &str,
    ) -> Result<(), StoreError> {
        self.db
            .write_one(Statement::new(
                &FAIL_CLAIM,
                [
                    ("finished", ClaimStage::FINISHED.into()),
                    ("failure", failure.into()),
                    ("state_digest", state_digest.into()),
                ],
            )?)
            .await?;
        Ok(())
    }

    /// How a failed claim ended, if it did (`fail_claim`).
    pub async fn claim_failure(
        &self,
        state_digest: &[u8; 32],
    ) -> Result<Option<String>, StoreError> {
        let row: Option<(Option<String>,)> = self
            .db
            .fetch_optional(Statement::new(
                &CLAIM_FAILURE,
                [("state_digest", state_digest.into())],
            )?)
            .await?;
        Ok(row.and_then(|(failure,)| failure))
    }

    /// Forgets a claim whose code surely never reached the platform (no connection could be
    /// made): the same callback URL can then be tried again.
    pub async fn release_claim(&self, state_digest: &[u8; 32]) -> Result<(), StoreError> {
        self.db
            .write_one(Statement::new(
                &RELEASE_CLAIM,
                [
                    ("state_digest", state_digest.into()),
                    ("exchanging", ClaimStage::EXCHANGING.into()),
                ],
            )?)
            .await?;
        Ok(())
    }

    /// Records which browser may open a result page. Also forgets expired grants.
    pub async fn save_result(&self, grant: &ResultGrant, now: EpochMs) -> Result<(), StoreError> {
        let mut write = self.sweep_results(now)?;
        write.push(Statement::new(
            &INSERT_RESULT,
            [
                ("result_id", grant.id.as_str().into()),
                ("app_id", grant.app.as_str().into()),
                ("browser_digest", (&grant.browser_digest).into()),
                ("token_id", grant.token_id.get().into()),
                ("expires_at", grant.expires_at.into()),
            ],
        )?);
        self.db.write(write).await?;
        Ok(())
    }

    /// The whole outcome of a successful exchange in one transaction: the pair (as
    /// `save_authorization`), the result page `grant` for the stored row (its `token_id` is
    /// that row's, whatever `grant` says), and the end of the claim `state_digest` with
    /// that result. One commit instead of three on the seller's path. Returns the row id.
    pub async fn save_exchange(
        &self,
        owner: Owner<'_>,
        response: &TokenResponse,
        now: EpochMs,
        state_digest: &[u8; 32],
        grant: &ResultGrant,
    ) -> Result<TokenId, StoreError> {
        let pair = save_pair(self, owner, response, now)?;
        let [platform, app_key, account_key] = pair.identity();
        let mut write = pair.statements;
        write.push(
            Statement::new(
                &INSERT_EXCHANGE_RESULT,
                [
                    ("result_id", grant.id.as_str().into()),
                    ("app_id", grant.app.as_str().into()),
                    ("browser_digest", (&grant.browser_digest).into()),
                    ("expires_at", grant.expires_at.into()),
                    platform,
                    app_key,
                    account_key,
                ],
            )?
            .changing_one_row(),
        );
        write.push(finish_claim(state_digest, Some(&grant.id))?);
        // The sweep goes last: the id of the upsert is the first outcome.
        write.extend(self.sweep_results(now)?);
        let outcomes = self.db.write(write).await;
        self.counts.forget();
        saved_id(&outcomes?)
    }

    pub async fn result(&self, id: &ResultId) -> Result<Option<ResultGrant>, StoreError> {
        let row: Option<(String, Vec<u8>, i64, i64)> = self
            .db
            .fetch_optional(Statement::new(
                &RESULT,
                [("result_id", id.as_str().into())],
            )?)
            .await?;
        row.map(|(app, browser, token_id, expires_at)| {
            Ok(ResultGrant {
                id: id.clone(),
                app: app_id(&app)?,
                browser_digest: browser.as_slice().try_into().map_err(|_| {
                    StoreError::Corrupt("a browser digest that is not 32 bytes".into())
                })?,
                token_id: TokenId::new(token_id),
                expires_at,
            })
        })
        .transpose()
    }

    /// The sweep of expired result grants, when one is due (at most every few seconds).
    fn sweep_results(&self, now: EpochMs) -> Result<Vec<Statement>, StoreError> {
        Ok(if self.sweeps.results.due(now.get()) {
            vec![Statement::new(&SWEEP_RESULTS, [("now", now.into())])?]
        } else {
            Vec::new()
        })
    }
}

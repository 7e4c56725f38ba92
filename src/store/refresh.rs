//! What the refresher and the renewal path need of the `tokens` table: which pairs are
//! due, recording a failure, storing a renewal over the row it started from, marking pairs
//! only the seller can renew, and the per-token refresh lease that keeps one refresh in
//! flight across processes.

use super::codec::{PairRow, TokenRow, pair_columns, row_of, token_columns};
use super::statement::{Sql, Statement};
use super::{Store, StoreError};
use crate::apps::AppId;
use crate::clock::EpochMs;
use crate::iop::TokenResponse;
use crate::tokens::{Pair, RefreshBefore, StoredToken, TokenId, TokenStatus};

/// When a pair is due under the policy's `:permille` (thousandths of the lifetime) and
/// `:ahead` (milliseconds ahead): the later of that and half its life, as
/// `RefreshBefore::due_at`.
macro_rules! due_at {
    () => {
        "CASE WHEN access_expires_at - (access_expires_at - issued_at) * :permille / 1000 - :ahead \
                   > issued_at + (access_expires_at - issued_at) / 2 \
              THEN access_expires_at - (access_expires_at - issued_at) * :permille / 1000 - :ahead \
              ELSE issued_at + (access_expires_at - issued_at) / 2 END"
    };
}

/// The pairs the refresher may renew at all.
macro_rules! refreshable {
    () => {
        "status = :active AND refreshable = 1 AND refresh_token IS NOT NULL \
         AND access_expires_at IS NOT NULL"
    };
}

/// Schedules the pairs written since the last pass (`next_check_at` is NULL): when each
/// is due under the policy, or its backoff ends, whichever is later.
static SCHEDULE: Sql = Sql::repeatable(concat!(
    "UPDATE tokens SET next_check_at = CASE WHEN COALESCE(retry_after, 0) > ",
    due_at!(),
    " THEN retry_after ELSE ",
    due_at!(),
    " END
     WHERE app_id = :app AND next_check_at IS NULL AND status = 'active' AND refreshable = 1
       AND access_expires_at IS NOT NULL"
));

/// Forgets every schedule, for a policy other than the one they were made under.
static UNSCHEDULE: Sql =
    Sql::repeatable("UPDATE tokens SET next_check_at = NULL WHERE next_check_at IS NOT NULL");

static SCHEDULED_POLICY: Sql =
    Sql::new("SELECT value FROM store_meta WHERE name = 'refresh_schedule'");

static SET_SCHEDULED_POLICY: Sql = Sql::repeatable(
    "INSERT INTO store_meta (name, value) VALUES ('refresh_schedule', :policy)
     ON CONFLICT (name) DO UPDATE SET value = excluded.value",
);

/// Through the schedule's index (`next_check_at` first), then the exact tests.
static DUE: Sql = Sql::new(concat!(
    "SELECT ",
    token_columns!(),
    " FROM tokens WHERE app_id = :app AND status = 'active' AND refreshable = 1
       AND next_check_at <= :now AND ",
    refreshable!(),
    " AND ",
    due_at!(),
    " <= :now
       AND (refresh_expires_at IS NULL OR refresh_expires_at > :now)
       AND (retry_after IS NULL OR retry_after <= :now)
     ORDER BY access_expires_at"
));

/// The later of the due time and the end of a backoff, earliest over the pairs: the
/// first entry of the schedule's index.
static NEXT_DUE: Sql = Sql::new(
    "SELECT MIN(next_check_at) FROM tokens
     WHERE app_id = :app AND status = 'active' AND refreshable = 1",
);

static RECORD_FAILURE: Sql = Sql::new(
    "UPDATE tokens SET last_error = :error, last_error_code = :code,
         consecutive_failures = consecutive_failures + 1, retry_after = :retry_after,
         next_check_at = :retry_after
     WHERE id = :id",
);

/// Only on the row as the refresh read it, or as this very write left it: a repeat after
/// its first run landed (the connection broke at the commit) finds its own sealed access
/// token, which nothing else could have written, and still counts as stored.
static SAVE_REFRESH: Sql = Sql::repeatable(
    "UPDATE tokens SET
         access_token = :access_token,
         refresh_token = COALESCE(:refresh_token, refresh_token),
         access_expires_at = :access_expires_at,
         refresh_expires_at = COALESCE(:refresh_expires_at, refresh_expires_at),
         last_request_id = :request_id,
         updated_at = :now,
         issued_at = :now,
         last_refresh_at = :now,
         last_error = NULL,
         last_error_code = NULL,
         consecutive_failures = 0,
         retry_after = NULL,
         next_check_at = NULL,
         next_notice_at = :now
     WHERE id = :id AND (updated_at = :seen_updated_at OR access_token = :access_token)",
);

static MARK_REAUTHORIZE: Sql = Sql::repeatable(
    "UPDATE tokens SET status = :reauthorize, last_error = :error, updated_at = :now,
         next_notice_at = :now
     WHERE id = :id",
);

/// Returns the ids it marked, so the caller can say which sellers lapsed without listing
/// every pair. Each kind of lapse is found through its index, in the sellers it concerns.
static MARK_DEAD: Sql = Sql::new(
    "UPDATE tokens SET status = :reauthorize, updated_at = :now, next_notice_at = :now,
         last_error = 'the refresh token expired (or the pair was not refreshable)'
     WHERE id IN (SELECT id FROM tokens WHERE status = 'active' AND refresh_expires_at <= :now
                  UNION ALL
                  SELECT id FROM tokens WHERE status = 'active' AND refreshable = 0
                                          AND access_expires_at <= :now)
     RETURNING id",
);

static PAIRS_BY_ID: Sql = Sql::new(concat!(
    "SELECT ",
    pair_columns!(),
    " FROM tokens WHERE id = :id"
));

/// Only on the row as it was read: not renewed since (`updated_at`), and no failure
/// recorded since (`retry_after`), whose answer the caller should take instead.
static LEASE: Sql = Sql::repeatable(
    "UPDATE tokens SET lease_holder = :holder, lease_until = :until
     WHERE id = :id AND updated_at = :seen_updated_at
       AND COALESCE(retry_after, 0) = :seen_retry_after
       AND (lease_until IS NULL OR lease_until < :now OR lease_holder = :holder)",
);

static RELEASE: Sql = Sql::repeatable(
    "UPDATE tokens SET lease_holder = NULL, lease_until = NULL
     WHERE id = :id AND lease_holder = :holder",
);

impl Store {
    /// Active, refreshable pairs of this app that `policy` says are due at `now` (see
    /// `RefreshBefore::due_at`), whose refresh token still lives and that are not waiting
    /// out a failure.
    pub async fn due_for_refresh(
        &self,
        app: &AppId,
        policy: RefreshBefore,
        now: EpochMs,
    ) -> Result<Vec<StoredToken>, StoreError> {
        self.schedule(app, policy).await?;
        let (permille, ahead) = policy.sql_params();
        let rows: Vec<TokenRow> = self
            .db
            .fetch_all(Statement::new(
                &DUE,
                [
                    ("permille", permille.into()),
                    ("ahead", ahead.into()),
                    ("app", app.as_str().into()),
                    ("active", TokenStatus::Active.as_str().into()),
                    ("now", now.into()),
                ],
            )?)
            .await?;
        rows.into_iter().map(|row| self.codec.token(row)).collect()
    }

    /// The earliest time a pair of this app falls due (or its backoff ends), if any can.
    pub async fn next_due_at(
        &self,
        app: &AppId,
        policy: RefreshBefore,
    ) -> Result<Option<i64>, StoreError> {
        self.schedule(app, policy).await?;
        let (next,): (Option<i64>,) = self
            .db
            .fetch_one(Statement::new(&NEXT_DUE, [("app", app.as_str().into())])?)
            .await?;
        Ok(next)
    }

    /// Schedules this app's pairs written since the last call under `policy`; first
    /// forgets every schedule if they were made under another policy (a restart with
    /// another `IOP_REFRESH_BEFORE`). Costs what was written since, not what is stored.
    async fn schedule(&self, app: &AppId, policy: RefreshBefore) -> Result<(), StoreError> {
        let (permille, ahead) = policy.sql_params();
        let wanted = format!("{permille}/{ahead}");
        let scheduled: Option<(String,)> = self
            .db
            .fetch_optional(Statement::new(&SCHEDULED_POLICY, [])?)
            .await?;
        if scheduled.is_none_or(|(made,)| made != wanted) {
            self.db
                .write(vec![
                    Statement::new(&UNSCHEDULE, [])?,
                    Statement::new(&SET_SCHEDULED_POLICY, [("policy", wanted.into())])?,
                ])
                .await?;
        }
        self.db
            .write_one(Statement::new(
                &SCHEDULE,
                [
                    ("permille", permille.into()),
                    ("ahead", ahead.into()),
                    ("app", app.as_str().into()),
                ],
            )?)
            .await?;
        Ok(())
    }

    /// Records a failed refresh (in words, and the platform's code if it sent one) that
    /// will be tried again, not before `retry_after`.
    pub async fn record_refresh_failure(
        &self,
        id: TokenId,
        error: &str,
        code: Option<&str>,
        retry_after: EpochMs,
    ) -> Result<(), StoreError> {
        let written = self
            .db
            .write_one(Statement::new(
                &RECORD_FAILURE,
                [
                    ("error", error.into()),
                    ("code", code.into()),
                    ("retry_after", retry_after.into()),
                    ("id", id.get().into()),
                ],
            )?)
            .await;
        self.counts.forget();
        written.map(drop)
    }

    /// Stores a refreshed pair over `refreshed`, only if the row is still the version the
    /// refresh started from: a newer authorization that landed meanwhile wins. The refresh
    /// token and its expiry are replaced only when the platform sent new ones. Returns
    /// whether it was stored.
    pub async fn save_refresh(
        &self,
        refreshed: &Pair,
        response: &TokenResponse,
        now: EpochMs,
    ) -> Result<bool, StoreError> {
        let expiries = response.expiries(now.get());
        let (access_token, refresh_token) = self.codec.seal_pair(
            &response.access_token,
            response.refresh_token.as_ref(),
            &row_of(refreshed),
        );
        let done = self
            .db
            .write_one(Statement::new(
                &SAVE_REFRESH,
                [
                    ("access_token", access_token.into()),
                    ("refresh_token", refresh_token.into()),
                    ("access_expires_at", expiries.access_expires_at.into()),
                    ("refresh_expires_at", expiries.refresh_expires_at.into()),
                    ("request_id", response.request_id.as_deref().into()),
                    ("now", now.into()),
                    ("id", refreshed.id.get().into()),
                    ("seen_updated_at", refreshed.updated_at.into()),
                ],
            )?)
            .await;
        self.counts.forget();
        Ok(done?.rows_affected == 1)
    }

    /// Marks one pair as needing the seller to authorize again, saying why.
    pub async fn mark_reauthorize(
        &self,
        id: TokenId,
        error: &str,
        now: EpochMs,
    ) -> Result<(), StoreError> {
        let written = self
            .db
            .write_one(Statement::new(
                &MARK_REAUTHORIZE,
                [
                    ("reauthorize", TokenStatus::Reauthorize.as_str().into()),
                    ("error", error.into()),
                    ("now", now.into()),
                    ("id", id.get().into()),
                ],
            )?)
            .await;
        self.counts.forget();
        written.map(drop)
    }

    /// Marks every pair that can no longer be renewed: refresh token expired, or not
    /// refreshable and the access token expired. Returns the pairs it marked (without
    /// their tokens), read by id: the statement says which.
    pub async fn mark_dead(&self, now: EpochMs) -> Result<Vec<Pair>, StoreError> {
        let marked = self
            .db
            .write_one(Statement::new(
                &MARK_DEAD,
                [
                    ("reauthorize", TokenStatus::Reauthorize.as_str().into()),
                    ("now", now.into()),
                ],
            )?)
            .await;
        self.counts.forget();
        let marked = marked?;
        let mut pairs = Vec::with_capacity(marked.returned.len());
        for id in marked.returned {
            let row: Option<PairRow> = self
                .db
                .fetch_optional(Statement::new(&PAIRS_BY_ID, [("id", id.into())])?)
                .await?;
            if let Some(row) = row {
                pairs.push(Pair::try_from(row)?);
            }
        }
        Ok(pairs)
    }

    // Refresh leases: one refresh in flight per token, across processes.

    /// Takes the refresh lease of the pair `seen` until `until`, unless another holder's
    /// lease is still running or the row changed since `seen` was read (someone renewed it:
    /// renewing again from a stale read would spend the refresh token twice; or someone's
    /// refresh failed, and its backoff is the answer). Returns whether `holder` has it now.
    pub async fn lease_refresh(
        &self,
        seen: &Pair,
        holder: &str,
        until: EpochMs,
        now: EpochMs,
    ) -> Result<bool, StoreError> {
        let done = self
            .db
            .write_one(Statement::new(
                &LEASE,
                [
                    ("holder", holder.into()),
                    ("until", until.into()),
                    ("id", seen.id.get().into()),
                    ("seen_updated_at", seen.updated_at.into()),
                    ("seen_retry_after", seen.retry_after.unwrap_or(0).into()),
                    ("now", now.into()),
                ],
            )?)
            .await?;
        Ok(done.rows_affected == 1)
    }

    pub async fn release_refresh(&self, id: TokenId, holder: &str) -> Result<(), StoreError> {
        self.db
            .write_one(Statement::new(
                &RELEASE,
                [("id", id.get().into()), ("holder", holder.into())],
            )?)
            .await?;
        Ok(())
    }
}

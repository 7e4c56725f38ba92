//! Sellers a page at a time in id order, filtered in the database: the token API's list
//! never loads more pairs than it shows, however many are stored. Pages follow the row id (a keyset, never an offset), so walking them yields every seller that exists
//! throughout exactly once, while others are added or deleted between pages.

use super::codec::{PairRow, pair_columns};
use super::search::{matches_search, word_ranges};
use super::statement::{Sql, Statement};
use super::{Store, StoreError};
use crate::apps::AppId;
use crate::clock::EpochMs;
use crate::tokens::{EXPIRING_WINDOW_MS, Health, Pair, TokenId, TokenStatus};

/// `Health::of` in SQL, naming each state by the given literal: the same order of tests,
/// and `refresh_expiring`'s window (a week, or a quarter of the refresh token's life when
/// that is shorter).
macro_rules! health_case {
    ($reauthorize:literal, $failing:literal, $expiring:literal, $active:literal) => {
        concat!(
            "CASE WHEN status = :reauthorize THEN ",
            $reauthorize,
            "
                  WHEN consecutive_failures > 0 THEN ",
            $failing,
            "
                  WHEN refresh_expires_at IS NOT NULL
                       AND refresh_expires_at - :now <=
                           CASE WHEN (refresh_expires_at - authorized_at) / 4 < :week
                                THEN (refresh_expires_at - authorized_at) / 4 ELSE :week END
                       THEN ",
            $expiring,
            "
                  ELSE ",
            $active,
            " END"
        )
    };
}

/// `Health::of` in SQL, as `Health::as_str`.
macro_rules! health {
    () => {
        health_case!(
            "'reauthorize'",
            "'failing'",
            "'refresh_expiring'",
            "'active'"
        )
    };
}
pub(super) use {health, health_case};

/// A page in id order: the filters other than the search, then `$search`.
macro_rules! page {
    ($search:expr) => {
        concat!(
            "SELECT ",
            pair_columns!(),
            " FROM tokens
             WHERE id > :after
               AND (:app IS NULL OR app_id = :app)
               AND (:health IS NULL OR ",
            health!(),
            " = :health) AND ",
            $search,
            " ORDER BY id LIMIT :limit"
        )
    };
}

static PAGE: Sql = Sql::new(page!("1 = 1"));
static PAGE_SEARCH: Sql = Sql::new(page!(matches_search!()));

/// Which sellers a page holds.
#[derive(Debug, Default, Clone)]
pub struct PairFilter {
    pub app: Option<AppId>,
    pub health: Option<Health>,
    /// Words that each begin one of the seller's words (nick, account, ids, countries,
    /// app), ignoring case; the first three count.
    pub search: Option<String>,
}

impl Store {
    /// Up to `limit` pairs after `after` (none: from the start) that `filter` selects,
    /// by id, without their tokens; judged at `now` for the health filter.
    pub async fn page_pairs(
        &self,
        filter: &PairFilter,
        after: Option<TokenId>,
        limit: u32,
        now: EpochMs,
    ) -> Result<Vec<Pair>, StoreError> {
        let search = filter.search.as_deref().filter(|s| !s.trim().is_empty());
        let mut values = vec![
            ("after", after.map_or(0, TokenId::get).into()),
            ("app", filter.app.as_ref().map(AppId::as_str).into()),
            ("health", filter.health.map(Health::as_str).into()),
            ("reauthorize", TokenStatus::Reauthorize.as_str().into()),
            ("now", now.into()),
            ("week", EXPIRING_WINDOW_MS.into()),
            ("limit", i64::from(limit).into()),
        ];
        let sql = match search {
            Some(words) => {
                values.extend(word_ranges(words));
                &PAGE_SEARCH
            }
            None => &PAGE,
        };
        let rows: Vec<PairRow> = self.db.fetch_all(Statement::new(sql, values)?).await?;
        rows.into_iter().map(Pair::try_from).collect()
    }
}

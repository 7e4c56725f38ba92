//! Sellers a page at a time, filtered in the database: the token API's list (and, next, the
//! console's) never loads more pairs than it shows, however many are stored. Pages follow
//! the row id (a keyset, never an offset), so walking them yields every seller that exists
//! throughout exactly once, while others are added or deleted between pages.

use super::codec::{PairRow, pair_columns};
use super::statement::{Sql, Statement};
use super::{Store, StoreError};
use crate::apps::AppId;
use crate::clock::EpochMs;
use crate::tokens::{EXPIRING_WINDOW_MS, Health, Pair, TokenId, TokenStatus};

/// `Health::of` in SQL: the same order of tests, and `refresh_expiring`'s window (a week, or
/// a quarter of the refresh token's life when that is shorter).
macro_rules! health {
    () => {
        "CASE WHEN status = :reauthorize THEN 'reauthorize'
              WHEN consecutive_failures > 0 THEN 'failing'
              WHEN refresh_expires_at IS NOT NULL
                   AND refresh_expires_at - :now <=
                       CASE WHEN (refresh_expires_at - authorized_at) / 4 < :week
                            THEN (refresh_expires_at - authorized_at) / 4 ELSE :week END
                   THEN 'refresh_expiring'
              ELSE 'active' END"
    };
}

static PAGE: Sql = Sql::new(concat!(
    "SELECT ",
    pair_columns!(),
    " FROM tokens
     WHERE id > :after
       AND (:app IS NULL OR app_id = :app)
       AND (:pattern IS NULL OR search_text LIKE :pattern ESCAPE '!')
       AND (:health IS NULL OR ",
    health!(),
    " = :health)
     ORDER BY id LIMIT :limit"
));

/// Which sellers a page holds.
#[derive(Debug, Default, Clone)]
pub struct PairFilter {
    pub app: Option<AppId>,
    pub health: Option<Health>,
    /// Matched anywhere in the seller's nick, account or ids, ignoring case.
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
        let pattern = filter.search.as_deref().map(like_pattern);
        let rows: Vec<PairRow> = self
            .db
            .fetch_all(Statement::new(
                &PAGE,
                [
                    ("after", after.map_or(0, TokenId::get).into()),
                    ("app", filter.app.as_ref().map(AppId::as_str).into()),
                    ("pattern", pattern.into()),
                    ("health", filter.health.map(Health::as_str).into()),
                    ("reauthorize", TokenStatus::Reauthorize.as_str().into()),
                    ("now", now.into()),
                    ("week", EXPIRING_WINDOW_MS.into()),
                    ("limit", i64::from(limit).into()),
                ],
            )?)
            .await?;
        rows.into_iter().map(Pair::try_from).collect()
    }
}

/// `%text%` for LIKE, lower-cased, with LIKE's own characters taken literally (`!` escapes).
fn like_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '!') {
            pattern.push('!');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_search_is_a_literal_substring_ignoring_case() {
        assert_eq!(super::like_pattern(" Shop_1%! "), "%shop!_1!%!!%");
    }
}

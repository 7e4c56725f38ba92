//! Which app each stored pair belongs to: the owners as stored (app, platform, app key),
//! and moving the pairs of one platform and app key to the app that now serves them. An
//! operator who moves from the single-app variables to an apps file renames the app
//! (`default` becomes, say, `shop-sg`); the pairs follow it instead of lapsing.

use super::statement::{Sql, Statement};
use super::{Store, StoreError};
use crate::apps::AppId;
use crate::iop::Platform;

/// Active pairs by the app, platform and app key they are stored under.
/// From the index of active pairs alone (`tokens_by_owner`), in its order.
static OWNERS: Sql = Sql::new(
    "SELECT app_id, platform, app_key, COUNT(*) FROM tokens WHERE status = 'active'
     GROUP BY app_id, platform, app_key ORDER BY app_id, platform, app_key",
);

static ADOPT: Sql = Sql::repeatable(
    "UPDATE tokens SET app_id = :to
     WHERE platform = :platform AND app_key = :app_key AND app_id <> :to",
);

/// A group of active pairs stored under one app, platform and app key. The app is the
/// stored name, which the configuration may no longer have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOwner {
    pub app: String,
    pub platform: String,
    pub app_key: String,
    pub pairs: i64,
}

impl Store {
    /// Every (app, platform, app key) active pairs are stored under, with how many.
    pub async fn stored_owners(&self) -> Result<Vec<StoredOwner>, StoreError> {
        let rows: Vec<(String, String, String, i64)> =
            self.db.fetch_all(Statement::new(&OWNERS, [])?).await?;
        Ok(rows
            .into_iter()
            .map(|(app, platform, app_key, pairs)| StoredOwner {
                app,
                platform,
                app_key,
                pairs,
            })
            .collect())
    }

    /// Moves every pair of `platform` and `app_key` to the app `to`. Returns how many moved.
    pub async fn adopt_pairs(
        &self,
        platform: Platform,
        app_key: &str,
        to: &AppId,
    ) -> Result<u64, StoreError> {
        let moved = self
            .db
            .write_one(Statement::new(
                &ADOPT,
                [
                    ("to", to.as_str().into()),
                    ("platform", platform.as_str().into()),
                    ("app_key", app_key.into()),
                ],
            )?)
            .await?;
        Ok(moved.rows_affected)
    }
}

//! Every stored pair belongs to an app that can refresh it, or the operator is told. At
//! startup, pairs stored under an app that is no longer configured (or that changed its
//! app key) go to the configured app with their platform and app key, the identity the
//! README promises; what no configured app can refresh is named in the log, counted in a
//! metric and said by `/readyz`, instead of being skipped until it lapses.

use crate::apps::AppId;
use crate::iop::Platform;
use crate::runtime::{AppRuntime, Apps};
use crate::store::{Store, StoreError, StoredOwner};

/// Gives each configured app the stored pairs of its platform and app key, and logs what
/// no configured app can refresh. Returns those groups.
pub async fn adopt_stored_pairs(
    store: &Store,
    apps: &Apps,
) -> Result<Vec<StoredOwner>, StoreError> {
    let mut stranded = Vec::new();
    for owner in store.stored_owners().await? {
        if serves(apps, &owner) {
            continue;
        }
        let heirs = heirs(apps, &owner);
        match (heirs.as_slice(), Platform::parse(&owner.platform)) {
            ([heir], Some(platform)) => {
                let moved = store
                    .adopt_pairs(platform, &owner.app_key, &heir.config.id)
                    .await?;
                tracing::info!(
                    from = %owner.app,
                    to = %heir.config.id,
                    platform = %owner.platform,
                    app_key = %owner.app_key,
                    sellers = moved,
                    "sellers stored under another app name moved to the app with their platform and app key"
                );
            }
            _ => {
                tracing::warn!(
                    app = %owner.app,
                    platform = %owner.platform,
                    app_key = %owner.app_key,
                    sellers = owner.pairs,
                    configured_with_this_key = heirs.len(),
                    "these sellers cannot be refreshed: no single configured app has their platform and app key; they lapse when their tokens expire (README: moving to several apps)"
                );
                stranded.push(owner);
            }
        }
    }
    Ok(stranded)
}

/// The active pairs no configured app can refresh, as stored now (for the metric and
/// `/readyz`; read only).
pub async fn unrefreshable(store: &Store, apps: &Apps) -> Result<i64, StoreError> {
    Ok(store
        .stored_owners()
        .await?
        .iter()
        .filter(|owner| !serves(apps, owner))
        .map(|owner| owner.pairs)
        .sum())
}

/// Whether the app the pairs are stored under is configured with their platform and key.
fn serves(apps: &Apps, owner: &StoredOwner) -> bool {
    AppId::parse(&owner.app)
        .ok()
        .and_then(|id| apps.get(&id))
        .is_some_and(|app| same_identity(app, owner))
}

/// The configured apps with the pairs' platform and app key.
fn heirs<'a>(apps: &'a Apps, owner: &StoredOwner) -> Vec<&'a AppRuntime> {
    apps.iter()
        .map(AsRef::as_ref)
        .filter(|app| same_identity(app, owner))
        .collect()
}

fn same_identity(app: &AppRuntime, owner: &StoredOwner) -> bool {
    app.config.platform.as_str() == owner.platform && app.config.app_key == owner.app_key
}

//! Finding the one stored pair a seller id names, for the token API, the signing proxy
//! and the command line.

use crate::apps::AppId;
use crate::store::{Store, StoreError};
use crate::tokens::StoredToken;

/// Why a seller id does not name exactly one stored pair.
#[derive(Debug)]
pub enum SellerLookup {
    NotFound,
    /// Known under several apps: the candidates.
    Ambiguous(Vec<StoredToken>),
    /// Known only under apps the caller may not reach: the first of them.
    Unreachable(AppId),
    Store(StoreError),
}

/// The one pair `seller` (a seller id or user id, a Lazada country's too) names, within
/// `app` when given, among the apps `reaches` lets the caller see (an API key's grants;
/// everything on the command line).
pub async fn find_seller(
    store: &Store,
    seller: &str,
    app: Option<&AppId>,
    reaches: &(dyn Fn(&AppId) -> bool + Sync),
) -> Result<StoredToken, SellerLookup> {
    let known = store
        .find_seller(seller)
        .await
        .map_err(SellerLookup::Store)?;
    pick_seller(known, app, reaches)
}

/// The one pair among `known` (every pair a seller id names) that `app` and `reaches`
/// leave, for callers that found them another way (the proxy's recent lookups).
pub fn pick_seller(
    known: Vec<StoredToken>,
    app: Option<&AppId>,
    reaches: &(dyn Fn(&AppId) -> bool + Sync),
) -> Result<StoredToken, SellerLookup> {
    if let Some(app) = app.filter(|app| !reaches(app)) {
        return Err(SellerLookup::Unreachable(app.clone()));
    }
    let (mut found, elsewhere): (Vec<StoredToken>, Vec<StoredToken>) = known
        .into_iter()
        .filter(|t| app.is_none_or(|a| &t.app == a))
        .partition(|t| reaches(&t.app));
    match (found.len(), elsewhere.first()) {
        (0, Some(other)) => Err(SellerLookup::Unreachable(other.app.clone())),
        (0, None) => Err(SellerLookup::NotFound),
        (1, _) => Ok(found.remove(0)),
        _ => Err(SellerLookup::Ambiguous(found)),
    }
}

//! Finding the one stored pair a seller id names, for the token API and the command line.

use crate::apps::AppId;
use crate::store::{Store, StoreError};
use crate::tokens::StoredToken;

/// Why a seller id does not name exactly one stored pair.
#[derive(Debug)]
pub enum SellerLookup {
    NotFound,
    /// Known under several apps: the candidates.
    Ambiguous(Vec<StoredToken>),
    Store(StoreError),
}

/// The one pair `seller` (a seller id or user id, a Lazada country's too) names, within
/// `app` when given. Shared by the token API and the command line.
pub async fn find_seller(
    store: &Store,
    seller: &str,
    app: Option<&AppId>,
) -> Result<StoredToken, SellerLookup> {
    let mut found: Vec<StoredToken> = store
        .find_seller(seller)
        .await
        .map_err(SellerLookup::Store)?
        .into_iter()
        .filter(|t| app.is_none_or(|a| &t.app == a))
        .collect();
    match found.len() {
        0 => Err(SellerLookup::NotFound),
        1 => Ok(found.remove(0)),
        _ => Err(SellerLookup::Ambiguous(found)),
    }
}

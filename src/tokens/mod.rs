//! The token domain: a seller's stored pair (`pair`), when it is due for renewal and how
//! failures back off (`policy`), its health as operators see it (`health`), and the
//! shapes it is shown in (`views`). Pure: no storage, no HTTP, no metrics; the store
//! keeps these types and `crate::renewal` acts on them.

mod health;
mod pair;
mod policy;
mod views;

pub use health::Health;
pub use pair::{Owner, Pair, StoredToken, TokenCounts, TokenId, TokenStatus, account_key};
pub use policy::{EXPIRING_WINDOW_MS, RefreshBefore, backoff, refresh_expiring};
pub use views::{CurrentToken, RefreshedToken, SellerDetails, TokenSummary};

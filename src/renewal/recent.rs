//! The pairs each seller id named a moment ago, so a busy caller's calls do not each read
//! the store (on SQLite a read is a round trip to the store's thread, and under load those
//! hops were most of a proxied call's cost).
//!
//! A pair read here may be up to `FRESH` old. That is safe for a business call: a token
//! renewed meanwhile (here or by another replica) still works until it expires, and one
//! the platform calls stale is refreshed through the store's single flight, which reads
//! the stored pair anew. What this process changes itself (a renewal, a deletion) is
//! forgotten here at once; another replica's deletion is seen within `FRESH`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::lock::lock;
use crate::store::{Store, StoreError};
use crate::tokens::{StoredToken, TokenId};

/// How long a lookup is reused.
const FRESH: Duration = Duration::from_secs(1);

/// At most this many seller ids are remembered: the memory does not grow with the seller
/// count, and past it the oldest lookups are simply read again.
const MAX_SELLERS: usize = 10_000;

#[derive(Default)]
pub(super) struct RecentSellers {
    found: Mutex<HashMap<String, Lookup>>,
}

struct Lookup {
    at: Instant,
    pairs: Vec<StoredToken>,
}

impl RecentSellers {
    /// Every pair `seller` names (as `Store::find_seller`), from a lookup of the last
    /// `FRESH` when there is one.
    pub(super) async fn find(
        &self,
        store: &Store,
        seller: &str,
    ) -> Result<Vec<StoredToken>, StoreError> {
        if let Some(found) = lock(&self.found).get(seller)
            && found.at.elapsed() < FRESH
        {
            return Ok(found.pairs.clone());
        }
        // Boxed: the store's read is the cold path, and inline its future would make every
        // proxied call's future (moved, and so copied, on each await) several KB larger.
        let pairs = Box::pin(store.find_seller(seller)).await?;
        self.remember(seller, pairs.clone(), Instant::now());
        Ok(pairs)
    }

    fn remember(&self, seller: &str, pairs: Vec<StoredToken>, now: Instant) {
        let mut found = lock(&self.found);
        if found.len() >= MAX_SELLERS && !found.contains_key(seller) {
            found.retain(|_, lookup| now.duration_since(lookup.at) < FRESH);
            if found.len() >= MAX_SELLERS {
                found.clear();
            }
        }
        found.insert(seller.to_owned(), Lookup { at: now, pairs });
    }

    /// Forgets every lookup that found pair `id`: it was renewed or deleted here.
    pub(super) fn forget(&self, id: TokenId) {
        lock(&self.found).retain(|_, lookup| lookup.pairs.iter().all(|pair| pair.id != id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(at: Instant) -> RecentSellers {
        let recent = RecentSellers::default();
        for n in 0..MAX_SELLERS {
            recent.remember(&n.to_string(), Vec::new(), at);
        }
        recent
    }

    #[test]
    fn past_the_cap_the_stale_lookups_make_room() {
        let now = Instant::now();
        let recent = filled(now - FRESH * 2);
        recent.remember("5", Vec::new(), now);
        recent.remember("new", Vec::new(), now);
        let found = lock(&recent.found);
        assert_eq!(found.len(), 2, "only the fresh lookups stay");
        assert!(found.contains_key("5") && found.contains_key("new"));
    }

    #[test]
    fn past_the_cap_of_fresh_lookups_all_are_read_again() {
        let now = Instant::now();
        let recent = filled(now);
        recent.remember("again", Vec::new(), now);
        let found = lock(&recent.found);
        assert_eq!(found.len(), 1);
        assert!(found.contains_key("again"));
    }

    #[test]
    fn a_known_seller_is_replaced_in_place_at_the_cap() {
        let now = Instant::now();
        let recent = filled(now);
        recent.remember("7", Vec::new(), now);
        assert_eq!(lock(&recent.found).len(), MAX_SELLERS);
    }
}

//! The pairs each seller id named a moment ago, so a busy caller's calls do not each read
//! the store (on SQLite a read is a round trip to the store's thread, and under load those
//! hops were most of a proxied call's cost).
//!
//! A pair read here may be up to `FRESH` old. That is safe for a business call: a token
//! renewed meanwhile (here or by another replica) still works until it expires, and one
//! the platform calls stale is refreshed through the store's single flight, which reads
//! the stored pair anew. What this process changes itself (a renewal, a deletion) is
//! forgotten here at once; another replica's deletion is seen within `FRESH` (and one
//! store read).
//!
//! When a lookup runs out, one caller reads the store anew and the others keep using the
//! lookup meanwhile: before, every call in that moment read the store at once, and once a
//! second a busy seller's calls all waited in line for SQLite's thread.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
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
    /// Shared, so that the lock is held for a reference count, not for copying the pairs:
    /// every serving thread takes this lock on every proxied call.
    pairs: Arc<[StoredToken]>,
    /// A caller is reading this seller anew; the others use this lookup meanwhile.
    reading: bool,
}

impl RecentSellers {
    /// Every pair `seller` names (as `Store::find_seller`), from a lookup of the last
    /// `FRESH` when there is one.
    pub(super) async fn find(
        &self,
        store: &Store,
        seller: &str,
    ) -> Result<Vec<StoredToken>, StoreError> {
        // Boxed: the store's read is the cold path, and inline its future would make every
        // proxied call's future (moved, and so copied, on each await) several KB larger.
        self.find_or_read(seller, || Box::pin(store.find_seller(seller)))
            .await
    }

    /// `find`, with `read` for the store's read.
    async fn find_or_read<F, R>(
        &self,
        seller: &str,
        read: F,
    ) -> Result<Vec<StoredToken>, StoreError>
    where
        F: FnOnce() -> R,
        R: Future<Output = Result<Vec<StoredToken>, StoreError>>,
    {
        let recent = match lock(&self.found).get_mut(seller) {
            // While another caller reads anew, its lookup serves: for one read more.
            Some(found) if found.at.elapsed() < FRESH || found.reading => Some(found.pairs.clone()),
            Some(found) => {
                found.reading = true;
                None
            }
            None => None,
        };
        if let Some(pairs) = recent {
            return Ok(pairs.to_vec());
        }
        // Whether the read ends, fails or is dropped with its caller, the next caller
        // finds no read in flight.
        let reading = Reading {
            recent: self,
            seller,
        };
        let pairs: Arc<[StoredToken]> = read().await?.into();
        drop(reading);
        self.remember(seller, pairs.clone(), Instant::now());
        Ok(pairs.to_vec())
    }

    fn remember(&self, seller: &str, pairs: Arc<[StoredToken]>, now: Instant) {
        let mut found = lock(&self.found);
        if found.len() >= MAX_SELLERS && !found.contains_key(seller) {
            found.retain(|_, lookup| now.duration_since(lookup.at) < FRESH);
            if found.len() >= MAX_SELLERS {
                found.clear();
            }
        }
        let lookup = Lookup {
            at: now,
            pairs,
            reading: false,
        };
        found.insert(seller.to_owned(), lookup);
    }

    /// Forgets every lookup that found pair `id`: it was renewed or deleted here.
    pub(super) fn forget(&self, id: TokenId) {
        lock(&self.found).retain(|_, lookup| lookup.pairs.iter().all(|pair| pair.id != id));
    }
}

/// A read of `seller` in flight, until dropped.
struct Reading<'a> {
    recent: &'a RecentSellers,
    seller: &'a str,
}

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        if let Some(found) = lock(&self.recent.found).get_mut(self.seller) {
            found.reading = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::sync::oneshot;

    use super::*;

    /// A store read that counts itself and ends when `done` is sent (or dropped).
    async fn read(
        reads: &AtomicUsize,
        done: oneshot::Receiver<()>,
    ) -> Result<Vec<StoredToken>, StoreError> {
        reads.fetch_add(1, Ordering::SeqCst);
        let _ = done.await;
        Ok(Vec::new())
    }

    /// Seller `s` looked up two `FRESH` ago, and a count of reads from zero.
    fn run_out() -> (RecentSellers, AtomicUsize) {
        let recent = RecentSellers::default();
        recent.remember("s", Arc::new([]), Instant::now() - FRESH * 2);
        (recent, AtomicUsize::new(0))
    }

    /// The first caller's read of the run-out lookup, started and waiting for `done`.
    async fn first_read<'a>(
        recent: &'a RecentSellers,
        reads: &'a AtomicUsize,
        done: oneshot::Receiver<()>,
    ) -> Pin<Box<impl Future<Output = Result<Vec<StoredToken>, StoreError>> + 'a>> {
        let mut first = Box::pin(recent.find_or_read("s", move || read(reads, done)));
        assert!(futures_util::poll!(first.as_mut()).is_pending());
        first
    }

    #[tokio::test]
    async fn one_caller_reads_a_lookup_anew_while_the_others_use_it() {
        let (recent, reads) = run_out();
        let (finish, done) = oneshot::channel();
        let first = first_read(&recent, &reads, done).await;
        // Meanwhile the stale lookup answers, without a read.
        for _ in 0..10 {
            let (_, never) = oneshot::channel();
            recent
                .find_or_read("s", || read(&reads, never))
                .await
                .unwrap();
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        finish.send(()).unwrap();
        first.await.unwrap();
        let found = lock(&recent.found);
        assert!(found["s"].at.elapsed() < FRESH && !found["s"].reading);
    }

    #[tokio::test]
    async fn a_read_dropped_with_its_caller_leaves_the_next_caller_to_read() {
        let (recent, reads) = run_out();
        let (_finish, done) = oneshot::channel();
        let first = first_read(&recent, &reads, done).await;
        drop(first);
        let (finish, done) = oneshot::channel();
        finish.send(()).unwrap();
        recent
            .find_or_read("s", || read(&reads, done))
            .await
            .unwrap();
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }

    fn filled(at: Instant) -> RecentSellers {
        let recent = RecentSellers::default();
        for n in 0..MAX_SELLERS {
            recent.remember(&n.to_string(), Arc::new([]), at);
        }
        recent
    }

    #[test]
    fn past_the_cap_the_stale_lookups_make_room() {
        let now = Instant::now();
        let recent = filled(now - FRESH * 2);
        recent.remember("5", Arc::new([]), now);
        recent.remember("new", Arc::new([]), now);
        let found = lock(&recent.found);
        assert_eq!(found.len(), 2, "only the fresh lookups stay");
        assert!(found.contains_key("5") && found.contains_key("new"));
    }

    #[test]
    fn past_the_cap_of_fresh_lookups_all_are_read_again() {
        let now = Instant::now();
        let recent = filled(now);
        recent.remember("again", Arc::new([]), now);
        let found = lock(&recent.found);
        assert_eq!(found.len(), 1);
        assert!(found.contains_key("again"));
    }

    #[test]
    fn a_known_seller_is_replaced_in_place_at_the_cap() {
        let now = Instant::now();
        let recent = filled(now);
        recent.remember("7", Arc::new([]), now);
        assert_eq!(lock(&recent.found).len(), MAX_SELLERS);
    }
}

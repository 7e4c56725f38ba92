//! Keeps stored tokens fresh. It sleeps until the earliest time a pair falls due (and
//! wakes at once when this process stores, refreshes or deletes one), renews what is due
//! with bounded concurrency through `Tokens`, and marks pairs that cannot be renewed as
//! needing the seller to authorize again instead of retrying them forever.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::{TokenError, Tokens};
use crate::clock::EpochMs;
use crate::tokens::Pair;

/// Never loop faster than this, whatever the store says is due (a lease held elsewhere
/// leaves a pair due until its holder stores the renewal).
const MIN_SLEEP: Duration = Duration::from_secs(1);

pub struct Refresher {
    pub tokens: Arc<Tokens>,
    /// The longest it sleeps without looking at the store: other replicas' new pairs are
    /// seen within this time.
    pub recheck: Duration,
    /// How many refreshes run at once.
    pub concurrency: usize,
}

/// What one pass did, for tests and the log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pass {
    pub refreshed: usize,
    pub failed: usize,
    pub reauthorize: usize,
}

impl Refresher {
    /// Runs passes until `stop` turns true. A pass in progress finishes first, so a
    /// refreshed pair is always stored.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        tracing::info!(
            recheck = %humantime::format_duration(self.recheck),
            concurrency = self.concurrency,
            "token refresher started"
        );
        let mut last_look: Option<tokio::time::Instant> = None;
        let mut next_pass = tokio::time::Instant::now();
        loop {
            // Looks at the store at most every MIN_SLEEP: under a stream of new
            // authorizations (each one wakes it) it would otherwise scan back to back.
            if let Some(last) = last_look {
                tokio::select! {
                    () = tokio::time::sleep_until(last + MIN_SLEEP) => {}
                    _ = stop.wait_for(|stopped| *stopped) => break,
                }
            }
            let looked = tokio::time::Instant::now();
            last_look = Some(looked);
            let now = self.tokens.now_ms();
            if looked >= next_pass {
                // The pass and the plan after it cover whatever changed before.
                self.tokens.take_changes();
                self.pass(now).await;
                next_pass = looked + self.sleep_after(now).await;
            } else {
                // Woken by a change (a new or renewed pair): it can only bring the plan
                // forward. No pass before it is due: a pass writes (marking dead pairs),
                // and under a stream of authorizations would take SQLite's write lock
                // from the callbacks every second for nothing.
                next_pass = looked + self.replan(now, next_pass - looked).await;
            }
            tokio::select! {
                () = tokio::time::sleep_until(next_pass) => {}
                () = self.tokens.wait_for_change() => {}
                _ = stop.wait_for(|stopped| *stopped) => break,
            }
        }
        tracing::info!("token refresher stopped");
    }

    /// The plan after a change woke the refresher at `now`, when the next pass was
    /// `planned` from now: pairs authorized here bring it forward to their due time,
    /// without a read of the store; other changes are read from the store.
    pub async fn replan(&self, now: i64, planned: Duration) -> Duration {
        let changes = self.tokens.take_changes();
        let mut plan = planned;
        if changes.rescan {
            plan = plan.min(self.sleep_after(now).await);
        }
        if let Some(due) = changes.earliest_due {
            plan = plan.min(self.wait_until(now, Some(due)));
        }
        plan
    }

    /// From `now` to `at`, within [`MIN_SLEEP`, `recheck`].
    fn wait_until(&self, now: i64, at: Option<i64>) -> Duration {
        let wait_ms = at.map_or(i64::MAX, |at| at.saturating_sub(now));
        Duration::from_millis(u64::try_from(wait_ms).unwrap_or(0)).clamp(MIN_SLEEP, self.recheck)
    }

    /// When to look again after a pass at `now`: the earliest due time, within
    /// [`MIN_SLEEP`, `recheck`].
    pub async fn sleep_after(&self, now: i64) -> Duration {
        let mut next: Option<i64> = None;
        for app in &self.tokens.apps().ids() {
            match self
                .tokens
                .store()
                .next_due_at(app, self.tokens.policy())
                .await
            {
                Ok(Some(at)) => next = Some(next.map_or(at, |n| n.min(at))),
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "could not plan the next refresh"),
            }
        }
        self.wait_until(now, next)
    }

    /// One pass over the store at time `now`.
    pub async fn pass(&self, now: i64) -> Pass {
        let mut pass = Pass::default();
        let store = self.tokens.store();
        match store.mark_dead(EpochMs::new(now)).await {
            Ok(dead) => {
                pass.reauthorize += dead.len();
                log_newly_dead(&dead);
            }
            Err(e) => tracing::error!(error = %e, "could not mark expired tokens"),
        }
        let limit = Arc::new(Semaphore::new(self.concurrency.max(1)));
        let mut running = JoinSet::new();
        for app in &self.tokens.apps().ids() {
            let due = match store
                .due_for_refresh(app, self.tokens.policy(), EpochMs::new(now))
                .await
            {
                Ok(due) => due,
                Err(e) => {
                    tracing::error!(app = %app, error = %e, "could not list tokens due for refresh");
                    continue;
                }
            };
            for token in due {
                let (tokens, limit) = (self.tokens.clone(), limit.clone());
                // Every line the renewal writes names the pair it is about.
                let span = tracing::info_span!(
                    "refresh",
                    app = %token.app,
                    platform = %token.platform,
                    token_id = token.id.get(),
                    seller_id = token.identity.primary_id().unwrap_or("-"),
                );
                running.spawn(tracing::Instrument::instrument(
                    async move {
                        let _slot = limit.acquire_owned().await;
                        let before = token.issued_at;
                        tokens
                            .refresh(&token, false)
                            .await
                            .map(|after| after.issued_at != before)
                    },
                    span,
                ));
            }
        }
        while let Some(done) = running.join_next().await {
            match done {
                Ok(Ok(true)) => pass.refreshed += 1,
                // Renewed meanwhile by an API call or another replica.
                Ok(Ok(false)) => {}
                Ok(Err(TokenError::Reauthorize)) => pass.reauthorize += 1,
                Ok(Err(_)) | Err(_) => pass.failed += 1,
            }
        }
        if pass != Pass::default() {
            tracing::info!(
                refreshed = pass.refreshed,
                failed = pass.failed,
                reauthorize = pass.reauthorize,
                "refresh pass"
            );
        }
        pass
    }
}

/// One line per seller whose pair just died of old age, naming the seller.
fn log_newly_dead(dead: &[Pair]) {
    for token in dead {
        tracing::warn!(
            token_id = token.id.get(),
            app = %token.app,
            platform = %token.platform,
            seller_id = token.identity.primary_id().unwrap_or("-"),
            seller = token.identity.display_name(),
            "refresh token expired: the seller must authorize again"
        );
    }
}

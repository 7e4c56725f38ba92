//! Keeps stored tokens fresh: renews each access token when a quarter of its lifetime is
//! left, stores the new pair before anything else, and marks pairs that cannot be renewed
//! as needing the seller to authorize again instead of retrying them forever.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::apps::AppId;
use crate::clock::{SharedClock, millis};
use crate::iop::{IopClient, IopError, TokenApi};
use crate::metrics::Metrics;
use crate::random::random_hex;
use crate::store::{SharedStore, StoredToken};

/// Platform answers that mean this refresh token will never work again.
const DEAD_REFRESH_CODES: &[&str] = &["IllegalRefreshToken", "AUTH_TYPE_UNSUPPORTED"];

pub struct Refresher {
    pub app: AppId,
    pub store: SharedStore,
    pub client: Arc<IopClient>,
    pub metrics: Metrics,
    pub clock: SharedClock,
    pub interval: Duration,
    /// How long a refresh may take before another process may try the same token: the
    /// lease taken in the store lasts this long.
    pub lease: Duration,
    /// This process, as a lease holder.
    pub holder: String,
}

impl Refresher {
    /// A refresher of `app`'s tokens; its lease outlasts one platform call with margin.
    pub fn new(
        app: AppId,
        store: SharedStore,
        client: Arc<IopClient>,
        metrics: Metrics,
        clock: SharedClock,
        interval: Duration,
        call_timeout: Duration,
    ) -> Self {
        Refresher {
            app,
            store,
            client,
            metrics,
            clock,
            interval,
            lease: call_timeout * 3,
            holder: random_hex::<8>(),
        }
    }
}

/// What one pass did, for tests and the log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pass {
    pub refreshed: usize,
    pub failed: usize,
    pub reauthorize: usize,
}

impl Refresher {
    /// Runs a pass every `interval` until `stop` turns true. A pass in progress finishes
    /// first, so a refreshed pair is always stored.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        tracing::info!(interval = %humantime::format_duration(self.interval), "token refresher started");
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.interval) => {}
                _ = stop.wait_for(|stopped| *stopped) => break,
            }
            self.pass(self.clock.now_ms()).await;
        }
        tracing::info!("token refresher stopped");
    }

    /// One pass over the store at time `now`. Refreshes run one after another, each under
    /// a lease in the store, so there is never more than one refresh in flight per token.
    pub async fn pass(&self, now: i64) -> Pass {
        let mut pass = Pass::default();
        match self.store.mark_dead(now).await {
            Ok(n) => pass.reauthorize += usize::try_from(n).unwrap_or(usize::MAX),
            Err(e) => tracing::error!(error = %e, "could not mark expired tokens"),
        }
        let due = match self.store.due_for_refresh(&self.app, now).await {
            Ok(due) => due,
            Err(e) => {
                tracing::error!(error = %e, "could not list tokens due for refresh");
                return pass;
            }
        };
        for token in due {
            let until = now.saturating_add(millis(self.lease));
            match self
                .store
                .lease_refresh(token.id, &self.holder, until, now)
                .await
            {
                Ok(true) => {}
                // Someone else is refreshing it right now.
                Ok(false) => continue,
                Err(e) => {
                    pass.failed += 1;
                    tracing::error!(token_id = token.id, error = %e, "could not take the refresh lease");
                    continue;
                }
            }
            self.refresh_one(&token, &mut pass).await;
            if let Err(e) = self.store.release_refresh(token.id, &self.holder).await {
                tracing::warn!(token_id = token.id, error = %e, "could not release the refresh lease");
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

    async fn refresh_one(&self, token: &StoredToken, pass: &mut Pass) {
        let Some(refresh_token) = &token.refresh_token else {
            return;
        };
        let result = self
            .metrics
            .platform_call(
                &self.app,
                TokenApi::Refresh,
                self.client.refresh_token(refresh_token),
            )
            .await;
        let now = self.clock.now_ms();
        let saved = match result {
            Ok(response) => self
                .store
                .save_refresh(token, &response, now)
                .await
                .map(|stored| {
                    if stored {
                        pass.refreshed += 1;
                        tracing::info!(token_id = token.id, "token refreshed");
                    } else {
                        tracing::info!(
                            token_id = token.id,
                            "the seller authorized again during the refresh; kept the newer pair"
                        );
                    }
                }),
            Err(IopError::Platform(e)) if DEAD_REFRESH_CODES.contains(&e.code.as_str()) => {
                pass.reauthorize += 1;
                tracing::warn!(token_id = token.id, code = %e.code, "refresh token refused: the seller must authorize again");
                self.store.mark_reauthorize(token.id, now).await
            }
            Err(e) => {
                // Transient (platform busy, network): the next pass tries again.
                pass.failed += 1;
                tracing::warn!(token_id = token.id, error = %e, "refresh failed, will retry");
                Ok(())
            }
        };
        if let Err(e) = saved {
            pass.failed += 1;
            tracing::error!(token_id = token.id, error = %e, "could not store the refresh outcome");
        }
    }
}

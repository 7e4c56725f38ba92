//! Keeps stored tokens fresh: renews each access token when a quarter of its lifetime is
//! left, stores the new pair before anything else, and marks pairs that cannot be renewed
//! as needing the seller to authorize again instead of retrying them forever.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::clock;
use crate::iop::{IopClient, IopError};
use crate::metrics::{Metrics, TokenCall};
use crate::store::TokenStore;

/// Platform answers that mean this refresh token will never work again.
const DEAD_REFRESH_CODES: &[&str] = &["IllegalRefreshToken", "AUTH_TYPE_UNSUPPORTED"];

pub struct Refresher {
    pub store: TokenStore,
    pub client: Arc<IopClient>,
    pub platform: &'static str,
    pub metrics: Metrics,
    pub interval: Duration,
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
            self.pass(clock::now_ms()).await;
        }
        tracing::info!("token refresher stopped");
    }

    /// One pass over the store at time `now`. Refreshes run one after another, so there is
    /// never more than one refresh in flight per token.
    pub async fn pass(&self, now: i64) -> Pass {
        let mut pass = Pass::default();
        match self.store.mark_dead(now).await {
            Ok(n) => pass.reauthorize += usize::try_from(n).unwrap_or(usize::MAX),
            Err(e) => tracing::error!(error = %e, "could not mark expired tokens"),
        }
        let due = match self
            .store
            .due_for_refresh(self.platform, self.client.app_key(), now)
            .await
        {
            Ok(due) => due,
            Err(e) => {
                tracing::error!(error = %e, "could not list tokens due for refresh");
                return pass;
            }
        };
        for token in due {
            let Some(refresh_token) = &token.refresh_token else {
                continue;
            };
            let result = self
                .metrics
                .platform_call(TokenCall::Refresh, self.client.refresh_token(refresh_token))
                .await;
            let saved = match result {
                Ok(response) => self
                    .store
                    .save_refresh(token.id, &response, clock::now_ms())
                    .await
                    .map(|()| {
                        pass.refreshed += 1;
                        tracing::info!(token_id = token.id, "token refreshed");
                    }),
                Err(IopError::Platform(e)) if DEAD_REFRESH_CODES.contains(&e.code.as_str()) => {
                    pass.reauthorize += 1;
                    tracing::warn!(token_id = token.id, code = %e.code, "refresh token refused: the seller must authorize again");
                    self.store.mark_reauthorize(token.id, clock::now_ms()).await
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

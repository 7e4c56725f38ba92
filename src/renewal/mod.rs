//! Hands out current tokens. The token API, the CLI and the refresher all renew a pair
//! through `Tokens::refresh`, so there is one refresh in flight per token: within this
//! process by a lock per token, across processes by a lease in the store.

mod lookup;
pub mod owners;
mod recent;
pub mod refresher;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use crate::apps::AppId;
use crate::clock::{EpochMs, SharedClock, millis};
use crate::iop::business::ban;
use crate::iop::{IopError, TokenApi};
use crate::lock::lock;
use crate::metrics::Metrics;
use crate::random::random_hex;
use crate::runtime::Apps;
use crate::store::{SharedStore, StoreError};
use crate::tokens::{Pair, RefreshBefore, StoredToken, TokenId, TokenStatus, backoff};

pub use lookup::{SellerLookup, find_seller, pick_seller};

/// Platform answers that mean this refresh token will never work again.
const DEAD_REFRESH_CODES: &[&str] = &["IllegalRefreshToken", "AUTH_TYPE_UNSUPPORTED"];

/// How often a process waiting for another one's refresh looks at the store again.
const LEASE_POLL: Duration = Duration::from_millis(200);

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("no such seller")]
    NotFound,
    #[error("the seller must authorize again")]
    Reauthorize,
    #[error(transparent)]
    Platform(#[from] IopError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("another process is refreshing this token and has not finished")]
    Busy,
    #[error("the token's app `{0}` is not configured here")]
    UnknownApp(AppId),
    /// The last refresh failed and its backoff still runs: the platform is not asked again
    /// before `retry_after` (its ban included), whoever asks.
    #[error("the last refresh failed ({error}); the next try is not before {}", crate::clock::format_rfc3339(*.retry_after))]
    Backoff {
        code: Option<String>,
        error: String,
        retry_after: i64,
    },
}

impl TokenError {
    /// The failure recorded on `pair`, while its backoff runs.
    fn backoff(pair: &Pair) -> Self {
        TokenError::Backoff {
            code: pair.last_error_code.clone(),
            error: pair
                .last_error
                .clone()
                .unwrap_or_else(|| "the refresh failed".to_owned()),
            retry_after: pair.retry_after.unwrap_or_default(),
        }
    }
}

/// What a refresh this call waited for (this process's, or another replica's) left since
/// `seen` was read.
enum Since {
    /// Nothing: the pair is as it was.
    Unchanged(StoredToken),
    /// A renewed pair, or a failure whose backoff runs: this call's answer too.
    Landed(Result<StoredToken, TokenError>),
}

fn since(seen: &Pair, current: StoredToken, now: i64) -> Since {
    if current.updated_at != seen.updated_at {
        Since::Landed(Ok(current))
    } else if current.retry_after != seen.retry_after && current.backing_off(now).is_some() {
        Since::Landed(Err(TokenError::backoff(&current)))
    } else {
        Since::Unchanged(current)
    }
}

pub struct Tokens {
    store: SharedStore,
    /// Every app served: the client that renews each app's pairs.
    apps: Arc<Apps>,
    metrics: Metrics,
    clock: SharedClock,
    policy: RefreshBefore,
    /// How long a refresh lease lasts: a crashed holder's is taken over after this.
    lease: Duration,
    /// This process, as a lease holder.
    holder: String,
    /// One lock per token being refreshed here; entries go when nobody waits.
    flights: Mutex<HashMap<TokenId, Arc<tokio::sync::Mutex<()>>>>,
    /// Woken whenever a pair is stored, refreshed or deleted here: the refresher replans.
    changed: Notify,
    /// What changed since the refresher last asked (`take_changes`).
    rescan: AtomicBool,
    authorized_due: AtomicI64,
    /// The pairs each seller id named a moment ago, for the signing proxy.
    recent: recent::RecentSellers,
}

/// What changed since the refresher last asked.
#[derive(Debug, PartialEq, Eq)]
pub struct Changes {
    /// Something only the store can tell about: the refresher reads its plan again.
    pub rescan: bool,
    /// The earliest due time of pairs authorized here meanwhile: the plan moves to it
    /// without reading the store.
    pub earliest_due: Option<i64>,
}

impl Tokens {
    pub fn new(
        store: SharedStore,
        apps: Arc<Apps>,
        metrics: Metrics,
        clock: SharedClock,
        policy: RefreshBefore,
        call_timeout: Duration,
    ) -> Self {
        Tokens {
            store,
            apps,
            metrics,
            clock,
            policy,
            // One platform call with margin.
            lease: call_timeout * 3,
            holder: random_hex::<8>(),
            flights: Mutex::default(),
            changed: Notify::new(),
            rescan: AtomicBool::new(false),
            authorized_due: AtomicI64::new(i64::MAX),
            recent: recent::RecentSellers::default(),
        }
    }

    pub fn store(&self) -> &SharedStore {
        &self.store
    }

    pub fn apps(&self) -> &Arc<Apps> {
        &self.apps
    }

    pub fn policy(&self) -> RefreshBefore {
        self.policy
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Tells the refresher that what is due may have changed.
    /// Every pair `seller` names, as read at most a second ago: for business calls, which
    /// recover from a token renewed elsewhere meanwhile (`recent` says why that is safe).
    pub async fn find_recent(&self, seller: &str) -> Result<Vec<StoredToken>, StoreError> {
        self.recent.find(&self.store, seller).await
    }

    /// Tells this process that pair `id` was deleted here.
    pub fn deleted(&self, id: TokenId) {
        self.recent.forget(id);
        self.changed();
    }

    pub fn changed(&self) {
        self.rescan.store(true, Ordering::Relaxed);
        self.changed.notify_one();
    }

    /// Tells the refresher about a pair just authorized at `issued_at`. Its due time is
    /// known here, so the refresher plans around it without reading the store: under a
    /// stream of authorizations a read of every pair each second added up.
    pub fn authorized(&self, issued_at: i64, access_expires_at: Option<i64>) {
        // Without an expiry the pair is never refreshed: nothing to plan.
        if let Some(expires_at) = access_expires_at {
            let due = self.policy.due_at(issued_at, expires_at);
            self.authorized_due.fetch_min(due, Ordering::Relaxed);
            self.changed.notify_one();
        }
    }

    /// What changed since the last call, for the refresher's plan.
    pub fn take_changes(&self) -> Changes {
        let due = self.authorized_due.swap(i64::MAX, Ordering::Relaxed);
        Changes {
            rescan: self.rescan.swap(false, Ordering::Relaxed),
            earliest_due: (due != i64::MAX).then_some(due),
        }
    }

    /// Completes at the next `changed()` (or at once if one came since the last wait).
    pub async fn wait_for_change(&self) {
        self.changed.notified().await;
    }

    /// Whether `token` should be renewed before it is handed out at `now`.
    pub fn needs_refresh(&self, token: &StoredToken, now: i64) -> bool {
        let Some(expires) = token.access_expires_at else {
            return false;
        };
        token.status == TokenStatus::Active
            && token.refreshable
            && token.refresh_token.is_some()
            && (expires <= now || self.policy.due_at(token.issued_at, expires) <= now)
    }

    /// The pair with a working access token: renewed first when it is due or expired, so
    /// a caller never gets a token that could have been renewed. A pair whose access token
    /// is still valid is handed out even if its renewal failed just now.
    pub async fn current(&self, token: StoredToken) -> Result<StoredToken, TokenError> {
        let now = self.now_ms();
        if token.status == TokenStatus::Reauthorize {
            // Only the seller can renew it, but its access token works until it expires:
            // hand it out (its status says `reauthorize`) rather than cut the seller off.
            return if token.access_valid(now) {
                Ok(token)
            } else {
                Err(TokenError::Reauthorize)
            };
        }
        if !self.needs_refresh(&token, now) {
            return if token.access_expires_at.is_some_and(|at| at <= now) {
                // Expired and not renewable: only the seller can fix this.
                Err(TokenError::Reauthorize)
            } else {
                Ok(token)
            };
        }
        let still_valid = token.access_expires_at.is_some_and(|at| at > now);
        if token.backing_off(now).is_some() {
            // The last refresh failed and its backoff runs: answer from that failure.
            return if still_valid {
                Ok(token)
            } else {
                Err(TokenError::backoff(&token))
            };
        }
        // Boxed: renewing is the cold path, and its future would make every caller's (a
        // proxied call's, moved on each await) several KB larger.
        match Box::pin(self.refresh(&token, false)).await {
            Err(TokenError::Platform(_) | TokenError::Busy | TokenError::Backoff { .. })
                if still_valid =>
            {
                Ok(token)
            }
            // The refresh token just died: the pair as now stored says so.
            Err(TokenError::Reauthorize) if still_valid => Box::pin(self.load(token.id)).await,
            other => other,
        }
    }

    /// Renews the pair now, whether it is due or not (unless someone renewed it while this
    /// call waited for its turn).
    pub async fn refresh_now(&self, token: &StoredToken) -> Result<StoredToken, TokenError> {
        self.refresh(token, true).await
    }

    /// Renews `seen` if it still needs it (`force`: in any case) once this call has the
    /// token's turn. Returns the pair as stored afterwards.
    pub async fn refresh(
        &self,
        seen: &StoredToken,
        force: bool,
    ) -> Result<StoredToken, TokenError> {
        let flight = self.flight(seen.id);
        let result = {
            let _turn = flight.lock().await;
            self.refresh_in_turn(seen, force).await
        };
        self.land(seen.id, flight);
        result
    }

    async fn refresh_in_turn(
        &self,
        seen: &StoredToken,
        force: bool,
    ) -> Result<StoredToken, TokenError> {
        let now = self.now_ms();
        // Renewed, or failed, by whoever had the turn before us: that is our answer too.
        let token = match since(seen, self.load(seen.id).await?, now) {
            Since::Unchanged(token) => token,
            Since::Landed(outcome) => return outcome,
        };
        if token.status == TokenStatus::Reauthorize {
            return Err(TokenError::Reauthorize);
        }
        if !force && token.backing_off(now).is_some() {
            return Err(TokenError::backoff(&token));
        }
        if !force && !self.needs_refresh(&token, now) {
            return Ok(token);
        }
        let Some(refresh_token) = token.refresh_token.clone().filter(|_| token.refreshable) else {
            return Err(TokenError::Reauthorize);
        };
        let client = &self
            .apps
            .get(&token.app)
            .ok_or_else(|| TokenError::UnknownApp(token.app.clone()))?
            .client;
        if !self.take_lease(&token).await? {
            // Another process refreshed it (or failed to) while we waited for its lease.
            return match since(&token, self.load(token.id).await?, self.now_ms()) {
                Since::Landed(outcome) => outcome,
                Since::Unchanged(unchanged) => Ok(unchanged),
            };
        }
        let result = self
            .metrics
            .platform_call(
                &token.app,
                TokenApi::Refresh,
                client.refresh_token(&refresh_token),
            )
            .await;
        let stored = self.store_outcome(&token, result).await;
        if let Err(e) = self.store.release_refresh(token.id, &self.holder).await {
            tracing::warn!(token_id = token.id.get(), error = %e, "could not release the refresh lease");
        }
        self.recent.forget(token.id);
        self.changed();
        stored
    }

    /// Takes the token's lease in the store. When another process holds it, waits for
    /// that refresh to land (true: ours to do; false: the row changed since `token` was
    /// read, so whatever renewal it needed has landed).
    async fn take_lease(&self, token: &StoredToken) -> Result<bool, TokenError> {
        let deadline = tokio::time::Instant::now() + self.lease + LEASE_POLL;
        loop {
            let now = self.now_ms();
            let until = now.saturating_add(millis(self.lease));
            if self
                .store
                .lease_refresh(token, &self.holder, EpochMs::new(until), EpochMs::new(now))
                .await?
            {
                return Ok(true);
            }
            let current = self.load(token.id).await?;
            if current.updated_at != token.updated_at || current.retry_after != token.retry_after {
                return Ok(false);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(TokenError::Busy);
            }
            tokio::time::sleep(LEASE_POLL).await;
        }
    }

    async fn store_outcome(
        &self,
        token: &StoredToken,
        result: Result<crate::iop::TokenResponse, IopError>,
    ) -> Result<StoredToken, TokenError> {
        let now = self.now_ms();
        let seller = token.identity.display_name();
        let seller_id = token.identity.primary_id().unwrap_or("-");
        match result {
            Ok(response) => {
                if self
                    .store
                    .save_refresh(token, &response, EpochMs::new(now))
                    .await?
                {
                    tracing::info!(token_id = token.id.get(), app = %token.app, platform = %token.platform, seller_id, seller, "token refreshed");
                } else {
                    tracing::info!(
                        token_id = token.id.get(),
                        seller_id,
                        "the seller authorized again during the refresh; kept the newer pair"
                    );
                }
                self.load(token.id).await
            }
            Err(IopError::Platform(e)) if DEAD_REFRESH_CODES.contains(&e.code.as_str()) => {
                let why = format!("{}: {}", e.code, e.message.as_deref().unwrap_or("refused"));
                self.store
                    .mark_reauthorize(token.id, &why, EpochMs::new(now))
                    .await?;
                tracing::warn!(token_id = token.id.get(), app = %token.app, platform = %token.platform, seller_id, seller, code = %e.code, "refresh token refused: the seller must authorize again");
                Err(TokenError::Reauthorize)
            }
            Err(error) => {
                let failures = u32::try_from(token.consecutive_failures + 1).unwrap_or(u32::MAX);
                let mut wait = backoff(failures, rand::random::<f64>());
                if let IopError::Platform(e) = &error
                    && let Some(banned) = e.message.as_deref().and_then(ban)
                {
                    wait = wait.max(banned);
                }
                let retry_after = now.saturating_add(millis(wait));
                let code = match &error {
                    IopError::Platform(e) => Some(e.code.as_str()),
                    _ => None,
                };
                self.store
                    .record_refresh_failure(
                        token.id,
                        &describe(&error),
                        code,
                        EpochMs::new(retry_after),
                    )
                    .await?;
                tracing::warn!(token_id = token.id.get(), app = %token.app, platform = %token.platform, seller_id, seller, error = %error, failures, retry_in_ms = millis(wait), "refresh failed, will retry");
                Err(TokenError::Platform(error))
            }
        }
    }

    async fn load(&self, id: TokenId) -> Result<StoredToken, TokenError> {
        self.store.token(id).await?.ok_or(TokenError::NotFound)
    }

    fn flight(&self, id: TokenId) -> Arc<tokio::sync::Mutex<()>> {
        lock(&self.flights).entry(id).or_default().clone()
    }

    /// Forgets a token's lock once nobody else holds or waits for it.
    fn land(&self, id: TokenId, flight: Arc<tokio::sync::Mutex<()>>) {
        let mut flights = lock(&self.flights);
        // Clones are made only under this lock: two means the map's and ours.
        if Arc::strong_count(&flight) == 2 {
            flights.remove(&id);
        }
    }
}

/// A failure in words for operators (the API's and the CLI's `last_error`).
pub fn describe(error: &IopError) -> String {
    match error {
        IopError::Platform(e) => match &e.message {
            Some(message) => format!("{}: {message}", e.code),
            None => e.code.clone(),
        },
        other => other.to_string(),
    }
}

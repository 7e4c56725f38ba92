//! Which connections are idle: a connection's requests in flight, and since when it has
//! had none, kept by a wrapper around the connection's service.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// One connection's activity, shared by its service (which counts requests) and its task
/// (which closes it once idle long enough).
pub(super) struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `opened` when the last request ended (or the connection opened).
    idle_since_ms: AtomicU64,
}

impl Activity {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Activity {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
        })
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub(super) fn is_busy(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) > 0
    }

    /// Returns once the connection has had no request in flight for `limit`.
    pub(super) async fn idle_for(&self, limit: Duration) {
        let limit_ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
        loop {
            let wait_ms = if self.is_busy() {
                limit_ms
            } else {
                let idle_ms = self
                    .elapsed_ms()
                    .saturating_sub(self.idle_since_ms.load(Ordering::Acquire));
                if idle_ms >= limit_ms {
                    return;
                }
                limit_ms - idle_ms
            };
            tokio::time::sleep(Duration::from_millis(wait_ms.max(1))).await;
        }
    }

    fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }
}

/// A request in flight; when it ends (answered, failed or dropped) the connection may idle.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0
            .idle_since_ms
            .store(self.0.elapsed_ms(), Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A connection's service that counts its requests in `activity`.
pub(super) struct Tracked<S> {
    pub(super) inner: S,
    pub(super) activity: Arc<Activity>,
}

impl<S, R> hyper::service::Service<R> for Tracked<S>
where
    S: hyper::service::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn call(&self, request: R) -> Self::Future {
        let in_flight = self.activity.request_started();
        let answer = self.inner.call(request);
        Box::pin(async move {
            let answered = answer.await;
            drop(in_flight);
            answered
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_connection_is_idle_only_after_its_last_request_and_the_limit() {
        let activity = Activity::new();
        let request = activity.request_started();
        let limit = Duration::from_secs(10);
        let idle = tokio::time::timeout(Duration::from_secs(30), activity.idle_for(limit));
        assert!(idle.await.is_err(), "busy for 30 s is never idle");
        tokio::time::advance(Duration::from_secs(1)).await;
        drop(request);
        let started = tokio::time::Instant::now();
        activity.idle_for(limit).await;
        assert!(started.elapsed() >= limit, "{:?}", started.elapsed());
    }
}

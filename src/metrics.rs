//! Prometheus metrics, served on their own listener (IOP_METRICS_LISTEN) so that the public
//! callback port never exposes them.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::iop::IopError;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiLabels {
    api: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: &'static str,
}

/// Every metric of the service. Cheap to clone; all clones count into one registry.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Mutex<Registry>>,
    authorizations_started: Counter,
    exchanges: Family<OutcomeLabels, Counter>,
    refreshes: Family<OutcomeLabels, Counter>,
    platform_latency: Family<ApiLabels, Histogram>,
    http_requests: Family<HttpLabels, Counter>,
    tokens: Family<StatusLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("iop_callback");
        let authorizations_started = Counter::default();
        let exchanges = Family::default();
        let refreshes = Family::default();
        // 5 ms to ~20 s: platform calls are usually 50-500 ms, timeouts default to 10 s.
        let platform_latency = Family::<ApiLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 13))
        });
        let http_requests = Family::default();
        let tokens = Family::default();
        registry.register(
            "authorizations_started",
            "Authorizations started (GET /authorize)",
            authorizations_started.clone(),
        );
        registry.register(
            "token_exchanges",
            "Code exchanges by outcome",
            exchanges.clone(),
        );
        registry.register(
            "token_refreshes",
            "Token refreshes by outcome",
            refreshes.clone(),
        );
        registry.register(
            "platform_call_duration_seconds",
            "Latency of token API calls",
            platform_latency.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            http_requests.clone(),
        );
        registry.register("tokens", "Stored tokens by status", tokens.clone());
        Metrics {
            registry: Arc::new(Mutex::new(registry)),
            authorizations_started,
            exchanges,
            refreshes,
            platform_latency,
            http_requests,
            tokens,
        }
    }
}

/// Which token API a platform call went to.
#[derive(Clone, Copy, Debug)]
pub enum TokenCall {
    Create,
    Refresh,
}

/// A short, stable label for how a platform call ended.
fn outcome<T>(result: &Result<T, IopError>) -> &'static str {
    match result {
        Ok(_) => "success",
        Err(IopError::Platform(_)) => "platform_error",
        Err(IopError::HttpStatus { .. }) => "http_status",
        Err(IopError::InvalidBody(_)) => "invalid_body",
        Err(IopError::Timeout(_)) => "timeout",
        Err(IopError::Connect(_)) => "connect",
        Err(IopError::Transport(_)) => "transport",
    }
}

impl Metrics {
    pub fn authorization_started(&self) {
        self.authorizations_started.inc();
    }

    /// Runs one token API call, counting its outcome and timing it. Callers get the call's
    /// result unchanged.
    pub async fn platform_call<T>(
        &self,
        api: TokenCall,
        call: impl Future<Output = Result<T, IopError>>,
    ) -> Result<T, IopError> {
        let started = Instant::now();
        let result = call.await;
        self.record_platform_call(api, outcome(&result), started.elapsed());
        result
    }

    fn record_platform_call(&self, api: TokenCall, outcome: &'static str, took: Duration) {
        let (by_outcome, label) = match api {
            TokenCall::Create => (&self.exchanges, "create"),
            TokenCall::Refresh => (&self.refreshes, "refresh"),
        };
        by_outcome.get_or_create(&OutcomeLabels { outcome }).inc();
        self.platform_latency
            .get_or_create(&ApiLabels { api: label })
            .observe(took.as_secs_f64());
    }

    pub fn http_request(&self, route: &str, status: u16) {
        self.http_requests
            .get_or_create(&HttpLabels {
                route: route.to_owned(),
                status,
            })
            .inc();
    }

    /// Sets the token gauges; called at scrape time with fresh counts from the store.
    pub fn set_tokens(&self, counts: &[(&'static str, i64)]) {
        for (status, count) in counts {
            self.tokens
                .get_or_create(&StatusLabels { status })
                .set(*count);
        }
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self
            .registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_show_up_in_the_exposition() {
        let metrics = Metrics::default();
        metrics.authorization_started();
        metrics.record_platform_call(TokenCall::Create, "success", Duration::from_millis(40));
        metrics.record_platform_call(TokenCall::Create, "timeout", Duration::from_secs(10));
        metrics.http_request("/callback", 303);
        metrics.set_tokens(&[("active", 3), ("reauthorize", 1)]);
        let text = metrics.encode();
        assert!(
            text.contains("iop_callback_authorizations_started_total 1"),
            "{text}"
        );
        assert!(
            text.contains(r#"iop_callback_token_exchanges_total{outcome="success"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"iop_callback_platform_call_duration_seconds_count{api="create"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"iop_callback_http_requests_total{route="/callback",status="303"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"iop_callback_tokens{status="reauthorize"} 1"#),
            "{text}"
        );
    }
}

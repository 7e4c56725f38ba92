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

use crate::apps::AppId;
use crate::iop::{IopError, TokenApi};
use crate::lock::lock;
use crate::tokens::TokenCounts;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AppLabels {
    app: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    app: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiLabels {
    app: String,
    api: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProxyLabels {
    app: String,
    api: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    route: String,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    app: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PushLabels {
    app: String,
    message_type: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    app: String,
    status: &'static str,
}

/// Every metric of the service. Cheap to clone; all clones count into one registry.
/// One `Arc` around them all: every request clones the handle (each layer holding it as
/// state does), and one shared count is far cheaper than one per family (cloning fifteen
/// of them was a fifth of a plain request's CPU under load).
#[derive(Clone, Default)]
pub struct Metrics(Arc<Families>);

impl std::ops::Deref for Metrics {
    type Target = Families;

    fn deref(&self) -> &Families {
        &self.0
    }
}

pub struct Families {
    registry: Mutex<Registry>,
    authorizations_started: Family<AppLabels, Counter>,
    exchanges: Family<OutcomeLabels, Counter>,
    refreshes: Family<OutcomeLabels, Counter>,
    platform_latency: Family<ApiLabels, Histogram>,
    http_requests: Family<HttpLabels, Counter>,
    callbacks_refused: Family<ReasonLabels, Counter>,
    requests_refused: Family<RefusalLabels, Counter>,
    tokens_unsaved: Family<AppLabels, Counter>,
    tokens: Family<StatusLabels, Gauge>,
    tokens_unrefreshable: Gauge,
    proxy_calls: Family<ProxyLabels, Counter>,
    proxy_latency: Family<AppLabels, Histogram>,
    pushes: Family<PushLabels, Counter>,
    deliveries: Family<DeliveryLabels, Counter>,
    oldest_undelivered: Gauge,
    /// The API names seen as labels so far: a keyed caller names them, so they are capped.
    proxy_apis: Mutex<std::collections::HashSet<String>>,
}

/// Distinct API names counted by name; past this many, further names count as `other`.
const MAX_PROXY_API_LABELS: usize = 256;

impl Default for Families {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("iop_callback");
        let authorizations_started = Family::default();
        let exchanges = Family::default();
        let refreshes = Family::default();
        // 5 ms to ~20 s: platform calls are usually 50-500 ms, timeouts default to 10 s.
        let platform_latency = Family::<ApiLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 13))
        });
        let http_requests = Family::default();
        let callbacks_refused = Family::default();
        let requests_refused = Family::default();
        let tokens_unsaved = Family::default();
        let tokens = Family::default();
        let proxy_calls = Family::default();
        let tokens_unrefreshable = Gauge::default();
        registry.register(
            "tokens_unrefreshable",
            "Active stored sellers that no configured app can refresh (their app name, platform and app key match none): they lapse when their tokens expire",
            tokens_unrefreshable.clone(),
        );
        let proxy_latency = Family::<AppLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 13))
        });
        registry.register(
            "proxy_calls",
            "Business calls through the signing proxy by app, API and outcome (ok, a code class: stale_token, throttled, busy, error; or transport, timeout, too_large)",
            proxy_calls.clone(),
        );
        registry.register(
            "proxy_call_duration_seconds",
            "Latency of proxied calls, retries and waits included",
            proxy_latency.clone(),
        );
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
        registry.register(
            "callbacks_refused",
            "Callbacks refused before any platform call, by reason (forged or foreign states, limits)",
            callbacks_refused.clone(),
        );
        registry.register(
            "requests_refused",
            "Requests anyone can make that were refused (API off or without a valid key, unknown API routes, forms without their CSRF token), by route and reason",
            requests_refused.clone(),
        );
        registry.register(
            "tokens_unsaved",
            "Exchanges whose tokens the store would not take (shown to the seller's browser instead)",
            tokens_unsaved.clone(),
        );
        registry.register("tokens", "Stored tokens by status", tokens.clone());
        let pushes = Family::default();
        registry.register(
            "pushes",
            "Pushes from the platform by app, message type and outcome (kept, duplicate, bad_signature, not_json, not_stored)",
            pushes.clone(),
        );
        let deliveries = Family::default();
        registry.register(
            "webhook_deliveries",
            "Webhook delivery attempts by app and outcome (delivered, retry, failed: the schedule gave up)",
            deliveries.clone(),
        );
        let oldest_undelivered = Gauge::default();
        registry.register(
            "oldest_undelivered_event_age_seconds",
            "How long the oldest event still waiting for a webhook delivery has waited (0 when none waits)",
            oldest_undelivered.clone(),
        );
        Families {
            registry: Mutex::new(registry),
            deliveries,
            oldest_undelivered,
            authorizations_started,
            exchanges,
            refreshes,
            platform_latency,
            http_requests,
            callbacks_refused,
            requests_refused,
            tokens_unsaved,
            tokens_unrefreshable,
            proxy_calls,
            proxy_latency,
            proxy_apis: Mutex::default(),
            tokens,
            pushes,
        }
    }
}

/// A short, stable label for how a platform call ended.
fn outcome<T>(result: &Result<T, IopError>) -> &'static str {
    match result {
        Ok(_) => "success",
        Err(e) => e.outcome(),
    }
}

impl Metrics {
    pub fn authorization_started(&self, app: &AppId) {
        self.authorizations_started
            .get_or_create(&AppLabels {
                app: app.as_str().to_owned(),
            })
            .inc();
    }

    /// Runs one token API call of `app`, counting its outcome and timing it. Callers get
    /// the call's result unchanged.
    pub async fn platform_call<T>(
        &self,
        app: &AppId,
        api: TokenApi,
        call: impl Future<Output = Result<T, IopError>>,
    ) -> Result<T, IopError> {
        let started = Instant::now();
        let result = call.await;
        self.record_platform_call(app, api, outcome(&result), started.elapsed());
        result
    }

    fn record_platform_call(
        &self,
        app: &AppId,
        api: TokenApi,
        outcome: &'static str,
        took: Duration,
    ) {
        let by_outcome = match api {
            TokenApi::Create => &self.exchanges,
            TokenApi::Refresh => &self.refreshes,
        };
        let app = app.to_string();
        by_outcome
            .get_or_create(&OutcomeLabels {
                app: app.clone(),
                outcome,
            })
            .inc();
        self.platform_latency
            .get_or_create(&ApiLabels {
                app,
                api: api.label(),
            })
            .observe(took.as_secs_f64());
    }

    /// One proxied call: its app, API name, outcome label and time, retries included.
    pub fn proxy_call(&self, app: &AppId, api: &str, outcome: &'static str, took: Duration) {
        let api = {
            let mut seen = lock(&self.proxy_apis);
            // A name already seen is not allocated again only to be dropped.
            if seen.contains(api)
                || seen.len() < MAX_PROXY_API_LABELS && seen.insert(api.to_owned())
            {
                api.to_owned()
            } else {
                "other".to_owned()
            }
        };
        self.proxy_calls
            .get_or_create(&ProxyLabels {
                app: app.as_str().to_owned(),
                api,
                outcome,
            })
            .inc();
        self.proxy_latency
            .get_or_create(&AppLabels {
                app: app.as_str().to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    /// A push to `app`: its message type (`none` when unsigned or without one; types past
    /// 999 count as `other`, the label being the sender's) and how it ended.
    pub fn push(&self, app: &AppId, message_type: Option<i64>, outcome: &'static str) {
        let message_type = match message_type {
            Some(kind @ 0..=999) => kind.to_string(),
            Some(_) => "other".to_owned(),
            None => "none".to_owned(),
        };
        self.pushes
            .get_or_create(&PushLabels {
                app: app.as_str().to_owned(),
                message_type,
                outcome,
            })
            .inc();
    }

    pub fn delivery(&self, app: &str, outcome: &'static str) {
        self.deliveries
            .get_or_create(&DeliveryLabels {
                app: app.to_owned(),
                outcome,
            })
            .inc();
    }

    pub fn set_oldest_undelivered(&self, seconds: i64) {
        self.oldest_undelivered.set(seconds);
    }

    pub fn set_unrefreshable(&self, sellers: i64) {
        self.tokens_unrefreshable.set(sellers);
    }

    pub fn token_unsaved(&self, app: &AppId) {
        self.tokens_unsaved
            .get_or_create(&AppLabels {
                app: app.as_str().to_owned(),
            })
            .inc();
    }

    pub fn callback_rejected(&self, reason: &'static str) {
        self.callbacks_refused
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    pub fn request_refused(&self, route: &str, reason: &'static str) {
        self.requests_refused
            .get_or_create(&RefusalLabels {
                route: route.to_owned(),
                reason,
            })
            .inc();
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
    pub fn set_tokens(&self, counts: &[TokenCounts]) {
        for count in counts {
            for (status, value) in [
                ("active", count.active),
                ("expired", count.expired),
                ("reauthorize", count.reauthorize),
            ] {
                self.tokens
                    .get_or_create(&StatusLabels {
                        app: count.app.to_string(),
                        status,
                    })
                    .set(value);
            }
        }
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = lock(&self.registry);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_show_up_in_the_exposition_by_app() {
        let metrics = Metrics::default();
        let app = AppId::implicit();
        metrics.authorization_started(&app);
        metrics.record_platform_call(&app, TokenApi::Create, "success", Duration::from_millis(40));
        metrics.record_platform_call(&app, TokenApi::Create, "timeout", Duration::from_secs(10));
        metrics.http_request("/callback", 303);
        metrics.set_tokens(&[TokenCounts {
            app: app.clone(),
            active: 3,
            expired: 0,
            reauthorize: 1,
        }]);
        let text = metrics.encode();
        for line in [
            r#"iop_callback_authorizations_started_total{app="default"} 1"#,
            r#"iop_callback_token_exchanges_total{app="default",outcome="success"} 1"#,
            r#"iop_callback_platform_call_duration_seconds_count{app="default",api="create"} 2"#,
            r#"iop_callback_http_requests_total{route="/callback",status="303"} 1"#,
            r#"iop_callback_tokens{app="default",status="reauthorize"} 1"#,
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }

    #[test]
    fn a_parameter_refused_before_sending_is_not_a_transport_failure() {
        let refused: Result<(), IopError> = Err(IopError::EmptyParameter("refresh_token".into()));
        assert_eq!(outcome(&refused), "not_sent");
    }
}

//! Sends events to the webhook endpoints: one loop per endpoint (a slow or failing one
//! delays only itself), each taking its due deliveries under a lease in the store (so
//! replicas share the work and a process killed mid-delivery leaves them to be taken
//! again), POSTing them signed, and keeping every attempt.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::CONTENT_TYPE;
use tokio::sync::watch;

use super::{payload, schedule, signature};
use crate::clock::{EpochMs, SharedClock};
use crate::config::{Config, WebhookSecret};
use crate::metrics::Metrics;
use crate::random::random_hex;
use crate::store::{AfterAttempt, AttemptRecord, SharedStore, TakenDelivery};

/// How long an endpoint has to answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How long a taken delivery is this process's: its attempt with a wide margin. A process
/// killed mid-attempt delays that delivery by this much.
const LEASE: Duration = Duration::from_secs(30);
/// How many deliveries to one endpoint are sent at once (their attempts are then kept in
/// one write).
const BATCH: i64 = 64;
/// How often the store is looked at for deliveries kept by other replicas (or due by the
/// schedule) when nothing here rang the bell.
const POLL: Duration = Duration::from_secs(1);

/// Rung whenever this process keeps an event, so its delivery starts at once.
#[derive(Clone)]
pub struct Bell(Arc<watch::Sender<u64>>);

impl Default for Bell {
    fn default() -> Self {
        Bell(Arc::new(watch::channel(0).0))
    }
}

impl Bell {
    pub fn ring(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn listen(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}

pub struct Deliverer {
    store: SharedStore,
    clock: SharedClock,
    metrics: Metrics,
    client: reqwest::Client,
    secret: WebhookSecret,
    endpoints: Vec<String>,
    /// Each app's platform, for the payload's `platform`.
    platforms: HashMap<String, &'static str>,
    /// This process, as a lease holder.
    holder: String,
    bell: Bell,
}

impl Deliverer {
    /// The deliverer of `config`'s endpoints, or none when there are none.
    pub fn new(
        config: &Config,
        store: SharedStore,
        clock: SharedClock,
        metrics: Metrics,
        bell: Bell,
    ) -> Result<Option<Self>, reqwest::Error> {
        let endpoints = config.all_webhook_endpoints();
        let Some(secret) = config
            .webhooks
            .secret
            .clone()
            .filter(|_| !endpoints.is_empty())
        else {
            return Ok(None);
        };
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("iop-callback/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Some(Deliverer {
            store,
            clock,
            metrics,
            client,
            secret,
            endpoints,
            platforms: config
                .apps
                .iter()
                .map(|app| (app.id.to_string(), app.platform.as_str()))
                .collect(),
            holder: random_hex::<8>(),
            bell,
        }))
    }

    /// Delivers until `stop`; an attempt under way is finished first.
    pub async fn run(self, stop: watch::Receiver<bool>) {
        let this = Arc::new(self);
        tracing::info!(endpoints = this.endpoints.len(), "webhook delivery started");
        let loops: Vec<_> = this
            .endpoints
            .iter()
            .map(|endpoint| tokio::spawn(this.clone().serve(endpoint.clone(), stop.clone())))
            .collect();
        for task in loops {
            let _ = task.await;
        }
    }

    async fn serve(self: Arc<Self>, endpoint: String, mut stop: watch::Receiver<bool>) {
        let mut bell = self.bell.listen();
        let shown = shown(&endpoint);
        loop {
            if *stop.borrow() {
                break;
            }
            let now = self.clock.now();
            let until = now.plus_ms(i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX));
            match self
                .store
                .take_deliveries(&endpoint, &self.holder, now, until, BATCH)
                .await
            {
                Ok(taken) if !taken.is_empty() => {
                    let mut attempts = tokio::task::JoinSet::new();
                    for delivery in taken {
                        let (this, endpoint) = (self.clone(), endpoint.clone());
                        attempts.spawn(async move { this.attempt(&endpoint, delivery).await });
                    }
                    self.keep(&shown, attempts.join_all().await).await;
                    continue;
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(endpoint = %shown, error = %error, "webhook delivery: cannot read the store");
                }
            }
            let wait = match self.store.next_delivery_at(&endpoint).await {
                Ok(Some(at)) => {
                    Duration::from_millis(u64::try_from(at - self.clock.now_ms()).unwrap_or(0))
                        .clamp(Duration::from_millis(50), POLL)
                }
                _ => POLL,
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = bell.changed() => {}
                _ = stop.wait_for(|stopped| *stopped) => break,
            }
        }
    }

    /// One attempt at one delivery, and what follows it.
    async fn attempt(&self, endpoint: &str, delivery: TakenDelivery) -> Attempted {
        let event = &delivery.event;
        let platform = self.platforms.get(&event.app_id).copied();
        let body = payload(event, platform);
        let now = self.clock.now_ms();
        let timestamp = now.div_euclid(1_000);
        let started = Instant::now();
        let sent = self
            .client
            .post(endpoint)
            .header(CONTENT_TYPE, "application/json")
            .header("webhook-id", &event.uid)
            .header("webhook-timestamp", timestamp.to_string())
            .header(
                "webhook-signature",
                signature::sign(self.secret.key(), &event.uid, timestamp, body.as_bytes()),
            )
            .body(body)
            .send()
            .await;
        let ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let (status, error) = match &sent {
            Ok(response) => (Some(i64::from(response.status().as_u16())), None),
            Err(error) => (None, Some(why(error))),
        };
        let delivered = status.is_some_and(|s| (200..300).contains(&s));
        let after = if delivered {
            AfterAttempt::Delivered
        } else {
            // From the attempt's end: a timeout must not eat the wait after it.
            let ended = self.clock.now_ms();
            schedule::after_failure(
                delivery.attempts + 1,
                event.created_at,
                ended,
                rand::random(),
            )
        };
        Attempted {
            record: AttemptRecord {
                delivery_id: delivery.delivery_id,
                at: now,
                status,
                error,
                ms,
            },
            after,
            attempt: delivery.attempts + 1,
            event_id: delivery.event.uid,
            event_type: delivery.event.kind,
            app: delivery.event.app_id,
        }
    }

    /// Keeps a batch's attempts in one write, then counts and logs each: the lines say
    /// what the store holds. Attempts that cannot be kept are made again once their lease
    /// runs out: at least once.
    async fn keep(&self, shown: &str, attempted: Vec<Attempted>) {
        let records: Vec<(AttemptRecord, AfterAttempt)> = attempted
            .iter()
            .map(|a| (a.record.clone(), a.after))
            .collect();
        if let Err(error) = self.store.record_attempts(&self.holder, &records).await {
            tracing::warn!(endpoint = %shown, attempts = attempted.len(), error = %error, "webhook delivery: attempts could not be kept; they will be made again");
            return;
        }
        for a in &attempted {
            let outcome = match a.after {
                AfterAttempt::Delivered => "delivered",
                AfterAttempt::Retry(_) => "retry",
                AfterAttempt::Failed => "failed",
            };
            self.metrics.delivery(&a.app, outcome);
            tracing::info!(
                event_id = %a.event_id,
                event_type = %a.event_type,
                endpoint = %shown,
                attempt = a.attempt,
                status = a.record.status,
                error = a.record.error.as_deref().unwrap_or("-"),
                ms = a.record.ms,
                outcome,
                "webhook delivery"
            );
        }
    }
}

/// One attempt made, not yet kept.
struct Attempted {
    record: AttemptRecord,
    after: AfterAttempt,
    /// Which attempt it was, counting from 1.
    attempt: i64,
    event_id: String,
    event_type: String,
    app: String,
}

/// An endpoint as the log shows it: scheme, host and port, never a path or query that
/// could carry a credential.
pub fn shown(endpoint: &str) -> String {
    match url::Url::parse(endpoint) {
        Ok(url) => format!(
            "{}://{}{}",
            url.scheme(),
            url.host_str().unwrap_or("?"),
            url.port().map(|p| format!(":{p}")).unwrap_or_default()
        ),
        Err(_) => "(not a URL)".to_owned(),
    }
}

/// Why an endpoint did not answer, in words that name no URL.
fn why(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return format!("no answer within {}", humantime::format_duration(TIMEOUT));
    }
    let mut cause: &dyn std::error::Error = error;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}

/// Records the age of the oldest waiting event at `now` in `metrics`.
pub async fn measure_backlog(store: &SharedStore, metrics: &Metrics, now: EpochMs) {
    match store.oldest_pending_delivery().await {
        Ok(oldest) => {
            metrics.set_oldest_undelivered(oldest.map_or(0, |at| (now.get() - at).max(0) / 1_000))
        }
        Err(error) => tracing::warn!(error = %error, "metrics: cannot read the delivery backlog"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_is_shown_without_path_or_query() {
        assert_eq!(
            shown("https://hooks.example.com:8443/in/abc?token=secret"),
            "https://hooks.example.com:8443"
        );
        assert_eq!(shown("http://10.0.0.5/x"), "http://10.0.0.5");
    }
}

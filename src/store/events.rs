//! Events: the platform's pushes as they arrived, kept once each (a retry of the same body
//! is a duplicate), and the service's own lifecycle events, each with one delivery per
//! webhook endpoint configured when it was kept (`deliveries.rs`), for as long as the
//! retention says.

use sha2::{Digest as _, Sha256};

use super::statement::{Sql, Statement};
use super::{Store, StoreError};
use crate::apps::AppId;
use crate::clock::EpochMs;
use crate::iop::push::{Push, SellerNews};

/// The type of an event that is a platform push.
const PLATFORM_PUSH: &str = "platform.push";

/// Returns the new event's id, or nothing when this app already has this body.
static SAVE_PUSH: Sql = Sql::repeatable(
    "INSERT INTO events (uid, app_id, type, message_type, seller_id, body, digest, created_at)
     VALUES (:uid, :app_id, :type, :message_type, :seller_id, :body, :digest, :now)
     ON CONFLICT (app_id, digest) DO NOTHING RETURNING id",
);

/// One endpoint's delivery of the event this app keeps under this digest, due now; once.
static ADD_DELIVERY: Sql = Sql::repeatable(
    "INSERT INTO deliveries (event_id, endpoint, state, next_at, created_at)
     SELECT id, :endpoint, 'pending', :now, :now FROM events
      WHERE app_id = :app_id AND digest = :digest
     ON CONFLICT (event_id, endpoint) DO NOTHING",
);

/// A seller's pairs of one app by any id it is looked up by (protocol §8 names the seller
/// by its seller id; a Lazada seller's is a country's).
macro_rules! sellers_of_app {
    () => {
        "app_id = :app_id AND id IN (SELECT token_id FROM token_sellers WHERE seller_key = :seller)"
    };
}

static AUTHORIZATION_EXPIRES: Sql = Sql::repeatable(concat!(
    "UPDATE tokens SET authorization_expires_at = :at, next_notice_at = :now WHERE ",
    sellers_of_app!()
));

static SELLER_CLOSED: Sql = Sql::repeatable(concat!(
    "UPDATE tokens SET closed_at = :closed_at, next_notice_at = :now WHERE ",
    sellers_of_app!()
));

static SWEEP_EVENTS: Sql = Sql::repeatable("DELETE FROM events WHERE created_at < :before");

impl Store {
    /// Keeps a push of `app` whose signature held, as received (`body`, valid UTF-8 JSON),
    /// at `now`, to be delivered to `endpoints`; events older than `retention_ms` go.
    /// Returns the event's id, or `None` for a duplicate. Committed when it returns: the
    /// platform may then be told it arrived.
    pub async fn save_push(
        &self,
        app: &AppId,
        push: &Push,
        body: &str,
        now: EpochMs,
        retention_ms: i64,
        endpoints: &[String],
    ) -> Result<Option<i64>, StoreError> {
        let digest: [u8; 32] = Sha256::digest(body.as_bytes()).into();
        let mut write = Vec::with_capacity(2 + endpoints.len());
        write.push(Statement::new(
            &SAVE_PUSH,
            [
                ("uid", new_uid().into()),
                ("app_id", app.as_str().into()),
                ("type", PLATFORM_PUSH.into()),
                ("message_type", push.message_type.into()),
                ("seller_id", push.seller_id.as_deref().into()),
                ("body", body.into()),
                ("digest", (&digest).into()),
                ("now", now.into()),
            ],
        )?);
        write.extend(self.due_sweep(now, retention_ms)?);
        write.extend(deliveries(app, &digest, endpoints, now)?);
        let outcomes = self.db.write(write).await?;
        Ok(outcomes
            .first()
            .and_then(|saved| saved.returned.first().copied()))
    }

    /// Forgets events (and their deliveries) older than `retention_ms`, when a sweep is
    /// due: for deployments where no push arrives to carry it.
    pub async fn sweep_events(&self, now: EpochMs, retention_ms: i64) -> Result<(), StoreError> {
        if let Some(sweep) = self.due_sweep(now, retention_ms)? {
            self.db.write_one(sweep).await?;
        }
        Ok(())
    }

    /// The statement that forgets old events, when a sweep is due at `now`.
    fn due_sweep(&self, now: EpochMs, retention_ms: i64) -> Result<Option<Statement>, StoreError> {
        if !self.sweeps.events.due(now.get()) {
            return Ok(None);
        }
        Statement::new(
            &SWEEP_EVENTS,
            [("before", now.plus_ms(-retention_ms).into())],
        )
        .map(Some)
    }

    /// Keeps what a push says about a seller of `app` (`news`), received at `now`.
    /// Returns how many stored pairs it concerned (none when the seller is not stored).
    pub async fn apply_seller_news(
        &self,
        app: &AppId,
        news: &SellerNews,
        now: EpochMs,
    ) -> Result<u64, StoreError> {
        let statement = match news {
            SellerNews::AuthorizationExpires { seller_id, at_ms } => Statement::new(
                &AUTHORIZATION_EXPIRES,
                [
                    ("at", (*at_ms).into()),
                    ("now", now.into()),
                    ("app_id", app.as_str().into()),
                    ("seller", seller_id.as_str().into()),
                ],
            )?,
            SellerNews::Status { seller_id, closed } => Statement::new(
                &SELLER_CLOSED,
                [
                    ("closed_at", closed.then_some(now.get()).into()),
                    ("now", now.into()),
                    ("app_id", app.as_str().into()),
                    ("seller", seller_id.as_str().into()),
                ],
            )?,
        };
        let done = self.db.write_one(statement).await?;
        self.counts.forget();
        Ok(done.rows_affected)
    }
}

/// An event's public id: what webhooks (`webhook-id`) and the API name it by. Random, so
/// that a new database never reuses one a receiver has seen.
pub(super) fn new_uid() -> String {
    format!("evt_{}", crate::random::random_hex::<12>())
}

/// A delivery to each of `endpoints` of the event `app` keeps under `digest`.
pub(super) fn deliveries(
    app: &AppId,
    digest: &[u8; 32],
    endpoints: &[String],
    now: EpochMs,
) -> Result<Vec<Statement>, StoreError> {
    endpoints
        .iter()
        .map(|endpoint| {
            Statement::new(
                &ADD_DELIVERY,
                [
                    ("endpoint", endpoint.as_str().into()),
                    ("now", now.into()),
                    ("app_id", app.as_str().into()),
                    ("digest", digest.into()),
                ],
            )
        })
        .collect()
}

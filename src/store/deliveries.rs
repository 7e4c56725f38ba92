//! Deliveries of events to webhook endpoints: taking the due ones under a lease (several
//! replicas share the work, and a process killed mid-delivery leaves its lease to run
//! out), recording each attempt, sending again on request, and the events as listed.

use super::statement::{Sql, Statement, Value};
use super::{Store, StoreError};
use crate::clock::EpochMs;

/// An event as kept, with what a webhook or the API shows of it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRecord {
    pub id: i64,
    pub uid: String,
    pub app_id: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub message_type: Option<i64>,
    pub seller_id: Option<String>,
    /// The platform's message as received, or the lifecycle event's data.
    pub body: String,
    pub created_at: i64,
}

/// A delivery taken by this process: its event and how many attempts came before.
#[derive(Debug, Clone)]
pub struct TakenDelivery {
    pub delivery_id: i64,
    pub endpoint: String,
    pub attempts: i64,
    pub event: EventRecord,
}

/// A row of `TAKEN`, in its column order.
fn taken(row: &[Value]) -> Option<TakenDelivery> {
    let int = |i: usize| row.get(i).and_then(Value::int);
    let text = |i: usize| row.get(i).and_then(Value::text);
    Some(TakenDelivery {
        delivery_id: int(0)?,
        endpoint: text(1)?,
        attempts: int(2)?,
        event: EventRecord {
            id: int(3)?,
            uid: text(4)?,
            app_id: text(5)?,
            kind: text(6)?,
            message_type: int(7),
            seller_id: text(8),
            body: text(9)?,
            created_at: int(10)?,
        },
    })
}

/// One endpoint's delivery of an event, as the API shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRecord {
    pub id: i64,
    pub endpoint: String,
    pub state: String,
    pub attempts: i64,
    pub next_at: i64,
    pub done_at: Option<i64>,
}

/// One attempt at a delivery.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttemptRecord {
    pub delivery_id: i64,
    pub at: i64,
    pub status: Option<i64>,
    pub error: Option<String>,
    pub ms: i64,
}

/// How an attempt ended, for the delivery's next state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterAttempt {
    Delivered,
    /// Tried again at this time.
    Retry(i64),
    /// The schedule gave up.
    Failed,
}

macro_rules! event_columns {
    () => {
        "e.id, e.uid, e.app_id, e.type, e.message_type, e.seller_id, e.body, e.created_at"
    };
}

/// Leases up to `:limit` due deliveries of one endpoint. The outer conditions are checked
/// again on each row as it is locked, so two processes never hold one delivery.
static TAKE: Sql = Sql::new(
    "UPDATE deliveries SET lease_until = :until, holder = :holder
      WHERE id IN (SELECT id FROM deliveries
                    WHERE endpoint = :endpoint AND state = 'pending' AND next_at <= :now
                      AND (lease_until IS NULL OR lease_until < :now)
                    ORDER BY next_at LIMIT :limit)
        AND state = 'pending' AND (lease_until IS NULL OR lease_until < :now)",
);

/// What `TAKE` leased, read in the same write (on SQLite a read through the pool waits
/// behind the writer's commits: up to seconds under a stream of pushes), found through the
/// lease's index. The endpoint is compared by the caller: a condition on it here could lead
/// the planner to the endpoint's index, through every pending delivery of a backlog.
static TAKEN: Sql = Sql::new(concat!(
    "SELECT d.id, d.endpoint, d.attempts, ",
    event_columns!(),
    " FROM deliveries d JOIN events e ON e.id = d.event_id
      WHERE d.holder = :holder AND d.lease_until = :until"
));

static ATTEMPTED: Sql = Sql::new(
    "INSERT INTO delivery_attempts (delivery_id, at, status, error, ms)
     SELECT id, :at, :status, :error, :ms FROM deliveries WHERE id = :id AND holder = :holder",
);

static AFTER_ATTEMPT: Sql = Sql::new(
    "UPDATE deliveries SET state = :state, attempts = attempts + 1, next_at = :next_at,
            lease_until = NULL, holder = NULL, done_at = :done_at
      WHERE id = :id AND holder = :holder",
);

static EARLIEST: Sql = Sql::new(
    "SELECT MIN(next_at) FROM deliveries WHERE endpoint = :endpoint AND state = 'pending'",
);

static OLDEST_PENDING: Sql =
    Sql::new("SELECT MIN(created_at) FROM deliveries WHERE state = 'pending'");

static REDELIVER: Sql = Sql::repeatable(
    "UPDATE deliveries SET state = 'pending', next_at = :now, lease_until = NULL,
            holder = NULL, done_at = NULL
      WHERE event_id = :event_id",
);

static ADD_ENDPOINT: Sql = Sql::repeatable(
    "INSERT INTO deliveries (event_id, endpoint, state, next_at, created_at)
     SELECT id, :endpoint, 'pending', :now, :now FROM events WHERE id = :event_id
     ON CONFLICT (event_id, endpoint) DO NOTHING",
);

static EVENT: Sql = Sql::new(concat!(
    "SELECT ",
    event_columns!(),
    " FROM events e WHERE e.uid = :uid"
));

/// Newest first, below the cursor, filtered.
static PAGE: Sql = Sql::new(concat!(
    "SELECT ",
    event_columns!(),
    " FROM events e
      WHERE e.id < :before
        AND (:type IS NULL OR e.type = :type)
        AND (:seller IS NULL OR e.seller_id = :seller)
        AND (:app IS NULL OR e.app_id = :app)
      ORDER BY e.id DESC LIMIT :limit"
));

static DELIVERIES_OF: Sql = Sql::new(
    "SELECT id, endpoint, state, attempts, next_at, done_at FROM deliveries
      WHERE event_id = :event_id ORDER BY id",
);

static ATTEMPTS_OF: Sql = Sql::new(
    "SELECT a.delivery_id, a.at, a.status, a.error, a.ms FROM delivery_attempts a
       JOIN deliveries d ON d.id = a.delivery_id
      WHERE d.event_id = :event_id ORDER BY a.id",
);

/// How many deliveries of each event in an id range are in each state.
static STATES: Sql = Sql::new(
    "SELECT event_id, state, COUNT(*) AS n FROM deliveries
      WHERE event_id BETWEEN :low AND :high GROUP BY event_id, state",
);

static FAILED: Sql = Sql::new(concat!(
    "SELECT ",
    event_columns!(),
    " FROM events e WHERE e.id IN (SELECT event_id FROM deliveries WHERE state = 'failed')
      ORDER BY e.id DESC LIMIT :limit"
));

/// Filters of the event list; `None` is any.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub kind: Option<String>,
    pub seller: Option<String>,
    pub app: Option<String>,
}

impl Store {
    /// Leases up to `limit` deliveries to `endpoint` due at `now` for `holder` until
    /// `until`, and returns them with their events.
    pub async fn take_deliveries(
        &self,
        endpoint: &str,
        holder: &str,
        now: EpochMs,
        until: EpochMs,
        limit: i64,
    ) -> Result<Vec<TakenDelivery>, StoreError> {
        let lease = [("holder", holder.into()), ("until", until.into())];
        let outcomes = self
            .db
            .write(vec![
                Statement::new(
                    &TAKE,
                    [
                        ("until", until.into()),
                        ("holder", holder.into()),
                        ("endpoint", endpoint.into()),
                        ("now", now.into()),
                        ("limit", limit.into()),
                    ],
                )?,
                Statement::new(&TAKEN, lease)?,
            ])
            .await?;
        let rows = outcomes
            .into_iter()
            .nth(1)
            .map(|o| o.rows)
            .unwrap_or_default();
        // Another endpoint's loop of this process may have leased in the same millisecond:
        // only this endpoint's.
        Ok(rows
            .iter()
            .filter_map(|row| taken(row))
            .filter(|t| t.endpoint == endpoint)
            .collect())
    }

    /// Keeps attempts at deliveries `holder` leased, and what comes next for each, in one
    /// write. A delivery whose lease was lost meanwhile (another process took it over) is
    /// left as that process has it.
    pub async fn record_attempts(
        &self,
        holder: &str,
        attempts: &[(AttemptRecord, AfterAttempt)],
    ) -> Result<(), StoreError> {
        let mut write = Vec::with_capacity(attempts.len() * 2);
        for (attempt, after) in attempts {
            let (state, next_at, done_at) = match after {
                AfterAttempt::Delivered => ("delivered", attempt.at, Some(attempt.at)),
                AfterAttempt::Retry(at) => ("pending", *at, None),
                AfterAttempt::Failed => ("failed", attempt.at, Some(attempt.at)),
            };
            write.push(Statement::new(
                &ATTEMPTED,
                [
                    ("at", attempt.at.into()),
                    ("status", attempt.status.into()),
                    ("error", attempt.error.as_deref().into()),
                    ("ms", attempt.ms.into()),
                    ("id", attempt.delivery_id.into()),
                    ("holder", holder.into()),
                ],
            )?);
            write.push(Statement::new(
                &AFTER_ATTEMPT,
                [
                    ("state", state.into()),
                    ("next_at", next_at.into()),
                    ("done_at", done_at.into()),
                    ("id", attempt.delivery_id.into()),
                    ("holder", holder.into()),
                ],
            )?);
        }
        if !write.is_empty() {
            self.db.write(write).await?;
        }
        Ok(())
    }

    /// When the next delivery to `endpoint` falls due, if any is pending.
    pub async fn next_delivery_at(&self, endpoint: &str) -> Result<Option<i64>, StoreError> {
        let (at,): (Option<i64>,) = self
            .db
            .fetch_one(Statement::new(&EARLIEST, [("endpoint", endpoint.into())])?)
            .await?;
        Ok(at)
    }

    /// When the oldest event still waiting for a delivery was kept.
    pub async fn oldest_pending_delivery(&self) -> Result<Option<i64>, StoreError> {
        let (at,): (Option<i64>,) = self
            .db
            .fetch_one(Statement::new(&OLDEST_PENDING, [])?)
            .await?;
        Ok(at)
    }

    /// The event `uid` names, if it is still kept.
    pub async fn event(&self, uid: &str) -> Result<Option<EventRecord>, StoreError> {
        self.db
            .fetch_optional(Statement::new(&EVENT, [("uid", uid.into())])?)
            .await
    }

    /// Up to `limit` events, newest first, older than the event id `before`.
    pub async fn page_events(
        &self,
        filter: &EventFilter,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<EventRecord>, StoreError> {
        self.db
            .fetch_all(Statement::new(
                &PAGE,
                [
                    ("before", before.unwrap_or(i64::MAX).into()),
                    ("type", filter.kind.as_deref().into()),
                    ("seller", filter.seller.as_deref().into()),
                    ("app", filter.app.as_deref().into()),
                    ("limit", limit.into()),
                ],
            )?)
            .await
    }

    /// The newest events with a delivery that failed for good.
    pub async fn failed_events(&self, limit: i64) -> Result<Vec<EventRecord>, StoreError> {
        self.db
            .fetch_all(Statement::new(&FAILED, [("limit", limit.into())])?)
            .await
    }

    /// For events with ids from `low` to `high`: (event id, state, how many deliveries).
    pub async fn delivery_states(
        &self,
        low: i64,
        high: i64,
    ) -> Result<Vec<(i64, String, i64)>, StoreError> {
        self.db
            .fetch_all(Statement::new(
                &STATES,
                [("low", low.into()), ("high", high.into())],
            )?)
            .await
    }

    /// An event's deliveries and every attempt at them.
    pub async fn deliveries_of(
        &self,
        event_id: i64,
    ) -> Result<(Vec<DeliveryRecord>, Vec<AttemptRecord>), StoreError> {
        let deliveries = self
            .db
            .fetch_all(Statement::new(
                &DELIVERIES_OF,
                [("event_id", event_id.into())],
            )?)
            .await?;
        let attempts = self
            .db
            .fetch_all(Statement::new(
                &ATTEMPTS_OF,
                [("event_id", event_id.into())],
            )?)
            .await?;
        Ok((deliveries, attempts))
    }

    /// Sends event `event_id` again to each of `endpoints` (today's, so an endpoint added
    /// since is included) and to those it had, now. Returns how many deliveries are due.
    pub async fn redeliver(
        &self,
        event_id: i64,
        endpoints: &[String],
        now: EpochMs,
    ) -> Result<u64, StoreError> {
        let mut write = Vec::with_capacity(endpoints.len() + 1);
        for endpoint in endpoints {
            write.push(Statement::new(
                &ADD_ENDPOINT,
                [
                    ("endpoint", endpoint.as_str().into()),
                    ("now", now.into()),
                    ("event_id", event_id.into()),
                ],
            )?);
        }
        write.push(Statement::new(
            &REDELIVER,
            [("now", now.into()), ("event_id", event_id.into())],
        )?);
        let outcomes = self.db.write(write).await?;
        Ok(outcomes.last().map_or(0, |o| o.rows_affected))
    }
}

//! The lifecycle announcements due on sellers' pairs (`tokens.notices`, `next_notice_at`):
//! which pairs have something to announce, and keeping what was announced together with
//! its events, so that each announcement is made once however many replicas look.

use sha2::{Digest as _, Sha256};

use super::events::{deliveries, new_uid};
use super::statement::{Sql, Statement};
use super::{Store, StoreError};
use crate::apps::AppId;
use crate::clock::EpochMs;

/// A pair with something to announce, as the announcer needs it (no token).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NoticeDue {
    pub id: i64,
    pub app_id: String,
    pub platform: String,
    pub identity: String,
    pub status: String,
    pub notices: i64,
    pub next_notice_at: Option<i64>,
    pub refresh_expires_at: Option<i64>,
    pub authorization_expires_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub authorized_at: Option<i64>,
}

/// An event to keep with an announcement: its type, what makes it once (with the app), the
/// seller it is about and its data (JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub kind: &'static str,
    pub once: String,
    pub seller_id: Option<String>,
    pub data: String,
}

static DUE: Sql = Sql::new(
    "SELECT id, app_id, platform, identity, status, notices, next_notice_at,
            refresh_expires_at, authorization_expires_at, closed_at, authorized_at
       FROM tokens WHERE next_notice_at <= :now ORDER BY next_notice_at LIMIT :limit",
);

/// What was announced, unless the pair changed since it was read (a new authorization, a
/// renewal, a push): then it is read again on the next pass.
static ANNOUNCED: Sql = Sql::repeatable(
    "UPDATE tokens SET notices = :notices, next_notice_at = :next
      WHERE id = :id AND notices = :seen_notices AND next_notice_at = :seen_next",
);

/// An announcement's event, kept only when the pair says it was announced (by this write,
/// or by a replica's just before), and once per app and digest.
static SAVE_NOTICE: Sql = Sql::repeatable(
    "INSERT INTO events (uid, app_id, type, seller_id, body, digest, created_at)
     SELECT :uid, :app_id, :type, :seller_id, :body, :digest, :now
      WHERE EXISTS (SELECT 1 FROM tokens WHERE id = :id AND notices = :notices)
     ON CONFLICT (app_id, digest) DO NOTHING",
);

impl Store {
    /// Pairs whose next announcement is due at `now`, most overdue first.
    pub async fn notices_due(
        &self,
        now: EpochMs,
        limit: i64,
    ) -> Result<Vec<NoticeDue>, StoreError> {
        self.db
            .fetch_all(Statement::new(
                &DUE,
                [("now", now.into()), ("limit", limit.into())],
            )?)
            .await
    }

    /// Records that `due` has announced `notices`, next due at `next` (none: nothing left
    /// to announce until it changes), with `events`, each delivered to `endpoints`. Returns
    /// whether the pair was still as read.
    pub async fn save_notices(
        &self,
        due: &NoticeDue,
        notices: i64,
        next: Option<i64>,
        events: &[NewEvent],
        endpoints: &[String],
        now: EpochMs,
    ) -> Result<bool, StoreError> {
        let app = AppId::parse(&due.app_id).map_err(StoreError::Corrupt)?;
        let mut write = vec![Statement::new(
            &ANNOUNCED,
            [
                ("notices", notices.into()),
                ("next", next.into()),
                ("id", due.id.into()),
                ("seen_notices", due.notices.into()),
                ("seen_next", due.next_notice_at.into()),
            ],
        )?];
        for event in events {
            let digest: [u8; 32] = Sha256::digest(format!("{}:{}", event.kind, event.once)).into();
            write.push(Statement::new(
                &SAVE_NOTICE,
                [
                    ("uid", new_uid().into()),
                    ("app_id", app.as_str().into()),
                    ("type", event.kind.into()),
                    ("seller_id", event.seller_id.as_deref().into()),
                    ("body", event.data.as_str().into()),
                    ("digest", (&digest).into()),
                    ("now", now.into()),
                    ("id", due.id.into()),
                    ("notices", notices.into()),
                ],
            )?);
            write.extend(deliveries(&app, &digest, endpoints, now)?);
        }
        let outcomes = self.db.write(write).await?;
        Ok(outcomes.first().is_some_and(|o| o.rows_affected == 1))
    }
}

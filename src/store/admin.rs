//! The admin console's tables: sessions (`admin_sessions`), the sign-in throttle
//! (`admin_login_failures`) and the audit log (`admin_audit`).

use super::statement::{Sql, Statement};
use super::{Store, StoreError};
use crate::admin::{AuditAction, AuditEntry, SessionRecord};
use crate::clock::EpochMs;
use crate::tokens::TokenId;

static SWEEP_SESSIONS: Sql = Sql::repeatable(
    "DELETE FROM admin_sessions WHERE last_seen_at < :idle_before OR created_at < :born_before",
);

static CREATE_SESSION: Sql = Sql::repeatable(
    "INSERT INTO admin_sessions (session_digest, password_tag, client, created_at, last_seen_at)
     VALUES (:digest, :password_tag, :client, :created_at, :last_seen_at)
     ON CONFLICT (session_digest) DO NOTHING",
);

static SESSION: Sql = Sql::new(
    "SELECT password_tag, client, created_at, last_seen_at
     FROM admin_sessions WHERE session_digest = :digest",
);

static TOUCH_SESSION: Sql =
    Sql::repeatable("UPDATE admin_sessions SET last_seen_at = :now WHERE session_digest = :digest");

static DELETE_SESSION: Sql =
    Sql::repeatable("DELETE FROM admin_sessions WHERE session_digest = :digest");

static SWEEP_LOGIN_FAILURES: Sql = Sql::repeatable(
    "DELETE FROM admin_login_failures
     WHERE window_start <= :window_opened_after AND (locked_until IS NULL OR locked_until <= :now)",
);

/// One statement, so that concurrent attempts are each counted before any is checked;
/// none is counted (and no row returned) while the client is locked out.
static RESERVE_SIGN_IN: Sql = Sql::new(
    "INSERT INTO admin_login_failures (client, window_start, failures)
     VALUES (:client, :now, 1)
     ON CONFLICT (client) DO UPDATE SET
         failures = CASE WHEN admin_login_failures.window_start <= :window_opened_after
                         THEN 1 ELSE admin_login_failures.failures + 1 END,
         window_start = CASE WHEN admin_login_failures.window_start <= :window_opened_after
                             THEN :now ELSE admin_login_failures.window_start END
     WHERE admin_login_failures.locked_until IS NULL
        OR admin_login_failures.locked_until <= :now
     RETURNING failures",
);

static LOCK_LOGINS: Sql = Sql::repeatable(
    "UPDATE admin_login_failures SET locked_until = :until, failures = 0 WHERE client = :client",
);

static LOGINS_LOCKED_UNTIL: Sql = Sql::new(
    "SELECT locked_until FROM admin_login_failures WHERE client = :client AND locked_until > :now",
);

static CLEAR_LOGIN_FAILURES: Sql =
    Sql::repeatable("DELETE FROM admin_login_failures WHERE client = :client");

static APPEND_AUDIT: Sql = Sql::new(
    "INSERT INTO admin_audit (at, action, client, token_id, subject, detail)
     VALUES (:at, :action, :client, :token_id, :subject, :detail)",
);

static AUDIT_PAGE: Sql = Sql::new(
    "SELECT id, at, action, client, token_id, subject, detail FROM admin_audit
     WHERE id < :before ORDER BY id DESC LIMIT :limit",
);

impl Store {
    /// Stores a new session. Also forgets sessions idle since before `idle_before` or
    /// begun before `born_before`.
    pub async fn create_session(
        &self,
        session: &SessionRecord,
        idle_before: EpochMs,
        born_before: EpochMs,
    ) -> Result<(), StoreError> {
        self.db
            .write(vec![
                Statement::new(
                    &SWEEP_SESSIONS,
                    [
                        ("idle_before", idle_before.into()),
                        ("born_before", born_before.into()),
                    ],
                )?,
                Statement::new(
                    &CREATE_SESSION,
                    [
                        ("digest", (&session.digest).into()),
                        ("password_tag", session.password_tag.as_str().into()),
                        ("client", session.client.as_str().into()),
                        ("created_at", session.created_at.into()),
                        ("last_seen_at", session.last_seen_at.into()),
                    ],
                )?,
            ])
            .await?;
        Ok(())
    }

    pub async fn session(&self, digest: &[u8; 32]) -> Result<Option<SessionRecord>, StoreError> {
        let row: Option<(String, String, i64, i64)> = self
            .db
            .fetch_optional(Statement::new(&SESSION, [("digest", digest.into())])?)
            .await?;
        Ok(row.map(
            |(password_tag, client, created_at, last_seen_at)| SessionRecord {
                digest: *digest,
                password_tag,
                client,
                created_at,
                last_seen_at,
            },
        ))
    }

    /// Records that the session was used at `now`.
    pub async fn touch_session(&self, digest: &[u8; 32], now: EpochMs) -> Result<(), StoreError> {
        self.db
            .write_one(Statement::new(
                &TOUCH_SESSION,
                [("now", now.into()), ("digest", digest.into())],
            )?)
            .await?;
        Ok(())
    }

    pub async fn delete_session(&self, digest: &[u8; 32]) -> Result<(), StoreError> {
        self.db
            .write_one(Statement::new(
                &DELETE_SESSION,
                [("digest", digest.into())],
            )?)
            .await?;
        Ok(())
    }

    /// Counts a sign-in attempt of `client` before its password is checked, and returns
    /// the attempts in its current window (this one included), or `None` while the client
    /// is locked out (nothing is counted then). A window older than `window_ms` starts
    /// again. Counting first means that however many attempts arrive at once, each gets its
    /// own number, so the caller checks only the allowed few. Also forgets clients with
    /// neither a recent attempt nor a lock.
    pub async fn reserve_sign_in(
        &self,
        client: &str,
        now: EpochMs,
        window_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let window_opened_after = now.plus_ms(-window_ms);
        let mut write = Vec::with_capacity(2);
        if self.sweeps.logins.due(now.get()) {
            write.push(Statement::new(
                &SWEEP_LOGIN_FAILURES,
                [
                    ("window_opened_after", window_opened_after.into()),
                    ("now", now.into()),
                ],
            )?);
        }
        write.push(Statement::new(
            &RESERVE_SIGN_IN,
            [
                ("client", client.into()),
                ("now", now.into()),
                ("window_opened_after", window_opened_after.into()),
            ],
        )?);
        let outcomes = self.db.write(write).await?;
        Ok(outcomes
            .last()
            .and_then(|reserved| reserved.returned.first().copied()))
    }

    /// Refuses `client`'s sign-ins until `until`, and starts its count again.
    pub async fn lock_logins(&self, client: &str, until: EpochMs) -> Result<(), StoreError> {
        self.db
            .write_one(Statement::new(
                &LOCK_LOGINS,
                [("until", until.into()), ("client", client.into())],
            )?)
            .await?;
        Ok(())
    }

    /// Until when `client` may not sign in, if it is locked out at `now`.
    pub async fn logins_locked_until(
        &self,
        client: &str,
        now: EpochMs,
    ) -> Result<Option<i64>, StoreError> {
        let row: Option<(i64,)> = self
            .db
            .fetch_optional(Statement::new(
                &LOGINS_LOCKED_UNTIL,
                [("client", client.into()), ("now", now.into())],
            )?)
            .await?;
        Ok(row.map(|(until,)| until))
    }

    /// Forgets `client`'s attempts (after it signed in).
    pub async fn clear_login_failures(&self, client: &str) -> Result<(), StoreError> {
        self.db
            .write_one(Statement::new(
                &CLEAR_LOGIN_FAILURES,
                [("client", client.into())],
            )?)
            .await?;
        Ok(())
    }

    pub async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.db
            .write_one(Statement::new(
                &APPEND_AUDIT,
                [
                    ("at", entry.at.into()),
                    ("action", entry.action.as_str().into()),
                    ("client", entry.client.as_str().into()),
                    ("token_id", entry.token_id.map(TokenId::get).into()),
                    ("subject", entry.subject.as_deref().into()),
                    ("detail", entry.detail.as_deref().into()),
                ],
            )?)
            .await?;
        Ok(())
    }

    /// Up to `limit` audit entries older than `before` (an id), newest first.
    pub async fn audit_page(
        &self,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        type AuditRow = (
            i64,
            i64,
            String,
            String,
            Option<i64>,
            Option<String>,
            Option<String>,
        );
        let rows: Vec<AuditRow> = self
            .db
            .fetch_all(Statement::new(
                &AUDIT_PAGE,
                [
                    ("before", before.unwrap_or(i64::MAX).into()),
                    ("limit", limit.into()),
                ],
            )?)
            .await?;
        rows.into_iter()
            .map(|(id, at, action, client, token_id, subject, detail)| {
                Ok(AuditEntry {
                    id,
                    at,
                    action: AuditAction::parse(&action)
                        .ok_or_else(|| StoreError::Corrupt(format!("audit action `{action}`")))?,
                    client,
                    token_id: token_id.map(TokenId::new),
                    subject,
                    detail,
                })
            })
            .collect()
    }
}

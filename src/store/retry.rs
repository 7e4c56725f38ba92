//! Riding through a database that is away for a moment (a failover, a restart, a proxy in
//! front of it dropping connections): which failures are worth another try, and how long
//! to keep trying (`IOP_STORE_RETRY`, 5 s by default).
//!
//! A failure is *transient* when it says the database could not be reached or the
//! connection broke, not that the statement was wrong. Whether a write may be tried again
//! also depends on where it failed: before anything was sent (no connection could be had)
//! or inside a transaction that was never committed, nothing happened, so it is tried
//! again; when the connection broke after a lone statement or a COMMIT was sent, the write
//! may have landed, so it is not (`Db::write` says which).

use std::time::Duration;

use super::StoreError;

/// The budget when none is configured.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(5);

/// The first wait; each next one doubles, up to `LONGEST_WAIT`.
const FIRST_WAIT: Duration = Duration::from_millis(50);
const LONGEST_WAIT: Duration = Duration::from_millis(800);

/// Whether `error` says the database was unreachable or the connection broke.
pub(super) fn transient(error: &StoreError) -> bool {
    let StoreError::Database(error) = error else {
        return false;
    };
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => true,
        // What came back was not the protocol at all: a connection cut while it was being
        // set up or read (a reset during the TLS request reads as a zero byte).
        sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(error) => error.code().is_some_and(|code| {
            // Class 08: connection exceptions. 57P01-03: the server is shutting down,
            // crashed, or is not yet accepting connections. 53300: too many connections.
            // 25006: a read-only transaction (a standby until the failover completes).
            code.starts_with("08")
                || matches!(
                    code.as_ref(),
                    "57P01" | "57P02" | "57P03" | "53300" | "25006"
                )
        }),
        _ => false,
    }
}

/// Whether `error` shows the statement was never sent: no connection could be had.
pub(super) fn never_sent(error: &StoreError) -> bool {
    match error {
        StoreError::Database(sqlx::Error::PoolTimedOut) => true,
        StoreError::Database(sqlx::Error::Io(io)) => {
            io.kind() == std::io::ErrorKind::ConnectionRefused
        }
        StoreError::Database(sqlx::Error::Database(error)) => error
            .code()
            .is_some_and(|code| matches!(code.as_ref(), "57P03" | "53300")),
        _ => false,
    }
}

/// The waits between tries within `budget`: 50 ms, doubling to 800 ms, until the budget
/// is spent.
pub(super) struct Backoff {
    next: Duration,
    deadline: tokio::time::Instant,
}

impl Backoff {
    pub(super) fn new(budget: Duration) -> Self {
        Backoff {
            next: FIRST_WAIT,
            deadline: tokio::time::Instant::now() + budget,
        }
    }

    /// Waits before the next try and returns true, or returns false once the budget would
    /// be overdrawn.
    pub(super) async fn wait(&mut self) -> bool {
        let now = tokio::time::Instant::now();
        if now + self.next > self.deadline {
            return false;
        }
        tokio::time::sleep(self.next).await;
        self.next = (self.next * 2).min(LONGEST_WAIT);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(kind: std::io::ErrorKind) -> StoreError {
        StoreError::Database(sqlx::Error::Io(std::io::Error::from(kind)))
    }

    #[test]
    fn connection_failures_are_transient_and_answers_are_not() {
        assert!(transient(&io(std::io::ErrorKind::ConnectionReset)));
        assert!(transient(&StoreError::Database(sqlx::Error::PoolTimedOut)));
        assert!(!transient(&StoreError::Database(sqlx::Error::RowNotFound)));
        assert!(!transient(&StoreError::Changed("x".into())));
        assert!(never_sent(&io(std::io::ErrorKind::ConnectionRefused)));
        assert!(!never_sent(&io(std::io::ErrorKind::ConnectionReset)));
    }

    #[tokio::test(start_paused = true)]
    async fn the_waits_double_and_stop_at_the_budget() {
        let started = tokio::time::Instant::now();
        let mut backoff = Backoff::new(Duration::from_secs(2));
        let mut tries = 0;
        while backoff.wait().await {
            tries += 1;
        }
        // 50 + 100 + 200 + 400 + 800 = 1,550 ms; another 800 would pass 2 s.
        assert_eq!(tries, 5);
        assert_eq!(started.elapsed(), Duration::from_millis(1_550));
    }
}

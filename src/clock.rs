//! Wall-clock time as epoch milliseconds, and how pages show it.
//!
//! Everything stored is absolute epoch milliseconds. The application reads `now` from one
//! injected `Clock`, so tests move time ("three days later") instead of sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use time::OffsetDateTime;
use time::macros::format_description;

/// Where the application reads the time. One is shared by the pages, the flow, the
/// refresher, the signer's timestamps and the sandbox.
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;

    /// Now, as a moment the store takes.
    fn now(&self) -> EpochMs {
        EpochMs::new(self.now_ms())
    }
}

/// A moment as milliseconds since the Unix epoch: what the store keeps and compares. Its
/// own type where it crosses into the store, so that an id, a count or a duration cannot
/// be passed where a moment is meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EpochMs(i64);

impl EpochMs {
    pub const fn new(ms: i64) -> Self {
        EpochMs(ms)
    }

    pub const fn get(self) -> i64 {
        self.0
    }

    /// `by` later (or earlier, for a negative span in milliseconds), saturating.
    pub const fn plus_ms(self, by: i64) -> Self {
        EpochMs(self.0.saturating_add(by))
    }
}

pub type SharedClock = Arc<dyn Clock>;

/// The real time.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        let now = OffsetDateTime::now_utc();
        i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
    }
}

/// The real time, as the application's clock.
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// A clock that only moves when told to; for tests of expiry and refresh planning.
pub struct ManualClock {
    now_ms: AtomicI64,
}

impl ManualClock {
    /// Starts at the real time, so that signatures checked by a real clock still pass.
    pub fn starting_now() -> Arc<Self> {
        Arc::new(ManualClock {
            now_ms: AtomicI64::new(SystemClock.now_ms()),
        })
    }

    pub fn at(now_ms: i64) -> Arc<Self> {
        Arc::new(ManualClock {
            now_ms: AtomicI64::new(now_ms),
        })
    }

    pub fn advance(&self, by: Duration) {
        self.now_ms.fetch_add(millis(by), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now_ms.load(Ordering::SeqCst)
    }
}

/// A duration in whole milliseconds, saturating (configured durations are far below that).
pub fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// `2026-11-27 10:15:00 UTC`, or a plain note for a time out of range.
pub fn format_utc(epoch_ms: i64) -> String {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(epoch_ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| "out of range".to_owned())
}

/// RFC 3339 (`2026-11-27T10:15:00Z`) for machine-readable attributes.
pub fn format_rfc3339(epoch_ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(epoch_ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// `epoch_ms` as an HTTP date (`Sun, 06 Dec 2026 05:30:00 GMT`), for `Retry-After`.
pub fn format_http_date(epoch_ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp(epoch_ms.div_euclid(1_000))
        .ok()
        .and_then(|t| {
            t.format(format_description!(
                "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// How long until `at`, in the two largest units: "in 29 days 23 hours", "expired 5 minutes ago".
pub fn remaining(at_ms: i64, now_ms: i64) -> String {
    // Rounded, so a token issued for a day that the page shows a few ms later still
    // reads "in 1 day", not "in 23 hours 59 minutes".
    let delta_ms = at_ms.saturating_sub(now_ms);
    let delta_secs = (delta_ms + delta_ms.signum() * 500) / 1000;
    let span = two_units(delta_secs.unsigned_abs());
    if delta_secs >= 0 {
        format!("in {span}")
    } else {
        format!("expired {span} ago")
    }
}

/// How long ago `at_ms` was, for something that happened (a refresh), never "expired":
/// "3 hours ago", or "just now" within a second (or for a time a skewed clock puts ahead).
pub fn ago(at_ms: i64, now_ms: i64) -> String {
    let secs = (now_ms.saturating_sub(at_ms) + 500) / 1000;
    if secs < 1 {
        "just now".to_owned()
    } else {
        format!("{} ago", two_units(secs.unsigned_abs()))
    }
}

/// A duration in the two largest units, for people: "1 day", "2 days", "3 minutes".
pub fn span(duration: Duration) -> String {
    two_units(duration.as_secs())
}

fn two_units(secs: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (86_400, "day"),
        (3_600, "hour"),
        (60, "minute"),
        (1, "second"),
    ];
    // Round to the smallest unit that can be shown: two units of a day-long span are days
    // and hours, so 23 h 59 min 59 s reads "1 day", not "23 hours 59 minutes".
    let precision = match secs {
        s if s >= 86_400 - 30 => 3_600,
        s if s >= 3_600 => 60,
        _ => 1,
    };
    let mut rest = (secs + precision / 2) / precision * precision;
    let mut parts = Vec::new();
    for (size, name) in UNITS {
        let n = rest / size;
        if n > 0 {
            parts.push(format!("{n} {name}{}", if n == 1 { "" } else { "s" }));
            rest %= size;
        }
        if parts.len() == 2 || (!parts.is_empty() && n == 0) {
            break;
        }
    }
    if parts.is_empty() {
        "0 seconds".to_owned()
    } else {
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_are_imf_fixdates() {
        assert_eq!(
            format_http_date(1_765_000_000_999),
            "Sat, 06 Dec 2025 05:46:40 GMT"
        );
    }

    #[test]
    fn spans_read_as_words() {
        assert_eq!(span(Duration::from_secs(86_400)), "1 day");
        assert_eq!(span(Duration::from_secs(2 * 86_400)), "2 days");
        assert_eq!(span(Duration::from_secs(180)), "3 minutes");
    }

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = ManualClock::at(1_000);
        assert_eq!(clock.now_ms(), 1_000);
        clock.advance(Duration::from_secs(3 * 86_400));
        assert_eq!(clock.now_ms(), 1_000 + 3 * 86_400_000);
    }

    #[test]
    fn formats_epoch_milliseconds_as_utc() {
        assert_eq!(format_utc(1_714_192_160_000), "2024-04-27 04:29:20 UTC");
        assert_eq!(format_rfc3339(1_714_192_160_000), "2024-04-27T04:29:20Z");
    }

    #[test]
    fn remaining_time_uses_the_two_largest_units() {
        let now = 1_000_000_000;
        assert_eq!(
            remaining(now + 30 * 86_400_000 - 3_600_000, now),
            "in 29 days 23 hours"
        );
        assert_eq!(remaining(now + 90_000, now), "in 1 minute 30 seconds");
        assert_eq!(remaining(now + 86_400_000, now), "in 1 day");
        assert_eq!(remaining(now - 300_000, now), "expired 5 minutes ago");
        assert_eq!(
            remaining(now + 86_400_000 - 30, now),
            "in 1 day",
            "rounds, not floors"
        );
    }

    #[test]
    fn a_past_event_is_ago_never_expired() {
        let now = 1_000_000_000;
        assert_eq!(ago(now - 3 * 3_600_000, now), "3 hours ago");
        assert_eq!(ago(now - 90_000, now), "1 minute 30 seconds ago");
        assert_eq!(ago(now - 200, now), "just now");
        assert_eq!(ago(now + 5_000, now), "just now", "a clock ahead");
    }
}

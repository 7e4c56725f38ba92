//! Per-second allowances of log lines, shared by every request of the process, for lines
//! that any client can cause at any rate: a flood must fill neither the disk nor the
//! alerts. The metrics count every event; the log says how many lines it left out.

use std::sync::atomic::{AtomicU64, Ordering};

/// The one line per request (`crate::layers`).
pub(crate) static REQUEST_LINES: LogBudget = LogBudget::new("request", 100);

/// Refusals an anonymous client can cause (a missing API key, a forged form): one budget
/// for all of them, whatever the route.
pub(crate) static REFUSALS: LogBudget = LogBudget::new("refusal", 10);

pub(crate) struct LogBudget {
    what: &'static str,
    per_second: u64,
    second: AtomicU64,
    used: AtomicU64,
    left_out: AtomicU64,
}

impl LogBudget {
    const fn new(what: &'static str, per_second: u64) -> Self {
        LogBudget {
            what,
            per_second,
            second: AtomicU64::new(0),
            used: AtomicU64::new(0),
            left_out: AtomicU64::new(0),
        }
    }

    /// Whether one more line may be written this second.
    pub(crate) fn allow(&self) -> bool {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let second = self.second.load(Ordering::Relaxed);
        if now != second
            && self
                .second
                .compare_exchange(second, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.used.store(0, Ordering::Relaxed);
            let left_out = self.left_out.swap(0, Ordering::Relaxed);
            if left_out > 0 {
                tracing::warn!(
                    left_out,
                    kind = self.what,
                    "log lines left out in the last busy second (the metrics count them all)"
                );
            }
        }
        if self.used.fetch_add(1, Ordering::Relaxed) < self.per_second {
            true
        } else {
            self.left_out.fetch_add(1, Ordering::Relaxed);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_gets_a_bounded_number_of_log_lines() {
        let budget = LogBudget::new("test", 10);
        let allowed = (0..1_000).filter(|_| budget.allow()).count();
        // Within one second, or straddling two.
        assert!((10..=20).contains(&allowed), "{allowed}");
    }
}

//! When a token is refreshed, how long to wait after a failure, and what its state means
//! to an operator: pure functions of the stored times and `now`.

use std::time::Duration;

use crate::clock::millis;

/// `IOP_REFRESH_BEFORE`: renew an access token when this much of its life is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshBefore {
    /// A share of the lifetime, in thousandths (`25%` is 250).
    Share { permille: i64 },
    /// A fixed time before expiry (`3d`).
    Ahead(Duration),
}

impl Default for RefreshBefore {
    fn default() -> Self {
        RefreshBefore::Share { permille: 250 }
    }
}

impl RefreshBefore {
    /// `25%` or a duration like `3d` or `6h`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if let Some(percent) = raw.strip_suffix('%') {
            let share: f64 = percent
                .trim()
                .parse()
                .map_err(|_| format!("`{raw}` is not a share like 25%"))?;
            if !(share > 0.0 && share < 100.0) {
                return Err(format!("`{raw}` must be between 0% and 100%"));
            }
            // Whole thousandths are plenty; the cast is in range after the check above.
            #[allow(clippy::cast_possible_truncation)]
            let permille = (share * 10.0).round() as i64;
            return Ok(RefreshBefore::Share {
                permille: permille.max(1),
            });
        }
        let ahead = humantime::parse_duration(raw)
            .map_err(|_| format!("`{raw}` is neither a share like 25% nor a duration like 3d"))?;
        if ahead.is_zero() {
            return Err("must be more than zero".into());
        }
        Ok(RefreshBefore::Ahead(ahead))
    }

    /// `(permille, ahead_ms)` for the store's SQL, which computes `due_at` the same way.
    pub fn sql_params(self) -> (i64, i64) {
        match self {
            RefreshBefore::Share { permille } => (permille, 0),
            RefreshBefore::Ahead(ahead) => (0, millis(ahead)),
        }
    }

    /// When a token issued at `issued_at` that expires at `expires_at` is due. Never
    /// before half its life, so a policy longer than the lifetime (`3d` for a one-day test
    /// token) cannot make the refresher renew it over and over.
    pub fn due_at(self, issued_at: i64, expires_at: i64) -> i64 {
        let (permille, ahead) = self.sql_params();
        let life = expires_at.saturating_sub(issued_at);
        let by_policy = expires_at - life.saturating_mul(permille) / 1000 - ahead;
        by_policy.max(issued_at + life / 2)
    }
}

/// How long to leave a token alone after its `failures`-th transient failure in a row:
/// 5 s doubling up to 30 min, times `jitter` in [0.75, 1.25) so that many tokens that
/// failed together (the platform was down) do not retry together.
pub fn backoff(failures: u32, jitter: f64) -> Duration {
    const BASE: Duration = Duration::from_secs(5);
    const CAP: Duration = Duration::from_secs(30 * 60);
    let exponent = failures.saturating_sub(1).min(20);
    let delay = BASE.saturating_mul(1 << exponent).min(CAP);
    delay.mul_f64(0.75 + 0.5 * jitter.clamp(0.0, 1.0))
}

/// How long before its end a refresh token counts as expiring at most (a week).
pub const EXPIRING_WINDOW_MS: i64 = 7 * 86_400_000;

/// A refresh token that itself dies soon: only the seller can renew it, by authorizing
/// again. Soon is within 7 days, or within a quarter of its life when that is shorter
/// (a two-day test token is not "expiring" the moment it is issued).
pub fn refresh_expiring(authorized_at: i64, refresh_expires_at: Option<i64>, now: i64) -> bool {
    let Some(expires) = refresh_expires_at else {
        return false;
    };
    let window = EXPIRING_WINDOW_MS.min(expires.saturating_sub(authorized_at) / 4);
    expires.saturating_sub(now) <= window
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn the_policy_parses_shares_and_durations() {
        assert_eq!(
            RefreshBefore::parse("25%"),
            Ok(RefreshBefore::Share { permille: 250 })
        );
        assert_eq!(
            RefreshBefore::parse("12.5%"),
            Ok(RefreshBefore::Share { permille: 125 })
        );
        assert_eq!(
            RefreshBefore::parse("3d"),
            Ok(RefreshBefore::Ahead(Duration::from_secs(3 * 86_400)))
        );
        for bad in ["0%", "100%", "abc", "0s", "-5%"] {
            assert!(RefreshBefore::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_token_is_due_when_its_share_or_time_is_left_but_never_before_half_its_life() {
        let share = RefreshBefore::default();
        assert_eq!(share.due_at(0, 100_000), 75_000);
        let three_days = RefreshBefore::parse("3d").unwrap();
        assert_eq!(three_days.due_at(0, 30 * DAY), 27 * DAY);
        assert_eq!(
            three_days.due_at(0, DAY),
            DAY / 2,
            "clamped to half its life"
        );
        // A token that lives 9 s is renewed 2.25 s before it expires.
        assert_eq!(share.due_at(1_000, 10_000), 7_750);
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_a_cap() {
        assert_eq!(backoff(1, 0.5), Duration::from_secs(5));
        assert_eq!(backoff(2, 0.5), Duration::from_secs(10));
        assert_eq!(backoff(4, 0.5), Duration::from_secs(40));
        assert_eq!(backoff(1, 0.0), Duration::from_millis(3_750));
        assert!(backoff(1, 0.999) < Duration::from_millis(6_250));
        assert_eq!(backoff(50, 0.5), Duration::from_secs(30 * 60));
    }

    #[test]
    fn a_refresh_token_is_expiring_within_a_week_or_a_quarter_of_its_life() {
        // 60-day refresh token: flagged in its last week.
        assert!(!refresh_expiring(0, Some(60 * DAY), 52 * DAY));
        assert!(refresh_expiring(0, Some(60 * DAY), 53 * DAY));
        // 2-day test token: flagged in its last 12 hours, not at once.
        assert!(!refresh_expiring(0, Some(2 * DAY), DAY));
        assert!(refresh_expiring(0, Some(2 * DAY), 2 * DAY - DAY / 4));
        assert!(!refresh_expiring(0, None, 0));
    }
}

//! When a failed delivery is tried again: about 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, then
//! every 2 h, each stretched by up to a fifth at random (endpoints that failed together do
//! not all come back at once), until a day after the event; then it has failed.

use crate::store::AfterAttempt;

const SECOND: i64 = 1_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;

/// The waits after the first, second, … failed attempt; the last repeats.
const WAITS: [i64; 7] = [
    5 * SECOND,
    30 * SECOND,
    2 * MINUTE,
    10 * MINUTE,
    30 * MINUTE,
    HOUR,
    2 * HOUR,
];

/// How long after its event a delivery is still tried.
pub const GIVE_UP_AFTER: i64 = 24 * HOUR;

/// What follows a failed attempt, the `attempts`-th (counting from 1), at `now`, for an
/// event kept at `created_at`; `stretch` in [0, 1) is the random part.
pub fn after_failure(attempts: i64, created_at: i64, now: i64, stretch: f64) -> AfterAttempt {
    let index = usize::try_from(attempts.max(1) - 1)
        .unwrap_or(usize::MAX)
        .min(WAITS.len() - 1);
    let wait = WAITS[index];
    // Truncated: a few milliseconds of jitter are not worth a float round trip's doubt.
    let jitter = (wait as f64 * stretch.clamp(0.0, 1.0) / 5.0) as i64;
    let next = now.saturating_add(wait + jitter);
    if next > created_at.saturating_add(GIVE_UP_AFTER) {
        AfterAttempt::Failed
    } else {
        AfterAttempt::Retry(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait(attempts: i64, stretch: f64) -> i64 {
        match after_failure(attempts, 0, 0, stretch) {
            AfterAttempt::Retry(at) => at,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_waits_grow_then_repeat_every_two_hours() {
        let waits: Vec<i64> = (1..=9).map(|n| wait(n, 0.0)).collect();
        assert_eq!(
            waits,
            [
                5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000, 7_200_000, 7_200_000,
                7_200_000
            ]
        );
    }

    #[test]
    fn jitter_stretches_by_at_most_a_fifth() {
        assert_eq!(wait(1, 0.999_999), 5_999);
        assert_eq!(wait(2, 0.5), 33_000);
    }

    #[test]
    fn a_day_after_the_event_it_has_failed() {
        let created = 1_000_000;
        let almost = created + GIVE_UP_AFTER - 2 * HOUR;
        assert_eq!(
            after_failure(12, created, almost, 0.0),
            AfterAttempt::Retry(almost + 2 * HOUR)
        );
        assert_eq!(
            after_failure(12, created, almost + 1, 0.0),
            AfterAttempt::Failed
        );
    }
}

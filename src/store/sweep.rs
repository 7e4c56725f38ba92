//! Expired claims, results, sign-in failures and events are deleted at most every `EVERY_MS`, not
//! on every insert: a sweep is a write, and every flow would pay for it. Nothing reads an
//! expired record as valid meanwhile (claims and grants carry their own expiry).

use std::sync::atomic::{AtomicI64, Ordering};

const EVERY_MS: i64 = 10_000;

#[derive(Default)]
pub(super) struct Sweeps {
    pub(super) claims: Sweep,
    pub(super) results: Sweep,
    pub(super) logins: Sweep,
    pub(super) events: Sweep,
}

#[derive(Default)]
pub(super) struct Sweep {
    last_ms: AtomicI64,
}

impl Sweep {
    /// Whether a sweep is due at `now`; if so, this caller does it.
    pub(super) fn due(&self, now_ms: i64) -> bool {
        let last = self.last_ms.load(Ordering::Relaxed);
        now_ms - last >= EVERY_MS
            && self
                .last_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

//! The one way of taking a std mutex in this crate.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`. A panic elsewhere while it was held leaves plain data behind (counters,
/// maps of made-up sandbox grants), so keep serving instead of spreading the panic.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

//! When sign-ins are refused: each attempt from one client address is counted before its
//! password is checked, and only the first `FAILURES` within `WINDOW_MS` are checked (so
//! attempts sent all at once get no more checks than attempts sent one by one); when the
//! last of those fails, that address may not try again for `LOCK_MS`. Attempts while
//! locked, or beyond the allowance, are not checked and do not extend the lock, so it
//! always ends; other addresses are never affected, so a flood from some addresses cannot
//! lock out everyone. A sign-in that succeeds starts the count again.

use std::net::IpAddr;

use crate::network::network_of;

pub const FAILURES: i64 = 5;
pub const WINDOW_MS: i64 = 60 * 1000;
pub const LOCK_MS: i64 = 5 * 60 * 1000;

/// The key failures are counted under: an IPv4 address, or an IPv6 /64 (one host usually
/// has a whole /64, and could otherwise move to a fresh address for every attempt).
pub fn client_key(address: Option<IpAddr>) -> String {
    match address.map(network_of) {
        Some(IpAddr::V6(network)) => format!("{network}/64"),
        Some(v4) => v4.to_string(),
        None => "unknown".to_owned(),
    }
}

/// What a failed attempt leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// Fewer than `FAILURES` in the window: the client may try again.
    Open,
    /// This failure was one too many: locked until then.
    LockUntil(i64),
}

impl Throttle {
    /// After the failure of the `failures`-th attempt in the current window, at `now`.
    pub fn after_failure(failures: i64, now_ms: i64) -> Self {
        if failures >= FAILURES {
            Throttle::LockUntil(now_ms + LOCK_MS)
        } else {
            Throttle::Open
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fifth_failure_locks_for_a_while() {
        for n in 1..FAILURES {
            assert_eq!(Throttle::after_failure(n, 0), Throttle::Open);
        }
        assert_eq!(
            Throttle::after_failure(FAILURES, 1_000),
            Throttle::LockUntil(1_000 + LOCK_MS)
        );
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_prefix() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(Some(a)), client_key(Some(b)));
        assert_ne!(client_key(Some(a)), client_key(Some(c)));
        assert_eq!(
            client_key(Some("::ffff:10.0.0.1".parse().unwrap())),
            "10.0.0.1"
        );
        assert_eq!(client_key(Some("10.0.0.1".parse().unwrap())), "10.0.0.1");
        assert_eq!(client_key(None), "unknown");
    }
}

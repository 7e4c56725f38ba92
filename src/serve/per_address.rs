//! Connections per client address: at most `per_address` for one address (an IPv6 /64),
//! except for the trusted proxies every client comes through. Counted while the
//! connection lives; the count is forgotten when it drops to zero.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use ipnet::IpNet;

use super::ConnectionLimits;
use crate::lock::lock;
use crate::network::network_of;

#[derive(Clone)]
pub(super) struct PerAddress {
    limit: usize,
    unlimited: Arc<[IpNet]>,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One connection of `address`, counted until dropped.
pub(super) struct Held {
    counts: Option<(PerAddress, IpAddr)>,
}

impl PerAddress {
    pub(super) fn new(limits: &ConnectionLimits) -> Self {
        PerAddress {
            limit: limits.per_address.max(1),
            unlimited: limits.unlimited.clone(),
            open: Arc::default(),
        }
    }

    /// Counts a new connection of `peer`, or `None` when that address holds its share.
    pub(super) fn hold(&self, peer: IpAddr) -> Option<Held> {
        if self.unlimited.iter().any(|net| net.contains(&peer)) {
            return Some(Held { counts: None });
        }
        let address = network_of(peer);
        let mut open = lock(&self.open);
        let count = open.entry(address).or_default();
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(Held {
            counts: Some((self.clone(), address)),
        })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some((per_address, address)) = &self.counts {
            let mut open = lock(&per_address.open);
            if let Some(count) = open.get_mut(address) {
                *count -= 1;
                if *count == 0 {
                    open.remove(address);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_gets_its_share_and_a_proxy_is_not_limited() {
        let limits = ConnectionLimits {
            per_address: 2,
            unlimited: Arc::new(["10.0.0.0/8".parse().unwrap()]),
            ..ConnectionLimits::default()
        };
        let per_address = PerAddress::new(&limits);
        let ip = |raw: &str| raw.parse::<IpAddr>().unwrap();
        let first = per_address.hold(ip("2001:db8::1")).unwrap();
        let _second = per_address.hold(ip("2001:db8::2")).unwrap();
        assert!(per_address.hold(ip("2001:db8::3")).is_none(), "one /64");
        assert!(
            per_address.hold(ip("2001:db8:0:1::1")).is_some(),
            "another /64"
        );
        drop(first);
        assert!(per_address.hold(ip("2001:db8::3")).is_some(), "room again");
        let proxied: Vec<_> = (0..5).map(|_| per_address.hold(ip("10.1.1.1"))).collect();
        assert!(proxied.iter().all(Option::is_some));
    }
}

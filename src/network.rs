//! Which client an address stands for, for the limits that count clients: the exchange
//! limit (`web::limits`) and the admin sign-in throttle (`admin::throttle`); and whether a
//! URL stays on this machine.

use std::net::{IpAddr, Ipv6Addr};

/// An IPv4 address as it is; an IPv6 address as its /64 (one host usually has a whole
/// /64, and could otherwise move to a fresh address for every try); a v4-mapped IPv6
/// address as the IPv4 one.
pub(crate) fn network_of(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
    }
}

/// Whether `url` names this machine: `localhost` or a loopback address (where plain
/// http is acceptable: nothing crosses a network).
pub(crate) fn is_loopback_url(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

//! Bounds on the platform calls anonymous clients can cause: `IOP_EXCHANGE_LIMIT`
//! exchanges a minute per client address, at most `PER_CLIENT_IN_FLIGHT` of one client's
//! at a time, and at most `IN_FLIGHT` in all. Only callbacks that would reach the platform
//! (a valid, unexpired state of this browser) are counted.
//!
//! The counts are per process: N replicas allow N times the limit. Memory is bounded: at
//! most `MAX_CLIENTS` addresses are remembered, the idle ones forgotten first.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;

use crate::lock::lock;
use crate::network::network_of;

/// Exchanges in flight in all; a platform call takes well under a second.
const IN_FLIGHT: usize = 64;
/// How long an exchange waits for one of those before the seller is asked to retry.
const WAIT_FOR_SLOT: std::time::Duration = std::time::Duration::from_secs(2);
/// Exchanges in flight per client address: one flood cannot take every slot.
const PER_CLIENT_IN_FLIGHT: u32 = 4;
/// Client addresses remembered at once.
const MAX_CLIENTS: usize = 10_000;
const MINUTE_MS: i64 = 60_000;

/// Why an exchange was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    /// This client used its exchanges for the minute; try again after this many seconds.
    Rate { retry_after_secs: u64 },
    /// Too many exchanges in flight (this client's, or everyone's).
    Busy,
}

impl Limited {
    pub fn as_str(self) -> &'static str {
        match self {
            Limited::Rate { .. } => "rate",
            Limited::Busy => "busy",
        }
    }
}

#[derive(Clone, Copy)]
struct Window {
    started: i64,
    count: u32,
    in_flight: u32,
}

pub struct ExchangeLimits {
    per_minute: Option<u32>,
    trusted_proxies: Vec<IpNet>,
    clients: Mutex<HashMap<IpAddr, Window>>,
    in_flight: Arc<tokio::sync::Semaphore>,
}

/// Held while an exchange runs; dropping it frees the client's and the global slot.
pub struct Admitted {
    limits: Arc<ExchangeLimits>,
    client: IpAddr,
    slot: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if self.limits.per_minute.is_none() {
            return;
        }
        if let Some(window) = lock(&self.limits.clients).get_mut(&self.client) {
            window.in_flight = window.in_flight.saturating_sub(1);
        }
    }
}

impl ExchangeLimits {
    /// `per_minute`: `None` is `IOP_EXCHANGE_LIMIT=off`: no per-client bounds at all (a
    /// benchmark from one address), only the bound on exchanges in flight in all.
    pub fn new(per_minute: Option<u32>, trusted_proxies: Vec<IpNet>) -> Self {
        ExchangeLimits {
            per_minute,
            trusted_proxies,
            clients: Mutex::default(),
            in_flight: Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT)),
        }
    }

    /// The client's address: the peer's, or, when the peer is a trusted proxy, the last
    /// address in `X-Forwarded-For` that is not one of ours (earlier entries are whatever
    /// the client claimed). A hop may carry a port (`203.0.113.8:443`, `[2001:db8::1]:443`);
    /// one that cannot be read at all stands for the client that the trusted proxy beside
    /// it saw, so the limit falls on that proxy's address rather than on a value further
    /// left that the client may have written itself.
    pub fn client_address(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer?;
        if !self.is_trusted(peer) {
            return Some(peer);
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut nearest_trusted = peer;
        for hop in hops.into_iter().rev() {
            match parse_hop(hop) {
                Some(address) if self.is_trusted(address) => nearest_trusted = address,
                Some(address) => return Some(address),
                None => return Some(nearest_trusted),
            }
        }
        Some(nearest_trusted)
    }

    fn is_trusted(&self, address: IpAddr) -> bool {
        self.trusted_proxies
            .iter()
            .any(|net| net.contains(&address))
    }

    /// Admits one exchange for `client` at `now`, waiting briefly for a slot when many
    /// are in flight, or says why not.
    pub async fn admit(self: &Arc<Self>, client: IpAddr, now: i64) -> Result<Admitted, Limited> {
        let mut admitted = self.count(network_of(client), now)?;
        let slot = tokio::time::timeout(WAIT_FOR_SLOT, self.in_flight.clone().acquire_owned())
            .await
            .map_err(|_| Limited::Busy)?
            .map_err(|_| Limited::Busy)?;
        admitted.slot = Some(slot);
        Ok(admitted)
    }

    /// Counts the exchange against `client`'s minute and its exchanges in flight.
    fn count(self: &Arc<Self>, client: IpAddr, now: i64) -> Result<Admitted, Limited> {
        let Some(limit) = self.per_minute else {
            return Ok(Admitted {
                limits: self.clone(),
                client,
                slot: None,
            });
        };
        let mut clients = lock(&self.clients);
        if !clients.contains_key(&client) && clients.len() >= MAX_CLIENTS {
            forget_idle(&mut clients, now);
        }
        let window = clients.entry(client).or_insert(Window {
            started: now,
            count: 0,
            in_flight: 0,
        });
        if now - window.started >= MINUTE_MS {
            window.started = now;
            window.count = 0;
        }
        if window.count >= limit {
            let left_ms = MINUTE_MS - (now - window.started);
            return Err(Limited::Rate {
                retry_after_secs: u64::try_from(left_ms.max(0) / 1000 + 1).unwrap_or(60),
            });
        }
        if window.in_flight >= PER_CLIENT_IN_FLIGHT {
            return Err(Limited::Busy);
        }
        window.count += 1;
        window.in_flight += 1;
        Ok(Admitted {
            limits: self.clone(),
            client,
            slot: None,
        })
    }
}

/// One `X-Forwarded-For` hop: an address, with or without a port.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

/// Makes room: first every address whose minute is over and that has nothing in flight,
/// then (a flood from many addresses) the idle one seen longest ago.
fn forget_idle(clients: &mut HashMap<IpAddr, Window>, now: i64) {
    clients.retain(|_, w| w.in_flight > 0 || now - w.started < MINUTE_MS);
    if clients.len() >= MAX_CLIENTS
        && let Some(oldest) = clients
            .iter()
            .filter(|(_, w)| w.in_flight == 0)
            .min_by_key(|(_, w)| w.started)
            .map(|(address, _)| *address)
    {
        clients.remove(&oldest);
    }
}

/// The TCP peer's address, when the listener records it.
pub(crate) struct Peer(pub(crate) Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0.ip()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(raw: &str) -> IpAddr {
        raw.parse().unwrap()
    }

    #[tokio::test]
    async fn a_client_gets_its_exchanges_per_minute_and_then_waits() {
        let limits = Arc::new(ExchangeLimits::new(Some(3), vec![]));
        let client = ip("203.0.113.7");
        for _ in 0..3 {
            drop(limits.admit(client, 1_000).await.unwrap());
        }
        assert_eq!(
            limits.admit(client, 31_000).await.err(),
            Some(Limited::Rate {
                retry_after_secs: 31
            })
        );
        assert!(
            limits.admit(ip("203.0.113.8"), 31_000).await.is_ok(),
            "others are not held up"
        );
        assert!(limits.admit(client, 61_000).await.is_ok(), "a new minute");
    }

    #[tokio::test]
    async fn one_client_cannot_hold_every_slot() {
        let limits = Arc::new(ExchangeLimits::new(Some(1_000), vec![]));
        let flood = ip("198.51.100.1");
        let mut held = Vec::new();
        for _ in 0..PER_CLIENT_IN_FLIGHT {
            held.push(limits.admit(flood, 0).await.unwrap());
        }
        assert_eq!(limits.admit(flood, 0).await.err(), Some(Limited::Busy));
        assert!(limits.admit(ip("198.51.100.2"), 0).await.is_ok());
        drop(held);
        assert!(limits.admit(flood, 0).await.is_ok(), "slots come back");
    }

    #[tokio::test]
    async fn with_the_limit_off_only_the_global_bound_remains() {
        let limits = Arc::new(ExchangeLimits::new(None, vec![]));
        let one = ip("127.0.0.1");
        let mut held = Vec::new();
        for _ in 0..IN_FLIGHT {
            held.push(limits.admit(one, 0).await.unwrap());
        }
        let waiting = tokio::spawn({
            let limits = limits.clone();
            async move { limits.admit(one, 0).await.is_ok() }
        });
        drop(held.pop());
        assert!(
            waiting.await.unwrap(),
            "a freed slot goes to the one waiting"
        );
    }

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let limits = ExchangeLimits::new(Some(1), vec!["10.0.0.0/8".parse().unwrap()]);
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "6.6.6.6, 198.51.100.9, 10.1.1.1".parse().unwrap(),
        );
        assert_eq!(
            limits.client_address(Some(ip("10.0.0.2")), &headers),
            Some(ip("198.51.100.9")),
            "the rightmost address our proxies did not add"
        );
        assert_eq!(
            limits.client_address(Some(ip("192.0.2.1")), &headers),
            Some(ip("192.0.2.1")),
            "an untrusted peer's header is ignored"
        );
        let hop = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("x-forwarded-for", value.parse().unwrap());
            limits.client_address(Some(ip("10.0.0.2")), &headers)
        };
        assert_eq!(
            hop("6.6.6.6, 203.0.113.8:443"),
            Some(ip("203.0.113.8")),
            "ip:port"
        );
        assert_eq!(
            hop("6.6.6.6, [2001:db8::7]:443, 10.1.1.1"),
            Some(ip("2001:db8::7")),
            "[v6]:port"
        );
        assert_eq!(
            hop("6.6.6.6, not-an-address, 10.1.1.1"),
            Some(ip("10.1.1.1")),
            "an unreadable hop is the client its proxy saw, never the claim left of it"
        );
    }

    #[tokio::test]
    async fn one_ipv6_64_is_one_client() {
        let limits = Arc::new(ExchangeLimits::new(Some(5), vec![]));
        for n in 1..=5 {
            drop(
                limits
                    .admit(ip(&format!("2001:db8:1:2::{n}")), 1_000)
                    .await
                    .unwrap(),
            );
        }
        assert!(matches!(
            limits.admit(ip("2001:db8:1:2:ffff::9"), 1_000).await.err(),
            Some(Limited::Rate { .. })
        ));
        assert!(
            limits.admit(ip("2001:db8:1:3::1"), 1_000).await.is_ok(),
            "another /64"
        );
    }

    #[tokio::test]
    async fn the_remembered_clients_are_bounded() {
        let limits = Arc::new(ExchangeLimits::new(Some(60), vec![]));
        for i in 0..(MAX_CLIENTS as u32 + 50) {
            let address = IpAddr::from(std::net::Ipv4Addr::from(0x0A00_0000 + i));
            drop(limits.admit(address, i64::from(i)).await.unwrap());
        }
        assert!(lock(&limits.clients).len() <= MAX_CLIENTS);
    }
}

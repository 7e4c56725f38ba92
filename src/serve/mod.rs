//! Serving HTTP: the accept loop, with bounds on what slow and idle clients can hold.
//!
//! `axum::serve` has no header-read timeout or connection cap, so a thousand idle sockets
//! or half-sent headers could hold the file descriptors and memory for ever. Here every
//! connection must send its request headers (and, between requests, the next ones) within
//! the header timeout, headers are bounded in size, at most `max_connections` are open at
//! once (more wait in the kernel's backlog), and a failing `accept` (out of file
//! descriptors) is logged, once a second at most.
//!
//! HTTP/2 has no header timeout between streams, and hyper's keep-alive pings only find
//! dead peers: a client that answers them keeps an idle connection for ever. So every
//! connection, whatever its protocol, is closed (gracefully: GOAWAY on HTTP/2) once it has
//! had no request in flight for the header timeout (`idle`).

mod idle;
mod lanes;
mod per_address;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

use idle::{Activity, Tracked};
use ipnet::IpNet;
use lanes::Lanes;
use per_address::PerAddress;

/// Request headers larger than this are refused (hyper's read buffer; its minimum is 8 KiB).
const MAX_HEADER_BYTES: usize = 64 * 1024;
/// HTTP/2 pings a connection this often, and drops it when a ping goes unanswered.
const HTTP2_KEEP_ALIVE: Duration = Duration::from_secs(30);

/// How the listener treats its clients.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Connections open at once (IOP_MAX_CONNECTIONS).
    pub max_connections: usize,
    /// Connections one client address (an IPv6 /64) may hold at once
    /// (IOP_MAX_CONNECTIONS_PER_ADDRESS).
    pub per_address: usize,
    /// Addresses that may hold more: the reverse proxies every client comes through.
    pub unlimited: Arc<[IpNet]>,
    /// Time to send a request's headers, to start the next request on a kept-alive
    /// connection, and for which any connection may sit without a request in flight
    /// (IOP_HEADER_TIMEOUT).
    pub header_timeout: Duration,
    /// Threads that serve connections, each on its own runtime (`lanes`); 0 serves them
    /// on the caller's runtime (IOP_SERVE_THREADS).
    pub threads: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 512,
            per_address: 128,
            unlimited: Arc::new([]),
            header_timeout: Duration::from_secs(10),
            threads: 0,
        }
    }
}

/// Serves `router` until `shutdown` completes, then stops accepting at once and lets the
/// open connections finish their requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: ConnectionLimits,
) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEADER_BYTES)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(HTTP2_KEEP_ALIVE)
        .keep_alive_timeout(limits.header_timeout)
        .max_header_list_size(u32::try_from(MAX_HEADER_BYTES).unwrap_or(u32::MAX));
    let max_connections = u32::try_from(limits.max_connections.max(1)).unwrap_or(u32::MAX);
    let slots = Arc::new(Semaphore::new(max_connections as usize));
    // Every connection holds a receiver: the sender going `true` asks them to finish.
    let (stop, stopping) = watch::channel(false);
    let per_address = PerAddress::new(&limits);
    // Kept until every connection has finished: dropping the lanes drops what they run.
    let lanes = match limits.threads {
        0 => None,
        threads => Some(Lanes::start(threads)?),
    };
    let mut last_accept_error: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // EMFILE and the like: say so (not once per attempt), and let sockets close.
                if last_accept_error.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
                    tracing::error!(error = %error, "cannot accept connections");
                    last_accept_error = Some(Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // One client may not hold more than its share of the slots.
        let Some(held) = per_address.hold(peer.ip()) else {
            drop(stream);
            continue;
        };
        // Nagle delays small responses by up to 40 ms on keep-alive connections.
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let builder = builder.clone();
        let stopping = stopping.clone();
        let header_timeout = limits.header_timeout;
        let connection = move |stream: TcpStream| async move {
            serve_connection(stream, peer, router, &builder, header_timeout, stopping).await;
            drop((held, slot));
        };
        match &lanes {
            None => {
                tokio::spawn(connection(stream));
            }
            // The socket leaves this runtime's driver and joins the lane's.
            Some(lanes) => match stream.into_std() {
                Ok(stream) => lanes.run(move || async move {
                    if let Ok(stream) = TcpStream::from_std(stream) {
                        connection(stream).await;
                    }
                }),
                Err(error) => tracing::debug!(error = %error, "cannot hand a connection over"),
            },
        }
    }
    drop(listener);
    // Every open connection finishes its requests; each frees its slot when it ends.
    let _ = stop.send(true);
    let _ = slots.acquire_many(max_connections).await;
    drop(lanes);
    Ok(())
}

/// Serves one connection until the client leaves, it sits idle for `header_timeout`, or
/// the server stops.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    builder: &auto::Builder<TokioExecutor>,
    header_timeout: Duration,
    mut stopping: watch::Receiver<bool>,
) {
    // Until its first bytes arrive, hyper cannot tell HTTP/1 from HTTP/2, and neither
    // protocol's timers run yet: a silent client is timed out here.
    // (`peek`, not `readable`: readiness can be reported before any byte came.)
    let mut first = [0u8; 1];
    if !matches!(
        tokio::time::timeout(header_timeout, stream.peek(&mut first)).await,
        Ok(Ok(1..))
    ) {
        return;
    }
    let activity = Activity::new();
    // The peer's address, for the per-client exchange limit, stamped on each request:
    // `Router::layer` here would wrap every route again for each connection, and every
    // request would pay for one more boxed service.
    let service = Tracked {
        inner: TowerToHyperService::new(router.map_request(
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            },
        )),
        activity: activity.clone(),
    };
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let mut closing = false;
    loop {
        tokio::select! {
            // A client that goes away or times out ends here; that is no error of ours.
            _ = connection.as_mut() => return,
            () = activity.idle_for(header_timeout), if !closing => {
                connection.as_mut().graceful_shutdown();
                closing = true;
            }
            _ = stopping.wait_for(|stop| *stop), if !closing => {
                connection.as_mut().graceful_shutdown();
                closing = true;
            }
            // A client that does not read the GOAWAY (or the last response) is dropped
            // once it has had another timeout with nothing in flight.
            () = activity.idle_for(header_timeout * 2), if closing => {
                if !activity.is_busy() {
                    return;
                }
            }
        }
    }
}

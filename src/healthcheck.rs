//! `iop-callback healthcheck`: the container's HEALTHCHECK, without curl in the image.
//! Probes `GET /healthz` on the address in IOP_LISTEN and succeeds only on a 200.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, thiserror::Error)]
pub enum Unhealthy {
    #[error("no answer from {0} within the timeout")]
    Timeout(SocketAddr),
    #[error("cannot reach {addr}: {source}")]
    Io {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{addr} answered `{status_line}` instead of 200")]
    Status {
        addr: SocketAddr,
        status_line: String,
    },
}

/// How this process is reached from inside its own host: the listen address, with
/// loopback for an unspecified one (0.0.0.0, [::]). Used by the probe and by `demo`'s
/// client calling its own sandbox.
pub fn target(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

pub async fn probe(listen: SocketAddr, timeout: Duration) -> Result<(), Unhealthy> {
    let addr = target(listen);
    tokio::time::timeout(timeout, request(addr))
        .await
        .map_err(|_| Unhealthy::Timeout(addr))?
}

async fn request(addr: SocketAddr) -> Result<(), Unhealthy> {
    let io = |source| Unhealthy::Io { addr, source };
    let mut stream = TcpStream::connect(addr).await.map_err(io)?;
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(io)?;
    // The status line is all we need; it fits in the first read of a small answer.
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).await.map_err(io)?;
    let status_line = String::from_utf8_lossy(&head[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    if status_line.starts_with("HTTP/1.1 200 ") || status_line == "HTTP/1.1 200" {
        Ok(())
    } else {
        Err(Unhealthy::Status { addr, status_line })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unspecified_host_is_probed_on_loopback() {
        assert_eq!(
            target("0.0.0.0:8080".parse().unwrap()),
            "127.0.0.1:8080".parse().unwrap()
        );
        assert_eq!(
            target("[::]:8080".parse().unwrap()),
            "[::1]:8080".parse().unwrap()
        );
        assert_eq!(
            target("10.1.2.3:9000".parse().unwrap()),
            "10.1.2.3:9000".parse().unwrap()
        );
    }

    #[tokio::test]
    async fn nothing_listening_is_unhealthy() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let result = probe(
            SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(1),
        )
        .await;
        assert!(matches!(result, Err(Unhealthy::Io { .. })));
    }
}

//! Slow and idle clients cannot take the service down: they are cut off after the header
//! timeout, and the connection cap leaves room for others once they go.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::helpers::*;

/// A client that sends half a request and then nothing.
fn half_request(address: &str) -> TcpStream {
    let host = address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .unwrap();
    stream
}

/// Whether the server closed `stream` (a read ends or fails) within `within`.
fn closed_within(mut stream: TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buffer = [0u8; 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            // An error page for the timed-out request may come first.
            Ok(_) => continue,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

/// A patient client's `/healthz`: the status, once it is served.
async fn healthz_within_ten_seconds(app: &TestApp) -> u16 {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn half_sent_headers_and_idle_sockets_are_closed_and_healthz_still_answers() {
    // Every test client is 127.0.0.1: the per-address share is the whole house here.
    let app = spawn_app_with(&[
        "--header-timeout",
        "1s",
        "--max-connections",
        "60",
        "--max-connections-per-address",
        "60",
    ])
    .await;
    let address = app.address.clone();
    let started = Instant::now();
    let (slow, idle) = tokio::task::spawn_blocking(move || {
        let slow: Vec<TcpStream> = (0..40).map(|_| half_request(&address)).collect();
        let host = address.trim_start_matches("http://").to_owned();
        let idle: Vec<TcpStream> = (0..10)
            .map(|_| TcpStream::connect(&host).unwrap())
            .collect();
        (slow, idle)
    })
    .await
    .unwrap();

    // Fifty connections are held open by clients that send nothing useful...
    let response = Browser::new()
        .get(&format!("{}/healthz", app.address))
        .await;
    assert_eq!(response.status(), 200, "the service still answers");

    // ...until the header timeout closes every one of them.
    let all_closed = tokio::task::spawn_blocking(move || {
        slow.into_iter()
            .chain(idle)
            .all(|s| closed_within(s, Duration::from_secs(5)))
    })
    .await
    .unwrap();
    assert!(all_closed, "every slow or idle socket was closed");
    assert!(started.elapsed() < Duration::from_secs(6));
}

#[tokio::test]
async fn a_full_house_of_idle_clients_only_delays_others_until_the_timeout() {
    let app = spawn_app_with(&[
        "--header-timeout",
        "1s",
        "--max-connections",
        "8",
        "--max-connections-per-address",
        "8",
    ])
    .await;
    let host = app.address.trim_start_matches("http://").to_owned();
    let _idle: Vec<TcpStream> = (0..8).map(|_| TcpStream::connect(&host).unwrap()).collect();
    let started = Instant::now();
    assert_eq!(healthz_within_ten_seconds(&app).await, 200);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "served once the idle connections timed out ({:?})",
        started.elapsed()
    );
}

/// An HTTP/2 client (prior knowledge, no TLS) that opens the connection, settles its
/// settings, answers every ping and never opens a stream. Returns whether the server
/// closed the connection within `within`, and whether it said GOAWAY first.
fn idle_http2_client(address: &str, within: Duration) -> (bool, bool) {
    let host = address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).unwrap();
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .unwrap();
    // An empty SETTINGS frame: length 0, type 4, no flags, stream 0.
    stream.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).unwrap();
    stream.set_read_timeout(Some(within)).unwrap();
    let mut goaway = false;
    loop {
        let mut head = [0u8; 9];
        if let Err(e) = stream.read_exact(&mut head) {
            let timed_out = matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            );
            return (!timed_out, goaway);
        }
        let length = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let mut payload = vec![0u8; length];
        if stream.read_exact(&mut payload).is_err() {
            return (true, goaway);
        }
        let (kind, ack) = (head[3], head[4] & 1 == 1);
        match kind {
            4 if !ack => stream.write_all(&[0, 0, 0, 4, 1, 0, 0, 0, 0]).unwrap(),
            6 if !ack => {
                let mut pong = vec![0, 0, 8, 6, 1, 0, 0, 0, 0];
                pong.extend_from_slice(&payload);
                stream.write_all(&pong).unwrap();
            }
            7 => goaway = true,
            _ => {}
        }
    }
}

#[tokio::test]
async fn an_idle_http2_connection_that_answers_pings_is_closed_after_the_header_timeout() {
    let app = spawn_app_with(&[
        "--header-timeout",
        "1s",
        "--max-connections",
        "4",
        "--max-connections-per-address",
        "4",
    ])
    .await;
    let address = app.address.clone();
    let idlers = tokio::task::spawn_blocking(move || {
        let clients: Vec<_> = (0..4)
            .map(|_| {
                let address = address.clone();
                std::thread::spawn(move || idle_http2_client(&address, Duration::from_secs(8)))
            })
            .collect();
        clients
            .into_iter()
            .map(|c| c.join().unwrap())
            .collect::<Vec<_>>()
    });
    // While four idlers hold every slot, a real client waits, and is served once they go.
    assert_eq!(healthz_within_ten_seconds(&app).await, 200);
    for (closed, goaway) in idlers.await.unwrap() {
        assert!(closed, "the idle HTTP/2 connection was closed");
        assert!(goaway, "with a GOAWAY first");
    }
}

#[tokio::test]
async fn one_address_holding_its_share_of_idle_connections_does_not_delay_another() {
    // A share of five for each address, of twenty in all.
    let app = spawn_app_with(&["--header-timeout", "10s", "--max-connections", "20"]).await;
    let host = app.address.trim_start_matches("http://").to_owned();
    let idle: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(&host).unwrap())
        .collect();
    // Beyond its share the address's connections are closed at once.
    let closed_at_once = tokio::task::spawn_blocking(move || {
        idle.into_iter()
            .filter(|mut stream| {
                stream
                    .set_read_timeout(Some(Duration::from_millis(500)))
                    .unwrap();
                // Closed: the end of the stream at once. Held: nothing within the wait.
                matches!(stream.read(&mut [0u8; 1]), Ok(0))
            })
            .count()
    })
    .await
    .unwrap();
    assert_eq!(closed_at_once, 15, "five held, fifteen closed");
    // Another address (loopback has them all) is served at once, well within the header
    // timeout the idle ones could otherwise hold their slots for.
    let started = Instant::now();
    let other = reqwest::Client::builder()
        .local_address(Some("127.0.0.2".parse().unwrap()))
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(5));
}

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

#[tokio::test]
async fn half_sent_headers_and_idle_sockets_are_closed_and_healthz_still_answers() {
    let app = spawn_app_with(&["--header-timeout", "1s", "--max-connections", "60"]).await;
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
    let app = spawn_app_with(&["--header-timeout", "1s", "--max-connections", "8"]).await;
    let host = app.address.trim_start_matches("http://").to_owned();
    let _idle: Vec<TcpStream> = (0..8).map(|_| TcpStream::connect(&host).unwrap()).collect();
    let started = Instant::now();
    let response = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "served once the idle connections timed out ({:?})",
        started.elapsed()
    );
}

//! Pushes under load, on demand (never in CI): 64 concurrent senders push signed messages to
//! `/push` for 60 s while a local endpoint receives the webhooks the service delivers for
//! them. Reports pushes acknowledged a second, the time to the 200 (p50, p99), and whether
//! every acknowledged push was delivered (counted at the endpoint by the order id each push
//! carries). With `--kill-at SECONDS` the service is killed (SIGKILL) at that point of the
//! run and started again on the same database: pushes acknowledged before the kill must
//! still be delivered.
//!
//!   cargo build --release --locked --examples
//!   target/release/examples/push-bench --connections 64 --duration 60 [--kill-at 30]
//!
//! It starts the release service binary itself (target/release/iop-callback, or
//! IOP_BENCH_BINARY) on SQLite, or on PostgreSQL with `--database postgres` and
//! IOP_BENCH_POSTGRES_URL.

#[path = "common.rs"]
mod common;
mod load;

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::post;
use iop_callback::iop::sign::hmac_sha256;

use common::{free_port, serve, status_kib};
use load::Load;

const APP_KEY: &str = "12345678";
const APP_SECRET: &str = "bench-secret-0123456789";
const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

struct Options {
    load: Load,
    kill_at: Option<Duration>,
}

fn options() -> Options {
    let mut options = Options {
        load: Load::default(),
        kill_at: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        match (pair[0].as_str(), pair.get(1)) {
            (flag, Some(v)) if options.load.take(flag, v) => {}
            ("--kill-at", Some(v)) => {
                options.kill_at = Some(Duration::from_secs(v.parse().expect("seconds")));
            }
            _ => panic!(
                "usage: push-bench [--database sqlite|postgres] [--connections N] [--duration SECONDS] [--kill-at SECONDS]"
            ),
        }
    }
    options
}

/// The order ids the endpoint received, and how many deliveries came in all.
#[derive(Default)]
struct Endpoint {
    orders: HashSet<String>,
    deliveries: u64,
}

/// The webhook endpoint: takes every delivery, notes the push's order id.
async fn receive(
    axum::extract::State(endpoint): axum::extract::State<Arc<Mutex<Endpoint>>>,
    body: Bytes,
) -> StatusCode {
    let payload: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let order = payload["data"]["data"]["trade_order_id"]
        .as_str()
        .map(str::to_owned);
    let mut endpoint = endpoint.lock().unwrap();
    endpoint.deliveries += 1;
    if let Some(order) = order {
        endpoint.orders.insert(order);
    }
    StatusCode::NO_CONTENT
}

fn start_service(port: u16, database_url: &str, hook: &str) -> Child {
    let binary =
        std::env::var("IOP_BENCH_BINARY").unwrap_or_else(|_| "target/release/iop-callback".into());
    Command::new(binary)
        .env("RUST_LOG", "warn")
        .env("IOP_LISTEN", format!("127.0.0.1:{port}"))
        .env("IOP_DATABASE_URL", database_url)
        .env("IOP_APP_KEY", APP_KEY)
        .env("IOP_APP_SECRET", APP_SECRET)
        .env("IOP_WEBHOOK_URLS", hook)
        .env("IOP_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env("IOP_REFRESH_INTERVAL", "off")
        .stdout(Stdio::null())
        .spawn()
        .expect("the release binary (cargo build --release --locked)")
}

async fn wait_ready(client: &reqwest::Client, base: &str) -> Duration {
    let started = Instant::now();
    loop {
        if let Ok(answer) = client.get(format!("{base}/healthz")).send().await
            && answer.status() == 200
        {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What one sender saw: the orders acknowledged, the time to each 200, and refusals.
#[derive(Default)]
struct Sent {
    acknowledged: Vec<String>,
    micros: Vec<u32>,
    refused: u64,
}

async fn sender(client: reqwest::Client, base: String, worker: usize, until: Instant) -> Sent {
    let mut sent = Sent::default();
    let mut n = 0u64;
    while Instant::now() < until {
        n += 1;
        let order = format!("{worker}-{n}");
        let body = format!(
            r#"{{"seller_id":"{worker}","message_type":0,"data":{{"trade_order_id":"{order}","order_status":"unpaid","status_update_time":1603698638}},"timestamp":1603766859530,"site":"lazada_th"}}"#
        );
        let signature = hex::encode(hmac_sha256(
            APP_SECRET.as_bytes(),
            &[APP_KEY.as_bytes(), body.as_bytes()],
        ));
        let started = Instant::now();
        let answer = client
            .post(format!("{base}/push"))
            .header("authorization", signature)
            .body(body)
            .send()
            .await;
        match answer {
            Ok(answer) if answer.status() == 200 => {
                sent.micros
                    .push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
                sent.acknowledged.push(order);
            }
            // Not acknowledged: the platform would send it again. Not counted as lost.
            _ => {
                sent.refused += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    sent
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[index]) / 1_000.0
}

#[tokio::main]
async fn main() {
    let options = options();
    let endpoint = Arc::new(Mutex::new(Endpoint::default()));
    let hook_address = serve(
        Router::new()
            .route("/hook", post(receive))
            .with_state(endpoint.clone()),
    )
    .await;
    let hook = format!("http://{hook_address}/hook");
    let data = tempfile::tempdir().unwrap();
    let database_url = match options.load.database.as_str() {
        "postgres" => {
            let server = std::env::var("IOP_BENCH_POSTGRES_URL")
                .expect("IOP_BENCH_POSTGRES_URL for --database postgres");
            iop_callback::store::test_database::fresh_postgres_url_from(&server).await
        }
        _ => format!("sqlite://{}/pushes.db", data.path().display()),
    };
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.load.connections)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut service = start_service(port, &database_url, &hook);
    wait_ready(&client, &base).await;

    let started = Instant::now();
    let until = started + options.load.duration;
    let senders: Vec<_> = (0..options.load.connections)
        .map(|worker| tokio::spawn(sender(client.clone(), base.clone(), worker, until)))
        .collect();
    let mut restart = None;
    if let Some(at) = options.kill_at {
        tokio::time::sleep(at).await;
        service.kill().unwrap();
        service.wait().unwrap();
        let killed = Instant::now();
        service = start_service(port, &database_url, &hook);
        wait_ready(&client, &base).await;
        restart = Some(killed.elapsed());
    }
    let mut acknowledged = Vec::new();
    let mut micros = Vec::new();
    let mut refused = 0;
    for sender in senders {
        let sent = sender.await.unwrap();
        acknowledged.extend(sent.acknowledged);
        micros.extend(sent.micros);
        refused += sent.refused;
    }
    let load = started.elapsed();
    // Every acknowledged push must reach the endpoint; give the backlog up to 15 minutes.
    let drain_started = Instant::now();
    let lost = loop {
        let lost = {
            let endpoint = endpoint.lock().unwrap();
            acknowledged
                .iter()
                .filter(|order| !endpoint.orders.contains(*order))
                .count()
        };
        if lost == 0 || drain_started.elapsed() > Duration::from_secs(900) {
            break lost;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let drained = drain_started.elapsed();
    let peak_kib = status_kib(service.id(), "VmHWM:");
    let _ = service.kill();
    let _ = service.wait();
    micros.sort_unstable();
    let endpoint = endpoint.lock().unwrap();
    println!(
        "connections {}, {:.0} s{}",
        options.load.connections,
        load.as_secs_f64(),
        restart.map_or(String::new(), |r| format!(
            ", killed at {} s and back in {:.2} s",
            options.kill_at.unwrap_or_default().as_secs(),
            r.as_secs_f64()
        ))
    );
    println!(
        "acknowledged {} ({:.0}/s), not acknowledged {refused}, time to 200 p50 {:.2} ms p99 {:.2} ms",
        acknowledged.len(),
        acknowledged.len() as f64 / load.as_secs_f64(),
        percentile(&micros, 0.5),
        percentile(&micros, 0.99),
    );
    println!(
        "delivered {} of them ({} deliveries in all), lost {lost}, last delivered {:.1} s after the load",
        acknowledged.len() - lost,
        endpoint.deliveries,
        drained.as_secs_f64(),
    );
    println!("the service's peak RSS {:.1} MiB", peak_kib as f64 / 1024.0);
}

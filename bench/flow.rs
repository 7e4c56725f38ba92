//! The whole seller flow under load, on demand (never in CI): `/authorize`, then
//! `/callback` with the state and the browser cookie, which checks the state, signs and
//! sends `/auth/token/create` to a stand-in platform answering at once (it verifies the
//! signature), stores the tokens and redirects to the result page.
//!
//!   cargo build --release --locked --examples
//!   target/release/examples/flow-bench --database sqlite --connections 64 --duration 60
//!   IOP_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1/postgres \
//!     target/release/examples/flow-bench --database postgres
//!
//! It starts the release service binary itself (target/release/iop-callback, or
//! IOP_BENCH_BINARY), with `IOP_EXCHANGE_LIMIT=off`, and reports completed flows a second,
//! per-flow latency, failures and the service's peak RSS.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use iop_callback::iop::sign;
use serde_json::json;

const APP_KEY: &str = "12345678";
const APP_SECRET: &str = "bench-secret-0123456789";

struct Options {
    database: String,
    connections: usize,
    duration: Duration,
}

fn options() -> Options {
    let mut options = Options {
        database: "sqlite".into(),
        connections: 64,
        duration: Duration::from_secs(60),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        match (pair[0].as_str(), pair.get(1)) {
            ("--database", Some(v)) => options.database = v.clone(),
            ("--connections", Some(v)) => options.connections = v.parse().expect("a number"),
            ("--duration", Some(v)) => {
                options.duration = Duration::from_secs(v.parse().expect("seconds"));
            }
            _ => panic!(
                "usage: flow-bench [--database sqlite|postgres] [--connections N] [--duration SECONDS]"
            ),
        }
    }
    options
}

/// The stand-in `/rest/auth/token/create`: checks the signature like the gateway, then
/// answers with a pair for a seller named after the code.
async fn token_create(body: Bytes) -> axum::Json<serde_json::Value> {
    let mut params: Vec<(String, String)> =
        url::form_urlencoded::parse(&body).into_owned().collect();
    let sent = params
        .iter()
        .position(|(k, _)| k == "sign")
        .map(|i| params.remove(i).1)
        .unwrap_or_default();
    let expected = sign::sign(
        APP_SECRET,
        "/auth/token/create",
        params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    );
    if sent != expected {
        return axum::Json(
            json!({"type": "ISV", "code": "IncompleteSignature", "request_id": "b"}),
        );
    }
    let code = params
        .iter()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    axum::Json(json!({
        "access_token": format!("50000at{code}"), "refresh_token": format!("50001rt{code}"),
        "expires_in": 2_592_000, "refresh_expires_in": 5_184_000, "seller_id": code,
        "user_nick": "bench", "code": "0", "request_id": "bench"
    }))
}

async fn start_platform() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = Router::new().route("/rest/auth/token/create", post(token_create));
    tokio::spawn(async move { axum::serve(listener, app).await });
    address
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_service(platform: SocketAddr, port: u16, database_url: &str) -> Child {
    let binary =
        std::env::var("IOP_BENCH_BINARY").unwrap_or_else(|_| "target/release/iop-callback".into());
    Command::new(binary)
        .env("RUST_LOG", "warn")
        .env("IOP_APP_KEY", APP_KEY)
        .env("IOP_APP_SECRET", APP_SECRET)
        .env("IOP_API_URL", format!("http://{platform}/rest"))
        .env(
            "IOP_AUTHORIZE_URL",
            format!("http://{platform}/oauth/authorize"),
        )
        .env("IOP_LISTEN", format!("127.0.0.1:{port}"))
        .env("IOP_DATABASE_URL", database_url)
        .env("IOP_EXCHANGE_LIMIT", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the release binary (cargo build --release)")
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// One seller: a browser with its own cookies, authorizing again and again.
async fn seller(
    base: String,
    worker: usize,
    until: Instant,
    latencies: Arc<std::sync::Mutex<Vec<u32>>>,
    failures: Arc<AtomicU64>,
) {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut flow = 0u64;
    let mut mine = Vec::new();
    while Instant::now() < until {
        flow += 1;
        let started = Instant::now();
        let ok = async {
            let authorize = http.get(format!("{base}/authorize")).send().await.ok()?;
            let location = authorize
                .headers()
                .get("location")?
                .to_str()
                .ok()?
                .to_owned();
            let state = url::Url::parse(&location)
                .ok()?
                .query_pairs()
                .find(|(k, _)| k == "state")?
                .1
                .into_owned();
            let callback = http
                .get(format!(
                    "{base}/callback?code=s{worker}-{flow}&state={state}"
                ))
                .send()
                .await
                .ok()?;
            let to_result = callback.headers().get("location")?.to_str().ok()?;
            (callback.status() == 303 && to_result.starts_with("/result/")).then_some(())
        }
        .await
        .is_some();
        if ok {
            mine.push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
        } else {
            failures.fetch_add(1, Ordering::Relaxed);
        }
    }
    latencies.lock().unwrap().extend(mine);
}

#[tokio::main]
async fn main() {
    let options = options();
    let data = tempfile::tempdir().unwrap();
    let database_url = match options.database.as_str() {
        "sqlite" => format!("sqlite://{}/bench.db", data.path().display()),
        "postgres" => {
            iop_callback::store::test_database::fresh_postgres_url_from(
                &std::env::var("IOP_BENCH_POSTGRES_URL").expect("IOP_BENCH_POSTGRES_URL"),
            )
            .await
        }
        other => panic!("--database sqlite or postgres, not {other}"),
    };
    let platform = start_platform().await;
    let port = free_port();
    let mut service = start_service(platform, port, &database_url);
    let base = format!("http://127.0.0.1:{port}");
    let probe = reqwest::Client::new();
    while probe.get(format!("{base}/healthz")).send().await.is_err() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let idle_rss = peak_rss_kib(service.id());

    let latencies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let failures = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let until = started + options.duration;
    let workers: Vec<_> = (0..options.connections)
        .map(|worker| {
            tokio::spawn(seller(
                base.clone(),
                worker,
                until,
                latencies.clone(),
                failures.clone(),
            ))
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let peak = peak_rss_kib(service.id());
    let _ = service.kill();
    let _ = service.wait();

    let mut latencies = latencies.lock().unwrap().clone();
    latencies.sort_unstable();
    let percentile = |p: f64| {
        let index = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies
            .get(index)
            .map_or(0.0, |us| f64::from(*us) / 1000.0)
    };
    println!(
        "database {}: {} connections, {:.0} s: {} flows ({:.0}/s), failures {}, flow latency p50 {:.2} ms p99 {:.2} ms, service RSS idle {} KiB peak {} KiB",
        options.database,
        options.connections,
        elapsed,
        latencies.len(),
        latencies.len() as f64 / elapsed,
        failures.load(Ordering::Relaxed),
        percentile(0.50),
        percentile(0.99),
        idle_rss,
        peak
    );
}

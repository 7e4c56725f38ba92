//! The whole seller flow under load, on demand (never in CI): `/authorize`, then
//! `/callback` with the state and the browser cookie, which checks the state, signs and
//! sends `/auth/token/create` to a stand-in platform answering at once (it verifies the
//! signature), stores the tokens and redirects to the result page.
//!
//!   bash bench/side-by-side.sh        # iop-callback and a hand-written Flask service
//!   target/release/examples/flow-bench --database sqlite --connections 64 --duration 60
//!   IOP_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1/postgres \
//!     target/release/examples/flow-bench --database postgres
//!
//! It starts the release service binary itself (target/release/iop-callback, or
//! IOP_BENCH_BINARY), with `IOP_EXCHANGE_LIMIT=off`, and reports completed flows a second,
//! per-flow latency, failures, startup time and the service's idle and peak RSS. With
//! `--compare flask` it then runs `bench/flask_callback.py` on gunicorn (from the virtual
//! environment in IOP_BENCH_VENV) under the same load, and prints both side by side.
//!
//! `--during 'COMMAND'` runs a shell command when the load starts (`bench/failover.sh`
//! crashes the database with it) and adds what a failover needs seen: how each seller's
//! flow ended (the result page; the "briefly unavailable" page, still there after ten
//! reloads, for a code that was never sent; or failed), and when readiness was down.

#[path = "common.rs"]
mod common;
mod load;

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
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use common::{free_port, serve, status_kib};
use load::Load;

const APP_KEY: &str = "12345678";
const APP_SECRET: &str = "bench-secret-0123456789";

struct Options {
    load: Load,
    /// Also run the hand-written Flask service under the same load.
    compare_flask: bool,
    /// Gunicorn's sync workers: its documented 2 × cores + 1.
    flask_workers: usize,
    /// A shell command run when the load starts (a database crash, for instance).
    during: Option<String>,
}

fn options() -> Options {
    let mut options = Options {
        load: Load::default(),
        compare_flask: false,
        flask_workers: 2 * std::thread::available_parallelism().map_or(1, |n| n.get()) + 1,
        during: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        match (pair[0].as_str(), pair.get(1)) {
            (flag, Some(v)) if options.load.take(flag, v) => {}
            ("--compare", Some(v)) if v == "flask" => options.compare_flask = true,
            ("--flask-workers", Some(v)) => options.flask_workers = v.parse().expect("a number"),
            ("--during", Some(v)) => options.during = Some(v.clone()),
            _ => panic!(
                "usage: flow-bench [--database sqlite|postgres] [--connections N] [--duration SECONDS] [--compare flask] [--flask-workers N] [--during COMMAND]"
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
    serve(Router::new().route("/rest/auth/token/create", post(token_create))).await
}

/// The service under test.
#[derive(Clone, Copy, PartialEq)]
enum Service {
    IopCallback,
    Flask,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::IopCallback => "iop-callback",
            Service::Flask => "Flask + gunicorn",
        }
    }
}

/// Starts `service` on `port` against the stand-in platform; both read the same variables.
fn start_service(
    service: Service,
    options: &Options,
    platform: SocketAddr,
    port: u16,
    data: &std::path::Path,
    database_url: &str,
) -> Child {
    let mut command = match service {
        Service::IopCallback => {
            let binary = std::env::var("IOP_BENCH_BINARY")
                .unwrap_or_else(|_| "target/release/iop-callback".into());
            let mut command = Command::new(binary);
            command
                .env("RUST_LOG", "warn")
                .env("IOP_LISTEN", format!("127.0.0.1:{port}"))
                .env("IOP_DATABASE_URL", database_url)
                .env("IOP_EXCHANGE_LIMIT", "off");
            command
        }
        Service::Flask => {
            let venv =
                std::env::var("IOP_BENCH_VENV").unwrap_or_else(|_| "target/bench-venv".into());
            let mut command = Command::new(format!("{venv}/bin/gunicorn"));
            command
                .args(["--workers", &options.flask_workers.to_string()])
                .args(["--bind", &format!("127.0.0.1:{port}")])
                .args([
                    "--chdir",
                    "bench",
                    "--log-level",
                    "warning",
                    "flask_callback:app",
                ])
                .env("FLASK_DATABASE", data.join("flask.db"))
                .env("FLASK_SECRET_KEY", "bench-flask-session-key-0123456789");
            command
        }
    };
    command
        .env("IOP_APP_KEY", APP_KEY)
        .env("IOP_APP_SECRET", APP_SECRET)
        .env("IOP_API_URL", format!("http://{platform}/rest"))
        .env(
            "IOP_AUTHORIZE_URL",
            format!("http://{platform}/oauth/authorize"),
        )
        .env("IOP_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "starting {} ({e}): see bench/side-by-side.sh",
                service.name()
            )
        })
}

/// Resident memory of a process and all its descendants (gunicorn's workers), in KiB.
fn tree_rss_kib(root: u32) -> u64 {
    let mut parents = std::collections::HashMap::<u32, Vec<u32>>::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The parent pid follows the command name, which is in parentheses.
        if let Some(ppid) = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok())
        {
            parents.entry(ppid).or_default().push(pid);
        }
    }
    let mut total = 0;
    let mut pending = vec![root];
    while let Some(pid) = pending.pop() {
        total += status_kib(pid, "VmRSS:");
        pending.extend(parents.get(&pid).into_iter().flatten());
    }
    total
}

/// A browser reduced to what the flow needs: one keep-alive HTTP/1.1 connection (opened
/// again when the server closes it, as gunicorn's sync workers do after every response)
/// and its cookies. Like wrk, it costs the machine little: with reqwest the load generator
/// took over a quarter of the two cores, which the services under test then lacked.
struct Browser {
    server: SocketAddr,
    connection: Option<BufReader<TcpStream>>,
    cookies: Vec<(String, String)>,
}

/// The part of a response the flow looks at.
struct Answer {
    status: u16,
    location: Option<String>,
}

impl Browser {
    fn new(server: SocketAddr) -> Self {
        Browser {
            server,
            connection: None,
            cookies: Vec::new(),
        }
    }

    async fn get(&mut self, target: &str) -> std::io::Result<Answer> {
        let mut request = format!("GET {target} HTTP/1.1\r\nHost: {}\r\n", self.server);
        if !self.cookies.is_empty() {
            let pairs: Vec<String> = self
                .cookies
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect();
            request.push_str(&format!("Cookie: {}\r\n", pairs.join("; ")));
        }
        request.push_str("\r\n");
        let connection = match &mut self.connection {
            Some(connection) => connection,
            None => self
                .connection
                .insert(BufReader::new(TcpStream::connect(self.server).await?)),
        };
        connection.get_mut().write_all(request.as_bytes()).await?;
        let (answer, keep_alive) = read_answer(connection, &mut self.cookies).await?;
        if !keep_alive {
            self.connection = None;
        }
        Ok(answer)
    }
}

/// Reads one response: status, headers (remembering cookies), and the body, skipped.
/// Returns whether the connection stays open.
async fn read_answer(
    connection: &mut BufReader<TcpStream>,
    cookies: &mut Vec<(String, String)>,
) -> std::io::Result<(Answer, bool)> {
    let broken = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let mut line = String::new();
    connection.read_line(&mut line).await?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| broken("no status line"))?;
    let (mut location, mut length, mut keep_alive) = (None, 0usize, true);
    loop {
        line.clear();
        if connection.read_line(&mut line).await? == 0 {
            return Err(broken("closed within the headers"));
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            return Err(broken("a header without a colon"));
        };
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "location" => location = Some(value.to_owned()),
            "content-length" => length = value.parse().map_err(|_| broken("content-length"))?,
            "connection" => keep_alive = !value.eq_ignore_ascii_case("close"),
            "transfer-encoding" => return Err(broken("chunked bodies are not expected here")),
            "set-cookie" => {
                let pair = value.split(';').next().unwrap_or_default();
                if let Some((name, value)) = pair.split_once('=') {
                    cookies.retain(|(n, _)| n != name);
                    cookies.push((name.to_owned(), value.to_owned()));
                }
            }
            _ => {}
        }
    }
    let mut body = vec![0; length];
    connection.read_exact(&mut body).await?;
    Ok((Answer { status, location }, keep_alive))
}

/// How the flows ended, besides the completed ones (whose latencies are kept).
#[derive(Default)]
struct Endings {
    /// Anything but the result page or the retry page: a 500, another status, a broken
    /// connection.
    failures: AtomicU64,
    /// Of those, answers of 500.
    errors_500: AtomicU64,
    /// Callbacks answered 503 and reloaded.
    reloads: AtomicU64,
    /// Sellers still on the "briefly unavailable" page after their last reload: their
    /// code was never sent (the 503 says so), so reloading later still works.
    on_retry_page: AtomicU64,
}

/// How often a seller reloads a 503 before the flow counts as left on the retry page.
const RELOADS: usize = 10;

/// One seller: a browser with its own cookies, authorizing again and again.
async fn seller(
    server: SocketAddr,
    worker: usize,
    until: Instant,
    latencies: Arc<std::sync::Mutex<Vec<u32>>>,
    endings: Arc<Endings>,
) {
    let mut browser = Browser::new(server);
    let mut flow = 0u64;
    let mut mine = Vec::new();
    while Instant::now() < until {
        flow += 1;
        let started = Instant::now();
        let last = async {
            let authorize = browser.get("/authorize").await.ok()?;
            let location = authorize.location?;
            let (_, query) = location.split_once('?')?;
            let state = url::form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "state")?
                .1
                .into_owned();
            let state: String = url::form_urlencoded::byte_serialize(state.as_bytes()).collect();
            let path = format!("/callback?code=s{worker}-{flow}&state={state}");
            // A seller told the service is briefly unavailable (503) reloads the same URL,
            // as the page says, after the Retry-After.
            let mut callback = browser.get(&path).await.ok()?;
            for _ in 0..RELOADS {
                if callback.status != 503 {
                    break;
                }
                endings.reloads.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_secs(2)).await;
                browser.connection = None;
                callback = browser.get(&path).await.ok()?;
            }
            Some(callback)
        }
        .await;
        match last {
            Some(Answer {
                status: 303,
                location: Some(to),
            }) if to.starts_with("/result/") => {
                mine.push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
            }
            Some(Answer { status: 503, .. }) => {
                endings.on_retry_page.fetch_add(1, Ordering::Relaxed);
            }
            other => {
                endings.failures.fetch_add(1, Ordering::Relaxed);
                if other.is_some_and(|answer| answer.status == 500) {
                    endings.errors_500.fetch_add(1, Ordering::Relaxed);
                }
                // Whatever went wrong, the next flow starts on a fresh connection.
                browser.connection = None;
            }
        }
    }
    latencies.lock().unwrap().extend(mine);
}

/// Polls `/readyz` every 100 ms until `until`, and returns the spans it was not 200, as
/// seconds since `started`.
async fn watch_readiness(base: String, started: Instant, until: Instant) -> Vec<(f64, f64)> {
    let probe = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let mut down: Vec<(f64, f64)> = Vec::new();
    let mut since: Option<f64> = None;
    while Instant::now() < until {
        let ready = probe
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        let at = started.elapsed().as_secs_f64();
        match (ready, since) {
            (false, None) => since = Some(at),
            (true, Some(from)) => {
                down.push((from, at));
                since = None;
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    down.extend(since.map(|from| (from, started.elapsed().as_secs_f64())));
    down
}

/// What one service did under the load.
struct Report {
    service: Service,
    flows: usize,
    seconds: f64,
    endings: Arc<Endings>,
    /// When readiness was not 200, in seconds since the load started (`--during` only).
    not_ready: Vec<(f64, f64)>,
    longest_ms: f64,
    p50_ms: f64,
    p99_ms: f64,
    startup_ms: f64,
    idle_rss_kib: u64,
    peak_rss_kib: u64,
}

async fn run(service: Service, options: &Options, platform: SocketAddr) -> Report {
    let data = tempfile::tempdir().unwrap();
    let database_url = match options.load.database.as_str() {
        "sqlite" => format!("sqlite://{}/bench.db", data.path().display()),
        "postgres" => {
            iop_callback::store::test_database::fresh_postgres_url_from(
                &std::env::var("IOP_BENCH_POSTGRES_URL").expect("IOP_BENCH_POSTGRES_URL"),
            )
            .await
        }
        other => panic!("--database sqlite or postgres, not {other}"),
    };
    let port = free_port();
    let launched = Instant::now();
    let mut child = start_service(service, options, platform, port, data.path(), &database_url);
    let base = format!("http://127.0.0.1:{port}");
    let server = SocketAddr::from(([127, 0, 0, 1], port));
    let probe = reqwest::Client::new();
    loop {
        match probe.get(format!("{base}/healthz")).send().await {
            Ok(response) if response.status().is_success() => break,
            _ => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
    let startup_ms = launched.elapsed().as_secs_f64() * 1000.0;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_rss_kib = tree_rss_kib(child.id());

    // Sampled, since gunicorn's workers are separate processes.
    let peak = Arc::new(AtomicU64::new(idle_rss_kib));
    let sampler = {
        let peak = peak.clone();
        let pid = child.id();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(tree_rss_kib(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    let latencies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let endings = Arc::new(Endings::default());
    let started = Instant::now();
    let until = started + options.load.duration;
    let during = options.during.as_ref().map(|command| {
        Command::new("sh")
            .args(["-c", command])
            .spawn()
            .expect("the --during command")
    });
    let readiness = during
        .is_some()
        .then(|| tokio::spawn(watch_readiness(base.clone(), started, until)));
    let workers: Vec<_> = (0..options.load.connections)
        .map(|worker| {
            tokio::spawn(seller(
                server,
                worker,
                until,
                latencies.clone(),
                endings.clone(),
            ))
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    let seconds = started.elapsed().as_secs_f64();
    if let Some(mut during) = during {
        let _ = during.wait();
    }
    let not_ready = match readiness {
        Some(watch) => watch.await.unwrap(),
        None => Vec::new(),
    };
    sampler.abort();
    let peak_rss_kib = peak.load(Ordering::Relaxed).max(tree_rss_kib(child.id()));
    let _ = child.kill();
    let _ = child.wait();

    let mut latencies = latencies.lock().unwrap().clone();
    latencies.sort_unstable();
    let percentile = |p: f64| {
        let index = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies
            .get(index)
            .map_or(0.0, |us| f64::from(*us) / 1000.0)
    };
    Report {
        service,
        flows: latencies.len(),
        seconds,
        endings,
        not_ready,
        longest_ms: percentile(1.0),
        p50_ms: percentile(0.50),
        p99_ms: percentile(0.99),
        startup_ms,
        idle_rss_kib,
        peak_rss_kib,
    }
}

#[tokio::main]
async fn main() {
    let options = options();
    let platform = start_platform().await;
    let mut reports = vec![run(Service::IopCallback, &options, platform).await];
    if options.compare_flask {
        reports.push(run(Service::Flask, &options, platform).await);
    }
    println!(
        "\nwhole seller flow, {} connections, {} s each, database {} (Flask: SQLite, {} workers)\n",
        options.load.connections,
        options.load.duration.as_secs(),
        options.load.database,
        options.flask_workers
    );
    println!(
        "| service | flows | flows/s | failures | p50 | p99 | startup | RSS idle | RSS peak |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in &reports {
        println!(
            "| {} | {} | {:.0} | {} | {:.1} ms | {:.1} ms | {:.0} ms | {:.1} MB | {:.1} MB |",
            r.service.name(),
            r.flows,
            r.flows as f64 / r.seconds,
            r.endings.failures.load(Ordering::Relaxed),
            r.p50_ms,
            r.p99_ms,
            r.startup_ms,
            r.idle_rss_kib as f64 * 1024.0 / 1e6,
            r.peak_rss_kib as f64 * 1024.0 / 1e6,
        );
    }
    for r in &reports {
        let endings = &r.endings;
        let reloads = endings.reloads.load(Ordering::Relaxed);
        if reloads > 0 || options.during.is_some() {
            println!(
                "\n{}: {} callbacks answered 503 and reloaded; {} sellers left on the retry page (code not sent); {} answers of 500; the longest flow took {:.0} ms",
                r.service.name(),
                reloads,
                endings.on_retry_page.load(Ordering::Relaxed),
                endings.errors_500.load(Ordering::Relaxed),
                r.longest_ms
            );
        }
        if options.during.is_some() {
            let spans: Vec<String> = r
                .not_ready
                .iter()
                .map(|(from, to)| format!("{from:.1}-{to:.1} s"))
                .collect();
            println!("readiness not 200: {}", spans.join(", "));
        }
    }
    if let [ours, theirs] = &reports[..] {
        let ratio = (ours.flows as f64 / ours.seconds) / (theirs.flows as f64 / theirs.seconds);
        println!(
            "\niop-callback completes {ratio:.1}× the flows a second of the hand-written service"
        );
    }
}

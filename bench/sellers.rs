//! Many sellers, on demand (never in CI): fills a database with N authorized sellers
//! straight through the store (encrypted unless `--plain`), starts the release service on
//! it, and times what an operator and an integrator do with that many: the token list's
//! first and middle pages, the console's first page and a search, one seller's token,
//! startup to ready, a refresh pass, idle CPU, and the service's memory.
//!
//!   cargo build --release --locked --examples && cargo build --release --locked
//!   target/release/examples/sellers-bench --database sqlite --sellers 1000,10000,100000
//!   IOP_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!     target/release/examples/sellers-bench --database postgres --sellers 1000,10000,100000
//!
//! `--fill-only PATH` just fills a SQLite file (for trying the console by hand). Every
//! size also has 20 sellers due for refresh, so that each run's refresh pass does the same
//! work: a pass costs what is due, not what is stored. Of the rest, 1 in 200 must
//! re-authorize and 1 in 200 is failing, and access tokens expire over the next 30 days.

#[path = "common.rs"]
mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::post;
use common::{free_port, serve, status_kib};
use iop_callback::apps::AppId;
use iop_callback::clock::EpochMs;
use iop_callback::iop::{Platform, TokenResponse};
use iop_callback::store::{DatabaseUrl, Store, TokenCipher};
use iop_callback::tokens::Owner;
use secrecy::SecretString;
use serde_json::json;

const APP_KEY: &str = "12345678";
const APP_SECRET: &str = "bench-secret-0123456789";
const API_KEY: &str = "bench-api-key-0123456789abcdef0123456789";
const PASSWORD: &str = "bench operator password";
const DAY_MS: i64 = 86_400_000;
/// Sellers due for refresh in every run.
const DUE: usize = 20;
/// Timed repeats of each request; the median is reported.
const REPEATS: usize = 21;

struct Options {
    database: String,
    sizes: Vec<usize>,
    encrypted: bool,
    idle: Duration,
    fill_only: Option<String>,
}

fn options() -> Options {
    let mut options = Options {
        database: "sqlite".into(),
        sizes: vec![1_000, 10_000, 100_000],
        encrypted: true,
        idle: Duration::from_secs(60),
        fill_only: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().expect("a value after the flag");
        match flag.as_str() {
            "--database" => options.database = value(),
            "--sellers" => {
                options.sizes = value()
                    .split(',')
                    .map(|n| n.trim().parse().expect("numbers"))
                    .collect();
            }
            "--idle" => options.idle = Duration::from_secs(value().parse().expect("seconds")),
            "--plain" => options.encrypted = false,
            "--fill-only" => options.fill_only = Some(value()),
            _ => panic!(
                "usage: sellers-bench [--database sqlite|postgres] [--sellers 1000,10000] \
                 [--idle SECONDS] [--plain] [--fill-only FILE]"
            ),
        }
    }
    options
}

fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// A small deterministic spread, so that runs are alike.
fn spread(n: usize, modulo: i64) -> i64 {
    i64::try_from(n.wrapping_mul(2_654_435_761) % 1_000_003).unwrap() % modulo
}

/// Seller `n`'s answer to `/auth/token/create`, as the platform sends it. The nick of a
/// seller due for refresh begins with `due`.
fn answer(n: usize, due: bool) -> TokenResponse {
    let body = json!({
        "access_token": format!("50000{n:08}access"),
        "refresh_token": format!("50001{n:08}refresh"),
        "expires_in": 86_400 + spread(n, 29 * 86_400),
        "refresh_expires_in": 60 * 86_400 + spread(n, 120 * 86_400),
        "seller_id": format!("{}", 200_000_000 + n),
        "user_id": format!("{}", 300_000_000 + n),
        "user_nick": format!("{}shop-{n} outlet", if due { "due-" } else { "" }),
        "account": format!("owner{n}@sellers.example"),
        "country": "sg",
        "code": "0",
        "request_id": "bench"
    });
    TokenResponse::from_json(body.to_string().as_bytes()).unwrap()
}

/// Fills the store with `count` sellers (and the due ones), many writes in flight at once
/// so that the store commits them in batches.
async fn fill(store: Arc<Store>, count: usize) {
    let app = AppId::implicit();
    let started = Instant::now();
    let now = now_ms();
    let mut tasks = tokio::task::JoinSet::new();
    let workers = 32;
    for worker in 0..workers {
        let store = store.clone();
        let app = app.clone();
        tasks.spawn(async move {
            let owner = Owner {
                app: &app,
                platform: Platform::Lazada,
                app_key: APP_KEY,
            };
            for n in (worker..count + DUE).step_by(workers) {
                // The due ones authorized 29 days ago with a 30-day access token.
                let due = n >= count;
                let at = if due { now - 29 * DAY_MS } else { now };
                let mut response = answer(n, due);
                if due {
                    response.expires_in = Some(30 * 86_400);
                }
                let id = store
                    .save_authorization(owner, &response, EpochMs::new(at))
                    .await
                    .unwrap();
                if n < count && n % 200 == 7 {
                    store
                        .mark_reauthorize(id, "the seller revoked the app", EpochMs::new(now))
                        .await
                        .unwrap();
                } else if n < count && n % 200 == 107 {
                    store
                        .record_refresh_failure(id, "bench: a failure", None, EpochMs::new(now))
                        .await
                        .unwrap();
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    eprintln!(
        "filled {} sellers in {:.1} s",
        count + DUE,
        started.elapsed().as_secs_f64()
    );
}

/// The stand-in platform's `/rest/auth/token/refresh`: a new pair at once.
async fn start_platform() -> std::net::SocketAddr {
    async fn refresh() -> axum::Json<serde_json::Value> {
        axum::Json(json!({
            "code": "0", "access_token": format!("renewed-{}", now_ms()),
            "refresh_token": "renewed-refresh", "expires_in": 30 * 86_400,
            "refresh_expires_in": 90 * 86_400, "request_id": "bench"
        }))
    }
    serve(Router::new().route("/rest/auth/token/refresh", post(refresh))).await
}

/// CPU time the process has used, user and system.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i)?.parse::<u64>().ok())
        .sum();
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

struct Row {
    sellers: usize,
    startup: Duration,
    first_page: Duration,
    middle_page: Duration,
    console: Duration,
    search: Duration,
    one_token: Duration,
    metrics: Duration,
    refresh_pass: Duration,
    idle_cpu_per_minute: Duration,
    rss_kib: u64,
    peak_kib: u64,
}

/// A GET of `url`, with the API key if `bearer`.
fn get(client: &reqwest::Client, url: &str, bearer: bool) -> reqwest::RequestBuilder {
    let request = client.get(url);
    if bearer {
        request.bearer_auth(API_KEY)
    } else {
        request
    }
}

/// The body of `url` as text.
async fn text(client: &reqwest::Client, url: &str, bearer: bool) -> String {
    get(client, url, bearer)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The median time of `REPEATS` requests for `url`, each answered 200.
async fn median(client: &reqwest::Client, url: &str, bearer: bool) -> Duration {
    let mut times = Vec::with_capacity(REPEATS);
    for _ in 0..REPEATS {
        let started = Instant::now();
        let response = get(client, url, bearer).send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        response.bytes().await.unwrap();
        times.push(started.elapsed());
    }
    times.sort();
    times[REPEATS / 2]
}

fn next_link(response: &reqwest::Response) -> Option<String> {
    let link = response.headers().get("link")?.to_str().ok()?;
    let start = link.find('<')? + 1;
    Some(link[start..link.find('>')?].to_owned())
}

async fn database_url(options: &Options, dir: &std::path::Path) -> String {
    match options.database.as_str() {
        "sqlite" => format!("sqlite://{}/sellers.db", dir.display()),
        "postgres" => {
            iop_callback::store::test_database::fresh_postgres_url_from(
                &std::env::var("IOP_BENCH_POSTGRES_URL").expect("IOP_BENCH_POSTGRES_URL"),
            )
            .await
        }
        other => panic!("--database sqlite or postgres, not {other}"),
    }
}

fn start_service(
    url: &str,
    key: Option<&str>,
    port: u16,
    metrics_port: u16,
    platform: std::net::SocketAddr,
) -> Child {
    let binary =
        std::env::var("IOP_BENCH_BINARY").unwrap_or_else(|_| "target/release/iop-callback".into());
    let mut command = Command::new(binary);
    command
        .env("RUST_LOG", "warn")
        .env("IOP_LISTEN", format!("127.0.0.1:{port}"))
        .env("IOP_DATABASE_URL", url)
        .env("IOP_APP_KEY", APP_KEY)
        .env("IOP_APP_SECRET", APP_SECRET)
        .env("IOP_PLATFORM", "lazada")
        .env("IOP_API_URL", format!("http://{platform}/rest"))
        .env("IOP_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env("IOP_API_KEYS", API_KEY)
        .env("IOP_ADMIN_PASSWORD", PASSWORD)
        .env("IOP_METRICS_LISTEN", format!("127.0.0.1:{metrics_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(key) = key {
        command.env("IOP_ENCRYPTION_KEY", key);
    }
    command
        .spawn()
        .expect("target/release/iop-callback: build it first")
}

/// The hidden CSRF field of a form.
fn csrf_of(html: &str) -> String {
    let at = html.find(r#"name="csrf" value=""#).expect("a CSRF field") + 19;
    html[at..at + html[at..].find('"').unwrap()].to_owned()
}

async fn run(options: &Options, sellers: usize, platform: std::net::SocketAddr) -> Row {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(options, dir.path()).await;
    let key = options.encrypted.then(TokenCipher::generate_key);
    {
        let cipher = key
            .as_ref()
            .map(|k| TokenCipher::from_base64(&SecretString::from(k.clone())).unwrap());
        let store = Store::open(&DatabaseUrl::parse(&url).unwrap(), cipher)
            .await
            .unwrap();
        let store = Arc::new(store);
        fill(store.clone(), sellers).await;
        store.close().await;
    }

    let (port, metrics_port) = (free_port(), free_port());
    let base = format!("http://127.0.0.1:{port}");
    let launched = Instant::now();
    let mut child = start_service(&url, key.as_deref(), port, metrics_port, platform);
    let pid = child.id();
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    loop {
        match client.get(format!("{base}/readyz")).send().await {
            Ok(response) if response.status() == 200 => break,
            _ => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
    let startup = launched.elapsed();

    // The refresh pass at startup renews the due sellers; wait until it has renewed them
    // all.
    let pass_started = launched;
    let refresh_pass = loop {
        let listed = text(
            &client,
            &format!("{base}/api/v1/tokens?q=due&limit=100"),
            true,
        )
        .await;
        let renewed = listed.matches("\"last_refresh_at\":\"").count();
        if renewed >= DUE {
            break pass_started.elapsed();
        }
        assert!(
            pass_started.elapsed() < Duration::from_secs(120),
            "the due sellers were not renewed: {renewed} of {DUE}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    let first_url = format!("{base}/api/v1/tokens");
    let first_page = median(&client, &first_url, true).await;
    // Walk to the middle page by the Link headers, then time it.
    let middle = sellers / 100 / 2;
    let mut page_url = first_url.clone();
    for _ in 0..middle {
        let response = client
            .get(&page_url)
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap();
        page_url = format!("{base}{}", next_link(&response).expect("a next page"));
    }
    let middle_page = median(&client, &page_url, true).await;
    let one_token = median(
        &client,
        &format!("{base}/api/v1/tokens/{}", 200_000_000 + sellers / 2),
        true,
    )
    .await;

    let form = text(&client, &format!("{base}/admin/login"), false).await;
    let signed_in = client
        .post(format!("{base}/admin/login"))
        .form(&[("csrf", csrf_of(&form).as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert!(signed_in.status().is_success(), "{}", signed_in.status());
    let console = median(&client, &format!("{base}/admin"), false).await;
    let search = median(
        &client,
        &format!("{base}/admin?q=shop-{}", sellers / 3),
        false,
    )
    .await;

    let metrics = median(
        &client,
        &format!("http://127.0.0.1:{metrics_port}/metrics"),
        false,
    )
    .await;

    let cpu_before = cpu_time(pid);
    tokio::time::sleep(options.idle).await;
    let idle_cpu = cpu_time(pid).saturating_sub(cpu_before);
    let idle_cpu_per_minute = idle_cpu.mul_f64(60.0 / options.idle.as_secs_f64());
    let row = Row {
        sellers,
        startup,
        first_page,
        middle_page,
        console,
        search,
        one_token,
        metrics,
        refresh_pass,
        idle_cpu_per_minute,
        rss_kib: status_kib(pid, "VmRSS:"),
        peak_kib: status_kib(pid, "VmHWM:"),
    };
    let _ = child.kill();
    let _ = child.wait();
    row
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let options = options();
    if let Some(path) = &options.fill_only {
        let url = DatabaseUrl::parse(&format!("sqlite://{path}")).unwrap();
        let store = Arc::new(Store::open(&url, None).await.unwrap());
        fill(store.clone(), options.sizes[0]).await;
        store.close().await;
        return;
    }
    let platform = start_platform().await;
    let mut rows = Vec::new();
    for &sellers in &options.sizes {
        rows.push(run(&options, sellers, platform).await);
    }
    println!(
        "\n{} sellers on {}, tokens {}; medians of {REPEATS} requests\n",
        options
            .sizes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" / "),
        options.database,
        if options.encrypted {
            "encrypted"
        } else {
            "plain"
        },
    );
    println!(
        "| sellers | startup to ready | refresh pass ({DUE} due) | API first page | API middle page | console first page | console search | one token | metrics scrape | idle CPU / min | RSS after | RSS peak |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} MB | {:.1} MB |",
            r.sellers,
            ms(r.startup),
            ms(r.refresh_pass),
            ms(r.first_page),
            ms(r.middle_page),
            ms(r.console),
            ms(r.search),
            ms(r.one_token),
            ms(r.metrics),
            ms(r.idle_cpu_per_minute),
            r.rss_kib as f64 / 1024.0,
            r.peak_kib as f64 / 1024.0,
        );
    }
}

//! Command-line flags and their environment variables (`iop-callback --help` lists them).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;

use crate::config::Settings;
use crate::iop::Platform;

#[derive(Debug, Parser)]
#[command(
    name = "iop-callback",
    version,
    about = "The redirect_uri service for AliExpress and Lazada seller authorization."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub service: ServiceArgs,
}

/// Which apps there are: every command that names an app or a seller reads these.
const APPS: &[&str] = &[
    "platform",
    "apps_file",
    "app_key",
    "app_secret",
    "app_secret_file",
    "log_format",
];

/// The store, and the key its tokens are sealed with.
const STORE: &[&str] = &[
    "database_url",
    "encryption_key",
    "encryption_key_file",
    "store_retry",
];

/// Calls to the platform's token API.
const TOKEN_CALLS: &[&str] = &["api_url", "http_timeout", "refresh_before"];

/// The settings each command other than `serve` reads: its `--help` lists only these.
/// (Every setting is global, so that it parses before or after the subcommand; listed in
/// full under each command it would only mislead.) A command missing here shows them all.
const USED_BY: &[(&str, &[&[&str]])] = &[
    ("healthcheck", &[&["listen"]]),
    (
        "demo",
        &[&[
            "platform",
            "app_key",
            "public_url",
            "listen",
            "database_url",
            "state_ttl",
            "refresh_interval",
            "refresh_before",
            "refresh_concurrency",
            "metrics_listen",
            "shutdown_grace",
            "log_format",
            "http_timeout",
            "api_keys",
            "api_keys_file",
            "encryption_key",
            "encryption_key_file",
            "admin_password",
            "admin_password_file",
            "admin_password_hash",
            "events_retention",
            "webhook_urls",
            "webhook_secret",
            "webhook_secret_file",
        ]],
    ),
    (
        "sandbox",
        &[&["platform", "app_key", "public_url", "listen", "log_format"]],
    ),
    ("tokens list", &[APPS, STORE]),
    ("tokens show", &[APPS, STORE]),
    ("tokens delete", &[APPS, STORE]),
    ("tokens refresh", &[APPS, STORE, TOKEN_CALLS]),
    ("admin hash-password", &[]),
    ("store generate-key", &[]),
    ("webhooks generate-secret", &[]),
    ("events list", &[APPS, STORE]),
    ("events show", &[APPS, STORE]),
    (
        "events redeliver",
        &[
            APPS,
            STORE,
            &["webhook_urls", "webhook_secret", "webhook_secret_file"],
        ],
    ),
    ("push test", &[APPS, &["public_url", "listen"]]),
    ("store encrypt", &[STORE, &["log_format"]]),
    ("store rotate-key", &[STORE, &["log_format"]]),
    ("store backup", &[STORE, &["log_format"]]),
    (
        "authorize-url",
        &[
            APPS,
            &["authorize_url", "public_url", "listen", "state_ttl"],
        ],
    ),
    ("exchange", &[APPS, STORE, TOKEN_CALLS, &["state_ttl"]]),
    (
        "call",
        &[
            APPS,
            STORE,
            TOKEN_CALLS,
            &["business_api_url", "proxy_retry_budget"],
        ],
    ),
    ("import", &[APPS, STORE, TOKEN_CALLS]),
];

/// `iop-callback tokens list --help` and the like: the command's own help, without the
/// settings it does not read. `None` for any other command line.
pub fn short_help(args: &[String]) -> Option<String> {
    let (flag, path) = args.get(1..)?.split_last()?;
    if flag != "--help" && flag != "-h" {
        return None;
    }
    let name = path.join(" ");
    let used: Vec<&str> = USED_BY
        .iter()
        .find(|(command, _)| *command == name)?
        .1
        .iter()
        .flat_map(|group| group.iter().copied())
        .collect();
    let mut command = <Cli as clap::CommandFactory>::command();
    command.build();
    let mut sub = &mut command;
    for part in path {
        sub = sub.find_subcommand_mut(part)?;
    }
    let ids: Vec<String> = sub
        .get_arguments()
        .filter(|a| a.is_global_set() && !used.contains(&a.get_id().as_str()))
        .map(|a| a.get_id().to_string())
        .collect();
    let mut sub = sub.clone();
    for id in ids {
        sub = sub.mut_arg(id, |a| a.hide(true));
    }
    Some(sub.render_help().to_string())
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service against the configured platform (the default).
    Serve,
    /// Run the service together with built-in sandbox platforms: the whole flow, offline.
    Demo(DemoArgs),
    /// Run the sandbox platform alone, to develop other services against it.
    Sandbox(SandboxArgs),
    /// Probe GET /healthz on the IOP_LISTEN address (127.0.0.1 for 0.0.0.0); exit 0 only on 200.
    Healthcheck,
    /// The stored sellers and their tokens (works while the service runs).
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// The admin console.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// The store itself: encryption at rest and backups.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Outbound webhooks.
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
    /// The kept events (pushes received, lifecycle events) and their deliveries.
    #[command(subcommand)]
    Events(EventsCommand),
    /// Pushes from the platform.
    #[command(subcommand)]
    Push(PushCommand),
    /// Print the platform's authorize URL to send a seller to; its state is accepted by
    /// `exchange --state`.
    AuthorizeUrl {
        /// The app, when several are configured.
        #[arg(long)]
        app: Option<String>,
    },
    /// Exchange an authorization code captured elsewhere and store the seller.
    Exchange {
        /// The app, when several are configured.
        #[arg(long)]
        app: Option<String>,
        /// The `code` from the callback URL.
        #[arg(long)]
        code: String,
        /// The `state` from the same URL, when it was printed by `authorize-url`: it is
        /// then checked and used up.
        #[arg(long)]
        state: Option<String>,
    },
    /// Call a business API for a stored seller, signed with the app's secret and the
    /// seller's current token (the signing proxy's code); prints the platform's answer.
    Call(CallArgs),
    /// Adopt a token pair made in the platform console: refresh it once, store the result.
    Import {
        /// The app, when several are configured.
        #[arg(long)]
        app: Option<String>,
        /// The refresh token (prefer the variable, which stays out of process lists).
        #[arg(long, env = "IOP_IMPORT_REFRESH_TOKEN", hide_env_values = true)]
        refresh_token: Option<SecretString>,
    },
}

/// `call SELLER API [NAME=VALUE ...]`.
#[derive(Debug, clap::Args)]
pub struct CallArgs {
    /// The seller id or user id.
    pub seller: String,
    /// A REST path (`seller/get`, `orders/get`) or, for AliExpress, a method name
    /// (`aliexpress.solution.product.list.get`).
    pub api: String,
    /// The API's parameters, NAME=VALUE, values as the platform should receive them.
    pub params: Vec<String>,
    /// The app, when the seller id is known under several.
    #[arg(long)]
    pub app: Option<String>,
    /// Lazada: the country whose gateway is called (needed for a cross-border seller).
    #[arg(long)]
    pub country: Option<String>,
    /// Send a POST (the default is GET).
    #[arg(long)]
    pub post: bool,
    /// A file part, NAME=PATH (sent as multipart, unsigned; implies --post). Repeatable.
    #[arg(long = "file", value_name = "NAME=PATH")]
    pub files: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// The newest events first.
    List {
        /// Only events of this type (`platform.push`, `seller.authorized`, …).
        #[arg(long = "type")]
        kind: Option<String>,
        /// Only events about this seller id.
        #[arg(long)]
        seller: Option<String>,
        /// Only this app's events.
        #[arg(long)]
        app: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// JSON for scripts instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One event as JSON, with its deliveries and every attempt.
    Show {
        /// The event's id (`evt_…`, the webhooks' `webhook-id`).
        id: String,
    },
    /// Send one event again now to every endpoint of its app.
    Redeliver {
        /// The event's id (`evt_…`).
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PushCommand {
    /// Send a correctly signed sample push to this service's push URL (IOP_PUBLIC_URL), as
    /// the platform console's verify button does.
    Test {
        /// The app, when several are configured.
        #[arg(long)]
        app: Option<String>,
        /// The message type (0: a trade order; 8: authorization expiring; 13: seller status).
        #[arg(long = "type", default_value_t = 0)]
        message_type: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Print a new random webhook secret (`whsec_` + base64 of 32 bytes) for
    /// IOP_WEBHOOK_SECRET.
    GenerateSecret,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Read a password from standard input and print its argon2id PHC string for
    /// IOP_ADMIN_PASSWORD_HASH.
    HashPassword,
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Print a new random encryption key (base64 of 32 bytes) for IOP_ENCRYPTION_KEY.
    GenerateKey,
    /// Encrypt every stored token under IOP_ENCRYPTION_KEY (a plain store, once).
    Encrypt,
    /// Re-encrypt every stored token under a new key; IOP_ENCRYPTION_KEY is the current one.
    RotateKey {
        /// A file holding the new key (or IOP_NEW_ENCRYPTION_KEY).
        #[arg(long, env = "IOP_NEW_ENCRYPTION_KEY_FILE")]
        new_key_file: Option<PathBuf>,
        /// The new key (prefer --new-key-file).
        #[arg(long, env = "IOP_NEW_ENCRYPTION_KEY", hide_env_values = true)]
        new_key: Option<SecretString>,
    },
    /// Write a consistent copy of a SQLite store to FILE, while the service runs.
    Backup {
        /// Where to write the copy (must not exist yet).
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Every stored seller: status and when its tokens expire.
    List {
        /// JSON for scripts instead of a table: one array.
        #[arg(long)]
        json: bool,
        /// One JSON object per line, for pipes (wins over --json).
        #[arg(long)]
        jsonl: bool,
        /// Only this app's sellers.
        #[arg(long)]
        app: Option<String>,
        /// At most this many sellers (all by default).
        #[arg(long)]
        limit: Option<usize>,
    },
    /// One seller in detail; the access token only with --reveal.
    Show {
        #[command(flatten)]
        seller: SellerArg,
        /// JSON for scripts instead of lines.
        #[arg(long)]
        json: bool,
        /// Also print the access token.
        #[arg(long)]
        reveal: bool,
    },
    /// Refresh one seller's tokens now.
    Refresh {
        #[command(flatten)]
        seller: SellerArg,
    },
    /// Forget one seller and its tokens.
    Delete {
        #[command(flatten)]
        seller: SellerArg,
    },
}

/// A seller, by seller id or user id (a Lazada country's too).
#[derive(Debug, Args)]
pub struct SellerArg {
    /// The seller id or user id (a Lazada country's too), as `tokens list` shows it.
    pub seller: String,
    /// The app, when the id is known under several.
    #[arg(long)]
    pub app: Option<String>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub lifetimes: SandboxLifetimeArgs,

    /// One app of IOP_PLATFORM at /authorize and /callback, instead of an AliExpress app
    /// and a Lazada app side by side.
    #[arg(long)]
    pub single: bool,
}

/// Lifetimes of what the sandbox issues.
#[derive(Debug, Args)]
pub struct SandboxLifetimeArgs {
    /// Sandbox access token lifetime (e.g. `2m` to watch refreshes live).
    /// [default: the platform's test-app lifetime: 1d on AliExpress, 7d on Lazada]
    #[arg(long, env = "IOP_SANDBOX_ACCESS_TTL")]
    pub access_ttl: Option<String>,

    /// Sandbox refresh token lifetime. [default: 2d on AliExpress, 14d on Lazada]
    #[arg(long, env = "IOP_SANDBOX_REFRESH_TTL")]
    pub refresh_ttl: Option<String>,

    /// Sandbox authorization code lifetime.
    #[arg(long, env = "IOP_SANDBOX_CODE_TTL", default_value = "3m")]
    pub code_ttl: String,
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    #[command(flatten)]
    pub lifetimes: SandboxLifetimeArgs,

    /// The sandbox app's secret (printed at start). Without it, a random one is made up:
    /// IOP_APP_SECRET and IOP_APP_SECRET_FILE are never read, since they may be a real app's.
    #[arg(long)]
    pub secret: Option<String>,

    /// The callback URL registered for the sandbox app (the service's `{IOP_PUBLIC_URL}/callback`).
    #[arg(
        long,
        env = "IOP_SANDBOX_REDIRECT_URI",
        default_value = "http://localhost:8080/callback"
    )]
    pub redirect_uri: String,
}

/// Settings of the service. Every flag can also be given by its `IOP_*` variable.
#[derive(Debug, Args)]
pub struct ServiceArgs {
    /// Which platform to talk to; sets the authorize and API URLs.
    #[arg(
        long,
        env = "IOP_PLATFORM",
        value_enum,
        default_value = "aliexpress",
        global = true
    )]
    pub platform: Platform,

    /// A TOML file with one `[apps.<name>]` table per app, for several apps and platforms in
    /// one deployment (see the README); replaces the single-app IOP_PLATFORM, IOP_APP_KEY,
    /// IOP_APP_SECRET, IOP_AUTHORIZE_URL and IOP_API_URL.
    #[arg(long, env = "IOP_APPS_FILE", global = true)]
    pub apps_file: Option<PathBuf>,

    /// Override the platform's authorize page URL.
    #[arg(long, env = "IOP_AUTHORIZE_URL", global = true)]
    pub authorize_url: Option<String>,

    /// Override the platform's system-API base URL (the token API is `{this}/auth/token/create`).
    #[arg(long, env = "IOP_API_URL", global = true)]
    pub api_url: Option<String>,

    /// Override the root of the platform's business API gateway, for every country (the
    /// signing proxy calls `{this}/rest/orders/get`, `{this}/sync`).
    #[arg(long, env = "IOP_BUSINESS_API_URL", global = true)]
    pub business_api_url: Option<String>,

    /// The app key from the platform console.
    #[arg(long, env = "IOP_APP_KEY", global = true)]
    pub app_key: Option<String>,

    /// The app secret. Prefer IOP_APP_SECRET_FILE.
    #[arg(long, env = "IOP_APP_SECRET", hide_env_values = true, global = true)]
    pub app_secret: Option<SecretString>,

    /// A file holding the app secret (for mounted secrets).
    #[arg(long, env = "IOP_APP_SECRET_FILE", global = true)]
    pub app_secret_file: Option<PathBuf>,

    /// The external base URL; the redirect_uri to register is `{this}/callback`.
    /// [default: http://localhost:{port of IOP_LISTEN}]
    #[arg(long, env = "IOP_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,

    /// Address to listen on. [default: 0.0.0.0:8080; `demo`: 127.0.0.1:8080; `sandbox`: 127.0.0.1:9090]
    #[arg(long, env = "IOP_LISTEN", global = true)]
    pub listen: Option<String>,

    /// Where tokens are stored; the file and folder are created when missing.
    /// [default: sqlite://data/iop-callback.db; `demo`: sqlite://data/iop-callback-demo.db]
    #[arg(long, env = "IOP_DATABASE_URL", hide_env_values = true, global = true)]
    pub database_url: Option<String>,

    /// How long a seller has to complete an authorization started here.
    #[arg(long, env = "IOP_STATE_TTL", default_value = "10m", global = true)]
    pub state_ttl: String,

    /// The refresher wakes when a token falls due (and at once when this process stores
    /// one); this is the longest it sleeps without looking at the store, so tokens stored
    /// by other replicas are seen within it. `off` disables refreshing.
    #[arg(
        long,
        env = "IOP_REFRESH_INTERVAL",
        default_value = "1m",
        global = true
    )]
    pub refresh_interval: String,

    /// When to renew an access token: a share of its lifetime left (`25%`) or a time
    /// before it expires (`3d`); never before half its lifetime.
    #[arg(long, env = "IOP_REFRESH_BEFORE", default_value = "25%", global = true)]
    pub refresh_before: String,

    /// How many refreshes run at once.
    #[arg(
        long,
        env = "IOP_REFRESH_CONCURRENCY",
        default_value = "4",
        global = true
    )]
    pub refresh_concurrency: String,

    /// Platform calls one client address may cause with callbacks, per minute; `off`
    /// disables the per-client bounds (the bound on exchanges in flight in all stays).
    #[arg(long, env = "IOP_EXCHANGE_LIMIT", default_value = "60", global = true)]
    pub exchange_limit: String,

    /// Reverse proxies whose `X-Forwarded-For` names the client: addresses or networks,
    /// comma-separated (`10.0.0.0/8, 127.0.0.1`). Others' headers are ignored.
    #[arg(long, env = "IOP_TRUSTED_PROXIES", global = true)]
    pub trusted_proxies: Option<String>,

    /// Encrypt stored tokens with this key: base64 of 32 bytes (`iop-callback store
    /// generate-key` makes one). Prefer IOP_ENCRYPTION_KEY_FILE.
    #[arg(
        long,
        env = "IOP_ENCRYPTION_KEY",
        hide_env_values = true,
        global = true
    )]
    pub encryption_key: Option<SecretString>,

    /// A file holding the encryption key.
    #[arg(long, env = "IOP_ENCRYPTION_KEY_FILE", global = true)]
    pub encryption_key_file: Option<PathBuf>,

    /// Keys for the token API (`/api/v1/`), comma-separated, each at least 32 characters.
    /// The API answers 404 when no key is set. Prefer IOP_API_KEYS_FILE.
    #[arg(long, env = "IOP_API_KEYS", hide_env_values = true, global = true)]
    pub api_keys: Option<SecretString>,

    /// A file with one token API key per line (blank lines and `#` comments ignored).
    #[arg(long, env = "IOP_API_KEYS_FILE", global = true)]
    pub api_keys_file: Option<PathBuf>,

    /// Turns on the admin console at /admin with this password (at least 12 characters).
    /// Prefer IOP_ADMIN_PASSWORD_FILE or IOP_ADMIN_PASSWORD_HASH. Off (404) when unset.
    #[arg(
        long,
        env = "IOP_ADMIN_PASSWORD",
        hide_env_values = true,
        global = true
    )]
    pub admin_password: Option<SecretString>,

    /// A file holding the admin console's password.
    #[arg(long, env = "IOP_ADMIN_PASSWORD_FILE", global = true)]
    pub admin_password_file: Option<PathBuf>,

    /// The admin console's password as an argon2 PHC string (`iop-callback admin
    /// hash-password` makes one), so the password itself is not in the environment.
    #[arg(
        long,
        env = "IOP_ADMIN_PASSWORD_HASH",
        hide_env_values = true,
        global = true
    )]
    pub admin_password_hash: Option<SecretString>,

    /// Serve Prometheus metrics on this separate address (e.g. 127.0.0.1:9100). Off when unset.
    #[arg(long, env = "IOP_METRICS_LISTEN", global = true)]
    pub metrics_listen: Option<String>,

    /// On SIGTERM/SIGINT, how long in-flight requests may take before connections are dropped.
    #[arg(long, env = "IOP_SHUTDOWN_GRACE", default_value = "20s", global = true)]
    pub shutdown_grace: String,

    /// Connections open at once; more wait in the backlog until one closes. Keep it below
    /// the process's file limit (`ulimit -n`).
    #[arg(
        long,
        env = "IOP_MAX_CONNECTIONS",
        default_value = "512",
        global = true
    )]
    pub max_connections: String,

    /// Connections one client address (an IPv6 /64) may hold at once, so that one client
    /// cannot take every slot; the addresses of IOP_TRUSTED_PROXIES are not limited.
    /// [default: a quarter of IOP_MAX_CONNECTIONS]
    #[arg(long, env = "IOP_MAX_CONNECTIONS_PER_ADDRESS", global = true)]
    pub max_connections_per_address: Option<String>,

    /// How long a client may take to send a request's headers, or to start its next
    /// request on a kept-alive connection, before the connection is closed.
    #[arg(long, env = "IOP_HEADER_TIMEOUT", default_value = "10s", global = true)]
    pub header_timeout: String,

    /// Threads that serve HTTP, each with its own connections and its own runtime, as
    /// nginx runs a worker per core; 0 serves on the main runtime's threads.
    /// [default: one per core]
    #[arg(long, env = "IOP_SERVE_THREADS", global = true)]
    pub serve_threads: Option<String>,

    /// Log format: `text` for people, `json` for log collectors. Filter with RUST_LOG.
    #[arg(
        long,
        env = "IOP_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,

    /// Timeout of every call to the platform (`10s`, `500ms`, ...).
    #[arg(long, env = "IOP_HTTP_TIMEOUT", default_value = "10s", global = true)]
    pub http_timeout: String,

    /// How long the signing proxy waits out throttled calls (`ApiCallLimit`) and repeats
    /// them, in all, before passing the platform's answer on.
    #[arg(
        long,
        env = "IOP_PROXY_RETRY_BUDGET",
        default_value = "5s",
        global = true
    )]
    pub proxy_retry_budget: String,

    /// How long a database step is tried again while the database cannot be reached (a
    /// failover, a restart), before the request is answered 503 with `Retry-After`.
    #[arg(long, env = "IOP_STORE_RETRY", default_value = "5s", global = true)]
    pub store_retry: String,

    /// How long events (pushes received, the service's own) and their deliveries are kept.
    #[arg(
        long,
        env = "IOP_EVENTS_RETENTION",
        default_value = "7d",
        global = true
    )]
    pub events_retention: String,

    /// Webhook endpoints that receive every app's events, comma-separated (an apps file
    /// adds `webhook_urls` per app).
    #[arg(long, env = "IOP_WEBHOOK_URLS", global = true)]
    pub webhook_urls: Option<String>,

    /// The secret webhooks are signed with (`whsec_` + base64; `iop-callback webhooks
    /// generate-secret`). Prefer IOP_WEBHOOK_SECRET_FILE.
    #[arg(
        long,
        env = "IOP_WEBHOOK_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub webhook_secret: Option<SecretString>,

    /// A file holding the webhook secret (for mounted secrets).
    #[arg(long, env = "IOP_WEBHOOK_SECRET_FILE", global = true)]
    pub webhook_secret_file: Option<PathBuf>,
}

impl ServiceArgs {
    /// The settings as plain values, for `Config`.
    pub fn settings(&self) -> Settings {
        Settings {
            platform: self.platform,
            apps_file: self.apps_file.clone(),
            authorize_url: self.authorize_url.clone(),
            api_url: self.api_url.clone(),
            business_api_url: self.business_api_url.clone(),
            app_key: self.app_key.clone(),
            app_secret: self.app_secret.clone(),
            app_secret_file: self.app_secret_file.clone(),
            public_url: self.public_url.clone(),
            listen: self.listen.clone(),
            database_url: self.database_url.clone(),
            state_ttl: self.state_ttl.clone(),
            refresh_interval: self.refresh_interval.clone(),
            refresh_before: self.refresh_before.clone(),
            refresh_concurrency: self.refresh_concurrency.clone(),
            exchange_limit: self.exchange_limit.clone(),
            trusted_proxies: self.trusted_proxies.clone(),
            encryption_key: self.encryption_key.clone(),
            encryption_key_file: self.encryption_key_file.clone(),
            api_keys: self.api_keys.clone(),
            api_keys_file: self.api_keys_file.clone(),
            admin_password: self.admin_password.clone(),
            admin_password_file: self.admin_password_file.clone(),
            admin_password_hash: self.admin_password_hash.clone(),
            metrics_listen: self.metrics_listen.clone(),
            shutdown_grace: self.shutdown_grace.clone(),
            max_connections: self.max_connections.clone(),
            max_connections_per_address: self.max_connections_per_address.clone(),
            header_timeout: self.header_timeout.clone(),
            serve_threads: self.serve_threads.clone(),
            http_timeout: self.http_timeout.clone(),
            proxy_retry_budget: self.proxy_retry_budget.clone(),
            store_retry: self.store_retry.clone(),
            events_retention: self.events_retention.clone(),
            webhook_urls: self.webhook_urls.clone(),
            webhook_secret: self.webhook_secret.clone(),
            webhook_secret_file: self.webhook_secret_file.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// For a value clap refused: which environment variable it came from, when it did not come
/// from the command line (`IOP_PLATFORM=aliexpres` is reported by clap as `--platform`).
pub fn env_hint(error: &clap::Error, args: &[String]) -> Option<String> {
    use clap::CommandFactory;
    use clap::error::{ContextKind, ContextValue};
    let Some(ContextValue::String(shown)) = error.get(ContextKind::InvalidArg) else {
        return None;
    };
    let long = shown.split_whitespace().next()?.trim_start_matches("--");
    let command = Cli::command();
    let arg = command
        .get_arguments()
        .find(|arg| arg.get_long() == Some(long))?;
    let variable = arg.get_env()?.to_string_lossy().into_owned();
    let flag = format!("--{long}");
    let on_command_line = args
        .iter()
        .any(|a| a == &flag || a.starts_with(&format!("{flag}=")));
    (!on_command_line && std::env::var_os(&variable).is_some())
        .then(|| format!("(the value came from the environment variable {variable})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn help(args: &[&str]) -> Option<String> {
        short_help(&args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>())
    }

    /// Every command and the arguments that are not hidden, on every path.
    fn every_argument() -> Vec<(String, clap::Arg)> {
        fn walk(command: &clap::Command, path: String, out: &mut Vec<(String, clap::Arg)>) {
            for arg in command.get_arguments().filter(|a| !a.is_hide_set()) {
                out.push((path.clone(), arg.clone()));
            }
            for sub in command.get_subcommands() {
                walk(sub, format!("{path} {}", sub.get_name()), out);
            }
        }
        let mut command = <Cli as clap::CommandFactory>::command();
        command.build();
        let mut out = Vec::new();
        walk(&command, "iop-callback".into(), &mut out);
        out
    }

    #[test]
    fn every_argument_has_a_line_of_help() {
        let arguments = every_argument();
        assert!(arguments.len() > 50);
        for (path, arg) in arguments {
            let id = arg.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            assert!(arg.get_help().is_some(), "{path}: `{id}` has no help");
        }
    }

    #[test]
    fn each_leaf_lists_only_the_settings_it_reads() {
        let list = help(&["iop-callback", "tokens", "list", "--help"]).unwrap();
        assert!(
            list.contains("--database-url") && list.contains("--apps-file"),
            "{list}"
        );
        assert!(
            !list.contains("--listen") && !list.contains("--admin-password"),
            "{list}"
        );
        let key = help(&["iop-callback", "store", "generate-key", "--help"]).unwrap();
        assert!(
            !key.contains("--database-url") && !key.contains("--app-key"),
            "{key}"
        );
        let call = help(&["iop-callback", "call", "--help"]).unwrap();
        assert!(
            call.contains("--business-api-url") && !call.contains("--state-ttl"),
            "{call}"
        );
        // Every command but `serve` (which reads them all) has its list.
        let mut command = <Cli as clap::CommandFactory>::command();
        command.build();
        for sub in command
            .get_subcommands()
            .filter(|sub| sub.get_name() != "help")
        {
            let leaves: Vec<String> = if sub.has_subcommands() {
                sub.get_subcommands()
                    .map(|leaf| format!("{} {}", sub.get_name(), leaf.get_name()))
                    .collect()
            } else {
                vec![sub.get_name().to_owned()]
            };
            // clap's own `help` subcommands read nothing.
            for leaf in leaves
                .into_iter()
                .filter(|leaf| leaf != "serve" && !leaf.ends_with("help"))
            {
                assert!(
                    USED_BY.iter().any(|(name, _)| *name == leaf),
                    "`{leaf}` has no list of the settings it reads"
                );
            }
        }
    }

    #[test]
    fn healthcheck_and_demo_help_list_only_what_they_use() {
        let healthcheck = help(&["iop-callback", "healthcheck", "--help"]).unwrap();
        assert!(healthcheck.contains("--listen"), "{healthcheck}");
        assert!(!healthcheck.contains("--app-key") && !healthcheck.contains("--database-url"));
        let demo = help(&["iop-callback", "demo", "-h"]).unwrap();
        assert!(
            demo.contains("--single") && demo.contains("--access-ttl") && demo.contains("--listen")
        );
        assert!(
            !demo.contains("--app-secret") && !demo.contains("--apps-file"),
            "{demo}"
        );
        assert_eq!(
            help(&["iop-callback", "serve", "--help"]),
            None,
            "full help elsewhere"
        );
        assert_eq!(help(&["iop-callback", "demo"]), None);
    }
}

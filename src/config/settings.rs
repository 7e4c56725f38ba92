//! The service's settings as given, before they are checked: one plain value per setting
//! (the command line's flags and environment variables fill it in, `crate::cli`), so that
//! the configuration depends on no argument parser.

use std::path::PathBuf;

use secrecy::SecretString;

use crate::iop::Platform;

/// Every setting of the service and its tools, unchecked. `Debug` shows no secret: those
/// are `SecretString`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Which platform to talk to; sets the authorize and API URLs.
    pub platform: Platform,

    /// A TOML file with one `[apps.<name>]` table per app, for several apps and platforms in
    /// one deployment (see the README); replaces the single-app IOP_PLATFORM, IOP_APP_KEY,
    /// IOP_APP_SECRET, IOP_AUTHORIZE_URL and IOP_API_URL.
    pub apps_file: Option<PathBuf>,

    /// Override the platform's authorize page URL.
    pub authorize_url: Option<String>,

    /// Override the platform's system-API base URL (the token API is `{this}/auth/token/create`).
    pub api_url: Option<String>,

    /// Override the root of the platform's business API gateway, for every country
    /// (without `/rest` or `/sync`).
    pub business_api_url: Option<String>,

    /// The app key from the platform console.
    pub app_key: Option<String>,

    /// The app secret. Prefer IOP_APP_SECRET_FILE.
    pub app_secret: Option<SecretString>,

    /// A file holding the app secret (for mounted secrets).
    pub app_secret_file: Option<PathBuf>,

    /// The external base URL; the redirect_uri to register is `{this}/callback`.
    /// [default: http://localhost:{port of IOP_LISTEN}]
    pub public_url: Option<String>,

    /// Address to listen on. [default: 0.0.0.0:8080; `demo`: 127.0.0.1:8080; `sandbox`: 127.0.0.1:9090]
    pub listen: Option<String>,

    /// Where tokens are stored; the file and folder are created when missing.
    /// [default: sqlite://data/iop-callback.db; `demo`: sqlite://data/iop-callback-demo.db]
    pub database_url: Option<String>,

    /// How long a seller has to complete an authorization started here.
    pub state_ttl: String,

    /// The refresher wakes when a token falls due (and at once when this process stores
    /// one); this is the longest it sleeps without looking at the store, so tokens stored
    /// by other replicas are seen within it. `off` disables refreshing.
    pub refresh_interval: String,

    /// When to renew an access token: a share of its lifetime left (`25%`) or a time
    /// before it expires (`3d`); never before half its lifetime.
    pub refresh_before: String,

    /// How many refreshes run at once.
    pub refresh_concurrency: String,

    /// Platform calls one client address may cause with callbacks, per minute; `off`
    /// disables the per-client bounds (the bound on exchanges in flight in all stays).
    pub exchange_limit: String,

    /// Reverse proxies whose `X-Forwarded-For` names the client: addresses or networks,
    /// comma-separated (`10.0.0.0/8, 127.0.0.1`). Others' headers are ignored.
    pub trusted_proxies: Option<String>,

    /// Encrypt stored tokens with this key: base64 of 32 bytes (`iop-callback store
    /// generate-key` makes one). Prefer IOP_ENCRYPTION_KEY_FILE.
    pub encryption_key: Option<SecretString>,

    /// A file holding the encryption key.
    pub encryption_key_file: Option<PathBuf>,

    /// Keys for the token API (`/api/v1/`), comma-separated, each at least 32 characters.
    /// The API answers 404 when no key is set. Prefer IOP_API_KEYS_FILE.
    pub api_keys: Option<SecretString>,

    /// A file with one token API key per line (blank lines and `#` comments ignored).
    pub api_keys_file: Option<PathBuf>,

    /// Turns on the admin console at /admin with this password (at least 12 characters).
    /// Prefer IOP_ADMIN_PASSWORD_FILE or IOP_ADMIN_PASSWORD_HASH. Off (404) when unset.
    pub admin_password: Option<SecretString>,

    /// A file holding the admin console's password.
    pub admin_password_file: Option<PathBuf>,

    /// The admin console's password as an argon2 PHC string (`iop-callback admin
    /// hash-password` makes one), so the password itself is not in the environment.
    pub admin_password_hash: Option<SecretString>,

    /// Serve Prometheus metrics on this separate address (e.g. 127.0.0.1:9100). Off when unset.
    pub metrics_listen: Option<String>,

    /// On SIGTERM/SIGINT, how long in-flight requests may take before connections are dropped.
    pub shutdown_grace: String,

    /// Connections open at once; more wait in the backlog until one closes. Keep it below
    /// the process's file limit (`ulimit -n`).
    pub max_connections: String,

    /// Connections one client address (an IPv6 /64) may hold at once.
    pub max_connections_per_address: Option<String>,

    /// How long a client may take to send a request's headers, or to start its next
    /// request on a kept-alive connection, before the connection is closed.
    pub header_timeout: String,

    /// Threads that serve HTTP, each on its own runtime; 0 serves on the main runtime.
    /// None: one per core.
    pub serve_threads: Option<String>,

    /// Timeout of every call to the platform (`10s`, `500ms`, ...).
    pub http_timeout: String,

    /// How long throttled proxied calls are waited out and repeated, in all.
    pub proxy_retry_budget: String,

    /// How long a database step is tried again while the database cannot be reached.
    pub store_retry: String,

    /// How long events (pushes received, the service's own) and their deliveries are kept.
    pub events_retention: String,

    /// Webhook endpoints that receive every app's events, comma-separated.
    pub webhook_urls: Option<String>,

    /// The secret webhooks are signed with (`whsec_` + base64). Prefer
    /// IOP_WEBHOOK_SECRET_FILE.
    pub webhook_secret: Option<SecretString>,

    /// A file holding the webhook secret.
    pub webhook_secret_file: Option<PathBuf>,
}

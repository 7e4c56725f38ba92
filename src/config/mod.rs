//! Configuration, validated once at startup. Each error names the variable to fix.

mod api_keys;
mod apps_file;
mod gateways;
mod settings;
mod warnings;
mod webhooks;

pub use settings::Settings;

pub use apps_file::LAZADA_COUNTRIES;

/// Reads an apps file's text (IOP_APPS_FILE) with secrets from `env`: for the fuzz targets
/// and tools; the service reads the file through `Config::from_settings`.
pub fn parse_apps_file(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<AppConfig>, ConfigError> {
    apps_file::parse(text, env)
}

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::admin::AdminPassword;
use crate::apps::AppId;
use crate::iop::Platform;
use crate::serve::ConnectionLimits;
use crate::store::{DatabaseUrl, TokenCipher};
use crate::tokens::RefreshBefore;

pub use api_keys::{ApiKey, Grant, Grants};
pub use gateways::Gateways;
pub use webhooks::{WebhookSecret, Webhooks};

/// One app of the deployment: its platform, where to reach it, and its credentials. Holds
/// the secret, so its `Debug` is redacted by `SecretString`.
#[derive(Debug, Clone)]
pub struct AppConfig {
    pub id: AppId,
    pub platform: Platform,
    pub authorize_url: Url,
    pub api_url: Url,
    pub app_key: String,
    pub app_secret: SecretString,
    /// Lazada: the countries a seller may be sent to (`/authorize/x?country=th`).
    pub countries: Vec<String>,
    /// Where its business calls go (the signing proxy).
    pub gateways: Gateways,
    /// Endpoints that receive this app's events, besides IOP_WEBHOOK_URLS.
    pub webhook_urls: Vec<Url>,
    /// From an apps file: its own paths (`/callback/{id}`); else the implicit app of the
    /// `IOP_APP_*` variables at `/callback`.
    pub named: bool,
}

impl AppConfig {
    /// The path of its redirect_uri.
    pub fn callback_path(&self) -> String {
        if self.named {
            format!("/callback/{}", self.id)
        } else {
            "/callback".to_owned()
        }
    }

    /// The path that starts its authorizations.
    pub fn authorize_path(&self) -> String {
        if self.named {
            format!("/authorize/{}", self.id)
        } else {
            "/authorize".to_owned()
        }
    }
}

/// Everything the service needs, checked.
#[derive(Debug, Clone)]
pub struct Config {
    /// Every app served, in a stable order (the apps file's, by name).
    pub apps: Vec<AppConfig>,
    /// Without a trailing slash.
    pub public_url: Url,
    /// True when IOP_PUBLIC_URL was not set: the URL follows the port actually bound
    /// (which differs from IOP_LISTEN's when that says port 0).
    pub public_url_follows_listen: bool,
    pub listen: SocketAddr,
    pub database_url: DatabaseUrl,
    pub http_timeout: Duration,
    /// How long the signing proxy waits out throttled calls and repeats them, in all.
    pub proxy_retry_budget: Duration,
    /// How long a database step is tried again while the database cannot be reached.
    pub store_retry: Duration,
    /// How long received pushes are kept.
    pub events_retention: Duration,
    /// Where events are delivered, and how they are signed.
    pub webhooks: Webhooks,
    pub state_ttl: Duration,
    /// The refresher's longest sleep; `None` when refreshing is off.
    pub refresh_interval: Option<Duration>,
    pub refresh_before: RefreshBefore,
    pub refresh_concurrency: usize,
    /// Keys that open the token API; empty when it is off.
    pub api_keys: Vec<ApiKey>,
    /// Exchanges one client address may cause per minute; `None` when off.
    pub exchange_limit: Option<u32>,
    pub trusted_proxies: Vec<IpNet>,
    /// Encrypts tokens at rest; `None`: stored in plain text (the startup log says so).
    pub encryption_key: Option<TokenCipher>,
    pub metrics_listen: Option<SocketAddr>,
    pub shutdown_grace: Duration,
    /// Bounds on open connections and slow clients.
    pub connection_limits: ConnectionLimits,
    /// The admin console's password; `None`: the console is off (404).
    pub admin_password: Option<AdminPassword>,
}

#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

fn bad(variable: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        problem: problem.into(),
    }
}

/// Defaults that differ between running for real and the demo.
pub struct ModeDefaults {
    pub listen: &'static str,
    pub database_url: &'static str,
}

pub const SERVICE_DEFAULTS: ModeDefaults = ModeDefaults {
    listen: "0.0.0.0:8080",
    database_url: "sqlite://data/iop-callback.db",
};
/// The demo keeps its made-up tokens out of the real database, and needs no network: it
/// listens on loopback unless told otherwise (the container image sets IOP_LISTEN).
pub const DEMO_DEFAULTS: ModeDefaults = ModeDefaults {
    listen: "127.0.0.1:8080",
    database_url: "sqlite://data/iop-callback-demo.db",
};
pub const SANDBOX_LISTEN: &str = "127.0.0.1:9090";

/// A state may live at most as long as the browser cookie it is bound to.
const MAX_STATE_TTL: Duration = Duration::from_millis(crate::flow::RESULT_TTL_MS.unsigned_abs());

/// The implicit app of a single-app deployment: IOP_PLATFORM, IOP_APP_KEY, the secret and
/// the URL overrides, at `/authorize` and `/callback` as always.
pub fn implicit_app(
    settings: &Settings,
    app_key: String,
    app_secret: SecretString,
) -> Result<AppConfig, ConfigError> {
    Ok(AppConfig {
        id: AppId::implicit(),
        platform: settings.platform,
        authorize_url: parse_url(
            "IOP_AUTHORIZE_URL",
            settings
                .authorize_url
                .as_deref()
                .unwrap_or(settings.platform.authorize_url()),
        )?,
        api_url: parse_base_url(
            "IOP_API_URL",
            settings
                .api_url
                .as_deref()
                .unwrap_or(settings.platform.api_url()),
        )?,
        app_key,
        app_secret,
        countries: Vec::new(),
        gateways: Gateways {
            any: settings
                .business_api_url
                .as_deref()
                .map(|raw| parse_base_url("IOP_BUSINESS_API_URL", raw))
                .transpose()?,
            by_country: Default::default(),
        },
        webhook_urls: Vec::new(),
        named: false,
    })
}

impl Config {
    /// Builds the configuration for talking to real platforms: the apps of IOP_APPS_FILE,
    /// or the one app of IOP_APP_KEY and its secret.
    pub fn from_settings(settings: &Settings) -> Result<Config, ConfigError> {
        let apps = match &settings.apps_file {
            Some(_)
                if settings.app_key.is_some()
                    || settings.app_secret.is_some()
                    || settings.app_secret_file.is_some() =>
            {
                return Err(bad(
                    "IOP_APPS_FILE",
                    "replaces IOP_APP_KEY and IOP_APP_SECRET(_FILE): set the apps in the file (or IOP_APP_<NAME>_* variables), not both",
                ));
            }
            Some(path) => apps_file::load(path, &|name| std::env::var(name).ok())?,
            None => {
                let app_key = settings
                    .app_key
                    .as_deref()
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .ok_or_else(|| {
                        bad(
                            "IOP_APP_KEY",
                            "is required (or --app-key, or IOP_APPS_FILE): the app key from the platform console",
                        )
                    })?
                    .to_owned();
                vec![implicit_app(settings, app_key, read_secret(settings)?)?]
            }
        };
        for app in &apps {
            check_transport(app)?;
        }
        Self::with_apps(settings, apps, &SERVICE_DEFAULTS)
    }

    /// For reading stored pairs without any app configured (no IOP_APPS_FILE, no app
    /// secret): nothing is refreshed or signed, so no secret is needed. Every other
    /// setting is read as usual.
    pub fn stored_pairs_only(settings: &Settings) -> Result<Config, ConfigError> {
        Self::with_apps(settings, Vec::new(), &SERVICE_DEFAULTS)
    }

    /// Whether `settings` configure no app at all (so `stored_pairs_only` applies).
    pub fn names_no_app(settings: &Settings) -> bool {
        settings.apps_file.is_none()
            && settings.app_secret.is_none()
            && settings.app_secret_file.is_none()
    }

    /// The settings shared by every mode around the given apps (the demo supplies its
    /// sandboxes' own).
    pub fn with_apps(
        settings: &Settings,
        apps: Vec<AppConfig>,
        defaults: &ModeDefaults,
    ) -> Result<Config, ConfigError> {
        let listen = parse_listen(settings, defaults.listen)?;
        let public_url = match &settings.public_url {
            Some(raw) => parse_public_url(raw)?,
            None => local_url(listen.port()),
        };
        let http_timeout = parse_duration("IOP_HTTP_TIMEOUT", &settings.http_timeout)?;
        let proxy_retry_budget =
            parse_duration("IOP_PROXY_RETRY_BUDGET", &settings.proxy_retry_budget)?;
        let store_retry = parse_duration("IOP_STORE_RETRY", &settings.store_retry)?;
        let events_retention = parse_duration("IOP_EVENTS_RETENTION", &settings.events_retention)?;
        let state_ttl = parse_duration("IOP_STATE_TTL", &settings.state_ttl)?;
        if state_ttl > MAX_STATE_TTL {
            return Err(bad(
                "IOP_STATE_TTL",
                format!(
                    "must be at most {}: the browser cookie that a state is bound to lives that long",
                    humantime::format_duration(MAX_STATE_TTL)
                ),
            ));
        }
        let refresh_interval = match settings.refresh_interval.trim() {
            "off" => None,
            raw => Some(parse_duration("IOP_REFRESH_INTERVAL", raw)?),
        };
        if refresh_interval.is_some_and(|i| i < Duration::from_secs(1)) {
            return Err(bad(
                "IOP_REFRESH_INTERVAL",
                "must be at least 1s (or `off`)",
            ));
        }
        let refresh_before = RefreshBefore::parse(&settings.refresh_before)
            .map_err(|problem| bad("IOP_REFRESH_BEFORE", problem))?;
        let refresh_concurrency = parse_count(
            "IOP_REFRESH_CONCURRENCY",
            &settings.refresh_concurrency,
            256,
        )?;
        let api_keys = api_keys::read(settings, &apps)?;
        let webhooks = webhooks::read(settings, apps.iter().any(|a| !a.webhook_urls.is_empty()))?;
        let exchange_limit = match settings.exchange_limit.trim() {
            "off" => None,
            raw => Some(
                u32::try_from(parse_count("IOP_EXCHANGE_LIMIT", raw, 1_000_000)?)
                    .unwrap_or(u32::MAX),
            ),
        };
        let trusted_proxies = parse_networks(settings.trusted_proxies.as_deref().unwrap_or(""))?;
        let encryption_key = read_encryption_key(settings)?;
        let admin_password = read_admin_password(settings)?;
        let shutdown_grace = parse_duration("IOP_SHUTDOWN_GRACE", &settings.shutdown_grace)?;
        let max_connections =
            parse_count("IOP_MAX_CONNECTIONS", &settings.max_connections, 1_000_000)?;
        let per_address = match settings.max_connections_per_address.as_deref() {
            Some(raw) => parse_count("IOP_MAX_CONNECTIONS_PER_ADDRESS", raw, 1_000_000)?,
            None => (max_connections / 4).max(1),
        };
        let connection_limits = ConnectionLimits {
            max_connections,
            per_address,
            unlimited: trusted_proxies.clone().into(),
            header_timeout: parse_duration("IOP_HEADER_TIMEOUT", &settings.header_timeout)?,
            threads: serve_threads(settings.serve_threads.as_deref())?,
        };
        let metrics_listen = settings
            .metrics_listen
            .as_deref()
            .map(|raw| {
                raw.trim().parse().map_err(|_| {
                    bad(
                        "IOP_METRICS_LISTEN",
                        format!("`{raw}` is not an address like 127.0.0.1:9100"),
                    )
                })
            })
            .transpose()?;
        let database_url = DatabaseUrl::parse(
            settings
                .database_url
                .as_deref()
                .unwrap_or(defaults.database_url),
        )
        .map_err(|problem| bad("IOP_DATABASE_URL", problem))?;
        Ok(Config {
            apps,
            public_url,
            public_url_follows_listen: settings.public_url.is_none(),
            listen,
            database_url,
            http_timeout,
            proxy_retry_budget,
            store_retry,
            events_retention,
            webhooks,
            state_ttl,
            refresh_interval,
            refresh_before,
            refresh_concurrency,
            api_keys,
            exchange_limit,
            trusted_proxies,
            encryption_key,
            metrics_listen,
            shutdown_grace,
            connection_limits,
            admin_password,
        })
    }

    /// Every endpoint that receives `app`'s events: IOP_WEBHOOK_URLS, then the app's own.
    pub fn webhook_endpoints(&self, app: &AppId) -> Vec<String> {
        let own = self
            .apps
            .iter()
            .filter(|config| &config.id == app)
            .flat_map(|config| &config.webhook_urls);
        let mut endpoints: Vec<String> = Vec::new();
        for url in self.webhooks.everywhere.iter().chain(own) {
            if !endpoints.iter().any(|known| known == url.as_str()) {
                endpoints.push(url.to_string());
            }
        }
        endpoints
    }

    /// Every endpoint of any app, each once.
    pub fn all_webhook_endpoints(&self) -> Vec<String> {
        let mut endpoints: Vec<String> = Vec::new();
        for app in &self.apps {
            for endpoint in self.webhook_endpoints(&app.id) {
                if !endpoints.contains(&endpoint) {
                    endpoints.push(endpoint);
                }
            }
        }
        endpoints
    }

    /// Records the port the listener really got, for the default public URL.
    pub fn with_bound_port(mut self, port: u16) -> Self {
        self.listen.set_port(port);
        if self.public_url_follows_listen {
            self.public_url = local_url(port);
        }
        self
    }

    /// `app`'s redirect_uri to register in the platform console, character for character.
    pub fn redirect_uri(&self, app: &AppConfig) -> String {
        format!("{}{}", self.public_base(), app.callback_path())
    }

    /// The public URL without its trailing slash, for building links.
    pub fn public_base(&self) -> &str {
        self.public_url.as_str().trim_end_matches('/')
    }

    /// The link that starts an authorization of `app` in a seller's own browser: where a
    /// seller who must authorize again is sent.
    pub fn authorize_link(&self, app: &AppId) -> String {
        let path = self
            .app(app)
            .map_or_else(|| "/authorize".to_owned(), AppConfig::authorize_path);
        format!("{}{path}", self.public_base())
    }

    pub fn app(&self, id: &AppId) -> Option<&AppConfig> {
        self.apps.iter().find(|a| &a.id == id)
    }

    /// The app a command acts on: `--app`, or the only one.
    pub fn pick_app(&self, id: Option<&str>) -> Result<&AppConfig, ConfigError> {
        match id {
            Some(raw) => {
                let id = AppId::parse(raw).map_err(|e| bad("--app", e))?;
                self.app(&id)
                    .ok_or_else(|| bad("--app", format!("no app `{id}` is configured")))
            }
            None if self.apps.len() == 1 => Ok(&self.apps[0]),
            None => Err(bad(
                "--app",
                format!(
                    "several apps are configured: name one ({})",
                    self.apps
                        .iter()
                        .map(|a| a.id.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }

    /// Cookies get `Secure` (and the `__Host-` prefix) only when browsers reach us over https.
    pub fn is_https(&self) -> bool {
        self.public_url.scheme() == "https"
    }
}

/// IOP_LISTEN, or the mode's default.
pub fn parse_listen(settings: &Settings, default: &str) -> Result<SocketAddr, ConfigError> {
    let raw = settings.listen.as_deref().unwrap_or(default).trim();
    raw.parse().map_err(|_| {
        bad(
            "IOP_LISTEN",
            format!("`{raw}` is not an address like 0.0.0.0:8080"),
        )
    })
}

/// A count setting: a whole number from 1 to `max`.
fn parse_count(variable: &'static str, raw: &str, max: usize) -> Result<usize, ConfigError> {
    raw.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| {
            bad(
                variable,
                format!("`{raw}` is not a whole number from 1 to {max}"),
            )
        })
}

/// IOP_SERVE_THREADS: a count (0 serves on the main runtime), one per core by default.
fn serve_threads(raw: Option<&str>) -> Result<usize, ConfigError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
        Some("0") => Ok(0),
        Some(raw) => parse_count("IOP_SERVE_THREADS", raw, 1024),
    }
}

/// A duration setting such as `10s`, `500ms` or `2m`; zero is refused.
pub fn parse_duration(variable: &'static str, raw: &str) -> Result<Duration, ConfigError> {
    let duration = humantime::parse_duration(raw.trim()).map_err(|e| {
        bad(
            variable,
            format!("`{raw}` is not a duration like 10s or 500ms ({e})"),
        )
    })?;
    if duration.is_zero() {
        return Err(bad(variable, "must be more than zero"));
    }
    Ok(duration)
}

fn local_url(port: u16) -> Url {
    Url::parse(&format!("http://localhost:{port}")).expect("a valid URL")
}

pub fn read_secret(settings: &Settings) -> Result<SecretString, ConfigError> {
    secret_setting(
        ("IOP_APP_SECRET", settings.app_secret.as_ref()),
        ("IOP_APP_SECRET_FILE", settings.app_secret_file.as_deref()),
    )?
    .ok_or_else(|| {
        bad(
            "IOP_APP_SECRET",
            "is required (or IOP_APP_SECRET_FILE, or --app-secret)",
        )
    })
}

/// IOP_ENCRYPTION_KEY or IOP_ENCRYPTION_KEY_FILE: base64 of 32 bytes.
fn read_encryption_key(settings: &Settings) -> Result<Option<TokenCipher>, ConfigError> {
    let value = ("IOP_ENCRYPTION_KEY", settings.encryption_key.as_ref());
    let file = (
        "IOP_ENCRYPTION_KEY_FILE",
        settings.encryption_key_file.as_deref(),
    );
    let variable = if file.1.is_some() { file.0 } else { value.0 };
    secret_setting(value, file)?
        .map(|key| {
            TokenCipher::from_base64(&key).map_err(|e| {
                bad(
                    variable,
                    format!("{e} (make one with `iop-callback store generate-key`)"),
                )
            })
        })
        .transpose()
}

/// IOP_ADMIN_PASSWORD, IOP_ADMIN_PASSWORD_FILE or IOP_ADMIN_PASSWORD_HASH: at most one.
fn read_admin_password(settings: &Settings) -> Result<Option<AdminPassword>, ConfigError> {
    let plain = ("IOP_ADMIN_PASSWORD", settings.admin_password.as_ref());
    let file = (
        "IOP_ADMIN_PASSWORD_FILE",
        settings.admin_password_file.as_deref(),
    );
    let given = if file.1.is_some() { file.0 } else { plain.0 };
    match (secret_setting(plain, file)?, &settings.admin_password_hash) {
        (Some(_), Some(_)) => Err(bad(
            "IOP_ADMIN_PASSWORD_HASH",
            format!("set either {given} or IOP_ADMIN_PASSWORD_HASH, not both"),
        )),
        (Some(password), None) => AdminPassword::plain(password)
            .map(Some)
            .map_err(|e| bad(given, e.to_string())),
        (None, Some(hash)) => AdminPassword::hash(hash.expose_secret().trim().to_owned().into())
            .map(Some)
            .map_err(|e| bad("IOP_ADMIN_PASSWORD_HASH", e.to_string())),
        (None, None) => Ok(None),
    }
}

/// A secret given either as a variable's value or in a file the other variable names (a
/// mounted secret; its trailing newline is not part of it). An empty one names the
/// variable it came from.
fn secret_setting(
    value: (&'static str, Option<&SecretString>),
    file: (&'static str, Option<&Path>),
) -> Result<Option<SecretString>, ConfigError> {
    let (variable, secret) = match (value.1, file.1) {
        (Some(_), Some(_)) => {
            return Err(bad(
                file.0,
                format!("set either {} or {}, not both", value.0, file.0),
            ));
        }
        (Some(secret), None) => (value.0, secret.expose_secret().trim().to_owned()),
        (None, Some(path)) => (
            file.0,
            std::fs::read_to_string(path)
                .map(|s| s.trim().to_owned())
                .map_err(|e| bad(file.0, format!("cannot read {}: {e}", path.display())))?,
        ),
        (None, None) => return Ok(None),
    };
    if secret.is_empty() {
        return Err(bad(variable, "is empty"));
    }
    Ok(Some(secret.into()))
}

/// Signed requests and states never travel in clear text to another machine: a platform
/// URL on `http://` is accepted only for a loopback stand-in.
fn check_transport(app: &AppConfig) -> Result<(), ConfigError> {
    let (api, authorize, business) = if app.named {
        ("IOP_APPS_FILE", "IOP_APPS_FILE", "IOP_APPS_FILE")
    } else {
        ("IOP_API_URL", "IOP_AUTHORIZE_URL", "IOP_BUSINESS_API_URL")
    };
    let urls = [(api, &app.api_url), (authorize, &app.authorize_url)]
        .into_iter()
        .chain(app.gateways.configured().map(|url| (business, url)));
    for (variable, url) in urls {
        if url.scheme() == "http" && !crate::network::is_loopback_url(url) {
            return Err(bad(
                variable,
                format!(
                    "app `{}`: `{url}` is plain http to another machine; use https (http is accepted only for a stand-in on this machine: localhost or 127.0.0.1)",
                    app.id
                ),
            ));
        }
    }
    Ok(())
}

/// IOP_TRUSTED_PROXIES: addresses (`127.0.0.1`) or networks (`10.0.0.0/8`).
fn parse_networks(raw: &str) -> Result<Vec<IpNet>, ConfigError> {
    raw.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse::<IpNet>()
                .or_else(|_| item.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    bad(
                        "IOP_TRUSTED_PROXIES",
                        format!("`{item}` is not an address or network like 10.0.0.0/8"),
                    )
                })
        })
        .collect()
}

/// `parse_url`'s check, with the problem in words (the apps file names its own field).
fn parse_url_for(raw: &str) -> Result<Url, String> {
    parse_url("", raw).map_err(|e| e.problem)
}

/// `parse_base_url`'s check, with the problem in words.
fn parse_base_url_for(raw: &str) -> Result<Url, String> {
    parse_base_url("", raw).map_err(|e| e.problem)
}

fn parse_url(variable: &'static str, raw: &str) -> Result<Url, ConfigError> {
    let url =
        Url::parse(raw.trim()).map_err(|e| bad(variable, format!("`{raw}` is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(bad(
            variable,
            format!("`{raw}` must be an absolute http or https URL"),
        ));
    }
    Ok(url)
}

/// The pages link to absolute paths (`/authorize`, `/static/...`), so the service must own
/// the root of its host: a path prefix would break every link. Refuse it up front.
fn parse_public_url(raw: &str) -> Result<Url, ConfigError> {
    let trimmed = raw.trim();
    if !trimmed.contains("://") {
        return Err(bad(
            "IOP_PUBLIC_URL",
            format!(
                "`{raw}` has no scheme: write it as browsers reach the service, e.g. https://{trimmed}"
            ),
        ));
    }
    let url = parse_base_url("IOP_PUBLIC_URL", raw)?;
    if !url.username().is_empty() || url.password().is_some() {
        // Never echo it: the password would reach the terminal and the logs.
        return Err(bad(
            "IOP_PUBLIC_URL",
            "must not hold a user name or password (user:password@): browsers reach the service without one",
        ));
    }
    if url.path().trim_end_matches('/').ends_with("/callback") {
        return Err(bad(
            "IOP_PUBLIC_URL",
            format!(
                "`{raw}` ends in /callback: give the base URL only; the redirect_uri is that plus /callback"
            ),
        ));
    }
    if url.path() != "/" {
        return Err(bad(
            "IOP_PUBLIC_URL",
            format!(
                "`{raw}` has a path; path prefixes are not supported, give iop-callback its own host name"
            ),
        ));
    }
    Ok(url)
}

/// A base URL that paths are appended to: no query, no fragment, no trailing slash.
fn parse_base_url(variable: &'static str, raw: &str) -> Result<Url, ConfigError> {
    let url = parse_url(variable, raw.trim().trim_end_matches('/'))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad(
            variable,
            format!("`{raw}` must not have a query or fragment"),
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// The settings the command line makes of `extra`.
    fn args(extra: &[&str]) -> Settings {
        let mut argv = vec!["iop-callback"];
        argv.extend_from_slice(extra);
        crate::cli::Cli::try_parse_from(argv)
            .unwrap()
            .service
            .settings()
    }

    fn error_variable(extra: &[&str]) -> &'static str {
        Config::from_settings(&args(extra)).unwrap_err().variable
    }

    #[test]
    fn the_configurations_debug_shows_no_secret() {
        let key = TokenCipher::generate_key();
        let config = Config::from_settings(&args(&[
            "--app-key",
            "123",
            "--app-secret",
            "secret-app-value",
            "--database-url",
            "postgres://u:secretpw@127.0.0.1/db",
            "--api-keys",
            "secret-api-key-value-0123456789abcdef",
            "--admin-password",
            "secret admin password",
            "--encryption-key",
            &key,
        ]))
        .unwrap();
        let shown = format!("{config:?}");
        for secret in [
            "secret-app-value",
            "secretpw",
            "secret-api-key-value",
            "secret admin password",
            key.as_str(),
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("postgres://u@127.0.0.1/db"), "{shown}");
    }

    #[test]
    fn a_minimal_configuration_uses_the_aliexpress_presets() {
        let config =
            Config::from_settings(&args(&["--app-key", "123", "--app-secret", "s"])).unwrap();
        assert_eq!(
            config.apps[0].authorize_url.as_str(),
            "https://api-sg.aliexpress.com/oauth/authorize"
        );
        assert_eq!(
            config.apps[0].api_url.as_str(),
            "https://api-sg.aliexpress.com/rest"
        );
        assert_eq!(
            config.redirect_uri(&config.apps[0]),
            "http://localhost:8080/callback"
        );
        assert_eq!(config.http_timeout, Duration::from_secs(10));
    }

    #[test]
    fn lazada_preset_and_overrides() {
        let c = Config::from_settings(&args(&[
            "--platform",
            "lazada",
            "--app-key",
            "1",
            "--app-secret",
            "s",
        ]))
        .unwrap();
        assert_eq!(c.apps[0].api_url.as_str(), "https://auth.lazada.com/rest");
        let c = Config::from_settings(&args(&[
            "--app-key",
            "1",
            "--app-secret",
            "s",
            "--api-url",
            "http://127.0.0.1:9/rest/",
            "--public-url",
            "https://auth.example.com/",
            "--listen",
            "127.0.0.1:3000",
            "--http-timeout",
            "500ms",
        ]))
        .unwrap();
        assert_eq!(c.apps[0].api_url.as_str(), "http://127.0.0.1:9/rest");
        assert_eq!(
            c.redirect_uri(&c.apps[0]),
            "https://auth.example.com/callback"
        );
        assert_eq!(c.http_timeout, Duration::from_millis(500));
        assert!(c.is_https());
    }

    #[test]
    fn public_url_defaults_to_the_listen_port() {
        let c = Config::from_settings(&args(&[
            "--app-key",
            "1",
            "--app-secret",
            "s",
            "--listen",
            "0.0.0.0:9999",
        ]))
        .unwrap();
        assert_eq!(c.redirect_uri(&c.apps[0]), "http://localhost:9999/callback");
    }

    #[test]
    fn serving_threads_are_one_per_core_unless_set_and_0_keeps_the_main_runtime() {
        let base = ["--app-key", "1", "--app-secret", "s"];
        let threads = |extra: &[&str]| {
            Config::from_settings(&args(&[&base[..], extra].concat()))
                .unwrap()
                .connection_limits
                .threads
        };
        let cores = std::thread::available_parallelism().unwrap().get();
        assert_eq!(threads(&[]), cores);
        assert_eq!(threads(&["--serve-threads", "3"]), 3);
        assert_eq!(threads(&["--serve-threads", "0"]), 0);
    }

    #[test]
    fn each_bad_setting_names_its_variable() {
        assert_eq!(error_variable(&[]), "IOP_APP_KEY");
        assert_eq!(
            error_variable(&["--apps-file", "/nonexistent/apps.toml"]),
            "IOP_APPS_FILE"
        );
        assert_eq!(error_variable(&["--app-key", "1"]), "IOP_APP_SECRET");
        let base = ["--app-key", "1", "--app-secret", "s"];
        let with = |extra: &[&str]| error_variable(&[&base[..], extra].concat());
        assert_eq!(with(&["--listen", "nope"]), "IOP_LISTEN");
        assert_eq!(with(&["--public-url", "ftp://x"]), "IOP_PUBLIC_URL");
        assert_eq!(with(&["--public-url", "https://x/?a=1"]), "IOP_PUBLIC_URL");
        assert_eq!(
            with(&["--public-url", "https://x.example/iop"]),
            "IOP_PUBLIC_URL"
        );
        assert_eq!(with(&["--metrics-listen", "9100"]), "IOP_METRICS_LISTEN");
        assert_eq!(
            with(&["--refresh-interval", "sometimes"]),
            "IOP_REFRESH_INTERVAL"
        );
        assert_eq!(with(&["--shutdown-grace", "0s"]), "IOP_SHUTDOWN_GRACE");
        assert_eq!(with(&["--serve-threads", "many"]), "IOP_SERVE_THREADS");
        assert_eq!(with(&["--state-ttl", "31m"]), "IOP_STATE_TTL");
        assert_eq!(
            with(&["--api-url", "http://api.example.com/rest"]),
            "IOP_API_URL"
        );
        assert_eq!(
            with(&["--authorize-url", "http://auth.example.com/oauth/authorize"]),
            "IOP_AUTHORIZE_URL"
        );
        for local in [
            "http://127.0.0.1:9/rest",
            "http://localhost:9/rest",
            "http://[::1]:9/rest",
        ] {
            assert!(
                Config::from_settings(&args(&[&base[..], &["--api-url", local]].concat())).is_ok(),
                "{local} is a stand-in on this machine"
            );
        }
        for (bad_url, says) in [
            ("auth.example.com", "https://auth.example.com"),
            ("https://auth.example.com/callback", "ends in /callback"),
            (
                "https://admin:hunter2@auth.example.com",
                "user name or password",
            ),
        ] {
            let error =
                Config::from_settings(&args(&[&base[..], &["--public-url", bad_url]].concat()))
                    .unwrap_err();
            assert_eq!(error.variable, "IOP_PUBLIC_URL");
            assert!(error.problem.contains(says), "{bad_url}: {}", error.problem);
            assert!(
                !error.problem.contains("hunter2"),
                "the password is never echoed"
            );
        }
        assert_eq!(
            with(&["--refresh-interval", "500ms"]),
            "IOP_REFRESH_INTERVAL"
        );
        assert_eq!(with(&["--refresh-before", "120%"]), "IOP_REFRESH_BEFORE");
        assert_eq!(
            with(&["--refresh-concurrency", "0"]),
            "IOP_REFRESH_CONCURRENCY"
        );
        assert_eq!(with(&["--api-keys", "short"]), "IOP_API_KEYS");
        assert_eq!(with(&["--api-keys", " , "]), "IOP_API_KEYS");
        assert_eq!(with(&["--exchange-limit", "0"]), "IOP_EXCHANGE_LIMIT");
        assert_eq!(
            with(&["--trusted-proxies", "10.0.0.0/33"]),
            "IOP_TRUSTED_PROXIES"
        );
        assert_eq!(with(&["--api-url", "not a url"]), "IOP_API_URL");
        assert_eq!(with(&["--authorize-url", "/relative"]), "IOP_AUTHORIZE_URL");
        assert_eq!(with(&["--http-timeout", "ten"]), "IOP_HTTP_TIMEOUT");
        assert_eq!(with(&["--database-url", "mysql://x"]), "IOP_DATABASE_URL");
    }

    #[test]
    fn secret_comes_from_a_file_without_its_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "from-file\n").unwrap();
        let c = Config::from_settings(&args(&[
            "--app-key",
            "1",
            "--app-secret-file",
            path.to_str().unwrap(),
        ]))
        .unwrap();
        assert_eq!(c.apps[0].app_secret.expose_secret(), "from-file");
        assert_eq!(
            error_variable(&["--app-key", "1", "--app-secret-file", "/nonexistent/secret"]),
            "IOP_APP_SECRET_FILE"
        );
        assert_eq!(
            error_variable(&[
                "--app-key",
                "1",
                "--app-secret",
                "s",
                "--app-secret-file",
                path.to_str().unwrap()
            ]),
            "IOP_APP_SECRET_FILE"
        );
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let c = Config::from_settings(&args(&["--app-key", "1", "--app-secret", "hunter2-secret"]))
            .unwrap();
        assert!(!format!("{c:?}").contains("hunter2-secret"));
    }
}

//! Assembling `demo` (service + sandbox in one process) and `sandbox` (the sandbox alone).

use std::time::Duration;

use axum::Router;
use axum::response::Redirect;
use axum::routing::get;
use tokio::net::TcpListener;
use url::Url;

use crate::apps::AppId;
use crate::cli::{DemoArgs, SandboxArgs, SandboxLifetimeArgs};
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::config::WebhookSecret;
use crate::config::{self, AppConfig, Config, ConfigError, DEMO_DEFAULTS, SANDBOX_LISTEN};
use crate::iop::Platform;
use crate::random::random_hex;
use crate::sandbox::receiver::{self, Receiver};
use crate::sandbox::{Sandbox, SandboxSettings};
use crate::startup::{self, Application, Extras, StartupError};

/// The sandbox app's key when IOP_APP_KEY is not set.
pub const SANDBOX_APP_KEY: &str = "12345678";

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Startup(#[from] StartupError),
}

/// A fresh random secret, so that nothing but this process can sign for the sandbox app.
fn random_secret() -> String {
    random_hex::<16>()
}

fn lifetimes(
    platform: Platform,
    args: &SandboxLifetimeArgs,
) -> Result<(Duration, Duration, Duration), ConfigError> {
    let (access_default, refresh_default) = SandboxSettings::default_ttls(platform);
    let access = match &args.access_ttl {
        Some(raw) => config::parse_duration("IOP_SANDBOX_ACCESS_TTL", raw)?,
        None => access_default,
    };
    let refresh = match &args.refresh_ttl {
        Some(raw) => config::parse_duration("IOP_SANDBOX_REFRESH_TTL", raw)?,
        None => refresh_default,
    };
    let code = config::parse_duration("IOP_SANDBOX_CODE_TTL", &args.code_ttl)?;
    Ok((code, access, refresh))
}

fn url(raw: &str) -> Url {
    Url::parse(raw).expect("built from a valid base URL")
}

/// The service wired to built-in sandboxes in the same process: an AliExpress app and a
/// Lazada app (with a cross-border seller and a country choice), or with `--single` one
/// app of IOP_PLATFORM at the plain `/authorize` and `/callback`. The browser reaches each
/// sandbox's authorize page through the public URL; the token client calls it over
/// loopback HTTP, through the same client and signer as in production.
pub async fn build_demo(
    args: &Settings,
    demo: &DemoArgs,
    clock: SharedClock,
) -> Result<Application, DemoError> {
    let apps = if demo.single {
        let app_key = args
            .app_key
            .clone()
            .unwrap_or_else(|| SANDBOX_APP_KEY.to_owned());
        // A secret given (IOP_APP_SECRET) is used, so that `iop-callback call` in another
        // shell can sign for the demo's sandbox too; else a fresh one.
        let app_secret = args
            .app_secret
            .clone()
            .unwrap_or_else(|| random_secret().into());
        vec![config::implicit_app(args, app_key, app_secret)?]
    } else {
        vec![
            demo_app("aliexpress", Platform::Aliexpress, SANDBOX_APP_KEY, &[]),
            demo_app("lazada", Platform::Lazada, "87654321", &["sg", "th", "cb"]),
        ]
    };
    let config = Config::with_apps(args, apps, &DEMO_DEFAULTS)?;
    let (listener, mut config) = startup::bind(config).await?;
    let public_base = config.public_base().to_owned();
    let loopback = crate::healthcheck::target(config.listen);
    let redirect_uris: Vec<String> = config.apps.iter().map(|a| config.redirect_uri(a)).collect();
    let mut routes = Router::new();
    // Without endpoints of the user's own, events go to the demo's endpoint, which checks
    // their signatures and lists them: a push becomes an event and is delivered, offline.
    if config.all_webhook_endpoints().is_empty() {
        use secrecy::ExposeSecret;
        let secret =
            WebhookSecret::parse(WebhookSecret::generate().expose_secret()).map_err(|problem| {
                ConfigError {
                    variable: "IOP_WEBHOOK_SECRET",
                    problem,
                }
            })?;
        routes = routes.merge(Receiver::new(secret.key().to_vec(), clock.clone()).routes());
        config.webhooks.secret = Some(secret);
        config.webhooks.everywhere = vec![url(&format!("http://{loopback}{}", receiver::PATH))];
    }
    for (app, redirect_uri) in config.apps.iter_mut().zip(redirect_uris) {
        let prefix = if app.named {
            format!("/sandbox/{}", app.id)
        } else {
            "/sandbox".to_owned()
        };
        app.authorize_url = url(&format!("{public_base}{prefix}/oauth/authorize"));
        app.api_url = url(&format!("http://{loopback}{prefix}/rest"));
        app.gateways = sandbox_gateways(app.platform, &format!("http://{loopback}{prefix}"));
        let (code_ttl, access_ttl, refresh_ttl) = lifetimes(app.platform, &demo.lifetimes)?;
        let push_path = if app.named {
            format!("/push/{}", app.id)
        } else {
            "/push".to_owned()
        };
        let sandbox = Sandbox::new(
            SandboxSettings {
                platform: app.platform,
                app_key: app.app_key.clone(),
                app_secret: secrecy::ExposeSecret::expose_secret(&app.app_secret).to_owned(),
                redirect_uri,
                public_base: public_base.clone(),
                prefix,
                secret_printed: false,
                code_ttl,
                access_ttl,
                refresh_ttl,
                push_url: Some(format!("http://{loopback}{push_path}")),
            },
            clock.clone(),
        );
        routes = routes.merge(sandbox.routes());
    }
    let extras = Extras {
        sandbox_banner: true,
        routes,
    };
    Ok(Application::assemble(listener, config, extras, clock).await?)
}

/// The sandbox's business gateways under `base`: one for AliExpress, one per country for
/// Lazada (`{base}/th`), as the platforms have them.
fn sandbox_gateways(platform: Platform, base: &str) -> crate::config::Gateways {
    let mut gateways = crate::config::Gateways::default();
    match platform {
        Platform::Aliexpress => gateways.any = Some(url(base)),
        Platform::Lazada => {
            for country in crate::iop::platform::LAZADA_SITES {
                gateways
                    .by_country
                    .insert(country.to_owned(), url(&format!("{base}/{country}")));
            }
        }
    }
    gateways
}

/// One named app of the two-app demo, with a fresh secret; its URLs are set once the
/// listener's port is known.
fn demo_app(name: &str, platform: Platform, app_key: &str, countries: &[&str]) -> AppConfig {
    AppConfig {
        id: AppId::parse(name).unwrap_or_else(|_| AppId::implicit()),
        platform,
        authorize_url: url(platform.authorize_url()),
        api_url: url(platform.api_url()),
        app_key: app_key.to_owned(),
        app_secret: random_secret().into(),
        countries: countries.iter().map(|c| (*c).to_owned()).collect(),
        gateways: Default::default(),
        webhook_urls: Vec::new(),
        named: true,
    }
}

/// The sandbox alone: its listener, its router with the common layers, and its settings
/// (to print what a developer needs).
pub async fn build_sandbox(
    args: &Settings,
    sandbox_args: &SandboxArgs,
    clock: SharedClock,
) -> Result<(TcpListener, Router, SandboxSettings), DemoError> {
    let listen = config::parse_listen(args, SANDBOX_LISTEN)?;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| StartupError::Bind {
            variable: "IOP_LISTEN",
            addr: listen,
            source,
        })?;
    let port = listener
        .local_addr()
        .map_err(|source| StartupError::Bind {
            variable: "IOP_LISTEN",
            addr: listen,
            source,
        })?
        .port();
    let public_base = match &args.public_url {
        Some(raw) => raw.trim().trim_end_matches('/').to_owned(),
        None => format!("http://localhost:{port}"),
    };
    let app_key = args
        .app_key
        .clone()
        .unwrap_or_else(|| SANDBOX_APP_KEY.to_owned());
    // Only a secret given to this command is used (and printed): never IOP_APP_SECRET or a
    // secret file, which may be a real app's.
    let app_secret = sandbox_args.secret.clone().unwrap_or_else(random_secret);
    let (code_ttl, access_ttl, refresh_ttl) = lifetimes(args.platform, &sandbox_args.lifetimes)?;
    let settings = SandboxSettings {
        platform: args.platform,
        app_key,
        app_secret,
        redirect_uri: sandbox_args.redirect_uri.trim().to_owned(),
        public_base: public_base.clone(),
        prefix: "/sandbox".to_owned(),
        secret_printed: true,
        code_ttl,
        access_ttl,
        refresh_ttl,
        push_url: None,
    };
    let routes = Sandbox::new(settings.clone(), clock)
        .routes()
        .route("/", get(|| async { Redirect::to("/sandbox/") }))
        .route("/static/{name}", get(crate::assets::asset));
    let router = crate::layers::around(
        routes,
        public_base.starts_with("https://"),
        Duration::from_secs(30),
        (),
    );
    Ok((listener, router, settings))
}

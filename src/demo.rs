//! Assembling `demo` (service + sandbox in one process) and `sandbox` (the sandbox alone).

use std::time::Duration;

use axum::Router;
use axum::response::Redirect;
use axum::routing::get;
use tokio::net::TcpListener;
use url::Url;

use crate::cli::{SandboxArgs, SandboxLifetimeArgs, ServiceArgs};
use crate::clock::SharedClock;
use crate::config::{self, Config, ConfigError, DEMO_DEFAULTS, SANDBOX_LISTEN};
use crate::iop::Platform;
use crate::random::random_hex;
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

/// The service wired to a sandbox in the same process. The browser reaches the sandbox's
/// authorize page through the public URL; the token client calls it over loopback HTTP,
/// through the same client and signer as in production.
pub async fn build_demo(
    args: &ServiceArgs,
    lifetime_args: &SandboxLifetimeArgs,
    clock: SharedClock,
) -> Result<Application, DemoError> {
    let app_key = args
        .app_key
        .clone()
        .unwrap_or_else(|| SANDBOX_APP_KEY.to_owned());
    let secret = random_secret();
    let (code_ttl, access_ttl, refresh_ttl) = lifetimes(args.platform, lifetime_args)?;
    let config =
        Config::with_credentials(args, app_key.clone(), secret.clone().into(), &DEMO_DEFAULTS)?;
    let (listener, mut config) = startup::bind(config).await?;
    let public_base = config.public_url.as_str().trim_end_matches('/').to_owned();
    config.authorize_url = url(&format!("{public_base}/sandbox/oauth/authorize"));
    config.api_url = url(&format!(
        "http://{}/sandbox/rest",
        crate::healthcheck::target(config.listen)
    ));
    let sandbox = Sandbox::new(
        SandboxSettings {
            platform: config.platform,
            app_key,
            app_secret: secret,
            redirect_uri: config.redirect_uri(),
            public_base,
            code_ttl,
            access_ttl,
            refresh_ttl,
        },
        clock.clone(),
    );
    let extras = Extras {
        sandbox_banner: true,
        routes: sandbox.routes(),
    };
    Ok(Application::assemble(listener, config, extras, clock).await?)
}

/// The sandbox alone: its listener, its router with the common layers, and its settings
/// (to print what a developer needs).
pub async fn build_sandbox(
    args: &ServiceArgs,
    sandbox_args: &SandboxArgs,
    clock: SharedClock,
) -> Result<(TcpListener, Router, SandboxSettings), DemoError> {
    let listen = config::parse_listen(args, SANDBOX_LISTEN)?;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| StartupError::Bind {
            addr: listen,
            source,
        })?;
    let port = listener
        .local_addr()
        .map_err(|source| StartupError::Bind {
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
    let app_secret = match (&args.app_secret, &args.app_secret_file) {
        (None, None) => random_secret(),
        _ => secrecy::ExposeSecret::expose_secret(&config::read_secret(args)?).to_owned(),
    };
    let (code_ttl, access_ttl, refresh_ttl) = lifetimes(args.platform, &sandbox_args.lifetimes)?;
    let settings = SandboxSettings {
        platform: args.platform,
        app_key,
        app_secret,
        redirect_uri: sandbox_args.redirect_uri.trim().to_owned(),
        public_base: public_base.clone(),
        code_ttl,
        access_ttl,
        refresh_ttl,
    };
    let routes = Sandbox::new(settings.clone(), clock)
        .routes()
        .route("/", get(|| async { Redirect::to("/sandbox/") }))
        .route("/static/{name}", get(crate::assets::asset));
    let router = crate::layers::around(
        routes,
        public_base.starts_with("https://"),
        Duration::from_secs(30),
    );
    Ok((listener, router, settings))
}

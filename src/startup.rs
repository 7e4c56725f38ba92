//! Builds the application (state, router, listener) and serves it until shutdown. Used by
//! `main` and by the tests, so both run exactly the same service.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::clock::{self, SharedClock};
use crate::config::Config;
use crate::events::delivery::{Bell, Deliverer};
use crate::events::notices::Announcer;
use crate::metrics::Metrics;
use crate::renewal::refresher::Refresher;
use crate::runtime::Apps;
use crate::serve::{ConnectionLimits, serve};
use crate::services::Services;
pub use crate::services::StartupError;
use crate::store::SharedStore;
use crate::web::admin::console::AdminConsole;
use crate::web::cookies::BrowserCookie;
use crate::web::limits::ExchangeLimits;
use crate::web::views::Layout;
use crate::web::{self, AppParts, AppState};

pub struct Application {
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    router: Router,
    store: SharedStore,
    apps: Arc<Apps>,
    config: Arc<Config>,
    metrics: Metrics,
    clock: SharedClock,
    refresher: Option<Refresher>,
    /// Raises lifecycle events; delivers every event to the webhook endpoints.
    announcer: Announcer,
    deliverer: Option<Deliverer>,
}

/// What `demo` adds to a plain service: the sandbox's routes and the banner on every page.
#[derive(Default)]
pub struct Extras {
    pub sandbox_banner: bool,
    pub routes: Router,
}

/// Binds first, so that a configuration with port 0 learns its real port before anything
/// (the redirect_uri, the demo's URLs) is derived from it.
pub async fn bind(config: Config) -> Result<(TcpListener, Config), StartupError> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartupError::Bind {
            variable: "IOP_LISTEN",
            addr: config.listen,
            source,
        })?;
    let port = listener
        .local_addr()
        .map_err(|source| StartupError::Bind {
            variable: "IOP_LISTEN",
            addr: config.listen,
            source,
        })?
        .port();
    Ok((listener, config.with_bound_port(port)))
}

impl Application {
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        Self::build_with_clock(config, clock::system()).await
    }

    /// As `build`, reading the time from `clock` (tests move it instead of sleeping).
    pub async fn build_with_clock(
        config: Config,
        clock: SharedClock,
    ) -> Result<Self, StartupError> {
        let (listener, config) = bind(config).await?;
        Self::assemble(listener, config, Extras::default(), clock).await
    }

    pub async fn assemble(
        listener: TcpListener,
        config: Config,
        extras: Extras,
        clock: SharedClock,
    ) -> Result<Self, StartupError> {
        let metrics_listener = match config.metrics_listen {
            Some(addr) => {
                Some(
                    TcpListener::bind(addr)
                        .await
                        .map_err(|source| StartupError::Bind {
                            variable: "IOP_METRICS_LISTEN",
                            addr,
                            source,
                        })?,
                )
            }
            None => None,
        };
        let Services {
            config,
            store,
            apps,
            tokens,
            proxy,
            metrics,
            clock,
        } = Services::open(config, clock).await?;
        let refresher = config.refresh_interval.map(|recheck| Refresher {
            tokens: tokens.clone(),
            recheck,
            concurrency: config.refresh_concurrency,
        });
        let bell = Bell::default();
        let announcer = Announcer {
            store: store.clone(),
            config: config.clone(),
            clock: clock.clone(),
            bell: bell.clone(),
        };
        let deliverer = Deliverer::new(
            &config,
            store.clone(),
            clock.clone(),
            metrics.clone(),
            bell.clone(),
        )?;
        let start = if apps.implicit().is_some() {
            "/authorize"
        } else {
            "/"
        };
        let state = AppState::new(AppParts {
            cookie: BrowserCookie::new(config.is_https()),
            metrics: metrics.clone(),
            config: config.clone(),
            apps: apps.clone(),
            store: store.clone(),
            tokens,
            proxy,
            bell,
            clock: clock.clone(),
            layout: Layout {
                sandbox: extras.sandbox_banner,
                start,
            },
            limits: Arc::new(ExchangeLimits::new(
                config.exchange_limit,
                config.trusted_proxies.clone(),
            )),
            admin: config
                .admin_password
                .as_ref()
                .map(|password| Arc::new(AdminConsole::new(password, &config))),
        });
        let router = web::router(state, extras.routes);
        Ok(Application {
            listener,
            metrics_listener,
            router,
            store,
            apps,
            config,
            metrics,
            clock,
            refresher,
            announcer,
            deliverer,
        })
    }

    pub fn port(&self) -> u16 {
        self.config.listen.port()
    }

    /// The store the service uses (tests close it to see readiness fail).
    pub fn store(&self) -> SharedStore {
        self.store.clone()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The port of the metrics listener, when there is one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .map(|a| a.port())
    }

    /// Serves until `shutdown` completes; then stops accepting, gives in-flight requests
    /// up to IOP_SHUTDOWN_GRACE, stops the refresher after its current pass, and closes the
    /// database. Server, metrics listener and refresher all stop on the same signal.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tracing::info!(listen = %self.config.listen, "iop-callback listening");
        let database = self.config.database_url.sqlite_file().map_or_else(
            || self.config.database_url.redacted(),
            |file| file.display().to_string(),
        );
        tracing::info!(
            database,
            token_api = on_off(self.config.api_keys.iter().any(|k| k.grants.tokens)),
            proxy = on_off(self.config.api_keys.iter().any(|k| k.grants.proxy)),
            admin_console = on_off(self.config.admin_password.is_some()),
            "store opened"
        );
        for app in &self.config.apps {
            tracing::info!(
                app = %app.id,
                platform = %app.platform,
                redirect_uri = %self.config.redirect_uri(app),
                "serving app"
            );
        }
        for warning in self.config.warnings() {
            tracing::warn!("{warning}");
        }
        if self.config.encryption_key.is_none() {
            tracing::warn!(
                "tokens are stored unencrypted: set IOP_ENCRYPTION_KEY to encrypt them at rest"
            );
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopping = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stopped| *stopped).await;
        };
        let metrics_router = metrics_router(&self);
        let refresher = self.refresher.map(|r| tokio::spawn(r.run(stop_rx.clone())));
        let announcer = tokio::spawn(self.announcer.run(stop_rx.clone()));
        let deliverer = self.deliverer.map(|d| tokio::spawn(d.run(stop_rx.clone())));
        let metrics_server = self.metrics_listener.map(|listener| {
            tracing::info!(listen = ?listener.local_addr().ok(), "metrics listening on /metrics");
            let router = metrics_router;
            tokio::spawn(serve(
                listener,
                router,
                stopping(stop_rx.clone()),
                ConnectionLimits::default(),
            ))
        });
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });

        let grace = self.config.shutdown_grace;
        let server = serve(
            self.listener,
            self.router,
            stopping(stop_rx.clone()),
            self.config.connection_limits.clone(),
        );
        let served = tokio::select! {
            served = server => served,
            () = async { stopping(stop_rx).await; tokio::time::sleep(grace).await } => {
                tracing::warn!(grace = %humantime::format_duration(grace), "grace period over, dropping open connections");
                Ok(())
            }
        };
        if let Some(task) = refresher {
            let _ = task.await;
        }
        let _ = announcer.await;
        if let Some(task) = deliverer {
            let _ = task.await;
        }
        if let Some(task) = metrics_server {
            let _ = task.await;
        }
        self.store.close().await;
        tracing::info!("stopped");
        served
    }
}

/// `GET /metrics`, with the token gauges read from the store at scrape time.
fn metrics_router(app: &Application) -> Router {
    let (metrics, store, apps, clock) = (
        app.metrics.clone(),
        app.store.clone(),
        app.apps.clone(),
        app.clock.clone(),
    );
    Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let (metrics, store, apps, clock) =
                (metrics.clone(), store.clone(), apps.clone(), clock.clone());
            async move {
                match store.count_by_status(clock.now()).await {
                    Ok(counts) => metrics.set_tokens(&counts),
                    Err(e) => tracing::warn!(error = %e, "metrics: cannot count tokens"),
                }
                crate::events::delivery::measure_backlog(&store, &metrics, clock.now()).await;
                match crate::renewal::owners::unrefreshable(&store, &apps).await {
                    Ok(sellers) => metrics.set_unrefreshable(sellers),
                    Err(e) => {
                        tracing::warn!(error = %e, "metrics: cannot count unrefreshable sellers")
                    }
                }
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    metrics.encode(),
                )
            }
        }),
    )
}

/// A future that completes on SIGINT or SIGTERM. The handlers are installed here, when it
/// is called, not when it is first polled: a signal arriving between startup and the first
/// poll would otherwise take the default action and kill the process without a graceful
/// stop. Call it before announcing that the service listens.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (mut interrupt, mut terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let received = |s: &mut Option<tokio::signal::unix::Signal>| {
                let mut s = s.take();
                async move {
                    match s.as_mut() {
                        Some(s) => {
                            s.recv().await;
                        }
                        None => std::future::pending::<()>().await,
                    }
                }
            };
            tokio::select! {
                () = received(&mut interrupt) => {},
                () = received(&mut terminate) => {},
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown signal received, finishing in-flight requests");
    }
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

//! Builds the application (state, router, listener) and serves it until shutdown. Used by
//! `main` and by the tests, so both run exactly the same service.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::flow::Flows;
use crate::iop::IopClient;
use crate::store::{StoreError, TokenStore};
use crate::web::cookies::BrowserCookie;
use crate::web::{self, AppState};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot open the token store: {0}")]
    Store(#[from] StoreError),
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    store: TokenStore,
    config: Arc<Config>,
}

/// What `demo` adds to a plain service: the sandbox's routes and the banner on every page.
#[derive(Default)]
pub struct Extras {
    pub sandbox: bool,
    pub routes: Router,
}

/// Binds first, so that a configuration with port 0 learns its real port before anything
/// (the redirect_uri, the demo's URLs) is derived from it.
pub async fn bind(config: Config) -> Result<(TcpListener, Config), StartupError> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartupError::Bind {
            addr: config.listen,
            source,
        })?;
    let port = listener
        .local_addr()
        .map_err(|source| StartupError::Bind {
            addr: config.listen,
            source,
        })?
        .port();
    Ok((listener, config.with_bound_port(port)))
}

impl Application {
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let (listener, config) = bind(config).await?;
        Self::assemble(listener, config, Extras::default()).await
    }

    pub async fn assemble(
        listener: TcpListener,
        config: Config,
        extras: Extras,
    ) -> Result<Self, StartupError> {
        let store = TokenStore::open(&config.database_url).await?;
        let client = IopClient::new(
            config.api_url.as_str(),
            &config.app_key,
            config.app_secret.clone(),
            config.http_timeout,
        )?;
        let config = Arc::new(config);
        let state = AppState {
            cookie: BrowserCookie::new(config.is_https()),
            config: config.clone(),
            client: Arc::new(client),
            store: store.clone(),
            flows: Flows::new(i64::try_from(config.state_ttl.as_millis()).unwrap_or(i64::MAX)),
            sandbox: extras.sandbox,
        };
        let router = web::router(state, extras.routes);
        Ok(Application {
            listener,
            router,
            store,
            config,
        })
    }

    pub fn port(&self) -> u16 {
        self.config.listen.port()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish and closes
    /// the database.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tracing::info!(
            listen = %self.config.listen,
            redirect_uri = %self.config.redirect_uri(),
            platform = %self.config.platform,
            "iop-callback listening"
        );
        let served = serve(self.listener, self.router, shutdown).await;
        self.store.close().await;
        served
    }
}

/// Serves `router` until `shutdown` completes, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Nagle delays small responses by up to 40 ms on keep-alive connections.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await;
    tracing::info!("stopped");
    served
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received, finishing in-flight requests");
}

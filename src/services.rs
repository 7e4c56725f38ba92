//! What the service and the command-line tools share: the configuration, the store, the
//! token keeper, and each app's signed client and flow rules.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::proxy::Proxy;
use crate::renewal::Tokens;
use crate::runtime::Apps;
use crate::store::{self, SharedStore, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(
        "{variable}: cannot listen on {addr}: {source}{}",
        bind_hint(variable, source)
    )]
    Bind {
        /// The setting that named the address (IOP_LISTEN or IOP_METRICS_LISTEN).
        variable: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot open the store: {0}")]
    Store(#[from] StoreError),
    #[error("cannot build the platform's HTTP client: {0}")]
    Client(#[from] crate::iop::transport::BuildError),
    #[error("cannot build the webhooks' HTTP client: {0}")]
    Webhooks(#[from] reqwest::Error),
}

/// What to do about a listener that cannot bind.
fn bind_hint(variable: &str, error: &std::io::Error) -> String {
    let flag = if variable == "IOP_METRICS_LISTEN" {
        "--metrics-listen"
    } else {
        "--listen"
    };
    match error.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            " (another process listens there: stop it, or choose another address with {flag} or {variable})"
        ),
        std::io::ErrorKind::PermissionDenied => format!(
            " (ports below 1024 need privileges: choose a higher port with {flag} or {variable})"
        ),
        _ => String::new(),
    }
}

pub struct Services {
    pub config: Arc<Config>,
    pub store: SharedStore,
    pub apps: Arc<Apps>,
    pub tokens: Arc<Tokens>,
    /// Business calls on sellers' behalf (the signing proxy and `call`).
    pub proxy: Arc<Proxy>,
    pub metrics: Metrics,
    pub clock: SharedClock,
}

impl Services {
    pub async fn open(config: Config, clock: SharedClock) -> Result<Self, StartupError> {
        let store = store::open(&config.database_url, config.encryption_key.clone()).await?;
        store.set_retry_budget(config.store_retry);
        let apps = Arc::new(Apps::build(&config, clock.clone())?);
        // Before anything refreshes: pairs stored under an app name that changed follow
        // their platform and app key; the rest are named in the log. Not when no app is
        // configured (a command that only reads): there is nothing to adopt them.
        if !config.apps.is_empty() {
            crate::renewal::owners::adopt_stored_pairs(&store, &apps).await?;
        }
        let metrics = Metrics::default();
        let tokens = Arc::new(Tokens::new(
            store.clone(),
            apps.clone(),
            metrics.clone(),
            clock.clone(),
            config.refresh_before,
            config.http_timeout,
        ));
        let proxy = Arc::new(Proxy::new(
            tokens.clone(),
            metrics.clone(),
            config.proxy_retry_budget,
        ));
        Ok(Services {
            config: Arc::new(config),
            store,
            apps,
            tokens,
            proxy,
            metrics,
            clock,
        })
    }
}

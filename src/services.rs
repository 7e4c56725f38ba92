//! What the service and the command-line tools share: the configuration, the store, the
//! token keeper, and each app's signed client and flow rules.

use std::collections::HashMap;
use std::sync::Arc;

use secrecy::ExposeSecret;

use crate::apps::AppId;
use crate::clock::{self, SharedClock};
use crate::config::{AppConfig, Config};
use crate::flow::{Flows, StateKey};
use crate::iop::IopClient;
use crate::metrics::Metrics;
use crate::renewal::Tokens;
use crate::startup::StartupError;
use crate::store::{self, SharedStore};

/// One app at run time: its settings, its signed client, its state rules (keyed by its
/// own secret, so a state of one app is refused at another app's callback).
pub struct AppRuntime {
    pub config: AppConfig,
    pub client: Arc<IopClient>,
    pub flows: Flows,
}

/// Every app of the deployment, in the configuration's order.
pub struct Apps {
    list: Vec<Arc<AppRuntime>>,
}

impl Apps {
    pub fn get(&self, id: &AppId) -> Option<&Arc<AppRuntime>> {
        self.list.iter().find(|a| &a.config.id == id)
    }

    /// The app named in a path (`/callback/{name}`): only apps of an apps file have one.
    pub fn named(&self, name: &str) -> Option<&Arc<AppRuntime>> {
        let id = AppId::parse(name).ok()?;
        self.get(&id).filter(|a| a.config.named)
    }

    /// The app of the plain `/authorize` and `/callback`, in a single-app deployment.
    pub fn implicit(&self) -> Option<&Arc<AppRuntime>> {
        self.list.iter().find(|a| !a.config.named)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<AppRuntime>> {
        self.list.iter()
    }

    pub fn ids(&self) -> Vec<AppId> {
        self.list.iter().map(|a| a.config.id.clone()).collect()
    }
}

pub struct Services {
    pub config: Arc<Config>,
    pub store: SharedStore,
    pub apps: Arc<Apps>,
    pub tokens: Arc<Tokens>,
    pub metrics: Metrics,
    pub clock: SharedClock,
}

impl Services {
    pub async fn open(config: Config, clock: SharedClock) -> Result<Self, StartupError> {
        let store = store::open(&config.database_url, config.encryption_key.clone()).await?;
        let mut list = Vec::new();
        for app in &config.apps {
            let client = Arc::new(IopClient::new(
                app.api_url.as_str(),
                &app.app_key,
                app.app_secret.clone(),
                config.http_timeout,
                clock.clone(),
            )?);
            let flows = Flows::new(
                app.id.clone(),
                StateKey::derive(app.app_secret.expose_secret()),
                clock::millis(config.state_ttl),
            );
            list.push(Arc::new(AppRuntime {
                config: app.clone(),
                client,
                flows,
            }));
        }
        let apps = Arc::new(Apps { list });
        let metrics = Metrics::default();
        let clients: HashMap<AppId, Arc<IopClient>> = apps
            .iter()
            .map(|a| (a.config.id.clone(), a.client.clone()))
            .collect();
        let tokens = Arc::new(Tokens::new(
            store.clone(),
            clients,
            metrics.clone(),
            clock.clone(),
            config.refresh_before,
            config.http_timeout,
        ));
        Ok(Services {
            config: Arc::new(config),
            store,
            apps,
            tokens,
            metrics,
            clock,
        })
    }
}

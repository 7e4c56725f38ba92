//! Every app of the deployment at run time: its settings, its signed client and its state
//! rules. Built once from the configuration and shared as one `Arc` by the pages, the
//! renewal path and the refresher.

use std::sync::Arc;

use secrecy::ExposeSecret;

use crate::apps::AppId;
use crate::clock::{self, SharedClock};
use crate::config::{AppConfig, Config};
use crate::flow::{Flows, StateKey};
use crate::iop::IopClient;
use crate::iop::transport::BuildError;

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
    /// Each configured app with its client (one connection pool each) and state rules.
    pub fn build(config: &Config, clock: SharedClock) -> Result<Self, BuildError> {
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
        Ok(Apps { list })
    }

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

    /// The configured app a user named (`?app=`, `--app`), or why there is none, in words
    /// that list the configured names (never anything secret).
    pub fn resolve(&self, name: &str) -> Result<AppId, String> {
        AppId::parse(name.trim())
            .ok()
            .filter(|id| self.get(id).is_some())
            .ok_or_else(|| {
                let configured: Vec<&str> =
                    self.list.iter().map(|a| a.config.id.as_str()).collect();
                format!(
                    "unknown app `{}`; configured: {}",
                    name.trim(),
                    configured.join(", ")
                )
            })
    }

    /// How many apps the deployment serves.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn ids(&self) -> Vec<AppId> {
        self.list.iter().map(|a| a.config.id.clone()).collect()
    }
}

//! What every handler can reach.

use std::sync::Arc;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::events::delivery::Bell;
use crate::metrics::Metrics;
use crate::proxy::Proxy;
use crate::renewal::Tokens;
use crate::runtime::Apps;
use crate::store::SharedStore;
use crate::web::admin::console::AdminConsole;
use crate::web::cookies::BrowserCookie;
use crate::web::limits::ExchangeLimits;
use crate::web::views::Layout;

/// Cloned for every extractor and middleware of every request, so one `Arc`: cloning the
/// parts one by one (a dozen reference counts) showed up in the flow benchmark's profile.
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

impl AppState {
    pub fn new(parts: AppParts) -> Self {
        AppState(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

pub struct AppParts {
    pub config: Arc<Config>,
    pub store: SharedStore,
    /// Every app served: settings, signed client, state rules.
    pub apps: Arc<Apps>,
    /// Hands out current tokens; the one path for refreshing.
    pub tokens: Arc<Tokens>,
    /// Business calls on sellers' behalf (`/api/v1/proxy`).
    pub proxy: Arc<Proxy>,
    /// Rung when an event is kept here, so that its delivery starts at once.
    pub bell: Bell,
    pub clock: SharedClock,
    pub cookie: BrowserCookie,
    pub metrics: Metrics,
    /// What every page's layout needs (the demo's sandbox banner).
    pub layout: Layout,
    pub limits: Arc<ExchangeLimits>,
    /// The admin console, when a password is configured.
    pub admin: Option<Arc<AdminConsole>>,
}

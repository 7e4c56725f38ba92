//! What every handler can reach.

use std::sync::Arc;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::services::Apps;
use crate::store::SharedStore;
use crate::tokens::Tokens;
use crate::web::admin::AdminConsole;
use crate::web::cookies::BrowserCookie;
use crate::web::limits::ExchangeLimits;
use crate::web::views::Layout;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: SharedStore,
    /// Every app served: settings, signed client, state rules.
    pub apps: Arc<Apps>,
    /// Hands out current tokens; the one path for refreshing.
    pub tokens: Arc<Tokens>,
    pub clock: SharedClock,
    pub cookie: BrowserCookie,
    pub metrics: Metrics,
    /// What every page's layout needs (the demo's sandbox banner).
    pub layout: Layout,
    pub limits: Arc<ExchangeLimits>,
    /// The admin console, when a password is configured.
    pub admin: Option<Arc<AdminConsole>>,
}

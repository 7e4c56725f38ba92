//! What every handler can reach.

use std::sync::Arc;

use crate::config::Config;
use crate::flow::Flows;
use crate::iop::IopClient;
use crate::metrics::Metrics;
use crate::store::TokenStore;
use crate::web::cookies::BrowserCookie;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub client: Arc<IopClient>,
    pub store: TokenStore,
    pub flows: Flows,
    pub cookie: BrowserCookie,
    pub metrics: Metrics,
    /// Set by `iop-callback demo`: every page says it is a sandbox.
    pub sandbox: bool,
}

//! `GET /authorize`: issue a state bound to this browser and send it to the platform.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Redirect, Response};
use tracing::instrument;
use url::Url;

use crate::config::Config;
use crate::flow::{BrowserId, FlowState};
use crate::web::state::AppState;

#[instrument(skip_all)]
pub(super) async fn authorize(State(app): State<AppState>, headers: HeaderMap) -> Response {
    // Reuse this browser's id so that several tabs authorizing at once all stay valid.
    let browser = app
        .cookie
        .read(&headers)
        .unwrap_or_else(BrowserId::generate);
    // Self-verifying: nothing is stored, so no rate of requests can fill anything.
    let state = app.flows.start(&browser, app.clock.now_ms());
    app.metrics.authorization_started(&app.flows.app);
    let mut response = Redirect::to(authorize_url(&app.config, &state).as_str()).into_response();
    response
        .headers_mut()
        .insert(SET_COOKIE, app.cookie.set(&browser));
    response
}

/// The platform's authorize page with our parameters. No `uuid`: it breaks the token call.
pub fn authorize_url(config: &Config, state: &FlowState) -> Url {
    let mut url = config.authorize_url.clone();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("force_auth", "true")
        .append_pair("redirect_uri", &config.redirect_uri())
        .append_pair("client_id", &config.app_key)
        .append_pair("state", state.expose());
    url
}

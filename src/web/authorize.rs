//! `GET /authorize` (the implicit app) and `GET /authorize/{app}`: issue a state bound to
//! this browser and this app, and send the browser to the app's platform.

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Redirect, Response};
use url::Url;

use crate::config::{AppConfig, Config};
use crate::flow::{BrowserId, FlowState};
use crate::runtime::AppRuntime;
use crate::web::error::{AppError, Missing};
use crate::web::state::AppState;

pub(super) async fn authorize(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let runtime = app
        .apps
        .implicit()
        .ok_or(AppError::NotFound(Missing::ImplicitApp))?
        .clone();
    start(&app, &runtime, query.as_deref(), &headers)
}

pub(super) async fn authorize_app(
    State(app): State<AppState>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let runtime = app
        .apps
        .named(&name)
        .ok_or(AppError::NotFound(Missing::App))?
        .clone();
    start(&app, &runtime, query.as_deref(), &headers)
}

fn start(
    app: &AppState,
    runtime: &AppRuntime,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Response, AppError> {
    super::name_the_app(runtime);
    let country = country(&runtime.config, query)?;
    // Reuse this browser's id so that several tabs authorizing at once all stay valid.
    let browser = app.cookie.read(headers).unwrap_or_else(BrowserId::generate);
    // Self-verifying: nothing is stored, so no rate of requests can fill anything.
    let state = runtime.flows.start(&browser, app.clock.now_ms());
    app.metrics.authorization_started(&runtime.config.id);
    let target = authorize_url(&app.config, &runtime.config, &state, country);
    let mut response = Redirect::to(target.as_str()).into_response();
    response
        .headers_mut()
        .insert(SET_COOKIE, app.cookie.set(&browser));
    Ok(response)
}

/// `?country=th`: passed on only when it is one of the app's countries. Nothing else from
/// the query reaches the platform.
fn country<'a>(app: &'a AppConfig, query: Option<&str>) -> Result<Option<&'a str>, AppError> {
    let asked = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(name, _)| name == "country")
        .map(|(_, value)| value.into_owned());
    match asked {
        None => Ok(None),
        Some(code) => app
            .countries
            .iter()
            .find(|c| **c == code)
            .map(|c| Some(c.as_str()))
            .ok_or_else(|| {
                AppError::BadRequest(if app.countries.is_empty() {
                    "This app does not choose a country.".to_owned()
                } else {
                    format!(
                        "The country must be one of {} for this app.",
                        app.countries.join(", ")
                    )
                })
            }),
    }
}

/// The platform's authorize page with our parameters. No `uuid`: it breaks the token call.
pub fn authorize_url(
    config: &Config,
    app: &AppConfig,
    state: &FlowState,
    country: Option<&str>,
) -> Url {
    let mut url = app.authorize_url.clone();
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("force_auth", "true")
            .append_pair("redirect_uri", &config.redirect_uri(app))
            .append_pair("client_id", &app.app_key)
            .append_pair("state", state.expose());
        if let Some(country) = country {
            query.append_pair("country", country);
        }
    }
    url
}

//! `GET /`: each app's redirect_uri to register, and the buttons that start authorizations.

use axum::extract::State;
use axum::response::Html;

use crate::iop::platform::lazada_country_name;
use crate::web::error::AppError;
use crate::web::state::AppState;
use crate::web::views::{CountryChoice, LandingApp, LandingPage, render};

pub(super) async fn landing(State(app): State<AppState>) -> Result<Html<String>, AppError> {
    let several = app.apps.len() > 1;
    let apps: Vec<LandingApp> = app
        .config
        .apps
        .iter()
        .map(|a| LandingApp {
            id: a.id.to_string(),
            platform_name: a.platform.display_name(),
            app_key: a.app_key.clone(),
            redirect_uri: app.config.redirect_uri(a),
            redirect_uri_id: if several {
                format!("redirect-uri-{}", a.id)
            } else {
                "redirect-uri".to_owned()
            },
            authorize_path: a.authorize_path(),
            countries: a
                .countries
                .iter()
                .map(|code| CountryChoice {
                    code: code.clone(),
                    name: lazada_country_name(code),
                })
                .collect(),
        })
        .collect();
    render(&LandingPage {
        layout: app.layout,
        single: if several { None } else { apps.first().cloned() },
        apps,
        admin: app.admin.is_some(),
    })
}

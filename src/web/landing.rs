//! `GET /`: what to register, and the button that starts an authorization.

use axum::extract::State;
use axum::response::Html;

use crate::error::AppError;
use crate::web::state::AppState;
use crate::web::views::{LandingPage, render};

pub(super) async fn landing(State(app): State<AppState>) -> Result<Html<String>, AppError> {
    render(&LandingPage {
        layout: app.layout,
        platform_name: app.config.platform.display_name(),
        app_key: app.config.app_key.clone(),
        redirect_uri: app.config.redirect_uri(),
    })
}

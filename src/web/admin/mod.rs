//! The admin console's pages: sign-in (`login`), the sellers and one seller (`sellers`),
//! events and their deliveries (`events`), the audit log (`audit`). Off, so every `/admin` path is 404, unless a password is
//! configured. The rules behind them (sessions, throttling, what is audited) are in
//! `crate::admin`; the signed-in operator is the `Operator` extractor.

pub(crate) mod audit;
pub mod console;
mod events;
mod forms;
mod login;
mod operator;
mod paging;
mod sellers;
mod views;

use axum::Router;
use axum::routing::{get, post};

use crate::web::state::AppState;

/// The console's routes, or none when it is off.
pub(super) fn routes(app: AppState) -> Router {
    if app.admin.is_none() {
        return Router::new();
    }
    Router::new()
        .route("/admin", get(sellers::list))
        .route("/admin/login", get(login::form).post(login::sign_in))
        .route("/admin/logout", post(login::sign_out))
        .route("/admin/audit", get(audit::page))
        .route("/admin/events", get(events::page))
        .route("/admin/events/{id}/redeliver", post(events::redeliver))
        .route("/admin/sellers/{id}", get(sellers::by_row))
        .route("/admin/sellers/{app}/{seller}", get(sellers::show))
        .route(
            "/admin/sellers/{app}/{seller}/reveal",
            post(sellers::reveal),
        )
        .route(
            "/admin/sellers/{app}/{seller}/refresh",
            post(sellers::refresh),
        )
        .route(
            "/admin/sellers/{app}/{seller}/delete",
            get(sellers::confirm_delete).post(sellers::delete),
        )
        .with_state(app)
}

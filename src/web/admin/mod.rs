//! The admin console's pages: sign-in (`login`), the sellers and one seller (`sellers`),
//! the audit log (`audit`). Off, so every `/admin` path is 404, unless a password is
//! configured. The rules behind them (sessions, throttling, what is audited) are in
//! `crate::admin`; the signed-in operator is the `Operator` extractor.

mod audit;
mod forms;
mod login;
mod operator;
mod sellers;
mod views;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use tokio::sync::Semaphore;

use crate::admin::{AdminPassword, PasswordVerifier};
use crate::config::Config;
use crate::web::state::AppState;

/// Argon2 checks at once: each takes tens of milliseconds and 19 MiB, so a burst of
/// sign-ins waits its turn instead of taking every core.
const PASSWORD_CHECKS: usize = 2;

/// What the console needs beyond the service's state.
pub struct AdminConsole {
    verifier: PasswordVerifier,
    /// Cookies are `Secure` with a `__Host-` name when browsers reach us over https.
    secure: bool,
    checks: Semaphore,
}

impl AdminConsole {
    pub fn new(password: &AdminPassword, config: &Config) -> Self {
        AdminConsole {
            verifier: PasswordVerifier::new(password, config.public_base()),
            secure: config.is_https(),
            checks: Semaphore::new(PASSWORD_CHECKS),
        }
    }

    /// Whether `attempt` is the password, checked off the async threads.
    async fn verify(self: &Arc<Self>, attempt: String) -> bool {
        let Ok(_turn) = self.checks.acquire().await else {
            return false;
        };
        let console = self.clone();
        tokio::task::spawn_blocking(move || console.verifier.verify(&attempt))
            .await
            .unwrap_or(false)
    }
}

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
        .route("/admin/sellers/{id}", get(sellers::show))
        .route("/admin/sellers/{id}/reveal", post(sellers::reveal))
        .route("/admin/sellers/{id}/refresh", post(sellers::refresh))
        .route(
            "/admin/sellers/{id}/delete",
            get(sellers::confirm_delete).post(sellers::delete),
        )
        .with_state(app)
}

//! What the console needs beyond the service's state: the password check, run a few at a
//! time off the async threads, and whether its cookies must be `Secure`.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::admin::{AdminPassword, PasswordVerifier};
use crate::config::Config;

/// Argon2 checks at once: each takes tens of milliseconds and 19 MiB, so a burst of
/// sign-ins waits its turn instead of taking every core.
const PASSWORD_CHECKS: usize = 2;

/// What the console needs beyond the service's state.
pub struct AdminConsole {
    pub(super) verifier: PasswordVerifier,
    /// Cookies are `Secure` with a `__Host-` name when browsers reach us over https.
    pub(super) secure: bool,
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
    pub(super) async fn verify(self: &Arc<Self>, attempt: String) -> bool {
        let Ok(_turn) = self.checks.acquire().await else {
            return false;
        };
        let console = self.clone();
        tokio::task::spawn_blocking(move || console.verifier.verify(&attempt))
            .await
            .unwrap_or(false)
    }
}

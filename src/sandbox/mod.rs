//! A built-in stand-in for the platform, mounted under `/sandbox/`: an authorize page and
//! the two token APIs, verifying signatures like the real gateway. `iop-callback demo`
//! runs it beside the service; `iop-callback sandbox` runs it alone.

mod business;
mod consent;
mod error;
mod grants;
mod pushes;
pub mod receiver;
mod sellers;
mod token_api;
mod views;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::{Html, Redirect};
use axum::routing::{get, post};

use crate::clock::{SharedClock, millis};
use crate::iop::Platform;
use crate::lock::lock;
use error::SandboxError;
use grants::{Grants, Lifetimes};
use views::{LAYOUT, render};

/// Everything the sandbox platform is configured with.
#[derive(Clone)]
pub struct SandboxSettings {
    pub platform: Platform,
    pub app_key: String,
    /// A made-up secret for a made-up app; kept as plain text so it can be printed.
    pub app_secret: String,
    /// The callback URL "registered" for the app, checked character for character.
    pub redirect_uri: String,
    /// Where browsers reach the sandbox (for its home page).
    pub public_base: String,
    /// The path its routes live under: `/sandbox`, or `/sandbox/{platform}` beside another.
    pub prefix: String,
    /// `sandbox` printed the secret at start; in `demo` the service holds it and nothing
    /// is printed.
    pub secret_printed: bool,
    pub code_ttl: Duration,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// Where its push buttons send messages (the service's `/push` URL for this app), in
    /// `demo`; none for the sandbox alone.
    pub push_url: Option<String>,
}

impl SandboxSettings {
    /// The platforms' documented lifetimes for an app in test status.
    pub fn default_ttls(platform: Platform) -> (Duration, Duration) {
        const DAY: u64 = 86_400;
        match platform {
            Platform::Aliexpress => (Duration::from_secs(DAY), Duration::from_secs(2 * DAY)),
            Platform::Lazada => (Duration::from_secs(7 * DAY), Duration::from_secs(14 * DAY)),
        }
    }

    pub fn authorize_url(&self) -> String {
        format!("{}{}/oauth/authorize", self.public_base, self.prefix)
    }

    pub fn api_url(&self) -> String {
        format!("{}{}/rest", self.public_base, self.prefix)
    }

    /// What a service needs to run against this sandbox, as `export` lines that paste into
    /// a shell: the app, the sandbox's URLs, and where the service must be for the
    /// registered callback to reach it (its public URL and listen address).
    pub fn service_env(&self) -> String {
        let mut lines = vec![
            format!("export IOP_PLATFORM={}", self.platform),
            format!("export IOP_APP_KEY={}", self.app_key),
            format!("export IOP_APP_SECRET={}", self.app_secret),
            format!("export IOP_AUTHORIZE_URL={}", self.authorize_url()),
            format!("export IOP_API_URL={}", self.api_url()),
        ];
        let (public_url, listen) = service_at(&self.redirect_uri);
        lines.push(match public_url {
            Some(url) => format!("export IOP_PUBLIC_URL={url}"),
            None => format!(
                "# IOP_PUBLIC_URL: set it so that {{IOP_PUBLIC_URL}}/callback is {}",
                self.redirect_uri
            ),
        });
        lines.push(match listen {
            Some(listen) => format!("export IOP_LISTEN={listen}"),
            None => "# IOP_LISTEN: the address your reverse proxy forwards that URL to".to_owned(),
        });
        lines.join("\n")
    }
}

/// The public URL and listen address of a service whose callback is `redirect_uri`, where
/// they follow from it: the URL when its path is `/callback` (the service takes no path
/// prefix), the address when the service is reached directly over plain HTTP on loopback
/// (`http://localhost:8080/callback` → `http://localhost:8080`, `127.0.0.1:8080`). Behind a
/// TLS proxy only the proxy knows where it forwards.
fn service_at(redirect_uri: &str) -> (Option<String>, Option<String>) {
    let Ok(url) = url::Url::parse(redirect_uri) else {
        return (None, None);
    };
    if url.path() != "/callback" {
        return (None, None);
    }
    let public_url = url[..url::Position::BeforePath].to_owned();
    let listen = (crate::network::is_loopback_url(&url) && url.scheme() == "http")
        .then(|| url.port_or_known_default())
        .flatten()
        .map(|port| format!("127.0.0.1:{port}"));
    (Some(public_url), listen)
}

#[derive(Clone)]
pub struct Sandbox {
    settings: Arc<SandboxSettings>,
    grants: Arc<Mutex<Grants>>,
    /// Recent business calls per seller, for `ApiCallLimit`.
    rate: Arc<business::Rate>,
    clock: SharedClock,
}

impl Sandbox {
    /// A sandbox whose codes and tokens expire by `clock`.
    pub fn new(settings: SandboxSettings, clock: SharedClock) -> Self {
        let lifetimes = Lifetimes {
            code_ms: millis(settings.code_ttl),
            access_ms: millis(settings.access_ttl),
            refresh_ms: millis(settings.refresh_ttl),
        };
        Sandbox {
            settings: Arc::new(settings),
            grants: Arc::new(Mutex::new(Grants::new(lifetimes))),
            rate: Arc::default(),
            clock,
        }
    }

    fn grants(&self) -> MutexGuard<'_, Grants> {
        lock(&self.grants)
    }

    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The sandbox's routes, all under its prefix (`/sandbox/`, or `/sandbox/lazada/` in a
    /// demo of several apps).
    pub fn routes(self) -> Router {
        let prefix = self.settings.prefix.clone();
        let at = |path: &str| format!("{prefix}{path}");
        let home_slash = at("/");
        let business = match self.settings.platform {
            // A gateway per country, as Lazada has.
            Platform::Lazada => Router::new().route(
                &at("/{country}/rest/{*api}"),
                get(business::lazada).post(business::lazada),
            ),
            Platform::Aliexpress => {
                Router::new().route(&at("/sync"), get(business::sync).post(business::sync))
            }
        };
        Router::new()
            .route(
                &prefix,
                get(move || async move { Redirect::permanent(&home_slash) }),
            )
            .route(&at("/"), get(home))
            .route(&at("/oauth/authorize"), get(consent::authorize))
            .route(&at("/oauth/decide"), post(consent::decide))
            .route(&at("/rest/auth/token/create"), post(token_api::create))
            .route(&at("/rest/auth/token/refresh"), post(token_api::refresh))
            .route(&at("/revoke"), post(revoke))
            .route(&at("/push"), post(pushes::push))
            .merge(business)
            .with_state(self)
    }
}

/// The home page's button: revokes the access tokens of one made-up seller, so that the
/// next business call shows what a revoked token does (`IllegalAccessToken`, a refresh, the
/// call repeated).
async fn revoke(
    State(sandbox): State<Sandbox>,
    axum::Form(form): axum::Form<RevokeForm>,
) -> Redirect {
    let revoked = sandbox.grants().revoke_access(&form.seller);
    tracing::info!(seller = %form.seller, revoked, "sandbox revoked access tokens");
    Redirect::to(&format!("{}/?revoked={revoked}", sandbox.settings.prefix))
}

#[derive(serde::Deserialize)]
struct RevokeForm {
    seller: String,
}

async fn home(State(sandbox): State<Sandbox>) -> Result<Html<String>, SandboxError> {
    let s = &sandbox.settings;
    let human = crate::clock::span;
    Ok(render(&views::SandboxHome {
        layout: LAYOUT,
        platform_name: s.platform.display_name(),
        app_key: s.app_key.clone(),
        authorize_url: s.authorize_url(),
        api_url: s.api_url(),
        redirect_uri: s.redirect_uri.clone(),
        code_ttl: human(s.code_ttl),
        access_ttl: human(s.access_ttl),
        refresh_ttl: human(s.refresh_ttl),
        secret_printed: s.secret_printed,
        revoke_path: format!("{}/revoke", s.prefix),
        push_path: s.push_url.as_ref().map(|_| format!("{}/push", s.prefix)),
        sellers: sellers::for_platform(s.platform)
            .map(|seller| views::SellerChoice {
                key: seller.key,
                label: seller.label,
            })
            .collect(),
    })?)
}

#[cfg(test)]
mod tests {
    use super::service_at;

    #[test]
    fn the_service_is_placed_only_where_the_callback_says_where() {
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(
            service_at("http://localhost:8080/callback"),
            (some("http://localhost:8080"), some("127.0.0.1:8080"))
        );
        assert_eq!(
            service_at("http://127.0.0.1/callback"),
            (some("http://127.0.0.1"), some("127.0.0.1:80"))
        );
        // Behind a TLS proxy: the URL, but only the proxy knows the address.
        assert_eq!(
            service_at("https://auth.example.com/callback"),
            (some("https://auth.example.com"), None)
        );
        // A prefix or another app's callback: nothing to say.
        for other in [
            "https://example.com/iop/callback",
            "http://localhost:8080/callback/ae",
            "x",
        ] {
            assert_eq!(service_at(other), (None, None), "{other}");
        }
    }
}

//! The signing proxy: one business call on a seller's behalf, for the token API's proxy
//! route and the `call` command alike. It finds the seller (within the caller's grants),
//! picks the gateway, signs with the app's secret and the seller's current access token,
//! and repeats only what the platform did not act on (security.md 27): a stale token once
//! after a refresh, a throttled call within the retry budget, a lost GET once.

mod request;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::apps::AppId;
use crate::config::Grants;
use crate::iop::IopError;
use crate::iop::business::{BusinessApi, CodeClass};
use crate::iop::client::{BusinessCall, PassedAnswer};
use crate::metrics::Metrics;
use crate::renewal::{SellerLookup, TokenError, Tokens, pick_seller};
use crate::runtime::AppRuntime;
use crate::tokens::StoredToken;

pub use request::ProxyRequest;

/// Why a call was not passed through.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("{0}")]
    BadRequest(String),
    #[error("unknown seller")]
    NotFound,
    #[error("seller id known under several apps")]
    Ambiguous(Vec<StoredToken>),
    /// The key lacks this grant (`app:NAME`).
    #[error("the key lacks the grant `{0}`")]
    Forbidden(String),
    /// The seller must authorize again (through this app's authorize page).
    #[error("the seller must authorize again")]
    Reauthorize(AppId),
    #[error(transparent)]
    Token(TokenError),
}

/// An answer passed through, and what it took.
#[derive(Debug)]
pub struct Proxied {
    pub answer: PassedAnswer,
    pub app: AppId,
    pub retries: u32,
}

pub struct Proxy {
    tokens: Arc<Tokens>,
    metrics: Metrics,
    /// How long throttled calls are waited out and repeated, in all.
    retry_budget: Duration,
}

impl Proxy {
    pub fn new(tokens: Arc<Tokens>, metrics: Metrics, retry_budget: Duration) -> Self {
        Proxy {
            tokens,
            metrics,
            retry_budget,
        }
    }

    /// Makes `request` on behalf of its seller, as far as `grants` reach.
    pub async fn call(
        &self,
        request: ProxyRequest,
        grants: &Grants,
    ) -> Result<Proxied, ProxyError> {
        let started = Instant::now();
        let token = self.find(&request, grants).await?;
        let runtime = self
            .tokens
            .apps()
            .get(&token.app)
            .ok_or_else(|| ProxyError::Token(TokenError::UnknownApp(token.app.clone())))?;
        let platform = runtime.config.platform;
        let api = BusinessApi::parse(&request.api, platform).map_err(ProxyError::BadRequest)?;
        request.check_parameters(&api)?;
        let country = request.country_for(&token, platform)?;
        let root = runtime
            .config
            .gateways
            .root(platform, country.as_deref())
            .ok_or_else(|| {
                ProxyError::BadRequest(format!(
                    "no business gateway is known for country `{}`",
                    country.as_deref().unwrap_or_default()
                ))
            })?;
        let call = BusinessCall {
            api: &api,
            post: request.post,
            params: &request.params,
            files: &request.files,
        };
        let app = token.app.clone();
        let seller_id = token.identity.primary_id().unwrap_or_default().to_owned();
        // Boxed: this future is several KB, and inline it was copied again with every
        // future that holds it (this one, the handler's, axum's box around that).
        let outcome = Box::pin(self.send(runtime, &root, &call, token)).await;
        let took = started.elapsed();
        match &outcome {
            Ok((answer, retries)) => {
                let head = &answer.head;
                self.metrics
                    .proxy_call(&app, api.name(), head.class().label(), took);
                tracing::info!(
                    app = %app,
                    seller_id,
                    api = api.name(),
                    method = if request.post { "POST" } else { "GET" },
                    code = head.code.as_deref().unwrap_or("0"),
                    request_id = head.request_id.as_deref().unwrap_or_default(),
                    retries,
                    status = answer.status,
                    ms = took.as_millis(),
                    "proxied call"
                );
            }
            Err(error) => {
                let label = match error {
                    ProxyError::Token(TokenError::Platform(e)) => e.outcome(),
                    ProxyError::Reauthorize(_) => "reauthorize",
                    _ => "refused",
                };
                self.metrics.proxy_call(&app, api.name(), label, took);
                tracing::warn!(
                    app = %app,
                    seller_id,
                    api = api.name(),
                    method = if request.post { "POST" } else { "GET" },
                    error = %error,
                    ms = took.as_millis(),
                    "proxied call failed"
                );
            }
        }
        let (answer, retries) = outcome?;
        Ok(Proxied {
            answer,
            app,
            retries,
        })
    }

    /// The one pair the request's seller names, among the apps `grants` reach.
    async fn find(
        &self,
        request: &ProxyRequest,
        grants: &Grants,
    ) -> Result<StoredToken, ProxyError> {
        let reaches = |app: &AppId| grants.reaches(app);
        let known = self
            .tokens
            .find_recent(&request.seller)
            .await
            .map_err(|e| ProxyError::Token(TokenError::Store(e)))?;
        pick_seller(known, request.app.as_ref(), &reaches).map_err(|lookup| match lookup {
            SellerLookup::NotFound => ProxyError::NotFound,
            SellerLookup::Ambiguous(candidates) => ProxyError::Ambiguous(candidates),
            SellerLookup::Unreachable(app) => ProxyError::Forbidden(format!("app:{app}")),
            SellerLookup::Store(e) => ProxyError::Token(TokenError::Store(e)),
        })
    }

    /// Sends `call` with the seller's current token, repeating what may be repeated.
    /// Returns the answer and how many times the call was repeated.
    async fn send(
        &self,
        runtime: &AppRuntime,
        root: &url::Url,
        call: &BusinessCall<'_>,
        token: StoredToken,
    ) -> Result<(PassedAnswer, u32), ProxyError> {
        let deadline = Instant::now() + self.retry_budget;
        let app = token.app.clone();
        let mut token = self
            .tokens
            .current(token)
            .await
            .map_err(|e| renewal_error(e, &app))?;
        let (mut refreshed, mut resent) = (false, false);
        let mut retries = 0;
        loop {
            match runtime
                .client
                .business_call(root, call, &token.access_token)
                .await
            {
                Err(IopError::Timeout(_) | IopError::Connect(_) | IopError::Transport(_))
                    if !call.post && !resent =>
                {
                    // A GET acts on nothing: one more try after a lost answer.
                    resent = true;
                }
                Err(error) => return Err(ProxyError::Token(TokenError::Platform(error))),
                Ok(answer) => match answer.head.class() {
                    CodeClass::StaleToken if !refreshed => {
                        refreshed = true;
                        // The same single flight as the token API: concurrent calls that
                        // saw this token cause one refresh, and all take its result.
                        // Boxed, as in `Tokens::current`: the cold path's future is large.
                        token = Box::pin(self.tokens.refresh_now(&token))
                            .await
                            .map_err(|e| renewal_error(e, &app))?;
                    }
                    CodeClass::Throttled => {
                        let wait = jittered(answer.head.throttle_wait());
                        if Instant::now() + wait > deadline {
                            return Ok((answer, retries));
                        }
                        tokio::time::sleep(wait).await;
                    }
                    _ => return Ok((answer, retries)),
                },
            }
            retries += 1;
        }
    }
}

/// A renewal's failure as the proxy's: a seller who must authorize again is a 409 with the
/// app's authorize link.
fn renewal_error(error: TokenError, app: &AppId) -> ProxyError {
    match error {
        TokenError::Reauthorize => ProxyError::Reauthorize(app.clone()),
        other => ProxyError::Token(other),
    }
}

/// `wait` stretched by up to a quarter at random, so that callers throttled together do
/// not come back together.
fn jittered(wait: Duration) -> Duration {
    wait.mul_f64(1.0 + rand::random::<f64>() / 4.0)
}

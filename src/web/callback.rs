//! `GET /callback`: the registered redirect_uri. Checks the state, exchanges the code once,
//! stores the tokens and sends the browser on to a result URL that holds no code.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use tracing::Instrument;

use super::callback_query::CallbackQuery;

use crate::apps::AppId;
use crate::clock::EpochMs;
use crate::flow::{self, BrowserId, Claim, ClaimStage, ResultId, StateRejection};
use crate::iop::TokenResponse;
use crate::iop::{AuthCode, TokenApi};
use crate::runtime::AppRuntime;
use crate::store::{ClaimAttempt, StoreError};
use crate::tokens::{Owner, StoredToken, TokenId};
use crate::web::error::{AppError, Missing};
use crate::web::limits::{Admitted, Peer};
use crate::web::state::AppState;
use crate::web::views::{CancelledPage, ResultPage, render};

/// Reflected text from the query is cut to this many characters.
const MAX_REFLECTED: usize = 200;

/// `GET /callback`: the implicit app's redirect_uri.
pub(super) async fn callback(
    State(app): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    let runtime = app
        .apps
        .implicit()
        .ok_or(AppError::NotFound(Missing::ImplicitApp))?
        .clone();
    handle(app, runtime, peer, headers, query).await
}

/// `GET /callback/{app}`: the redirect_uri of an app of the apps file. A state is checked
/// with this app's key, so one issued for another app is refused here (mix-up defense).
pub(super) async fn callback_app(
    State(app): State<AppState>,
    Path(name): Path<String>,
    peer: Peer,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    let runtime = app
        .apps
        .named(&name)
        .ok_or(AppError::NotFound(Missing::App))?
        .clone();
    handle(app, runtime, peer, headers, query).await
}

async fn handle(
    app: AppState,
    runtime: Arc<AppRuntime>,
    Peer(peer): Peer,
    headers: HeaderMap,
    query: Option<String>,
) -> Result<Response, AppError> {
    super::name_the_app(&runtime);
    let params = CallbackQuery::parse(query.as_deref().unwrap_or_default());
    let client = app.limits.client_address(peer, &headers);
    // The state is checked before anything else, and before any platform call.
    let (claim, admitted) = match claim(
        &app,
        &runtime,
        params.state.as_deref(),
        app.cookie.read(&headers),
        client,
    )
    .await
    {
        Ok(claimed) => claimed,
        // This browser reopened its own finished callback URL: show the result again.
        Err(AppError::State(StateRejection::AlreadyUsed { result: Some(id) })) => {
            return Ok(to_result(&id));
        }
        Err(error) => {
            app.metrics.callback_rejected(error.reason());
            return Err(error);
        }
    };

    if let Some(error) = params.error.filter(|e| !e.is_empty()) {
        app.store.finish_claim(&claim.state_digest, None).await?;
        tracing::info!(app = %runtime.config.id, platform = %runtime.config.platform, reason = %truncate(&error), "seller cancelled the authorization");
        // Like success, end on a URL without the state: a reload shows the same page.
        let mut target = String::from("/cancelled?");
        url::form_urlencoded::Serializer::for_suffix(&mut target, "/cancelled?".len())
            .append_pair("app", runtime.config.id.as_str())
            .append_pair("error", &truncate(&error))
            .extend_pairs(
                params
                    .error_description
                    .as_deref()
                    .map(|d| ("error_description", truncate(d))),
            )
            .finish();
        return Ok(Redirect::to(&target).into_response());
    }

    let code = match AuthCode::parse(params.code.as_deref()) {
        Ok(code) => code,
        Err(error) => {
            app.store.finish_claim(&claim.state_digest, None).await?;
            return Err(error.into());
        }
    };
    // The exchange runs in its own task: if the browser goes away mid-call, the code has
    // already been spent at the platform and the tokens must still be stored.
    let task = tokio::spawn(
        async move {
            let result = exchange(app, runtime, code, claim).await;
            drop(admitted);
            result
        }
        .in_current_span(),
    );
    let result = task
        .await
        .map_err(|e| AppError::Internal(format!("exchange task: {e}")))??;
    Ok(match result {
        Exchanged::Stored(id) => to_result(&id),
        Exchanged::Unsaved(page) => page,
    })
}

/// How an exchange the platform answered ended.
enum Exchanged {
    /// Stored; the browser goes on to its result page.
    Stored(ResultId),
    /// The store would not take the tokens: this page, shown once, is all that holds them.
    Unsaved(Response),
}

/// Verifies the state (issued here, for this app and browser, not expired), admits the
/// exchange under the client's limits, and claims the state in the store, so that no other
/// request, here or on another replica, exchanges its code. A limited client's state is not
/// used up: the same callback URL works once the limit allows.
async fn claim(
    app: &AppState,
    runtime: &AppRuntime,
    state: Option<&str>,
    browser: Option<BrowserId>,
    client: Option<IpAddr>,
) -> Result<(Claim, Option<Admitted>), AppError> {
    let verified = runtime.flows.verify(state, browser.as_ref())?;
    // `verify` refuses a state without a browser; this only turns that into the type.
    let browser = browser.ok_or(StateRejection::OtherBrowser)?;
    let now = app.clock.now_ms();
    let record = match runtime.flows.claim_record(&verified, &browser, now) {
        Ok(record) => record,
        Err(expired) => {
            // A state used before it expired still says so (and finds its result).
            return Err(match app.store.claim_stage(&verified.digest).await? {
                Some(stage) => taken(app, &verified.digest, stage).await?,
                None => expired.into(),
            });
        }
    };
    let admitted = match client {
        Some(client) => Some(app.limits.admit(client, now).await?),
        // Served without peer addresses (never by `startup::serve`): no per-client limit.
        None => None,
    };
    match app.store.claim_state(&record, EpochMs::new(now)).await? {
        ClaimAttempt::Claimed => Ok((
            Claim {
                state_digest: verified.digest,
                app: runtime.flows.app.clone(),
                browser,
            },
            admitted,
        )),
        ClaimAttempt::Taken(stage) => Err(taken(app, &verified.digest, stage).await?),
    }
}

/// Why a claimed state cannot be used again: in use, done (with its result page), or
/// failed, in which case the seller sees the same page as when it failed.
async fn taken(
    app: &AppState,
    state_digest: &[u8; 32],
    stage: ClaimStage,
) -> Result<AppError, AppError> {
    if stage == ClaimStage::Finished(None)
        && let Some(failure) = app.store.claim_failure(state_digest).await?
        && let Ok(error) = serde_json::from_str(&failure)
    {
        return Ok(AppError::ShownAgain(error));
    }
    Ok(flow::already_claimed(stage).into())
}

/// Exchanges the code, stores the tokens and grants this browser the result page; the
/// claim ends either way, since the code may have reached the platform.
async fn exchange(
    app: AppState,
    runtime: Arc<AppRuntime>,
    code: AuthCode,
    claim: Claim,
) -> Result<Exchanged, AppError> {
    let outcome = exchange_and_store(&app, &runtime, &code, &claim).await;
    if let Ok(Exchanged::Stored(_)) = &outcome {
        // Stored together with the tokens.
        return outcome;
    }
    let digest = &claim.state_digest;
    let ended = match &outcome {
        // Nothing reached the platform: the code is unspent, and reloading tries again.
        Err(AppError::Platform(e)) if !e.may_have_been_sent() => {
            app.store.release_claim(digest).await
        }
        // Kept, so that a reload shows this page again rather than "already used".
        Err(AppError::Platform(e)) => match serde_json::to_string(e) {
            Ok(failure) => app.store.fail_claim(digest, &failure).await,
            Err(_) => app.store.finish_claim(digest, None).await,
        },
        _ => app.store.finish_claim(digest, None).await,
    };
    if let Err(e) = ended {
        // The claim stays "exchanging" until it expires: the code is still never reused.
        tracing::error!(error = %e, "could not record the end of an authorization");
    }
    outcome
}

async fn exchange_and_store(
    app: &AppState,
    runtime: &AppRuntime,
    code: &AuthCode,
    claim: &Claim,
) -> Result<Exchanged, AppError> {
    let response = app
        .metrics
        .platform_call(
            &claim.app,
            TokenApi::Create,
            runtime.client.create_token(code),
        )
        .await?;
    let now = app.clock.now_ms();
    let owner = Owner {
        app: &claim.app,
        platform: runtime.config.platform,
        app_key: &runtime.config.app_key,
    };
    // The pair, this browser's result page and the end of the claim, in one commit.
    let grant = runtime.flows.grant(&claim.browser, TokenId::UNSAVED, now);
    let token_id = match save_with_retries(app, owner, &response, now, claim, &grant).await {
        Ok(id) => id,
        Err(error) => return unsaved(app, owner, &response, now, &error),
    };
    // The refresher plans around the new pair.
    app.tokens
        .authorized(now, response.expiries(now).access_expires_at);
    tracing::info!(
        token_id = token_id.get(),
        app = %claim.app,
        platform = %runtime.config.platform,
        seller_id = response.identity.primary_id().unwrap_or("-"),
        seller = %response.identity.display_name(),
        platform_request_id = response.request_id.as_deref().unwrap_or("-"),
        "seller authorized, tokens stored"
    );
    Ok(Exchanged::Stored(grant.id))
}

/// The code is spent: the platform's tokens exist nowhere else. A store that fails for a
/// moment (a lock, a failover) gets three more tries.
async fn save_with_retries(
    app: &AppState,
    owner: Owner<'_>,
    response: &TokenResponse,
    now: i64,
    claim: &Claim,
    grant: &flow::ResultGrant,
) -> Result<TokenId, StoreError> {
    let save = || {
        app.store.save_exchange(
            owner,
            response,
            EpochMs::new(now),
            &claim.state_digest,
            grant,
        )
    };
    // Waits before the second, third and fourth attempt; the fourth's error is the answer.
    for wait_ms in [100, 400, 1_000] {
        match save().await {
            Ok(id) => return Ok(id),
            Err(error) => {
                tracing::warn!(error = %error, "could not store the tokens, trying again");
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(wait_ms)).await;
    }
    save().await
}

/// The store would not take the tokens: show them to the seller's browser, once, with a
/// warning, so that they can be handed to the operator instead of being lost.
fn unsaved(
    app: &AppState,
    owner: Owner<'_>,
    response: &TokenResponse,
    now: i64,
    error: &StoreError,
) -> Result<Exchanged, AppError> {
    app.metrics.token_unsaved(owner.app);
    tracing::error!(
        app = %owner.app,
        platform = %owner.platform,
        seller_id = response.identity.primary_id().unwrap_or("-"),
        seller = %response.identity.display_name(),
        error = %error,
        "tokens could NOT be stored: shown once to the seller's browser, ask the seller for them"
    );
    let token = StoredToken::unsaved(owner, response, now);
    let mut page = ResultPage::new(app.layout, None, &token, now);
    page.unsaved = true;
    let html = render(&page)?;
    Ok(Exchanged::Unsaved(
        (StatusCode::INTERNAL_SERVER_ERROR, html).into_response(),
    ))
}

/// 303, so that the browser GETs a URL without the code: reloads and history never replay it.
fn to_result(id: &ResultId) -> Response {
    Redirect::to(&format!("/result/{id}")).into_response()
}

fn truncate(text: &str) -> String {
    text.chars().take(MAX_REFLECTED).collect()
}

/// `GET /cancelled`: where a refused or failed authorization at the platform ends. What it
/// shows came from the platform through the callback URL: cut short, and escaped by the
/// template.
pub(super) async fn cancelled(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    let params = CallbackQuery::parse(query.as_deref().unwrap_or_default());
    let retry = url::form_urlencoded::parse(query.as_deref().unwrap_or_default().as_bytes())
        .find(|(name, _)| name == "app")
        .and_then(|(_, name)| AppId::parse(&name).ok())
        .and_then(|id| app.apps.get(&id).map(|a| a.config.authorize_path()))
        .unwrap_or_else(|| "/".to_owned());
    let page = CancelledPage {
        layout: app.layout,
        error: truncate(params.error.as_deref().unwrap_or("cancelled")),
        description: params.error_description.as_deref().map(truncate),
        retry,
    };
    Ok(render(&page)?.into_response())
}

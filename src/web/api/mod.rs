//! The token API (`/api/v1/`): JSON for the operator's other services, behind bearer keys.
//! Off (every `/api/` path a 404) unless IOP_API_KEYS or IOP_API_KEYS_FILE is set.

mod auth;
mod error;
mod openapi;
mod proxy;

use std::sync::OnceLock;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::admin::AuditAction;
use crate::apps::AppId;
use crate::config::{Grant, Grants};
use crate::renewal::{self, SellerLookup, TokenError};
use crate::tokens::{CurrentToken, RefreshedToken, StoredToken, TokenSummary};
use crate::web::admin::audit::record;
use crate::web::limits::Peer;
use crate::web::state::AppState;
use error::ApiError;

/// The API's routes under `/api/v1`, or a 404 for every `/api/` path when it is off.
pub(super) fn routes(app: AppState) -> Router {
    if app.config.api_keys.is_empty() {
        return Router::new().route("/api/{*rest}", axum::routing::any(api_off));
    }
    let keys = auth::Keys::new(&app.config.api_keys);
    let tokens = OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(current, forget))
        .routes(routes!(refresh))
        .route_layer(axum::middleware::from_fn_with_state(
            Grant::Tokens,
            auth::require_grant,
        ));
    // Described by `proxy::ProxyDoc`.
    let calls = OpenApiRouter::new()
        .route(
            "/proxy/{seller}/{*api}",
            axum::routing::get(proxy::call).post(proxy::call),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            Grant::Proxy,
            auth::require_grant,
        ))
        .layer(proxy::body_limit());
    let mut described = openapi::ApiDoc::openapi();
    described.merge(proxy::ProxyDoc::openapi());
    let (v1, description) = OpenApiRouter::with_openapi(described)
        .merge(tokens)
        .merge(calls)
        .route_layer(axum::middleware::from_fn_with_state(
            keys,
            auth::require_key,
        ))
        .routes(routes!(document))
        .split_for_parts();
    // The same for every service built in this process.
    DOCUMENT.get_or_init(|| {
        let mut description = description;
        description.paths.paths = std::mem::take(&mut description.paths.paths)
            .into_iter()
            .map(|(path, item)| (format!("/api/v1{path}"), item))
            .collect();
        serde_json::to_value(&description).unwrap_or_default()
    });
    let v1 = v1
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(app);
    Router::new().nest("/api/v1", v1)
}

/// The OpenAPI document, made from the routes when they are first built.
static DOCUMENT: OnceLock<serde_json::Value> = OnceLock::new();

/// The description of the API is public, like any OpenAPI document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    security(()),
    responses((status = 200, description = "This document (OpenAPI 3.1).", content_type = "application/json"))
)]
async fn document() -> Json<serde_json::Value> {
    Json(DOCUMENT.get().cloned().unwrap_or_default())
}

async fn api_off() -> ApiError {
    ApiError::Off
}

/// `?app=x`: needed only when a seller id is known under several apps.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct AppFilter {
    /// The app's name; needed only when the seller id is known under several apps.
    app: Option<String>,
}

impl AppFilter {
    /// The configured app named, if any; a name that is not configured is a 400.
    fn parse(self, app: &AppState) -> Result<Option<AppId>, ApiError> {
        self.app
            .map(|raw| app.apps.resolve(&raw).map_err(ApiError::BadRequest))
            .transpose()
    }
}

/// Every stored seller, without token values.
#[utoipa::path(
    get,
    path = "/tokens",
    operation_id = "listTokens",
    params(AppFilter),
    responses(
        (status = 200, description = "The sellers.", body = Vec<TokenSummary>),
        (status = 400, description = "`app` is not an app name.", body = openapi::ErrorBody),
        (status = 401, description = "Missing or wrong API key (WWW-Authenticate: Bearer).", body = openapi::ErrorBody),
    )
)]
async fn list(
    State(app): State<AppState>,
    Extension(grants): Extension<Grants>,
    Query(filter): Query<AppFilter>,
) -> Result<Json<Vec<TokenSummary>>, ApiError> {
    let filter = filter.parse(&app)?;
    if let Some(only) = &filter {
        check_reach(&grants, only)?;
    }
    let now = app.clock.now_ms();
    let tokens = app.store.list_pairs(filter.as_ref()).await?;
    Ok(Json(
        tokens
            .iter()
            .filter(|t| grants.reaches(&t.app))
            .map(|t| TokenSummary::new(t, now))
            .collect(),
    ))
}

/// The seller's working access token; refreshed first when due or expired.
#[utoipa::path(
    get,
    path = "/tokens/{seller}",
    operation_id = "currentToken",
    params(openapi::Seller, AppFilter),
    responses(
        (status = 200, description = "A working access token.", body = CurrentToken),
        openapi::SellerErrors,
        openapi::RenewalErrors,
    )
)]
async fn current(
    State(app): State<AppState>,
    Extension(grants): Extension<Grants>,
    Path(seller): Path<String>,
    Query(filter): Query<AppFilter>,
) -> Result<Json<CurrentToken>, ApiError> {
    let token = find(&app, &seller, filter.parse(&app)?, &grants).await?;
    let owner = token.app.clone();
    let token = app
        .tokens
        .current(token)
        .await
        .map_err(|e| explain(&app, e, &owner))?;
    Ok(Json(CurrentToken::new(&token, app.clock.now_ms())))
}

/// Refresh the seller's tokens now.
#[utoipa::path(
    post,
    path = "/tokens/{seller}/refresh",
    operation_id = "refreshToken",
    params(openapi::Seller, AppFilter),
    responses(
        (status = 200, description = "The new expiry.", body = RefreshedToken),
        openapi::SellerErrors,
        openapi::RenewalErrors,
    )
)]
async fn refresh(
    State(app): State<AppState>,
    Extension(grants): Extension<Grants>,
    Peer(peer): Peer,
    headers: HeaderMap,
    Path(seller): Path<String>,
    Query(filter): Query<AppFilter>,
) -> Result<Json<RefreshedToken>, ApiError> {
    let token = find(&app, &seller, filter.parse(&app)?, &grants).await?;
    let client = api_client(&app, peer, &headers);
    let (action, detail) = match app.tokens.refresh_now(&token).await {
        Ok(renewed) => {
            record(&app, AuditAction::Refresh, &client, Some(&token), None).await?;
            return Ok(Json(RefreshedToken::new(&renewed, app.clock.now_ms())));
        }
        Err(error) => (AuditAction::RefreshFailed, error),
    };
    record(
        &app,
        action,
        &client,
        Some(&token),
        Some(detail.to_string()),
    )
    .await?;
    Err(explain(&app, detail, &token.app))
}

/// Forget the seller and its tokens.
#[utoipa::path(
    delete,
    path = "/tokens/{seller}",
    operation_id = "forgetSeller",
    params(openapi::Seller, AppFilter),
    responses(
        (status = 204, description = "Forgotten."),
        openapi::SellerErrors,
    )
)]
async fn forget(
    State(app): State<AppState>,
    Extension(grants): Extension<Grants>,
    Peer(peer): Peer,
    headers: HeaderMap,
    Path(seller): Path<String>,
    Query(filter): Query<AppFilter>,
) -> Result<Response, ApiError> {
    let token = find(&app, &seller, filter.parse(&app)?, &grants).await?;
    // Audited before it is done: a delete the log cannot record does not happen.
    let client = api_client(&app, peer, &headers);
    record(&app, AuditAction::Delete, &client, Some(&token), None).await?;
    app.store.delete_token(token.id).await?;
    app.tokens.changed();
    tracing::info!(token_id = token.id.get(), app = %token.app, seller_id = token.identity.account_key().unwrap_or_default(), "seller forgotten through the API");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Who called, for the audit log: the client's address and the door it used.
fn api_client(app: &AppState, peer: Option<std::net::IpAddr>, headers: &HeaderMap) -> String {
    let address = app
        .limits
        .client_address(peer, headers)
        .map_or_else(|| "unknown".to_owned(), |a| a.to_string());
    format!("{address} (token API)")
}

/// A token error as the API says it: a seller who must authorize again is sent to the
/// page that starts an authorization in their own browser.
fn explain(app: &AppState, error: TokenError, owner: &AppId) -> ApiError {
    match error {
        TokenError::Reauthorize => ApiError::Reauthorize {
            authorize_url: app.config.authorize_link(owner),
        },
        other => ApiError::Token(other),
    }
}

/// The one pair a seller id names, within `app` when given, among the apps the key
/// reaches.
async fn find(
    app: &AppState,
    seller: &str,
    filter: Option<AppId>,
    grants: &Grants,
) -> Result<StoredToken, ApiError> {
    let reaches = |app: &AppId| grants.reaches(app);
    renewal::find_seller(app.store.as_ref(), seller, filter.as_ref(), &reaches)
        .await
        .map_err(|lookup| match lookup {
            SellerLookup::NotFound => ApiError::NotFound,
            SellerLookup::Ambiguous(candidates) => ApiError::Ambiguous(candidates),
            SellerLookup::Unreachable(app) => ApiError::Forbidden(format!("app:{app}")),
            SellerLookup::Store(e) => e.into(),
        })
}

/// A key limited to some apps reaches no other app's sellers.
fn check_reach(grants: &Grants, app: &AppId) -> Result<(), ApiError> {
    if grants.reaches(app) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!("app:{app}")))
    }
}

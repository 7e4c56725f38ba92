//! The token API (`/api/v1/`): JSON for the operator's other services, behind bearer keys.
//! Off (every `/api/` path a 404) unless IOP_API_KEYS or IOP_API_KEYS_FILE is set.

mod auth;
mod cursor;
mod error;
mod events;
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
use crate::clock::EpochMs;
use crate::config::{Grant, Grants};
use crate::renewal::{self, SellerLookup, TokenError};
use crate::store::PairFilter;
use crate::tokens::{CurrentToken, Health, RefreshedToken, StoredToken, TokenSummary};
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
    let door = |grant| auth::Door::new(&keys, grant);
    let tokens = OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(current, forget))
        .routes(routes!(refresh))
        .route_layer(door(Grant::Tokens));
    let events = OpenApiRouter::new()
        .routes(routes!(events::list))
        .routes(routes!(events::show))
        .routes(routes!(events::redeliver))
        .route_layer(door(Grant::Events));
    // Described by `proxy::ProxyDoc`.
    let calls = OpenApiRouter::new()
        .route(
            "/api/v1/proxy/{seller}/{*api}",
            axum::routing::get(proxy::call).post(proxy::call),
        )
        // One layer for both: each is one more boxed service per call.
        .route_layer(
            tower::ServiceBuilder::new()
                .layer(proxy::body_limit())
                .layer(door(Grant::Proxy)),
        );
    let mut described = openapi::ApiDoc::openapi();
    described.merge(proxy::ProxyDoc::openapi());
    let (v1, description) = OpenApiRouter::with_openapi(described)
        .merge(tokens)
        .merge(events)
        .merge(calls)
        .routes(routes!(document))
        .split_for_parts();
    // The same for every service built in this process.
    DOCUMENT.get_or_init(|| serde_json::to_value(&description).unwrap_or_default());
    // The routes carry their whole path: a router nested under `/api/v1` would rewrite
    // the URI of every call and pass it through one more router. Only what matches no
    // route is nested, for the API's own JSON 404.
    v1.method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(app)
        .nest(
            "/api/v1",
            Router::new().fallback(|| async { ApiError::NoRoute }),
        )
}

/// The OpenAPI document, made from the routes when they are first built.
static DOCUMENT: OnceLock<serde_json::Value> = OnceLock::new();

/// The description of the API is public, like any OpenAPI document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
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

/// The token list's query: filters, page size and where the page starts.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only this app's sellers.
    app: Option<String>,
    /// Only sellers in this state: `reauthorize`, `failing`, `refresh_expiring`, `active`.
    status: Option<String>,
    /// Only sellers with a word beginning with each of these words, in any case: a
    /// seller id prefix, a word of the nick or account (or a piece of it between
    /// punctuation), a country, the app. The first three words count.
    q: Option<String>,
    /// Sellers per page: 100 by default, at most 1,000.
    #[param(value_type = Option<u32>)]
    limit: Option<String>,
    /// Where the page starts: taken from the previous page's `Link: <…>; rel="next"`.
    after: Option<String>,
}

/// `?limit=`: a number from 1 to `max`, `default` when not given.
fn page_size(raw: Option<&str>, default: u32, max: u32) -> Result<u32, ApiError> {
    match raw {
        None => Ok(default),
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| ApiError::BadRequest(format!("`limit` is a number from 1 to {max}"))),
    }
}

/// Sellers per page unless the caller says, and at most.
const PAGE: u32 = 100;
const MAX_PAGE: u32 = 1_000;

/// The stored sellers without token values, a page at a time in a stable order. The next
/// page, if there is one, is in a `Link: <…>; rel="next"` header.
#[utoipa::path(
    get,
    path = "/api/v1/tokens",
    operation_id = "listTokens",
    params(ListQuery),
    responses(
        (status = 200, description = "One page of sellers. `Link: <…>; rel=\"next\"` names the next page while there is one: follow it to walk every seller once, also while sellers come and go.", body = Vec<TokenSummary>,
            headers(("Link" = String, description = "The next page: `</api/v1/tokens?…&after=…>; rel=\"next\"`."))),
        (status = 400, description = "`app`, `status`, `limit` or `after` is not valid.", body = openapi::ErrorBody),
        (status = 401, description = "Missing or wrong API key (WWW-Authenticate: Bearer).", body = openapi::ErrorBody),
        (status = 403, description = "`app` is not granted to this key.", body = openapi::ErrorBody),
    )
)]
async fn list(
    State(app): State<AppState>,
    Extension(grants): Extension<Grants>,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let filter = AppFilter {
        app: query.app.clone(),
    }
    .parse(&app)?;
    if let Some(only) = &filter {
        check_reach(&grants, only)?;
    }
    let health = query
        .status
        .as_deref()
        .map(|raw| {
            Health::parse(raw).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "`status` is one of reauthorize, failing, refresh_expiring, active, not `{raw}`"
                ))
            })
        })
        .transpose()?;
    let limit = page_size(query.limit.as_deref(), PAGE, MAX_PAGE)?;
    let after = query.after.as_deref().map(cursor::read).transpose()?;
    let pairs_filter = PairFilter {
        app: filter,
        health,
        search: query.q.clone().filter(|q| !q.trim().is_empty()),
    };
    let now = app.clock.now_ms();
    // One more than the page, to know whether another follows.
    let mut pairs = app
        .store
        .page_pairs(&pairs_filter, after, limit + 1, EpochMs::new(now))
        .await?;
    let more = pairs.len() > limit as usize;
    pairs.truncate(limit as usize);
    let summaries: Vec<TokenSummary> = pairs
        .iter()
        .filter(|t| grants.reaches(&t.app))
        .map(|t| TokenSummary::new(t, now))
        .collect();
    let mut response = Json(summaries).into_response();
    if let (true, Some(last)) = (more, pairs.last()) {
        let link = cursor::next_link(&query, limit, last.id);
        if let Ok(value) = axum::http::HeaderValue::from_str(&link) {
            response
                .headers_mut()
                .insert(axum::http::header::LINK, value);
        }
    }
    Ok(response)
}

/// The seller's working access token; refreshed first when due or expired.
#[utoipa::path(
    get,
    path = "/api/v1/tokens/{seller}",
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
    path = "/api/v1/tokens/{seller}/refresh",
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
    path = "/api/v1/tokens/{seller}",
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
    app.tokens.deleted(token.id);
    tracing::info!(token_id = token.id.get(), app = %token.app, seller_id = token.identity.primary_id().unwrap_or("-"), "seller forgotten through the API");
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

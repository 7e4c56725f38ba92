//! `/admin` (sellers a page at a time, most urgent first) and `/admin/sellers/{id}` (one seller, with
//! reveal, refresh and delete).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::audit::record;
use super::forms::{check_csrf, query_field};
use super::operator::Operator;
use super::paging::{ListRequest, PAGE};
use super::views::{
    ConfirmDeletePage, Nav, Notice, SellerPage, SellerRow, SellersPage, StateCounts,
};
use crate::admin::AuditAction;
use crate::clock::EpochMs;
use crate::renewal::TokenError;
use crate::store::{Place, Toward, UrgencyFilter};
use crate::tokens::{Pair, StoredToken, TokenId};
use crate::web::error::{AppError, Missing};
use crate::web::state::AppState;
use crate::web::views::render;

fn nav(operator: &Operator) -> Nav {
    Nav {
        csrf: operator.csrf.expose().to_owned(),
        section: "sellers",
    }
}

fn notice(query: Option<&str>) -> Option<Notice> {
    query_field(query, "notice").and_then(|raw| Notice::parse(&raw))
}

/// `GET /admin?q=&status=&after=|before=`: a page of sellers, what needs attention first
/// (by state, then the soonest expiry), read and counted by the database.
pub(super) async fn list(
    operator: Operator,
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Html<String>, AppError> {
    let request = ListRequest::read(query.as_deref());
    let now = app.clock.now_ms();
    let counts = app.store.health_counts(EpochMs::new(now)).await?;
    let filter = UrgencyFilter {
        health: request.health,
        search: Some(request.search.clone()),
    };
    let (from, toward) = request
        .from
        .map_or((None, Toward::Later), |(place, toward)| {
            (Some(place), toward)
        });
    let page = app
        .store
        .urgency_page(&filter, from, toward, PAGE, EpochMs::new(now))
        .await?;
    let place = |pair: Option<&Pair>| pair.map(|pair| Place::of(pair, now));
    let (previous, next) = request.neighbours(
        place(page.pairs.first()),
        place(page.pairs.last()),
        page.more,
    );
    render(&SellersPage {
        layout: app.layout,
        nav: nav(&operator),
        rows: page.pairs.iter().map(|t| SellerRow::new(t, now)).collect(),
        counts: StateCounts::new(&counts, &request),
        filter: request.search,
        previous,
        next,
        notice: notice(query.as_deref()),
        authorize_links: app
            .config
            .apps
            .iter()
            .map(|a| (a.id.to_string(), app.config.authorize_link(&a.id)))
            .collect(),
    })
}

/// The pair `/admin/sellers/{id}` names; anything else is 404.
async fn load(app: &AppState, raw: &str) -> Result<StoredToken, AppError> {
    let id = TokenId::parse(raw).ok_or(AppError::NotFound(Missing::Seller))?;
    app.store
        .token(id)
        .await?
        .ok_or(AppError::NotFound(Missing::Seller))
}

fn seller_page(
    app: &AppState,
    operator: &Operator,
    token: &StoredToken,
    revealed: bool,
    notice: Option<Notice>,
) -> Result<Html<String>, AppError> {
    render(&SellerPage::new(
        app.layout,
        nav(operator),
        token,
        app.clock.now_ms(),
        app.config.authorize_link(&token.app),
        revealed,
        notice,
    ))
}

/// `GET /admin/sellers/{id}`: tokens masked.
pub(super) async fn show(
    operator: Operator,
    State(app): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Html<String>, AppError> {
    let token = load(&app, &id).await?;
    seller_page(&app, &operator, &token, false, notice(query.as_deref()))
}

/// `POST /admin/sellers/{id}/reveal`: the page with the tokens, once the reveal is in the
/// audit log. A POST, so that no link, prefetch or history entry can reveal them.
pub(super) async fn reveal(
    operator: Operator,
    State(app): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Html<String>, AppError> {
    check_csrf(&operator.csrf, &body)?;
    let token = load(&app, &id).await?;
    record(
        &app,
        AuditAction::Reveal,
        &operator.client,
        Some(&token),
        None,
    )
    .await?;
    seller_page(&app, &operator, &token, true, None)
}

/// `POST /admin/sellers/{id}/refresh`: renews the pair now, through the same path as the
/// refresher and the API (one refresh in flight per token).
pub(super) async fn refresh(
    operator: Operator,
    State(app): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    check_csrf(&operator.csrf, &body)?;
    let token = load(&app, &id).await?;
    let (notice, action, detail) = match app.tokens.refresh_now(&token).await {
        Ok(_) => (Notice::Refreshed, AuditAction::Refresh, None),
        Err(TokenError::NotFound) => return Err(AppError::NotFound(Missing::Seller)),
        Err(TokenError::Store(_)) => {
            return Err(AppError::Internal("refresh could not be stored".into()));
        }
        Err(error) => {
            let notice = match error {
                TokenError::Reauthorize => Notice::Reauthorize,
                TokenError::Busy => Notice::Busy,
                _ => Notice::RefreshFailed,
            };
            (notice, AuditAction::RefreshFailed, Some(error.to_string()))
        }
    };
    record(&app, action, &operator.client, Some(&token), detail).await?;
    Ok(Redirect::to(&format!(
        "/admin/sellers/{}?notice={}",
        token.id,
        notice.as_str()
    ))
    .into_response())
}

/// `GET /admin/sellers/{id}/delete`: asks first; changes nothing.
pub(super) async fn confirm_delete(
    operator: Operator,
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Html<String>, AppError> {
    let token = load(&app, &id).await?;
    render(&ConfirmDeletePage {
        layout: app.layout,
        nav: nav(&operator),
        id: token.id,
        app: token.app.to_string(),
        platform_name: token.platform.display_name(),
        seller_name: token.identity.display_name(),
    })
}

/// `POST /admin/sellers/{id}/delete`.
pub(super) async fn delete(
    operator: Operator,
    State(app): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    check_csrf(&operator.csrf, &body)?;
    let token = load(&app, &id).await?;
    // Audited before it is done: a delete the log cannot record does not happen.
    record(
        &app,
        AuditAction::Delete,
        &operator.client,
        Some(&token),
        None,
    )
    .await?;
    if app.store.delete_token(token.id).await? {
        app.tokens.changed();
    }
    Ok(Redirect::to(&format!("/admin?notice={}", Notice::Deleted.as_str())).into_response())
}

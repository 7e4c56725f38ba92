//! `/admin` (every seller, most urgent first) and `/admin/sellers/{id}` (one seller, with
//! reveal, refresh and delete).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::audit::record;
use super::forms::{check_csrf, query_field};
use super::operator::Operator;
use super::views::{ConfirmDeletePage, Nav, Notice, SellerPage, SellerRow, SellersPage};
use crate::admin::AuditAction;
use crate::renewal::TokenError;
use crate::tokens::Health;
use crate::tokens::{Pair, StoredToken, TokenId};
use crate::web::error::AppError;
use crate::web::state::AppState;
use crate::web::views::render;

/// A filter longer than this matches nothing anyway.
const MAX_FILTER: usize = 100;

fn nav(operator: &Operator) -> Nav {
    Nav {
        csrf: operator.csrf.expose().to_owned(),
        section: "sellers",
    }
}

fn notice(query: Option<&str>) -> Option<Notice> {
    query_field(query, "notice").and_then(|raw| Notice::parse(&raw))
}

/// `GET /admin?q=`: what needs attention first (by status, then the soonest expiry).
pub(super) async fn list(
    operator: Operator,
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Html<String>, AppError> {
    let filter: String = query_field(query.as_deref(), "q")
        .unwrap_or_default()
        .trim()
        .chars()
        .take(MAX_FILTER)
        .collect();
    let now = app.clock.now_ms();
    let mut tokens = app.store.list_pairs(None).await?;
    tokens.sort_by_key(|t| {
        (
            Health::of(t, now),
            t.access_expires_at.unwrap_or(i64::MAX),
            t.id,
        )
    });
    let attention = tokens
        .iter()
        .filter(|t| Health::of(t, now) != Health::Active)
        .count();
    let needle = filter.to_lowercase();
    let rows = tokens
        .iter()
        .filter(|t| needle.is_empty() || haystack(t, now).contains(&needle))
        .map(|t| SellerRow::new(t, now))
        .collect();
    render(&SellersPage {
        layout: app.layout,
        nav: nav(&operator),
        filter,
        rows,
        total: tokens.len(),
        attention,
        notice: notice(query.as_deref()),
        authorize_links: app
            .config
            .apps
            .iter()
            .map(|a| (a.id.to_string(), app.config.authorize_link(&a.id)))
            .collect(),
    })
}

/// Everything the filter matches against, in lower case.
fn haystack(token: &Pair, now: i64) -> String {
    let id = &token.identity;
    let mut words: Vec<&str> = vec![
        token.app.as_str(),
        token.platform.as_str(),
        token.platform.display_name(),
        Health::of(token, now).as_str(),
    ];
    words.extend(
        [
            &id.seller_id,
            &id.user_id,
            &id.user_nick,
            &id.account,
            &id.country,
        ]
        .into_iter()
        .flatten()
        .map(String::as_str),
    );
    for country in &id.country_user_info {
        words.extend(
            [&country.country, &country.seller_id, &country.user_id]
                .into_iter()
                .flatten()
                .map(String::as_str),
        );
    }
    words.join(" ").to_lowercase()
}

/// The pair `/admin/sellers/{id}` names; anything else is 404.
async fn load(app: &AppState, raw: &str) -> Result<StoredToken, AppError> {
    let id = TokenId::parse(raw).ok_or(AppError::NotFound)?;
    app.store.token(id).await?.ok_or(AppError::NotFound)
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
        Err(TokenError::NotFound) => return Err(AppError::NotFound),
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

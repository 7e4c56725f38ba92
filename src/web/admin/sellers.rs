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
    selected_sentence, seller_path,
};
use crate::admin::AuditAction;
use crate::apps::AppId;
use crate::clock::EpochMs;
use crate::renewal::TokenError;
use crate::renewal::{SellerLookup, find_seller};
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

/// A search's matches are counted up to this (less one): past it, "more than 1,000".
const COUNT_CAP: i64 = 1_001;

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
    let selected = if !request.search.is_empty() {
        let matched = app
            .store
            .count_search(
                &request.search,
                request.health,
                COUNT_CAP,
                EpochMs::new(now),
            )
            .await?;
        Some(selected_sentence(
            matched,
            COUNT_CAP,
            request.health,
            &request.search,
        ))
    } else {
        request.health.map(|health| {
            let in_state = counts.iter().find(|(h, _)| *h == health).map_or(0, |c| c.1);
            selected_sentence(in_state, i64::MAX, Some(health), "")
        })
    };
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
        selected,
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

/// The pair `/admin/sellers/{app}/{seller}` names (`views::seller_path`): the seller id
/// (or any id it is looked up by) within that app, or its account key; else 404.
async fn load(
    app: &AppState,
    (app_name, seller): &(String, String),
) -> Result<StoredToken, AppError> {
    let missing = || AppError::NotFound(Missing::Seller);
    let app_id = AppId::parse(app_name).map_err(|_| missing())?;
    match find_seller(&app.store, seller, Some(&app_id), &|_| true).await {
        Ok(token) => Ok(token),
        Err(SellerLookup::Store(e)) => Err(e.into()),
        Err(_) => app
            .store
            .find_account(&app_id, seller)
            .await?
            .ok_or_else(missing),
    }
}

/// `GET /admin/sellers/{row id}`, as the audit log links a seller: on to its page.
pub(super) async fn by_row(
    _operator: Operator,
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Redirect, AppError> {
    let missing = || AppError::NotFound(Missing::Seller);
    let id = TokenId::parse(&id).ok_or_else(missing)?;
    let token = app.store.token(id).await?.ok_or_else(missing)?;
    Ok(Redirect::to(&seller_path(&token)))
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

/// How long the page after a reveal shows the tokens (reloads included).
const REVEAL_MS: i64 = 60 * 1000;

/// `GET /admin/sellers/{app}/{seller}`: tokens masked, or shown on the page a reveal ends
/// on while its pass holds (`?revealed=`).
pub(super) async fn show(
    operator: Operator,
    State(app): State<AppState>,
    Path(seller): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Html<String>, AppError> {
    let token = load(&app, &seller).await?;
    let pass = query_field(query.as_deref(), "revealed");
    let revealed = pass.as_deref().is_some_and(|pass| {
        operator
            .session
            .reveal_pass_holds(token.id.get(), pass, app.clock.now_ms())
    });
    let notice = match pass {
        Some(_) if !revealed => Some(Notice::RevealEnded),
        _ => notice(query.as_deref()),
    };
    seller_page(&app, &operator, &token, revealed, notice)
}

/// `POST /admin/sellers/{app}/{seller}/reveal`: once the reveal is in the audit log, on to
/// the page that shows the tokens. A POST, so that no link, prefetch or history entry can
/// reveal them; the GET it ends on needs this session's pass, which runs out in a minute.
pub(super) async fn reveal(
    operator: Operator,
    State(app): State<AppState>,
    Path(seller): Path<(String, String)>,
    body: Bytes,
) -> Result<Redirect, AppError> {
    check_csrf(&operator.csrf, &body)?;
    let token = load(&app, &seller).await?;
    record(
        &app,
        AuditAction::Reveal,
        &operator.client,
        Some(&token),
        None,
    )
    .await?;
    let pass = operator
        .session
        .reveal_pass(token.id.get(), app.clock.now_ms() + REVEAL_MS);
    Ok(Redirect::to(&format!(
        "{}?revealed={pass}",
        seller_path(&token)
    )))
}

/// `POST /admin/sellers/{id}/refresh`: renews the pair now, through the same path as the
/// refresher and the API (one refresh in flight per token).
pub(super) async fn refresh(
    operator: Operator,
    State(app): State<AppState>,
    Path(seller): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, AppError> {
    check_csrf(&operator.csrf, &body)?;
    let token = load(&app, &seller).await?;
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
        "{}?notice={}",
        seller_path(&token),
        notice.as_str()
    ))
    .into_response())
}

/// `GET /admin/sellers/{id}/delete`: asks first; changes nothing.
pub(super) async fn confirm_delete(
    operator: Operator,
    State(app): State<AppState>,
    Path(seller): Path<(String, String)>,
) -> Result<Html<String>, AppError> {
    let token = load(&app, &seller).await?;
    render(&ConfirmDeletePage {
        layout: app.layout,
        nav: nav(&operator),
        path: seller_path(&token),
        app: token.app.to_string(),
        platform_name: token.platform.display_name(),
        seller_name: token.identity.display_name(),
    })
}

/// `POST /admin/sellers/{id}/delete`.
pub(super) async fn delete(
    operator: Operator,
    State(app): State<AppState>,
    Path(seller): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, AppError> {
    check_csrf(&operator.csrf, &body)?;
    let token = load(&app, &seller).await?;
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
        app.tokens.deleted(token.id);
    }
    Ok(Redirect::to(&format!("/admin?notice={}", Notice::Deleted.as_str())).into_response())
}

//! `GET /result/{id}`: the tokens and seller of one finished authorization, for the browser
//! that ran it and nobody else.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Html;
use tracing::instrument;

use crate::flow::{self, ResultId};
use crate::web::error::{AppError, Missing};
use crate::web::state::AppState;
use crate::web::views::{ResultPage, render};

#[instrument(skip_all)]
pub(super) async fn result(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Html<String>, AppError> {
    let now = app.clock.now_ms();
    // Another browser gets the same 404 as a made-up id: nothing says the result exists.
    let id = ResultId::parse(&id).ok_or(AppError::NotFound(Missing::Result))?;
    let grant = app
        .store
        .result(&id)
        .await?
        .ok_or(AppError::NotFound(Missing::Result))?;
    let token_id = flow::visible_result(&grant, app.cookie.read(&headers).as_ref(), now)
        .ok_or(AppError::NotFound(Missing::Result))?;
    let token = app
        .store
        .token(token_id)
        .await?
        .ok_or(AppError::NotFound(Missing::Result))?;
    // Beside other apps, the page says which one the seller authorized.
    let app_name = (app.apps.len() > 1).then(|| token.app.to_string());
    render(&ResultPage::new(app.layout, app_name, &token, now))
}

//! `GET /result/{id}`: the tokens and seller of one finished authorization, for the browser
//! that ran it and nobody else.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Html;
use tracing::instrument;

use crate::clock;
use crate::error::AppError;
use crate::flow::ResultId;
use crate::web::state::AppState;
use crate::web::views::{Layout, ResultPage, render};

#[instrument(skip_all)]
pub async fn result(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Html<String>, AppError> {
    let now = clock::now_ms();
    // Another browser gets the same 404 as a made-up id: nothing says the result exists.
    let token_id = ResultId::parse(&id)
        .and_then(|id| {
            app.flows
                .result(&id, app.cookie.read(&headers).as_ref(), now)
        })
        .ok_or(AppError::NotFound)?;
    let token = app.store.get(token_id).await?.ok_or(AppError::NotFound)?;
    render(&ResultPage::new(
        Layout {
            sandbox: app.sandbox,
        },
        app.config.platform.display_name(),
        &token,
        now,
    ))
}

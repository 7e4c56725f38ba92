//! `GET /callback`: the registered redirect_uri. Checks the state, exchanges the code once,
//! stores the tokens and sends the browser on to a result URL that holds no code.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use tracing::{Instrument, instrument};

use crate::clock;
use crate::error::AppError;
use crate::flow::{BrowserId, Claim, ResultId, StateRejection};
use crate::iop::AuthCode;
use crate::metrics::TokenCall;
use crate::web::state::AppState;
use crate::web::views::{CancelledPage, Layout, render};

/// Reflected text from the query is cut to this many characters.
const MAX_REFLECTED: usize = 200;

/// The query's parameters we care about; the first of each name wins. Parsing never fails:
/// what is missing is `None` and judged below.
#[derive(Default)]
struct CallbackParams {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

impl CallbackParams {
    fn parse(query: &str) -> Self {
        let mut params = CallbackParams::default();
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let slot = match name.as_ref() {
                "state" => &mut params.state,
                "code" => &mut params.code,
                "error" => &mut params.error,
                "error_description" => &mut params.error_description,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(value.into_owned());
            }
        }
        params
    }
}

#[instrument(skip_all)]
pub async fn callback(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    let params = CallbackParams::parse(query.as_deref().unwrap_or_default());
    let browser = app.cookie.read(&headers);
    // The state is checked before anything else, and before any platform call.
    let claim = match app
        .flows
        .claim(params.state.as_deref(), browser.as_ref(), clock::now_ms())
    {
        Ok(claim) => claim,
        // This browser reopened its own finished callback URL: show the result again.
        Err(StateRejection::AlreadyUsed { result: Some(id) }) => return Ok(to_result(&id)),
        Err(rejection) => return Err(AppError::State(rejection)),
    };
    let browser = browser.expect("a claim is only granted to a known browser");

    if let Some(error) = params.error.filter(|e| !e.is_empty()) {
        claim.finish(None);
        tracing::info!("seller cancelled the authorization");
        let page = CancelledPage {
            layout: Layout {
                sandbox: app.sandbox,
            },
            error: truncate(&error),
            description: params.error_description.as_deref().map(truncate),
        };
        return Ok(render(&page)?.into_response());
    }

    let code = AuthCode::parse(params.code.as_deref())?;
    // The exchange runs in its own task: if the browser goes away mid-call, the code has
    // already been spent at the platform and the tokens must still be stored.
    let task = tokio::spawn(exchange(app, code, browser, claim).in_current_span());
    let result = task
        .await
        .map_err(|e| AppError::Internal(format!("exchange task: {e}")))??;
    Ok(to_result(&result))
}

async fn exchange(
    app: AppState,
    code: AuthCode,
    browser: BrowserId,
    claim: Claim,
) -> Result<ResultId, AppError> {
    let response = app
        .metrics
        .platform_call(TokenCall::Create, app.client.create_token(&code))
        .await?;
    let now = clock::now_ms();
    let token_id = app
        .store
        .save_authorization(
            app.config.platform.as_str(),
            &app.config.app_key,
            &response,
            now,
        )
        .await?;
    let result = app.flows.record_result(&browser, token_id, now);
    claim.finish(Some(result.clone()));
    tracing::info!(
        token_id,
        platform_request_id = response.request_id.as_deref().unwrap_or("-"),
        "seller authorized, tokens stored"
    );
    Ok(result)
}

/// 303, so that the browser GETs a URL without the code: reloads and history never replay it.
fn to_result(id: &ResultId) -> Response {
    Redirect::to(&format!("/result/{id}")).into_response()
}

fn truncate(text: &str) -> String {
    text.chars().take(MAX_REFLECTED).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parsing_takes_the_first_of_each_name_and_never_fails() {
        let p = CallbackParams::parse("code=a%20b&state=s1&state=s2&x=%FF&error=");
        assert_eq!(p.code.as_deref(), Some("a b"));
        assert_eq!(p.state.as_deref(), Some("s1"));
        assert_eq!(p.error.as_deref(), Some(""));
        assert!(CallbackParams::parse("%%%&&==").state.is_none());
    }
}

//! `/admin/login` and `/admin/logout`: the password form, throttled per client address,
//! and the session it opens.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::header::{RETRY_AFTER, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::audit::record;
use super::console::AdminConsole;
use super::forms::{check_csrf, field, query_field};
use super::operator::{
    Operator, clear_login_cookie, clear_session_cookie, client_address, client_text, login_cookie,
    login_token, session_cookie, signed_in,
};
use super::views::LoginPage;
use crate::admin::session::{IDLE_MS, MAX_AGE_MS};
use crate::admin::throttle::{self, FAILURES, LOCK_MS, Throttle, WINDOW_MS};
use crate::admin::{AuditAction, CsrfToken, SessionId, SessionRecord};
use crate::clock;
use crate::clock::EpochMs;
use crate::web::error::{AppError, Missing};
use crate::web::state::AppState;
use crate::web::views::render;

fn console(app: &AppState) -> Result<Arc<AdminConsole>, AppError> {
    app.admin.clone().ok_or(AppError::NotFound(Missing::Page))
}

/// `GET /admin/login`: the form, or the sellers for an operator already signed in.
pub(super) async fn form(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
    parts: Parts,
) -> Result<Response, AppError> {
    let console = console(&app)?;
    if signed_in(&app, &console, &parts.headers).await?.is_some() {
        return Ok(Redirect::to("/admin").into_response());
    }
    // An address whose sign-in is paused learns so before it tries again.
    let key = throttle::client_key(client_address(&app, &parts));
    let now = app.clock.now_ms();
    if let Some(until) = app
        .store
        .logins_locked_until(&key, EpochMs::new(now))
        .await?
    {
        // The form stays: it works again once the pause ends, without a reload.
        return paused_page(&app, &console, StatusCode::OK, until, now, false);
    }
    let signed_out = query_field(query.as_deref(), "signed_out").is_some();
    login_page(&app, &console, StatusCode::OK, None, false, signed_out)
}

/// `POST /admin/login`.
pub(super) async fn sign_in(
    State(app): State<AppState>,
    parts: Parts,
    body: Bytes,
) -> Result<Response, AppError> {
    let console = console(&app)?;
    let expected = login_token(console.secure, &parts.headers).ok_or(AppError::Csrf)?;
    check_csrf(&expected, &body)?;
    let address = client_address(&app, &parts);
    let client = client_text(address);
    let key = throttle::client_key(address);
    let now = app.clock.now_ms();
    // Counted before it is checked: of attempts arriving at once, only the first few are.
    let Some(attempts) = app
        .store
        .reserve_sign_in(&key, EpochMs::new(now), WINDOW_MS)
        .await?
    else {
        // Not even checked: a locked-out client learns nothing about the password.
        let until = app
            .store
            .logins_locked_until(&key, EpochMs::new(now))
            .await?
            .unwrap_or(now + LOCK_MS);
        return locked(&app, &console, until, now);
    };
    if attempts > FAILURES {
        // Beyond the allowance of this window, while the attempts within it are still
        // being checked: refused unchecked, and without extending any lock.
        return locked(&app, &console, now + LOCK_MS, now);
    }
    let attempt = field(&body, "password").unwrap_or_default();
    if !console.verify(attempt).await {
        return match Throttle::after_failure(attempts, now) {
            Throttle::Open => {
                record(&app, AuditAction::SignInFailed, &client, None, None).await?;
                login_page(
                    &app,
                    &console,
                    StatusCode::UNAUTHORIZED,
                    Some("That password is not right.".to_owned()),
                    false,
                    false,
                )
            }
            Throttle::LockUntil(until) => {
                app.store.lock_logins(&key, EpochMs::new(until)).await?;
                let detail = format!("{attempts} failures within a minute");
                record(&app, AuditAction::SignInLocked, &client, None, Some(detail)).await?;
                locked(&app, &console, until, now)
            }
        };
    }
    app.store.clear_login_failures(&key).await?;
    let session = SessionId::generate();
    app.store
        .create_session(
            &SessionRecord {
                digest: session.digest(),
                password_tag: console.verifier.tag().to_owned(),
                client: client.clone(),
                created_at: now,
                last_seen_at: now,
            },
            EpochMs::new(now - IDLE_MS),
            EpochMs::new(now - MAX_AGE_MS),
        )
        .await?;
    record(&app, AuditAction::SignIn, &client, None, None).await?;
    let mut response = Redirect::to("/admin").into_response();
    let headers = response.headers_mut();
    headers.append(SET_COOKIE, session_cookie(console.secure, &session));
    headers.append(SET_COOKIE, clear_login_cookie(console.secure));
    Ok(response)
}

/// `POST /admin/logout`: the session ends here and on every replica.
pub(super) async fn sign_out(
    operator: Operator,
    State(app): State<AppState>,
    body: Bytes,
) -> Result<Response, AppError> {
    let console = console(&app)?;
    check_csrf(&operator.csrf, &body)?;
    app.store.delete_session(&operator.session.digest()).await?;
    record(&app, AuditAction::SignOut, &operator.client, None, None).await?;
    let mut response = Redirect::to("/admin/login?signed_out=1").into_response();
    response
        .headers_mut()
        .append(SET_COOKIE, clear_session_cookie(console.secure));
    Ok(response)
}

/// The sign-in form with a fresh token in the form and in its cookie.
fn login_page(
    app: &AppState,
    console: &AdminConsole,
    status: StatusCode,
    problem: Option<String>,
    locked: bool,
    signed_out: bool,
) -> Result<Response, AppError> {
    let token = CsrfToken::generate();
    let page = render(&LoginPage {
        layout: app.layout,
        csrf: token.expose().to_owned(),
        problem,
        locked,
        signed_out,
    })?;
    let mut response = (status, page).into_response();
    response
        .headers_mut()
        .append(SET_COOKIE, login_cookie(console.secure, &token));
    Ok(response)
}

/// 429: this address may not try again before `until`.
fn locked(
    app: &AppState,
    console: &AdminConsole,
    until: i64,
    now: i64,
) -> Result<Response, AppError> {
    let mut response = paused_page(
        app,
        console,
        StatusCode::TOO_MANY_REQUESTS,
        until,
        now,
        true,
    )?;
    let wait_secs = ((until - now) / 1000).max(1);
    if let Ok(value) = HeaderValue::from_str(&wait_secs.to_string()) {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    Ok(response)
}

/// The sign-in page, saying that sign-in from this address is paused until `until`;
/// without the form when `hide_form`.
fn paused_page(
    app: &AppState,
    console: &AdminConsole,
    status: StatusCode,
    until: i64,
    now: i64,
    hide_form: bool,
) -> Result<Response, AppError> {
    let problem = format!(
        "Too many wrong passwords from your address. Sign-in from here is paused until {} ({}); other addresses are not affected.",
        clock::format_utc(until),
        clock::remaining(until, now),
    );
    login_page(app, console, status, Some(problem), hide_form, false)
}

//! Who is asking: the signed-in operator (an extractor that sends everyone else to the
//! sign-in page), the console's cookies, and the client address the audit log records.

use std::net::IpAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use cookie::{Cookie, SameSite};

use super::console::AdminConsole;
use crate::admin::{CsrfToken, SessionId};
use crate::clock::EpochMs;
use crate::web::cookies::{read_cookie, set_cookie};
use crate::web::error::{AppError, Missing};
use crate::web::state::AppState;

/// How long a sign-in form may sit in a tab before it must be reloaded.
const LOGIN_FORM_SECS: i64 = 60 * 60;

/// A request from a signed-in operator.
pub(super) struct Operator {
    pub(super) session: SessionId,
    /// The token every form of this session carries.
    pub(super) csrf: CsrfToken,
    /// The client address, for the audit log.
    pub(super) client: String,
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Response> {
        let console = app
            .admin
            .clone()
            .ok_or_else(|| AppError::NotFound(Missing::Page).into_response())?;
        match signed_in(app, &console, &parts.headers).await {
            Ok(Some(session)) => Ok(Operator {
                csrf: session.csrf(),
                session,
                client: client_text(client_address(app, parts)),
            }),
            // Nothing was done: a form posted after the session ended is not replayed.
            Ok(None) => Err(Redirect::to("/admin/login").into_response()),
            Err(error) => Err(error.into_response()),
        }
    }
}

/// The session the request's cookie names, if it is still good (renewing its idle time).
pub(super) async fn signed_in(
    app: &AppState,
    console: &AdminConsole,
    headers: &HeaderMap,
) -> Result<Option<SessionId>, AppError> {
    let Some(id) =
        read_cookie(headers, session_name(console.secure)).and_then(|v| SessionId::parse(&v))
    else {
        return Ok(None);
    };
    let now = app.clock.now_ms();
    let Some(record) = app.store.session(&id.digest()).await? else {
        return Ok(None);
    };
    if !record.valid(console.verifier.tag(), now) {
        return Ok(None);
    }
    if record.needs_touch(now) {
        app.store
            .touch_session(&id.digest(), EpochMs::new(now))
            .await?;
    }
    Ok(Some(id))
}

/// The client's address as far as it can be known: a forwarded address only from a
/// trusted proxy (IOP_TRUSTED_PROXIES).
pub(super) fn client_address(app: &AppState, parts: &Parts) -> Option<IpAddr> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    app.limits.client_address(peer, &parts.headers)
}

pub(super) fn client_text(address: Option<IpAddr>) -> String {
    address.map_or_else(|| "unknown".to_owned(), |a| a.to_string())
}

fn session_name(secure: bool) -> &'static str {
    if secure {
        "__Host-iop-admin"
    } else {
        "iop-admin"
    }
}

fn login_name(secure: bool) -> &'static str {
    if secure {
        "__Host-iop-admin-login"
    } else {
        "iop-admin-login"
    }
}

/// `HttpOnly` (no script reads it), `SameSite=Strict` (no other site's link or form
/// brings it along), `Path=/` and, over https, `Secure` with the `__Host-` name. The
/// session cookie has no `Max-Age`: it ends with the browser, and the store ends it
/// after 12 idle hours in any case.
fn cookie(name: &'static str, value: String, secure: bool, max_age: Option<i64>) -> HeaderValue {
    let mut cookie = Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure);
    if let Some(secs) = max_age {
        cookie = cookie.max_age(cookie::time::Duration::seconds(secs));
    }
    set_cookie(&cookie.build())
}

pub(super) fn session_cookie(secure: bool, id: &SessionId) -> HeaderValue {
    cookie(session_name(secure), id.expose().to_owned(), secure, None)
}

pub(super) fn clear_session_cookie(secure: bool) -> HeaderValue {
    cookie(session_name(secure), String::new(), secure, Some(0))
}

/// The sign-in form's own CSRF token, before there is a session: in this cookie and in
/// the form (double submit).
pub(super) fn login_cookie(secure: bool, token: &CsrfToken) -> HeaderValue {
    cookie(
        login_name(secure),
        token.expose().to_owned(),
        secure,
        Some(LOGIN_FORM_SECS),
    )
}

pub(super) fn clear_login_cookie(secure: bool) -> HeaderValue {
    cookie(login_name(secure), String::new(), secure, Some(0))
}

pub(super) fn login_token(secure: bool, headers: &HeaderMap) -> Option<CsrfToken> {
    read_cookie(headers, login_name(secure)).and_then(|v| CsrfToken::from_cookie(&v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_strict_http_only_and_host_bound_over_https() {
        let id = SessionId::generate();
        let text = session_cookie(true, &id).to_str().unwrap().to_owned();
        assert!(text.starts_with("__Host-iop-admin="), "{text}");
        for attribute in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
            assert!(text.contains(attribute), "{attribute}: {text}");
        }
        assert!(!text.contains("Max-Age"), "ends with the browser: {text}");
        let plain = session_cookie(false, &id).to_str().unwrap().to_owned();
        assert!(
            plain.starts_with("iop-admin=") && !plain.contains("Secure"),
            "{plain}"
        );
        let cleared = clear_session_cookie(true).to_str().unwrap().to_owned();
        assert!(cleared.contains("Max-Age=0"), "{cleared}");
        let login = login_cookie(true, &CsrfToken::generate())
            .to_str()
            .unwrap()
            .to_owned();
        assert!(login.starts_with("__Host-iop-admin-login=") && login.contains("SameSite=Strict"));
    }
}

//! The cookie that binds an authorization (and its result page) to one browser.

use axum::http::header::COOKIE;
use axum::http::{HeaderMap, HeaderValue};
use cookie::{Cookie, SameSite};

use crate::flow::{BrowserId, RESULT_TTL_MS};

#[derive(Clone, Copy)]
pub struct BrowserCookie {
    secure: bool,
}

impl BrowserCookie {
    /// Over https the cookie is `Secure` and carries the `__Host-` prefix, which browsers
    /// only accept for a host-only, `Path=/`, `Secure` cookie.
    pub fn new(secure: bool) -> Self {
        BrowserCookie { secure }
    }

    fn name(self) -> &'static str {
        if self.secure {
            "__Host-iop-browser"
        } else {
            "iop-browser"
        }
    }

    pub fn read(self, headers: &HeaderMap) -> Option<BrowserId> {
        read_cookie(headers, self.name()).and_then(|value| BrowserId::parse(&value))
    }

    /// `Set-Cookie`: HttpOnly so scripts cannot read it, `SameSite=Lax` so it comes back
    /// on the platform's top-level redirect (Strict would drop it). It lives as long as a
    /// result page, and no state lives longer (see `flow::Flows::new`).
    pub fn set(self, browser: &BrowserId) -> HeaderValue {
        let cookie = Cookie::build((self.name(), browser.expose()))
            .path("/")
            .max_age(cookie::time::Duration::milliseconds(RESULT_TTL_MS))
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .build();
        set_cookie(&cookie)
    }
}

/// The value of the request's cookie called `name`, if it sent one.
pub fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == name)
        .map(|cookie| cookie.value().to_owned())
}

/// A `Set-Cookie` value. Our values are hex and our attributes fixed, so it is always a
/// valid header value.
pub fn set_cookie(cookie: &Cookie<'_>) -> HeaderValue {
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_then_read_round_trips() {
        let cookie = BrowserCookie::new(false);
        let browser = BrowserId::generate();
        let set = cookie.set(&browser);
        let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_str(&format!("other=1; {pair}")).unwrap(),
        );
        assert_eq!(cookie.read(&headers), Some(browser));
    }

    #[test]
    fn https_cookie_is_secure_with_host_prefix() {
        let set = BrowserCookie::new(true).set(&BrowserId::generate());
        let text = set.to_str().unwrap();
        assert!(text.starts_with("__Host-iop-browser="), "{text}");
        assert!(
            text.contains("; Secure") && text.contains("HttpOnly") && text.contains("SameSite=Lax"),
            "{text}"
        );
        assert!(
            text.contains("Max-Age=1800") && text.contains("Path=/"),
            "{text}"
        );
        assert!(
            !BrowserCookie::new(false)
                .set(&BrowserId::generate())
                .to_str()
                .unwrap()
                .contains("Secure")
        );
    }

    #[test]
    fn a_malformed_cookie_header_is_ignored() {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_static("iop-browser=\"; ;=; x"));
        assert_eq!(BrowserCookie::new(false).read(&headers), None);
    }
}

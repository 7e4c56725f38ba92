//! The cookie that binds an authorization (and its result page) to one browser.

use axum::http::header::COOKIE;
use axum::http::{HeaderMap, HeaderValue};

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
        let name = self.name();
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| BrowserId::parse(v.trim()))
    }

    /// `Set-Cookie`: HttpOnly so scripts cannot read it, `SameSite=Lax` so it comes back
    /// on the platform's top-level redirect (Strict would drop it).
    pub fn set(self, browser: &BrowserId) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        let value = format!(
            "{}={}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
            self.name(),
            browser.expose(),
            RESULT_TTL_MS / 1000
        );
        HeaderValue::from_str(&value).expect("cookie is ASCII")
    }
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
        assert!(text.starts_with("__Host-iop-browser="));
        assert!(
            text.contains("; Secure") && text.contains("HttpOnly") && text.contains("SameSite=Lax")
        );
        assert!(
            !BrowserCookie::new(false)
                .set(&BrowserId::generate())
                .to_str()
                .unwrap()
                .contains("Secure")
        );
    }
}

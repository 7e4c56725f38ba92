//! The signed client for the two token APIs.
//!
//! Signing is the pure `signed_form`; this module only adds the clock and the transport:
//! one `reqwest::Client` with a timeout, no redirects, and rustls-verified TLS.

use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use secrecy::{ExposeSecret, SecretString};

use super::auth_code::AuthCode;
use super::error::IopError;
use super::sign;
use super::types::TokenResponse;
use crate::clock;

pub const CREATE_PATH: &str = "/auth/token/create";
pub const REFRESH_PATH: &str = "/auth/token/refresh";

/// A token answer is a few hundred bytes; anything past this is not one.
const MAX_BODY_BYTES: usize = 256 * 1024;

pub struct IopClient {
    http: reqwest::Client,
    /// `{API_URL}` without a trailing slash; the API path is appended.
    api_url: String,
    app_key: String,
    app_secret: SecretString,
    timeout: Duration,
}

impl IopClient {
    pub fn new(
        api_url: &str,
        app_key: &str,
        app_secret: SecretString,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // A redirect would resend the signed form somewhere else.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("iop-callback/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(IopClient {
            http,
            api_url: api_url.trim_end_matches('/').to_owned(),
            app_key: app_key.to_owned(),
            app_secret,
            timeout,
        })
    }

    pub fn app_key(&self) -> &str {
        &self.app_key
    }

    /// Exchanges an authorization code (`/auth/token/create`).
    pub async fn create_token(&self, code: &AuthCode) -> Result<TokenResponse, IopError> {
        self.call(CREATE_PATH, "code", code.expose()).await
    }

    /// Renews a token pair (`/auth/token/refresh`).
    pub async fn refresh_token(
        &self,
        refresh_token: &SecretString,
    ) -> Result<TokenResponse, IopError> {
        self.call(REFRESH_PATH, "refresh_token", refresh_token.expose_secret())
            .await
    }

    async fn call(
        &self,
        api_path: &str,
        name: &str,
        value: &str,
    ) -> Result<TokenResponse, IopError> {
        if value.is_empty() {
            // The SDKs disagree on signing empty values; never send one.
            return Err(IopError::Transport(format!(
                "refusing to send an empty `{name}`"
            )));
        }
        let body = signed_form(
            &self.app_key,
            self.app_secret.expose_secret(),
            api_path,
            (name, value),
            clock::now_ms(),
        );
        let mut response = self
            .http
            .post(format!("{}{}", self.api_url, api_path))
            .header(
                CONTENT_TYPE,
                "application/x-www-form-urlencoded;charset=UTF-8",
            )
            .body(body)
            .send()
            .await
            .map_err(|e| self.classify(e))?;
        let status = response.status();
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.classify(e))? {
            if bytes.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(IopError::InvalidBody("the answer is too large".into()));
            }
            bytes.extend_from_slice(&chunk);
        }
        if status != reqwest::StatusCode::OK {
            return Err(IopError::HttpStatus {
                status: status.as_u16(),
            });
        }
        TokenResponse::from_json(&bytes)
    }

    fn classify(&self, error: reqwest::Error) -> IopError {
        if error.is_timeout() {
            return IopError::Timeout(self.timeout);
        }
        // The innermost cause ("Connection refused") says the most and names no URL.
        let mut cause: &dyn std::error::Error = &error;
        while let Some(inner) = cause.source() {
            cause = inner;
        }
        let reason = cause.to_string();
        if error.is_connect() {
            IopError::Connect(reason)
        } else {
            IopError::Transport(reason)
        }
    }
}

/// The form body of a token call: `app_key`, `timestamp`, `sign_method`, the one API
/// parameter, and `sign` computed over exactly those four.
pub fn signed_form(
    app_key: &str,
    app_secret: &str,
    api_path: &str,
    param: (&str, &str),
    timestamp_ms: i64,
) -> String {
    let timestamp = timestamp_ms.to_string();
    let params = [
        ("app_key", app_key),
        ("timestamp", timestamp.as_str()),
        ("sign_method", "sha256"),
        param,
    ];
    let signature = sign::sign(app_secret, api_path, params);
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .append_pair("sign", &signature)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_form_carries_the_vector_3_signature() {
        let form = signed_form(
            "12345678",
            "test_secret",
            CREATE_PATH,
            ("code", "3_500000_abcDEF"),
            1_700_000_000_000,
        );
        assert_eq!(
            form,
            "app_key=12345678&timestamp=1700000000000&sign_method=sha256&code=3_500000_abcDEF\
             &sign=F293F4724954FD8B1AB6AE5DDF1C4B6BDC1104A5874810068EE420EBEC1FBF8F"
        );
    }

    #[test]
    fn refresh_form_carries_the_vector_4_signature() {
        let form = signed_form(
            "12345678",
            "test_secret",
            REFRESH_PATH,
            ("refresh_token", "50001600212wmSx1bcd"),
            1_700_000_000_000,
        );
        assert!(
            form.ends_with(
                "&sign=EA9A163A3B062DA8A9227335A4B5D03946490A5BFCEF0C2C95169CE0F7A127B7"
            )
        );
        assert!(!form.contains("access_token"));
    }

    #[test]
    fn non_ascii_values_are_url_encoded_in_the_body_but_signed_raw() {
        let form = signed_form(
            "12345678",
            "test_secret",
            CREATE_PATH,
            ("code", "码_ü"),
            1_700_000_000_000,
        );
        assert!(form.contains("code=%E7%A0%81_%C3%BC"));
        assert!(
            form.ends_with(
                "&sign=76BE46228968FB3A0152D98351812505C75433383A3F665B951946ED1A28AC55"
            )
        );
    }
}

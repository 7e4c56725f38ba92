//! The signed client: one function signs and sends any IOP call and returns the raw
//! answer; the token calls are built on it.
//!
//! Signing is the pure `signed_form`; this module only adds the clock and the transport
//! (`transport`: one connection pool per app, a timeout, no redirects, rustls-verified TLS).

use std::time::Duration;

use bytes::Bytes;
use hyper::Method;
use hyper::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::api::TokenApi;
use super::auth_code::AuthCode;
use super::business::{AnswerHead, BusinessApi};
use super::error::IopError;
use super::multipart::{self, FilePart};
use super::sign;
use super::transport::{BuildError, Outgoing, Transport};
use super::types::{TokenResponse, gateway_object};
use crate::clock::SharedClock;

/// A gateway answer is a few hundred bytes to a few hundred kilobytes; past this it is not
/// one.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The largest business answer passed through (a catalogue export can be tens of MB).
pub const MAX_PASSED_BYTES: usize = 64 * 1024 * 1024;

/// A business call's own parts: the API, the caller's method, text parameters (signed, in
/// the caller's order) and file parts (not signed).
pub struct BusinessCall<'a> {
    pub api: &'a BusinessApi,
    pub post: bool,
    pub params: &'a [(String, String)],
    pub files: &'a [FilePart],
}

/// A business answer as it came: status, content type, body, and the fields the service
/// reads from it.
#[derive(Debug)]
pub struct PassedAnswer {
    pub status: u16,
    pub content_type: Option<HeaderValue>,
    pub body: bytes::Bytes,
    pub head: AnswerHead,
}

/// An answer as the gateway sent it: the HTTP status and the body.
#[derive(Debug)]
pub struct RawAnswer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl RawAnswer {
    /// The answer's JSON object, once the gateway's own error shapes (a non-200 status, a
    /// body that is no object, `"code"` other than `"0"`) are turned into errors.
    pub fn into_object(self) -> Result<serde_json::Map<String, serde_json::Value>, IopError> {
        if self.status != 200 {
            return Err(IopError::HttpStatus {
                status: self.status,
            });
        }
        gateway_object(&self.body)
    }
}

pub struct IopClient {
    transport: Transport,
    /// `{API_URL}` without a trailing slash; the API path is appended.
    api_url: String,
    app_key: String,
    app_secret: SecretString,
    clock: SharedClock,
}

impl IopClient {
    pub fn new(
        api_url: &str,
        app_key: &str,
        app_secret: SecretString,
        timeout: Duration,
        clock: SharedClock,
    ) -> Result<Self, BuildError> {
        Ok(IopClient {
            transport: Transport::new(timeout)?,
            api_url: api_url.trim_end_matches('/').to_owned(),
            app_key: app_key.to_owned(),
            app_secret,
            clock,
        })
    }

    pub fn app_key(&self) -> &str {
        &self.app_key
    }

    /// Exchanges an authorization code (`/auth/token/create`).
    pub async fn create_token(&self, code: &AuthCode) -> Result<TokenResponse, IopError> {
        self.token_call(TokenApi::Create, code.expose()).await
    }

    /// Renews a token pair (`/auth/token/refresh`).
    pub async fn refresh_token(
        &self,
        refresh_token: &SecretString,
    ) -> Result<TokenResponse, IopError> {
        self.token_call(TokenApi::Refresh, refresh_token.expose_secret())
            .await
    }

    async fn token_call(&self, api: TokenApi, value: &str) -> Result<TokenResponse, IopError> {
        // The token APIs refuse an access token (`IllegalAccessToken`).
        let answer = self
            .call(api.path(), &[(api.parameter(), value)], None)
            .await?;
        TokenResponse::from_object(answer.into_object()?)
    }

    /// Signs and sends any IOP call: `api_path` (`/order/get`; empty for `/sync`-style
    /// calls named by a `method` parameter), the API's own parameters, and the seller's
    /// access token for business APIs. Adds `app_key`, `timestamp`, `sign_method` and
    /// `sign`, POSTs them as a form body (never in the URL) and returns the raw answer.
    pub async fn call(
        &self,
        api_path: &str,
        params: &[(&str, &str)],
        access_token: Option<&SecretString>,
    ) -> Result<RawAnswer, IopError> {
        let access_token = access_token.map(ExposeSecret::expose_secret);
        let all = params
            .iter()
            .copied()
            .chain(access_token.map(|token| ("access_token", token)));
        if let Some((name, _)) = all.clone().find(|(_, value)| value.is_empty()) {
            // The SDKs disagree on signing empty values; never send one.
            return Err(IopError::EmptyParameter(name.to_owned()));
        }
        let params: Vec<(&str, &str)> = all.collect();
        let body = signed_form(
            &self.app_key,
            self.app_secret.expose_secret(),
            api_path,
            &params,
            self.clock.now_ms(),
        );
        let url = format!("{}{}", self.api_url, api_path);
        let outgoing = Outgoing {
            method: Method::POST,
            url: &url,
            content_type: Some("application/x-www-form-urlencoded;charset=UTF-8"),
            body: body.into(),
        };
        let answer = match self.transport.send(outgoing, MAX_BODY_BYTES).await {
            Err(IopError::TooLarge { .. }) => {
                Err(IopError::InvalidBody("the answer is too large".into()))
            }
            other => other,
        }?;
        let (status, body) = (answer.status, answer.body.to_vec());
        Ok(RawAnswer { status, body })
    }

    /// Signs and sends a business call to the gateway `root`, with the seller's
    /// `access_token`, and returns the answer as it came (up to `MAX_PASSED_BYTES`).
    /// Every text parameter is signed; file parts are not (section 7). A GET carries
    /// everything in its query; a POST in a form body, or in a multipart body when it has
    /// files.
    pub async fn business_call(
        &self,
        root: &Url,
        call: &BusinessCall<'_>,
        access_token: &SecretString,
    ) -> Result<PassedAnswer, IopError> {
        let api = call.api;
        let timestamp = self.clock.now_ms().to_string();
        // Sized once: the system parameters, `method`, the caller's, and `sign`.
        let mut params: Vec<(&str, &str)> = Vec::with_capacity(call.params.len() + 6);
        params.extend([
            ("app_key", self.app_key.as_str()),
            ("timestamp", &timestamp),
            ("sign_method", "sha256"),
            (api.token_parameter(), access_token.expose_secret()),
        ]);
        params.extend(api.own_parameter());
        params.extend(call.params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let signature = sign::sign(
            self.app_secret.expose_secret(),
            api.sign_path(),
            params.iter().copied(),
        );
        params.push(("sign", &signature));
        let root = root.as_str().trim_end_matches('/');
        let [endpoint, path] = api.endpoint();
        if !call.post {
            // One buffer for the whole URL, with room for some encoding: most values
            // (ids, dates, tokens) encode to themselves.
            let encoded: usize = params.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
            let mut url = String::with_capacity(
                root.len() + endpoint.len() + path.len() + encoded * 4 / 3 + 1,
            );
            url.extend([root, endpoint, path, "?"]);
            let url = form_encode(url, &params);
            return self.pass(Method::GET, &url, None, Bytes::new()).await;
        }
        let url = [root, endpoint, path].concat();
        let (content_type, body) = if call.files.is_empty() {
            let body = form_encode(String::new(), &params);
            ("application/x-www-form-urlencoded".to_owned(), body.into())
        } else {
            let encoded = multipart::encode(&params, call.files);
            (encoded.content_type, encoded.body)
        };
        self.pass(Method::POST, &url, Some(&content_type), body)
            .await
    }

    /// Sends a signed business call; the answer as the caller is passed it.
    async fn pass(
        &self,
        method: Method,
        url: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<PassedAnswer, IopError> {
        let outgoing = Outgoing {
            method,
            url,
            content_type,
            body,
        };
        let answer = self.transport.send(outgoing, MAX_PASSED_BYTES).await?;
        let head = AnswerHead::read(&answer.body);
        Ok(PassedAnswer {
            status: answer.status,
            content_type: answer.content_type,
            body: answer.body,
            head,
        })
    }
}

/// `pairs` form-encoded after what `into` holds (a URL ending in `?`, or nothing for a
/// body).
fn form_encode(into: String, pairs: &[(&str, &str)]) -> String {
    let start = into.len();
    url::form_urlencoded::Serializer::for_suffix(into, start)
        .extend_pairs(pairs)
        .finish()
}

/// The form body of a call: `app_key`, `timestamp`, `sign_method`, the API's parameters,
/// and `sign` computed over exactly those.
pub fn signed_form(
    app_key: &str,
    app_secret: &str,
    api_path: &str,
    params: &[(&str, &str)],
    timestamp_ms: i64,
) -> String {
    let timestamp = timestamp_ms.to_string();
    let common = [
        ("app_key", app_key),
        ("timestamp", timestamp.as_str()),
        ("sign_method", "sha256"),
    ];
    let all = || common.iter().chain(params).copied();
    let signature = sign::sign(app_secret, api_path, all());
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(all())
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
            TokenApi::Create.path(),
            &[("code", "3_500000_abcDEF")],
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
            TokenApi::Refresh.path(),
            &[("refresh_token", "50001600212wmSx1bcd")],
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
    fn a_business_call_with_an_access_token_carries_the_vector_2_signature() {
        let form = signed_form(
            "123456",
            "helloworld",
            "/order/get",
            &[("order_id", "1234"), ("access_token", "test")],
            1_517_820_392_000,
        );
        assert!(
            form.ends_with(
                "&sign=4190D32361CFB9581350222F345CB77F3B19F0E31D162316848A2C1FFD5FAB4A"
            ),
            "{form}"
        );
    }

    #[test]
    fn a_sync_style_call_without_a_path_carries_the_vector_7_signature() {
        let form = signed_form(
            "12345678",
            "test_secret",
            "",
            &[
                ("method", "aliexpress.solution.product.list.get"),
                ("session", "tok"),
            ],
            1_700_000_000_000,
        );
        assert!(
            form.ends_with(
                "&sign=483D09C44EC96F1BC4C455EA69C28EF81D42B2EFDAEA0C4997DE7EFFF5225221"
            ),
            "{form}"
        );
    }

    #[test]
    fn non_ascii_values_are_url_encoded_in_the_body_but_signed_raw() {
        let form = signed_form(
            "12345678",
            "test_secret",
            TokenApi::Create.path(),
            &[("code", "码_ü")],
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

//! The sandbox's `/rest/auth/token/create` and `/refresh`: checks a call the way the
//! gateway does and answers in the platform's own success and error shapes.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq;

use super::Sandbox;
use super::grants::{GrantError, Issued};
use crate::iop::{Platform, TokenApi, sign};
use crate::random::random_hex;

/// The gateway's allowed clock skew.
const TIMESTAMP_WINDOW_MS: i64 = 7_200_000;

/// An error answer: `{"type":"ISV","code":...,"message":...,"request_id":...}`.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct ApiError {
    pub code: &'static str,
    pub message: String,
}

pub(super) fn api_error(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError {
        code,
        message: message.into(),
    }
}

/// Query and form body together: the gateway accepts parameters in either. Empty values
/// count as missing; the first occurrence of a name wins.
pub(super) fn received_params(query: Option<&str>, body: &[u8]) -> BTreeMap<String, String> {
    let mut params = BTreeMap::new();
    let pairs = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .chain(url::form_urlencoded::parse(body));
    for (name, value) in pairs {
        params
            .entry(name.into_owned())
            .or_insert_with(|| value.into_owned());
    }
    params
}

/// The gateway's checks of a token call, in its order. Returns the API parameter's value.
pub(super) fn verify<'p>(
    api: TokenApi,
    app_key: &str,
    app_secret: &str,
    params: &'p BTreeMap<String, String>,
    now_ms: i64,
) -> Result<&'p str, ApiError> {
    let signed = Signed {
        app_key,
        app_secret,
        sign_path: api.path(),
        now_ms,
    };
    signed.verify(params, &[api.parameter()])?;
    if params.contains_key("access_token") {
        return Err(api_error(
            "IllegalAccessToken",
            "The specified access token is invalid or expired",
        ));
    }
    Ok(value(params, api.parameter()).unwrap_or_default())
}

/// A parameter's value; empty counts as missing.
pub(super) fn value<'p>(params: &'p BTreeMap<String, String>, name: &str) -> Option<&'p str> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

/// What every signed call is checked against: the app, its secret, the path its signature
/// starts with (none on `/sync`) and the gateway's time.
pub(super) struct Signed<'a> {
    pub app_key: &'a str,
    pub app_secret: &'a str,
    pub sign_path: &'a str,
    pub now_ms: i64,
}

impl Signed<'_> {
    /// The system parameters and `required` are present, the app key, method and clock
    /// are right, and `sign` covers exactly the text parameters received.
    pub(super) fn verify(
        &self,
        params: &BTreeMap<String, String>,
        required: &[&str],
    ) -> Result<(), ApiError> {
        let get = |name: &str| value(params, name);
        let system = ["app_key", "timestamp", "sign_method", "sign"];
        for name in system.iter().chain(required) {
            if get(name).is_none() {
                return Err(api_error(
                    "MissingParameter",
                    format!(
                        "The input parameter \"{name}\" that is mandatory for processing this request is not supplied"
                    ),
                ));
            }
        }
        if get("app_key") != Some(self.app_key) {
            return Err(api_error(
                "InvalidAppkey",
                "The specified app key is invalid",
            ));
        }
        if get("sign_method") != Some("sha256") {
            return Err(api_error("InvalidParameter", "sign_method must be sha256"));
        }
        let timestamp: i64 = get("timestamp")
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| api_error("InvalidParameter", "timestamp must be epoch milliseconds"))?;
        if (timestamp - self.now_ms).abs() > TIMESTAMP_WINDOW_MS {
            return Err(api_error(
                "InvalidParameter",
                "timestamp is more than 7200 seconds away from the server time",
            ));
        }
        let expected = sign::sign(
            self.app_secret,
            self.sign_path,
            params
                .iter()
                .filter(|(k, _)| k.as_str() != "sign")
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        let received = get("sign").unwrap_or_default();
        if !bool::from(expected.as_bytes().ct_eq(received.as_bytes())) {
            return Err(api_error(
                "IncompleteSignature",
                "The request signature does not conform to platform standards",
            ));
        }
        Ok(())
    }
}

/// The success answer in the platform's shape, lifetimes both relative and absolute.
pub(super) fn success_body(
    platform: Platform,
    api: TokenApi,
    issued: &Issued,
    now_ms: i64,
    request_id: &str,
) -> Value {
    let mut body: Map<String, Value> = issued.seller.identity();
    let seconds_left = |at: i64| ((at - now_ms) / 1000).max(0);
    body.insert("access_token".into(), json!(issued.access_token));
    body.insert("refresh_token".into(), json!(issued.refresh_token));
    body.insert(
        "expires_in".into(),
        json!(seconds_left(issued.access_expires_at)),
    );
    body.insert(
        "refresh_expires_in".into(),
        json!(seconds_left(issued.refresh_expires_at)),
    );
    match platform {
        Platform::Aliexpress => {
            body.insert("expire_time".into(), json!(issued.access_expires_at));
            body.insert(
                "refresh_token_valid_time".into(),
                json!(issued.refresh_expires_at),
            );
        }
        Platform::Lazada => {
            if let (TokenApi::Refresh, Some(list)) = (api, body.get("country_user_info").cloned()) {
                body.insert("country_user_info_list".into(), list);
            }
        }
    }
    body.insert("code".into(), json!("0"));
    body.insert("request_id".into(), json!(request_id));
    Value::Object(body)
}

pub(super) fn error_body(error: &ApiError, request_id: &str) -> Value {
    json!({"type": "ISV", "code": error.code, "message": error.message, "request_id": request_id})
}

pub(super) fn request_id() -> String {
    random_hex::<12>()
}

pub(super) async fn create(
    State(sandbox): State<Sandbox>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Json<Value> {
    answer(&sandbox, TokenApi::Create, query.as_deref(), &body)
}

pub(super) async fn refresh(
    State(sandbox): State<Sandbox>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Json<Value> {
    answer(&sandbox, TokenApi::Refresh, query.as_deref(), &body)
}

/// Like the gateway: HTTP 200 with a JSON body, for success and errors alike.
fn answer(sandbox: &Sandbox, api: TokenApi, query: Option<&str>, body: &[u8]) -> Json<Value> {
    let now = sandbox.now_ms();
    let request_id = request_id();
    let params = received_params(query, body);
    let settings = &sandbox.settings;
    let result =
        verify(api, &settings.app_key, &settings.app_secret, &params, now).and_then(|value| {
            let mut grants = sandbox.grants();
            match api {
                TokenApi::Create => grants.redeem_code(value, now),
                TokenApi::Refresh => grants.refresh(value, now),
            }
            .map_err(|e| match e {
                GrantError::InvalidCode => api_error(
                    "InvalidCode",
                    "The authorization code is invalid, used or expired",
                ),
                GrantError::InvalidRefreshToken => api_error(
                    "IllegalRefreshToken",
                    "The refresh token is invalid or expired",
                ),
                GrantError::Full => {
                    api_error("ServiceUnavailable", "The sandbox is full, try again later")
                }
            })
        });
    Json(match result {
        Ok(issued) => {
            tracing::info!(api = api.path(), "sandbox issued tokens");
            success_body(settings.platform, api, &issued, now, &request_id)
        }
        Err(error) => {
            tracing::info!(
                api = api.path(),
                code = error.code,
                "sandbox refused a token call"
            );
            error_body(&error, &request_id)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    fn signed(api: TokenApi, extra: &[(&str, &str)], secret: &str) -> BTreeMap<String, String> {
        let mut params: BTreeMap<String, String> = [
            ("app_key", "12345678"),
            ("timestamp", "1700000000000"),
            ("sign_method", "sha256"),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let signature = sign::sign(
            secret,
            api.path(),
            params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        );
        params.insert("sign".into(), signature);
        params
    }

    fn check(params: &BTreeMap<String, String>, api: TokenApi) -> Result<&str, &'static str> {
        verify(api, "12345678", "test_secret", params, NOW).map_err(|e| e.code)
    }

    #[test]
    fn the_spec_vector_3_request_verifies() {
        let params = signed(
            TokenApi::Create,
            &[("code", "3_500000_abcDEF")],
            "test_secret",
        );
        assert_eq!(
            params["sign"],
            "F293F4724954FD8B1AB6AE5DDF1C4B6BDC1104A5874810068EE420EBEC1FBF8F"
        );
        assert_eq!(check(&params, TokenApi::Create), Ok("3_500000_abcDEF"));
    }

    #[test]
    fn each_missing_parameter_is_named() {
        for name in ["app_key", "timestamp", "sign_method", "sign", "code"] {
            let mut params = signed(TokenApi::Create, &[("code", "c")], "test_secret");
            params.remove(name);
            let error =
                verify(TokenApi::Create, "12345678", "test_secret", &params, NOW).unwrap_err();
            assert_eq!(error.code, "MissingParameter");
            assert!(error.message.contains(name));
        }
    }

    #[test]
    fn wrong_app_key_secret_method_or_clock_are_refused() {
        let mut params = signed(TokenApi::Create, &[("code", "c")], "test_secret");
        params.insert("app_key".into(), "999".into());
        assert_eq!(check(&params, TokenApi::Create), Err("InvalidAppkey"));

        let params = signed(TokenApi::Create, &[("code", "c")], "wrong_secret");
        assert_eq!(check(&params, TokenApi::Create), Err("IncompleteSignature"));

        // Correctly signed, but with another method.
        let params = signed(
            TokenApi::Create,
            &[("code", "c"), ("sign_method", "md5")],
            "test_secret",
        );
        assert_eq!(check(&params, TokenApi::Create), Err("InvalidParameter"));

        let params = signed(TokenApi::Create, &[("code", "c")], "test_secret");
        assert_eq!(
            verify(
                TokenApi::Create,
                "12345678",
                "test_secret",
                &params,
                NOW + TIMESTAMP_WINDOW_MS + 1
            )
            .unwrap_err()
            .code,
            "InvalidParameter"
        );
    }

    #[test]
    fn a_parameter_added_after_signing_breaks_the_signature() {
        let mut params = signed(TokenApi::Create, &[("code", "c")], "test_secret");
        params.insert("partner_id".into(), "sdk".into());
        assert_eq!(check(&params, TokenApi::Create), Err("IncompleteSignature"));
    }

    #[test]
    fn an_access_token_on_a_token_call_is_illegal() {
        let params = signed(
            TokenApi::Refresh,
            &[("refresh_token", "r"), ("access_token", "old")],
            "test_secret",
        );
        assert_eq!(check(&params, TokenApi::Refresh), Err("IllegalAccessToken"));
    }

    #[test]
    fn query_and_body_parameters_are_both_read() {
        let params = received_params(Some("a=1&b="), b"c=3&a=2");
        assert_eq!(params["a"], "1");
        assert_eq!(params["c"], "3");
        assert_eq!(params["b"], "");
    }
}

//! The sandbox's business APIs, so that `demo` shows the signing proxy offline: Lazada's
//! `/seller/get`, `/orders/get` and a multipart `/image/upload` under a gateway per country
//! (`{prefix}/{country}/rest/...`), and AliExpress's `/sync` with
//! `method=aliexpress.solution.product.list.get`. Each call is verified as the gateway
//! does (the path in the signature on `/rest`, none on `/sync`, file parts left out), an
//! access token the sandbox revoked answers `IllegalAccessToken`, and a seller calling more
//! than five times a second answers `ApiCallLimit`.

use std::collections::{BTreeMap, HashMap, VecDeque};

use axum::Json;
use axum::extract::{FromRequest, Multipart, Path, RawQuery, Request, State};
use axum::http::header::CONTENT_TYPE;
use serde_json::{Value, json};

use super::Sandbox;
use super::sellers::SampleSeller;
use super::token_api::{ApiError, Signed, api_error, error_body, request_id, value};
use crate::lock::lock;

/// Calls one seller may make in a second before it is throttled.
const CALLS_PER_SECOND: usize = 5;

/// The gateway's memory of recent calls per seller, for `ApiCallLimit`.
#[derive(Default)]
pub(super) struct Rate(std::sync::Mutex<HashMap<&'static str, VecDeque<i64>>>);

impl Rate {
    /// Counts a call of `seller` at `now`; false when it is one too many this second.
    fn allow(&self, seller: &'static str, now: i64) -> bool {
        let mut calls = lock(&self.0);
        let recent = calls.entry(seller).or_default();
        while recent.front().is_some_and(|at| *at <= now - 1_000) {
            recent.pop_front();
        }
        if recent.len() >= CALLS_PER_SECOND {
            return false;
        }
        recent.push_back(now);
        true
    }
}

/// A Lazada REST call under a country's gateway.
pub(super) async fn lazada(
    State(sandbox): State<Sandbox>,
    Path((country, api)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Json<Value> {
    let call = Call::read(query, request).await;
    let path = format!("/{api}");
    let image = call.files.get("image").copied();
    answer(&sandbox, call, &path, "access_token", |seller| {
        let sells_there = seller
            .identity()
            .get("country_user_info")
            .and_then(Value::as_array)
            .is_some_and(|list| list.iter().any(|c| c["country"] == country.as_str()));
        if !sells_there {
            return Err(api_error(
                "InvalidParameter",
                format!("this seller does not sell on the {country} site"),
            ));
        }
        match api.as_str() {
            "seller/get" => Ok(json!({"data": seller.identity(), "country": country})),
            "orders/get" => Ok(json!({"data": {"count": 2, "orders": [
                {"order_id": "900001", "status": "pending", "price": "129.00"},
                {"order_id": "900002", "status": "shipped", "price": "58.50"}
            ]}})),
            "image/upload" => {
                let bytes = image.ok_or_else(|| {
                    api_error("MissingParameter", "the file part `image` is missing")
                })?;
                Ok(json!({"data": {"image": {
                    "url": format!("https://sandbox.invalid/{country}/image.png"),
                    "bytes": bytes
                }}}))
            }
            _ => Err(api_error(
                "InvalidApi",
                format!("the sandbox has no API `/{api}`"),
            )),
        }
    })
}

/// AliExpress's `/sync`: the method named by `method`.
pub(super) async fn sync(
    State(sandbox): State<Sandbox>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Json<Value> {
    let call = Call::read(query, request).await;
    let method = call.params.get("method").cloned().unwrap_or_default();
    answer(&sandbox, call, "", "session", |seller| {
        if method != "aliexpress.solution.product.list.get" {
            return Err(api_error(
                "InvalidApi",
                format!("the sandbox has no method `{method}`"),
            ));
        }
        Ok(
            json!({"aliexpress_solution_product_list_get_response": {"result": {
                "seller": seller.label,
                "products": [{"product_id": "1005001", "subject": "Demo tee"}]
            }}}),
        )
    })
}

/// A call's text parameters (query and form, or multipart text parts) and its file parts'
/// sizes. An unreadable body leaves them empty: the checks then name what is missing.
struct Call {
    params: BTreeMap<String, String>,
    files: HashMap<String, usize>,
}

impl Call {
    async fn read(query: Option<String>, request: Request) -> Call {
        let mut params: BTreeMap<String, String> =
            url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .into_owned()
                .collect();
        let mut files = HashMap::new();
        let multipart = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("multipart/form-data"));
        if multipart {
            if let Ok(mut form) = Multipart::from_request(request, &()).await {
                while let Ok(Some(part)) = form.next_field().await {
                    let name = part.name().unwrap_or_default().to_owned();
                    let is_file = part.file_name().is_some();
                    let Ok(bytes) = part.bytes().await else { break };
                    if is_file {
                        files.insert(name, bytes.len());
                    } else {
                        params.insert(name, String::from_utf8_lossy(&bytes).into_owned());
                    }
                }
            }
        } else if let Ok(body) = axum::body::to_bytes(request.into_body(), 1024 * 1024).await {
            params.extend(url::form_urlencoded::parse(&body).into_owned());
        }
        Call { params, files }
    }
}

/// Verifies `call` as the gateway does and answers with `body(seller)` on success.
fn answer(
    sandbox: &Sandbox,
    call: Call,
    sign_path: &str,
    token_parameter: &str,
    body: impl FnOnce(&'static SampleSeller) -> Result<Value, ApiError>,
) -> Json<Value> {
    let now = sandbox.now_ms();
    let request_id = request_id();
    let settings = &sandbox.settings;
    let signed = Signed {
        app_key: &settings.app_key,
        app_secret: &settings.app_secret,
        sign_path,
        now_ms: now,
    };
    let result = signed
        .verify(&call.params, &[token_parameter])
        .and_then(|()| {
            let token = value(&call.params, token_parameter).unwrap_or_default();
            sandbox.grants().seller_of(token, now).ok_or_else(|| {
                api_error(
                    "IllegalAccessToken",
                    "The specified access token is invalid or expired",
                )
            })
        })
        .and_then(|seller| {
            if sandbox.rate.allow(seller.key, now) {
                body(seller)
            } else {
                Err(api_error(
                    "ApiCallLimit",
                    "The request has exceeded the limit, this ban will last 1 seconds",
                ))
            }
        });
    Json(match result {
        Ok(mut answer) => {
            answer["code"] = json!("0");
            answer["request_id"] = json!(request_id);
            answer
        }
        Err(error) => {
            tracing::info!(code = error.code, "sandbox refused a business call");
            error_body(&error, &request_id)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seller_gets_five_calls_a_second() {
        let rate = Rate::default();
        let allowed = (0..7).filter(|_| rate.allow("a", 1_000)).count();
        assert_eq!(allowed, CALLS_PER_SECOND);
        assert!(rate.allow("b", 1_000), "per seller");
        assert!(!rate.allow("a", 1_999));
        assert!(rate.allow("a", 2_000), "a second later");
    }
}

//! `GET /api/v1/openapi.json`: the API described for clients and code generators, derived
//! from the handlers: each route is registered through `utoipa_axum::routes!` from its
//! `#[utoipa::path]`, so a route cannot be served without being described (a test in
//! tests/api/token_api.rs also checks the document against what the router answers).

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::events::views::{AttemptView, DeliveryView, EventDetail, EventView};
use crate::iop::CountryUserInfo;
use crate::tokens::{CurrentToken, Health, RefreshedToken, TokenSummary};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "iop-callback token API",
        description = "Current access tokens of the sellers who authorized through iop-callback. Every response has Cache-Control: no-store."
    ),
    components(schemas(TokenSummary, CurrentToken, RefreshedToken, Health, CountryUserInfo, ErrorBody, PlatformErrorBody, EventView, EventDetail, DeliveryView, AttemptView)),
    modifiers(&BearerKeys),
    security(("bearer" = []))
)]
pub(super) struct ApiDoc;

/// The API keys, as a bearer scheme.
struct BearerKeys;

impl Modify for BearerKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.description = Some("A key from IOP_API_KEYS or IOP_API_KEYS_FILE.".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
    }
}

/// Every error of the API (`ApiError`'s body).
#[derive(ToSchema)]
#[schema(as = Error)]
#[allow(dead_code)]
pub(super) struct ErrorBody {
    /// A stable word: `unauthorized`, `unknown_seller`, `ambiguous_seller`, `reauthorize`,
    /// `platform`, `busy`, `bad_request`, `internal`.
    error: String,
    message: String,
    /// With `reauthorize`: where the seller authorizes again.
    authorize_url: Option<String>,
    /// With `ambiguous_seller`: the apps that know this id.
    candidates: Option<Vec<serde_json::Value>>,
    /// With `platform`: what the platform answered.
    platform: Option<PlatformErrorBody>,
    /// With `platform`, when the refresh failed before: not retried before this time.
    #[schema(format = DateTime)]
    retry_after: Option<String>,
}

/// The platform's own error, as it answered.
#[derive(ToSchema)]
#[schema(as = PlatformError)]
#[allow(dead_code)]
pub(super) struct PlatformErrorBody {
    code: String,
    message: Option<String>,
    request_id: Option<String>,
}

/// What every route that names a seller may answer besides its success.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub(super) enum SellerErrors {
    /// `app` is not an app name.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// Missing or wrong API key (WWW-Authenticate: Bearer).
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// No stored seller has this id.
    #[response(status = 404)]
    UnknownSeller(ErrorBody),
    /// The seller must authorize again (`authorize_url`), or the id is known under several
    /// apps (`candidates`).
    #[response(status = 409)]
    Conflict(ErrorBody),
}

/// What a route that may renew the seller's tokens answers when that fails.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub(super) enum RenewalErrors {
    /// The platform refused or failed the refresh (`platform`), now or at the last try
    /// whose backoff still runs: then `retry_after` (and the `Retry-After` header) say when
    /// the platform is asked again.
    #[response(status = 502)]
    Platform(ErrorBody),
    /// Another replica is refreshing this token; try again.
    #[response(status = 503)]
    Busy(ErrorBody),
    /// The platform did not answer in time.
    #[response(status = 504)]
    Timeout(ErrorBody),
}

/// The proxy's `{api}` and headers.
#[derive(utoipa::IntoParams)]
#[allow(dead_code)]
pub(super) struct ProxyParams {
    /// A REST path (`orders/get`, `seller/get`: may hold `/`) or, for an AliExpress app, a
    /// dotted method name (`aliexpress.solution.product.list.get`, sent to `/sync`).
    #[param(style = Simple, value_type = String)]
    #[into_params(parameter_in = Path)]
    api: String,
    /// The app, when the seller id is known under several.
    #[param(rename = "IOP-App")]
    #[into_params(parameter_in = Header)]
    iop_app: Option<String>,
    /// Lazada: the country whose gateway is called (`sg`, `my`, `th`, `vn`, `ph`, `id`);
    /// required for a cross-border seller, else the token's own country.
    #[param(rename = "IOP-Country")]
    #[into_params(parameter_in = Header)]
    iop_country: Option<String>,
}

/// What the proxy answers. The platform's own answers, errors included, pass through
/// with their status; the service's own errors carry `IOP-Proxy-Error: 1`.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub(super) enum ProxyAnswers {
    /// The platform's answer as it came (also its errors, which IOP sends as HTTP 200),
    /// with `IOP-Code` (its `code`, `0` on success), `IOP-Request-Id` and `IOP-App`.
    #[response(status = 200, content_type = "application/json")]
    Answer(serde_json::Value),
    /// A parameter the service sets (`app_key`, `sign`, `timestamp`, `access_token`, ...),
    /// an empty or repeated one, an API name that is not allowed, a missing country.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// Missing or wrong API key (WWW-Authenticate: Bearer).
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// The key lacks the grant `proxy` or `app:NAME`.
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// No stored seller has this id.
    #[response(status = 404)]
    UnknownSeller(ErrorBody),
    /// The seller must authorize again (`authorize_url`), or the id is known under several
    /// apps (`candidates`).
    #[response(status = 409)]
    Conflict(ErrorBody),
    /// The request body is over 16 MiB.
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// A POST body that is neither a form nor multipart.
    #[response(status = 415)]
    UnsupportedMediaType(ErrorBody),
    /// The platform could not be reached, or its answer was over 64 MiB.
    #[response(status = 502)]
    Unreachable(ErrorBody),
    /// The platform did not answer in time.
    #[response(status = 504)]
    Timeout(ErrorBody),
}

/// The `{seller}` of a route's path.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(super) struct Seller {
    /// The seller's seller_id or user_id (a Lazada country's too).
    seller: String,
}

//! One askama view struct per page. Templates escape everything they print.

use askama::Template;

use crate::clock;
use crate::iop::platform::lazada_country_name;
use crate::iop::{CountryUserInfo, SellerIdentity};
use crate::tokens::{Health, StoredToken, TokenStatus};
use crate::web::error::ErrorPage;

/// What the base layout needs on every page.
#[derive(Clone, Copy)]
pub struct Layout {
    /// `demo`: every page carries the sandbox banner.
    pub sandbox: bool,
    /// Where "Authorize again" leads: `/authorize` for the one app, or the landing page
    /// where the seller picks among several.
    pub start: &'static str,
}

#[derive(Template)]
#[template(path = "landing.html")]
pub struct LandingPage {
    pub layout: Layout,
    pub apps: Vec<LandingApp>,
    /// The one app of a single-app deployment, shown as the page's subject.
    pub single: Option<LandingApp>,
    /// Link the admin console (only when it is on).
    pub admin: bool,
}

/// One app on the landing page: what to register, and where its authorizations start.
#[derive(Clone)]
pub struct LandingApp {
    pub id: String,
    pub platform_name: &'static str,
    pub app_key: String,
    pub redirect_uri: String,
    /// The copy button's target: `redirect-uri`, or `redirect-uri-{id}` beside others.
    pub redirect_uri_id: String,
    pub authorize_path: String,
    pub countries: Vec<CountryChoice>,
}

#[derive(Clone)]
pub struct CountryChoice {
    pub code: String,
    pub name: &'static str,
}

#[derive(Template)]
#[template(path = "result.html")]
pub struct ResultPage {
    pub layout: Layout,
    pub platform_name: &'static str,
    /// The app, in a deployment of several.
    pub app_name: Option<String>,
    pub seller_name: String,
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub access_expiry: Option<ExpiryView>,
    pub refresh_expiry: Option<ExpiryView>,
    pub refreshable: bool,
    pub identity: Vec<Field>,
    pub countries: Vec<CountryRow>,
    pub platform_request_id: Option<String>,
    pub updated_at: String,
    /// The refresh token is dead: the seller must authorize again.
    pub needs_reauthorization: bool,
    /// The refresh token dies soon: only the seller can renew it.
    pub refresh_expiring: bool,
    /// The last refreshes failed (retried automatically): why.
    pub failing: Option<String>,
    /// The store would not take these tokens: this page is all that holds them.
    pub unsaved: bool,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorView<'a> {
    pub layout: Layout,
    pub page: &'a ErrorPage,
    pub request_id: &'a str,
}

#[derive(Template)]
#[template(path = "cancelled.html")]
pub struct CancelledPage {
    pub layout: Layout,
    pub error: String,
    pub description: Option<String>,
    /// Where "Try again" starts: the app's own authorize path.
    pub retry: String,
}

/// One Lazada site of the seller, named for people.
pub struct CountryRow {
    pub code: Option<String>,
    pub name: &'static str,
    pub seller_id: Option<String>,
    pub user_id: Option<String>,
    pub short_code: Option<String>,
}

impl CountryRow {
    fn new(country: &CountryUserInfo) -> Self {
        CountryRow {
            name: country
                .country
                .as_deref()
                .map_or("Unknown site", lazada_country_name),
            code: country.country.clone(),
            seller_id: country.seller_id.clone(),
            user_id: country.user_id.clone(),
            short_code: country.short_code.clone(),
        }
    }
}

pub struct Field {
    pub label: &'static str,
    pub value: String,
}

pub struct ExpiryView {
    pub utc: String,
    pub iso: String,
    pub remaining: String,
    pub expired: bool,
}

impl ExpiryView {
    pub fn new(at_ms: i64, now_ms: i64) -> Self {
        ExpiryView {
            utc: clock::format_utc(at_ms),
            iso: clock::format_rfc3339(at_ms),
            remaining: clock::remaining(at_ms, now_ms),
            expired: at_ms <= now_ms,
        }
    }
}

/// What a page shows of a seller, labelled, skipping what the platform did not send.
pub fn identity_fields(id: &SellerIdentity) -> Vec<Field> {
    // The seller id every view shows (a Lazada seller's first country's, too).
    let seller_id = id.primary_id().map(str::to_owned);
    [
        ("Seller ID", &seller_id),
        ("User ID", &id.user_id),
        ("Nickname", &id.user_nick),
        ("Account", &id.account),
        ("Account ID", &id.account_id),
        ("Account platform", &id.account_platform),
        ("Havana ID", &id.havana_id),
        ("Site (sp)", &id.sp),
        ("Locale", &id.locale),
        ("Country", &id.country),
    ]
    .into_iter()
    .filter_map(|(label, value)| value.clone().map(|value| Field { label, value }))
    .map(|field| match field.label {
        // Lazada's site code, by name: "Cross-border (cb)".
        "Country" => Field {
            value: format!("{} ({})", lazada_country_name(&field.value), field.value),
            ..field
        },
        _ => field,
    })
    .collect()
}

/// The seller's Lazada sites, one row each.
pub fn country_rows(id: &SellerIdentity) -> Vec<CountryRow> {
    id.country_user_info.iter().map(CountryRow::new).collect()
}

impl ResultPage {
    pub fn new(layout: Layout, app_name: Option<String>, token: &StoredToken, now_ms: i64) -> Self {
        use secrecy::ExposeSecret;
        let id = &token.identity;
        ResultPage {
            layout,
            platform_name: token.platform.display_name(),
            app_name,
            seller_name: id.display_name(),
            access_token: token.access_token.expose_secret().to_owned(),
            refresh_token: token
                .refresh_token
                .as_ref()
                .map(|t| t.expose_secret().to_owned()),
            access_expiry: token
                .access_expires_at
                .map(|at| ExpiryView::new(at, now_ms)),
            refresh_expiry: token
                .refresh_expires_at
                .map(|at| ExpiryView::new(at, now_ms)),
            refreshable: token.refreshable,
            identity: identity_fields(id),
            countries: country_rows(id),
            platform_request_id: token.last_request_id.clone(),
            updated_at: clock::format_utc(token.updated_at),
            needs_reauthorization: token.status == TokenStatus::Reauthorize,
            refresh_expiring: Health::of(token, now_ms) == Health::RefreshExpiring,
            failing: (Health::of(token, now_ms) == Health::Failing)
                .then(|| token.last_error.clone().unwrap_or_default()),
            unsaved: false,
        }
    }
}

/// Renders a view into an HTML response; a template error is ours, never the caller's.
pub fn render(
    view: &impl Template,
) -> Result<axum::response::Html<String>, crate::web::error::AppError> {
    view.render()
        .map(axum::response::Html)
        .map_err(|e| crate::web::error::AppError::Internal(format!("template: {e}")))
}

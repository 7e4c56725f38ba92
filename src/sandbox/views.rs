//! The sandbox's pages. They share the service's stylesheet and base template, not its
//! views: the sandbox stands for another party, the platform.

use askama::Template;
use axum::response::Html;

/// What the shared base template reads: the sandbox banner is always on.
#[derive(Clone, Copy)]
pub(super) struct Layout {
    pub(super) sandbox: bool,
}

pub(super) const LAYOUT: Layout = Layout { sandbox: true };

pub(super) struct SellerChoice {
    pub(super) key: &'static str,
    pub(super) label: &'static str,
}

#[derive(Template)]
#[template(path = "sandbox/consent.html")]
pub(super) struct ConsentPage {
    pub(super) layout: Layout,
    /// Where the form posts: `{prefix}/oauth/decide`.
    pub(super) decide_path: String,
    pub(super) platform_name: &'static str,
    pub(super) app_key: String,
    pub(super) redirect_uri: String,
    pub(super) state: String,
    pub(super) sellers: Vec<SellerChoice>,
}

#[derive(Template)]
#[template(path = "sandbox/problem.html")]
pub(super) struct SandboxProblem<'a> {
    pub(super) layout: Layout,
    pub(super) platform_name: &'static str,
    pub(super) eyebrow: &'a str,
    pub(super) heading: &'a str,
    pub(super) message: &'a str,
    pub(super) note: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "sandbox/home.html")]
pub(super) struct SandboxHome {
    pub(super) layout: Layout,
    pub(super) platform_name: &'static str,
    pub(super) app_key: String,
    pub(super) authorize_url: String,
    pub(super) api_url: String,
    pub(super) redirect_uri: String,
    pub(super) code_ttl: String,
    pub(super) access_ttl: String,
    pub(super) refresh_ttl: String,
    pub(super) secret_printed: bool,
    /// Where the revoke button posts: `{prefix}/revoke`.
    pub(super) revoke_path: String,
    /// Where the push buttons post (`{prefix}/push`), when there is a service to push to.
    pub(super) push_path: Option<String>,
    pub(super) sellers: Vec<SellerChoice>,
}

/// A page as HTML; a template error becomes the sandbox's error page (`SandboxError`).
pub(super) fn render(view: &impl Template) -> Result<Html<String>, askama::Error> {
    view.render().map(Html)
}

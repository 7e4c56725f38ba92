//! The sandbox's pages.

use askama::Template;

use crate::web::views::Layout;

pub struct SellerChoice {
    pub key: &'static str,
    pub label: &'static str,
}

#[derive(Template)]
#[template(path = "sandbox/consent.html")]
pub struct ConsentPage {
    pub layout: Layout,
    pub platform_name: &'static str,
    pub app_key: String,
    pub redirect_uri: String,
    pub state: String,
    pub sellers: Vec<SellerChoice>,
}

#[derive(Template)]
#[template(path = "sandbox/problem.html")]
pub struct SandboxProblem {
    pub layout: Layout,
    pub platform_name: &'static str,
    pub message: String,
}

#[derive(Template)]
#[template(path = "sandbox/home.html")]
pub struct SandboxHome {
    pub layout: Layout,
    pub platform_name: &'static str,
    pub app_key: String,
    pub authorize_url: String,
    pub api_url: String,
    pub redirect_uri: String,
    pub code_ttl: String,
    pub access_ttl: String,
    pub refresh_ttl: String,
}

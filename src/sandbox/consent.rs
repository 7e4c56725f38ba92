//! The sandbox's authorize page: checks the app's parameters like the platform, then lets
//! the person approve (a code goes back to the redirect_uri) or cancel.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::HeaderValue;
use axum::http::header::CONTENT_SECURITY_POLICY;
use axum::response::{IntoResponse, Redirect, Response};
use url::Url;

use super::Sandbox;
use super::error::SandboxError;
use super::sellers;
use super::views::{ConsentPage, LAYOUT, SellerChoice, render};
use crate::iop::Platform;
use crate::layers::CONTENT_SECURITY_POLICY as DEFAULT_CSP;

type Params = HashMap<String, String>;

fn param<'a>(params: &'a Params, name: &str) -> &'a str {
    params.get(name).map(String::as_str).unwrap_or_default()
}

/// What the platform checks before showing its consent page. A mismatch is shown on the
/// platform's own page: it never redirects to an unverified redirect_uri.
fn check_app(sandbox: &Sandbox, params: &Params, check_response_type: bool) -> Result<(), String> {
    let settings = &sandbox.settings;
    if check_response_type && param(params, "response_type") != "code" {
        return Err(format!(
            "response_type must be “code”, not “{}”.",
            param(params, "response_type")
        ));
    }
    if param(params, "client_id") != settings.app_key {
        return Err(format!(
            "client_id “{}” is not the sandbox app's key, “{}”.",
            param(params, "client_id"),
            settings.app_key
        ));
    }
    if param(params, "redirect_uri") != settings.redirect_uri {
        return Err(format!(
            "redirect_uri “{}” does not match the registered callback URL, “{}”, character for character.",
            param(params, "redirect_uri"),
            settings.redirect_uri
        ));
    }
    Ok(())
}

/// Shown on the sandbox's own page; the browser is never redirected.
fn refused(sandbox: &Sandbox, message: String) -> SandboxError {
    SandboxError::BadRequest {
        platform: sandbox.settings.platform,
        message,
    }
}

pub(super) async fn authorize(
    State(sandbox): State<Sandbox>,
    Query(params): Query<Params>,
) -> Result<Response, SandboxError> {
    check_app(&sandbox, &params, true).map_err(|m| refused(&sandbox, m))?;
    let settings = &sandbox.settings;
    let page = ConsentPage {
        layout: LAYOUT,
        decide_path: format!("{}/oauth/decide", settings.prefix),
        platform_name: settings.platform.display_name(),
        app_key: settings.app_key.clone(),
        redirect_uri: settings.redirect_uri.clone(),
        state: param(&params, "state").to_owned(),
        sellers: sellers::for_platform(settings.platform)
            .map(|s| SellerChoice {
                key: s.key,
                label: s.label,
            })
            .collect(),
    };
    let mut response = render(&page)?.into_response();
    // The form posts here and is then redirected to the app; browsers apply form-action to
    // that redirect too, so the app's origin must be allowed.
    if let Ok(value) = HeaderValue::from_str(&consent_csp(&settings.redirect_uri)) {
        response
            .headers_mut()
            .insert(CONTENT_SECURITY_POLICY, value);
    }
    Ok(response)
}

fn consent_csp(redirect_uri: &str) -> String {
    let origin = Url::parse(redirect_uri)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    DEFAULT_CSP.replace(
        "form-action 'self'",
        &format!("form-action 'self' {origin}"),
    )
}

pub(super) async fn decide(
    State(sandbox): State<Sandbox>,
    Form(params): Form<Params>,
) -> Result<Response, SandboxError> {
    // The form's hidden fields could be edited: check them again.
    check_app(&sandbox, &params, false).map_err(|m| refused(&sandbox, m))?;
    let settings = &sandbox.settings;
    // `check_app` compared it with the registered one, which the sandbox was started with.
    let mut target = Url::parse(&settings.redirect_uri).map_err(|e| {
        refused(
            &sandbox,
            format!("the registered redirect_uri is not a URL ({e})"),
        )
    })?;
    {
        let mut query = target.query_pairs_mut();
        if param(&params, "decision") == "approve" {
            let seller = sellers::find(settings.platform, param(&params, "seller"));
            let prefix = match settings.platform {
                Platform::Aliexpress => "3",
                Platform::Lazada => "0",
            };
            let now = sandbox.now_ms();
            let code = sandbox
                .grants()
                .issue_code(prefix, &settings.app_key, seller, now)
                .map_err(|_| SandboxError::Full {
                    platform: settings.platform,
                })?;
            query.append_pair("code", &code);
        } else {
            query.append_pair("error", "access_denied");
            query.append_pair(
                "error_description",
                "The seller cancelled the authorization",
            );
        }
        let state = param(&params, "state");
        if !state.is_empty() {
            query.append_pair("state", state);
        }
    }
    Ok(Redirect::to(target.as_str()).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consent_policy_allows_the_apps_origin_for_the_form_redirect() {
        let csp = consent_csp("https://auth.example.com:8443/callback");
        assert!(csp.contains("form-action 'self' https://auth.example.com:8443;"));
        assert!(csp.contains("default-src 'none'"));
    }
}

//! The sandbox's authorize page: checks the app's parameters like the platform, then lets
//! the person approve (a code goes back to the redirect_uri) or cancel.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::header::CONTENT_SECURITY_POLICY;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use url::Url;

use super::Sandbox;
use super::sellers;
use super::views::{ConsentPage, SandboxProblem, SellerChoice};
use crate::clock;
use crate::error::AppError;
use crate::web::middleware::CONTENT_SECURITY_POLICY as DEFAULT_CSP;
use crate::web::views::{Layout, render};

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
            "response_type must be `code`, not `{}`.",
            param(params, "response_type")
        ));
    }
    if param(params, "client_id") != settings.app_key {
        return Err(format!(
            "client_id `{}` is not the sandbox app's key (`{}`).",
            param(params, "client_id"),
            settings.app_key
        ));
    }
    if param(params, "redirect_uri") != settings.redirect_uri {
        return Err(format!(
            "redirect_uri `{}` does not match the registered callback URL `{}` character for character.",
            param(params, "redirect_uri"),
            settings.redirect_uri
        ));
    }
    Ok(())
}

fn problem(sandbox: &Sandbox, message: String) -> Result<Response, AppError> {
    let page = SandboxProblem {
        layout: Layout { sandbox: true },
        platform_name: sandbox.settings.platform.display_name(),
        message,
    };
    Ok((StatusCode::BAD_REQUEST, render(&page)?).into_response())
}

pub async fn authorize(
    State(sandbox): State<Sandbox>,
    Query(params): Query<Params>,
) -> Result<Response, AppError> {
    if let Err(message) = check_app(&sandbox, &params, true) {
        return problem(&sandbox, message);
    }
    let settings = &sandbox.settings;
    let page = ConsentPage {
        layout: Layout { sandbox: true },
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

pub async fn decide(
    State(sandbox): State<Sandbox>,
    Form(params): Form<Params>,
) -> Result<Response, AppError> {
    // The form's hidden fields could be edited: check them again.
    if let Err(message) = check_app(&sandbox, &params, false) {
        return problem(&sandbox, message);
    }
    let settings = &sandbox.settings;
    let mut target = Url::parse(&settings.redirect_uri)
        .map_err(|e| AppError::Internal(format!("redirect_uri: {e}")))?;
    {
        let mut query = target.query_pairs_mut();
        if param(&params, "decision") == "approve" {
            let seller = sellers::find(settings.platform, param(&params, "seller"));
            let prefix = match settings.platform {
                crate::iop::Platform::Aliexpress => "3",
                crate::iop::Platform::Lazada => "0",
            };
            let code = sandbox
                .grants()
                .issue_code(prefix, &settings.app_key, seller, clock::now_ms())
                .map_err(|_| AppError::TooManyFlows)?;
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

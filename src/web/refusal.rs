//! Refusals that an anonymous client can cause at any rate (the API off or without a key,
//! an unknown API route, a form without its CSRF token): each is counted by route and
//! reason (`middleware::count_request` reads the mark), and logged within one shared
//! budget, so a flood writes a bounded log whatever route it aims at.

use std::fmt::Display;

use axum::http::StatusCode;
use axum::response::Response;

use crate::log_budget::REFUSALS;

/// Left on a refused response for the request counter.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refused(pub(crate) &'static str);

/// Logs `error` within the refusal budget and marks `response` as refused for `reason`.
pub(crate) fn refuse(
    response: &mut Response,
    reason: &'static str,
    error: &dyn Display,
    status: StatusCode,
) {
    if REFUSALS.allow() {
        tracing::info!(error = %error, reason, status = status.as_u16(), "request refused");
    }
    response.extensions_mut().insert(Refused(reason));
}

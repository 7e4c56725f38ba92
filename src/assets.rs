//! `GET /static/...`: the stylesheet, the copy script and the icon, compiled into the binary
//! so that it runs from any directory and the container needs no asset folder.

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

use axum::http::StatusCode;

const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../static/app.css"),
    ),
    (
        "copy.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../static/copy.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("../static/favicon.svg"),
    ),
];

/// Shared by the service and the standalone sandbox. An unknown name is a plain 404:
/// each listener's own fallback decides how a missing page looks.
pub async fn asset(Path(name): Path<String>) -> Result<Response, StatusCode> {
    let (_, content_type, body) = ASSETS
        .iter()
        .find(|(file, _, _)| *file == name)
        .ok_or(StatusCode::NOT_FOUND)?;
    Ok((
        [
            (CONTENT_TYPE, *content_type),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        *body,
    )
        .into_response())
}

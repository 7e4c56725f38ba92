//! `GET /healthz`: the process answers. No data, so it is safe to expose.

use axum::http::StatusCode;

pub async fn healthz() -> StatusCode {
    StatusCode::OK
}

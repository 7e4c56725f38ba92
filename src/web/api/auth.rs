//! `Authorization: Bearer <key>`, checked in constant time against every configured key.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;

/// The keys' SHA-256 digests: comparing digests takes the same time whatever the
/// presented key's length, and the process keeps no second copy of the keys.
#[derive(Clone)]
pub(super) struct Keys(Arc<Vec<[u8; 32]>>);

impl Keys {
    pub(super) fn new(keys: &[SecretString]) -> Self {
        Keys(Arc::new(
            keys.iter()
                .map(|k| Sha256::digest(k.expose_secret().as_bytes()).into())
                .collect(),
        ))
    }

    fn accepts(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        // Every key is compared, so the time does not say which one matched.
        self.0
            .iter()
            .fold(subtle::Choice::from(0), |any, key| any | key.ct_eq(&digest))
            .into()
    }
}

pub(super) async fn require_key(
    State(keys): State<Keys>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(key) if keys.accepts(key) => next.run(request).await,
        Some(_) => ApiError::Unauthorized("the API key is not valid").into_response(),
        None => ApiError::Unauthorized("send `Authorization: Bearer <key>`").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_configured_key_is_accepted() {
        let keys = Keys::new(&["a".repeat(32).into(), "b".repeat(32).into()]);
        assert!(keys.accepts(&"a".repeat(32)));
        assert!(keys.accepts(&"b".repeat(32)));
        assert!(!keys.accepts(&"a".repeat(31)));
        assert!(!keys.accepts(""));
    }
}

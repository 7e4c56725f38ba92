//! `Authorization: Bearer <key>`, checked in constant time against every configured key;
//! the matching key's grants travel with the request, and each door checks its own.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use super::error::ApiError;
use crate::config::{ApiKey, Grant, Grants};

/// The keys' SHA-256 digests and grants: comparing digests takes the same time whatever the
/// presented key's length, and the process keeps no second copy of the keys.
#[derive(Clone)]
pub(super) struct Keys(Arc<Vec<([u8; 32], Grants)>>);

impl Keys {
    pub(super) fn new(keys: &[ApiKey]) -> Self {
        Keys(Arc::new(
            keys.iter()
                .map(|k| {
                    let digest = Sha256::digest(k.secret.expose_secret().as_bytes()).into();
                    (digest, k.grants.clone())
                })
                .collect(),
        ))
    }

    /// The grants of the key presented, if it is one.
    fn grants_of(&self, presented: &str) -> Option<Grants> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        // Every key is compared, so the time does not say which one matched.
        let mut found = u32::MAX;
        for (index, (key, _)) in self.0.iter().enumerate() {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            found.conditional_assign(&index, key.ct_eq(&digest));
        }
        self.0
            .get(usize::try_from(found).ok()?)
            .map(|(_, grants)| grants.clone())
    }
}

/// Lets a request with a valid key through, its grants attached.
pub(super) async fn require_key(
    State(keys): State<Keys>,
    mut request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let grants = match presented {
        None => {
            return ApiError::Unauthorized("send `Authorization: Bearer <key>`").into_response();
        }
        Some(key) => keys.grants_of(key),
    };
    match grants {
        Some(grants) => {
            request.extensions_mut().insert(grants);
            next.run(request).await
        }
        None => ApiError::Unauthorized("the API key is not valid").into_response(),
    }
}

/// Lets a request through when its key has `grant` (a route group's layer).
pub(super) async fn require_grant(
    State(grant): State<Grant>,
    request: Request,
    next: Next,
) -> Response {
    let granted = request
        .extensions()
        .get::<Grants>()
        .is_some_and(|grants| grants.allows(grant));
    if granted {
        next.run(request).await
    } else {
        ApiError::Forbidden(grant.as_str().to_owned()).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::AppId;

    fn key(secret: String, grants: Grants) -> ApiKey {
        ApiKey {
            secret: secret.into(),
            grants,
        }
    }

    #[test]
    fn only_a_configured_key_is_accepted_with_its_own_grants() {
        let proxy_only = Grants {
            tokens: false,
            proxy: true,
            events: false,
            apps: vec![AppId::implicit()],
        };
        let keys = Keys::new(&[
            key("a".repeat(32), Grants::everything()),
            key("b".repeat(32), proxy_only.clone()),
        ]);
        assert_eq!(keys.grants_of(&"a".repeat(32)), Some(Grants::everything()));
        assert_eq!(keys.grants_of(&"b".repeat(32)), Some(proxy_only));
        assert_eq!(keys.grants_of(&"a".repeat(31)), None);
        assert_eq!(keys.grants_of(""), None);
    }
}

//! `Authorization: Bearer <key>`, checked in constant time against every configured key;
//! each door (a group of routes) lets through the keys with its grant, and the key's grants
//! travel with the request.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::header::AUTHORIZATION;
use axum::response::{IntoResponse, Response};
use futures_util::future::{Either, Ready, ready};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};
use tower::{Layer, Service};

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

/// A door of the API: the keys, and the grant its routes need.
#[derive(Clone)]
pub(super) struct Door {
    keys: Keys,
    grant: Grant,
}

impl Door {
    pub(super) fn new(keys: &Keys, grant: Grant) -> Self {
        Door {
            keys: keys.clone(),
            grant,
        }
    }

    /// The grants of the key `request` carries, if it may pass.
    fn admit(&self, request: &Request) -> Result<Grants, ApiError> {
        let presented = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(ApiError::Unauthorized("send `Authorization: Bearer <key>`"))?;
        let grants = self
            .keys
            .grants_of(presented)
            .ok_or(ApiError::Unauthorized("the API key is not valid"))?;
        if !grants.allows(self.grant) {
            return Err(ApiError::Forbidden(self.grant.as_str().to_owned()));
        }
        Ok(grants)
    }
}

/// A door is a layer on its routes: a request goes through when it carries a valid key
/// (else 401) that has the door's grant (else 403), with the key's grants attached for the
/// doors that look further (`app:`). Written out rather than `from_fn`, which boxes the
/// rest of the route and its future again on every request: every proxied call passes here.
impl<S> Layer<S> for Door {
    type Service = Guarded<S>;

    fn layer(&self, inner: S) -> Guarded<S> {
        Guarded {
            door: self.clone(),
            inner,
        }
    }
}

/// The routes behind a door.
#[derive(Clone)]
pub(super) struct Guarded<S> {
    door: Door,
    inner: S,
}

impl<S> Service<Request> for Guarded<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        match self.door.admit(&request) {
            Ok(grants) => {
                request.extensions_mut().insert(grants);
                Either::Right(self.inner.call(request))
            }
            Err(refused) => Either::Left(ready(Ok(refused.into_response()))),
        }
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

//! A proxied call as a caller asked for it, and the checks that need no platform: its
//! parameters and its Lazada country.

use crate::apps::AppId;
use crate::iop::Platform;
use crate::iop::business::BusinessApi;
use crate::iop::multipart::FilePart;
use crate::iop::platform::{LAZADA_SITES, lazada_country_name};
use crate::tokens::StoredToken;

use super::ProxyError;

/// One business call a caller asked for.
#[derive(Debug, Clone)]
pub struct ProxyRequest {
    /// A seller id or user id, as the token API takes it.
    pub seller: String,
    /// The app, when the seller id is known under several.
    pub app: Option<AppId>,
    /// The Lazada country (`IOP-Country`, `--country`).
    pub country: Option<String>,
    /// The API as named (`orders/get`, `aliexpress.solution.product.list.get`).
    pub api: String,
    pub post: bool,
    /// The business parameters, values as sent.
    pub params: Vec<(String, String)>,
    pub files: Vec<FilePart>,
}

impl ProxyRequest {
    /// Refuses what the service sets itself, empty values (the SDKs disagree on how to sign
    /// them) and names sent twice (the signature has no order for them).
    pub(super) fn check_parameters(&self, api: &BusinessApi) -> Result<(), ProxyError> {
        let mut seen = std::collections::HashSet::new();
        let names = self
            .params
            .iter()
            .map(|(name, value)| (name.as_str(), Some(value.as_str())))
            .chain(self.files.iter().map(|file| (file.name.as_str(), None)));
        for (name, value) in names {
            if name.is_empty() {
                return Err(ProxyError::BadRequest("a parameter has no name".into()));
            }
            if let Some(why) = api.refuses_parameter(name) {
                return Err(ProxyError::BadRequest(why));
            }
            if value == Some("") {
                return Err(ProxyError::BadRequest(format!(
                    "`{name}` is empty: leave it out (the platform's signers disagree on empty values)"
                )));
            }
            if !seen.insert(name) {
                return Err(ProxyError::BadRequest(format!("`{name}` is sent twice")));
            }
        }
        Ok(())
    }

    /// The Lazada country the call goes to: the one asked for, which must be one of the
    /// seller's, else the token's own. A cross-border seller must say which. AliExpress has
    /// one gateway: no country.
    pub(super) fn country_for(
        &self,
        token: &StoredToken,
        platform: Platform,
    ) -> Result<Option<String>, ProxyError> {
        let asked = self.country.as_deref().map(str::to_ascii_lowercase);
        if platform != Platform::Lazada {
            return match asked {
                Some(_) => Err(ProxyError::BadRequest(
                    "IOP-Country is for Lazada sellers; AliExpress has one gateway".into(),
                )),
                None => Ok(None),
            };
        }
        let identity = &token.identity;
        let mut countries: Vec<String> = identity
            .country_user_info
            .iter()
            .filter_map(|c| c.country.clone())
            .chain(identity.country.clone())
            .map(|c| c.to_ascii_lowercase())
            .filter(|c| LAZADA_SITES.contains(&c.as_str()))
            .collect();
        countries.sort();
        countries.dedup();
        let listed = || {
            countries
                .iter()
                .map(|c| format!("{c} ({})", lazada_country_name(c)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match asked {
            Some(country) if countries.contains(&country) => Ok(Some(country)),
            Some(country) => Err(ProxyError::BadRequest(format!(
                "this seller does not sell in `{country}`; its countries: {}",
                listed()
            ))),
            None => match identity.country.as_deref().map(str::to_ascii_lowercase) {
                Some(own) if LAZADA_SITES.contains(&own.as_str()) => Ok(Some(own)),
                _ => Err(ProxyError::BadRequest(format!(
                    "a cross-border seller: say which country with IOP-Country; its countries: {}",
                    listed()
                ))),
            },
        }
    }
}

//! Where an app's business calls go (the signing proxy, protocol section 7): a root per
//! Lazada country, one root for every country, or the platform's own.

use std::collections::BTreeMap;

use url::Url;

use crate::iop::Platform;

/// An app's business gateway roots, without `/rest` or `/sync`. Unset, the platform's own.
#[derive(Debug, Clone, Default)]
pub struct Gateways {
    /// One root for every country (`business_api_url`, IOP_BUSINESS_API_URL).
    pub any: Option<Url>,
    /// Roots by Lazada country (`[apps.NAME.business_api_urls]`), which win.
    pub by_country: BTreeMap<String, Url>,
}

impl Gateways {
    /// The root a call for `country` (Lazada) goes to, if any is known.
    pub fn root(&self, platform: Platform, country: Option<&str>) -> Option<Url> {
        if let Some(url) = country.and_then(|c| self.by_country.get(c)) {
            return Some(url.clone());
        }
        if let Some(url) = &self.any {
            return Some(url.clone());
        }
        platform
            .business_root(country)
            .and_then(|raw| Url::parse(raw).ok())
    }

    /// Every root configured, for the transport check.
    pub fn configured(&self) -> impl Iterator<Item = &Url> {
        self.any.iter().chain(self.by_country.values())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_country_s_root_wins_over_the_app_s_which_wins_over_the_platform_s() {
        let mut gateways = Gateways::default();
        let root =
            |g: &Gateways, platform, country| g.root(platform, country).map(|u| u.to_string());
        assert_eq!(
            root(&gateways, Platform::Lazada, Some("th")).as_deref(),
            Some("https://api.lazada.co.th/")
        );
        assert_eq!(root(&gateways, Platform::Lazada, Some("cb")), None);
        assert_eq!(
            root(&gateways, Platform::Aliexpress, None).as_deref(),
            Some("https://api-sg.aliexpress.com/")
        );
        gateways.any = Some(Url::parse("http://127.0.0.1:9/any").unwrap());
        gateways
            .by_country
            .insert("th".into(), Url::parse("http://127.0.0.1:9/th").unwrap());
        assert_eq!(
            root(&gateways, Platform::Lazada, Some("th")).as_deref(),
            Some("http://127.0.0.1:9/th")
        );
        assert_eq!(
            root(&gateways, Platform::Lazada, Some("sg")).as_deref(),
            Some("http://127.0.0.1:9/any")
        );
    }
}

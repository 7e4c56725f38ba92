//! Where events are delivered (IOP_WEBHOOK_URLS for every app, `webhook_urls` per app in
//! the apps file) and the secret they are signed with (IOP_WEBHOOK_SECRET or _FILE), in
//! the Standard Webhooks form `whsec_` + base64 of the key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use url::Url;

use super::{ConfigError, Settings, bad, parse_url_for, secret_setting};

/// The prefix of a Standard Webhooks secret.
const PREFIX: &str = "whsec_";

/// The signing key of outbound webhooks: its bytes, never shown.
pub struct WebhookSecret(SecretBox<[u8]>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

impl Clone for WebhookSecret {
    fn clone(&self) -> Self {
        WebhookSecret(SecretBox::new(self.0.expose_secret().into()))
    }
}

impl WebhookSecret {
    /// `whsec_` + base64 of 24 to 64 bytes, as the specification's libraries take it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let encoded = text.trim().strip_prefix(PREFIX).ok_or_else(|| {
            format!(
                "must start with `{PREFIX}` (make one with `iop-callback webhooks generate-secret`)"
            )
        })?;
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| format!("must be `{PREFIX}` followed by base64"))?;
        if !(24..=64).contains(&key.len()) {
            return Err(format!(
                "must hold 24 to 64 bytes, not {} (make one with `iop-callback webhooks generate-secret`)",
                key.len()
            ));
        }
        Ok(WebhookSecret(SecretBox::new(key.into_boxed_slice())))
    }

    pub fn key(&self) -> &[u8] {
        self.0.expose_secret()
    }

    /// A new secret of 32 random bytes, in the form `parse` takes.
    pub fn generate() -> SecretString {
        let key: [u8; 32] = rand::random();
        format!("{PREFIX}{}", STANDARD.encode(key)).into()
    }
}

/// Outbound webhooks as configured.
#[derive(Debug, Clone, Default)]
pub struct Webhooks {
    /// Endpoints that receive every app's events.
    pub everywhere: Vec<Url>,
    /// Set whenever any endpoint is (checked at startup).
    pub secret: Option<WebhookSecret>,
}

/// IOP_WEBHOOK_URLS and the secret. `per_app` says whether an apps file named endpoints
/// of its own, which need the secret too.
pub(super) fn read(settings: &Settings, per_app: bool) -> Result<Webhooks, ConfigError> {
    let everywhere = endpoints(
        settings
            .webhook_urls
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .filter(|raw| !raw.trim().is_empty()),
    )
    .map_err(|problem| bad("IOP_WEBHOOK_URLS", problem))?;
    let value = ("IOP_WEBHOOK_SECRET", settings.webhook_secret.as_ref());
    let file = (
        "IOP_WEBHOOK_SECRET_FILE",
        settings.webhook_secret_file.as_deref(),
    );
    let variable = if file.1.is_some() { file.0 } else { value.0 };
    let secret = secret_setting(value, file)?
        .map(|text| WebhookSecret::parse(text.expose_secret()).map_err(|e| bad(variable, e)))
        .transpose()?;
    if secret.is_none() && (!everywhere.is_empty() || per_app) {
        return Err(bad(
            "IOP_WEBHOOK_SECRET",
            "is required when webhook URLs are set: events are always signed (make one with \
             `iop-callback webhooks generate-secret`)",
        ));
    }
    Ok(Webhooks { everywhere, secret })
}

/// Webhook endpoints: absolute http(s) URLs, each once.
pub(super) fn endpoints<'a>(raw: impl IntoIterator<Item = &'a str>) -> Result<Vec<Url>, String> {
    let mut urls: Vec<Url> = Vec::new();
    for raw in raw {
        let url = parse_url_for(raw.trim())?;
        if !urls.contains(&url) {
            urls.push(url);
        }
    }
    Ok(urls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_secret_parses_back_and_others_are_refused_with_the_way_out() {
        let secret = WebhookSecret::generate();
        let parsed = WebhookSecret::parse(secret.expose_secret()).unwrap();
        assert_eq!(parsed.key().len(), 32);
        assert!(!format!("{parsed:?}").contains(&secret.expose_secret()[6..]));
        for bad in ["abc", "whsec_###", "whsec_c2hvcnQ="] {
            let problem = WebhookSecret::parse(bad).unwrap_err();
            assert!(!problem.is_empty(), "{bad}");
        }
        assert!(
            WebhookSecret::parse("secret")
                .unwrap_err()
                .contains("generate-secret")
        );
    }

    #[test]
    fn endpoints_are_absolute_urls_each_kept_once() {
        let urls = endpoints([
            "https://a.example/hook",
            " https://a.example/hook",
            "http://b:8080/x",
        ])
        .unwrap();
        assert_eq!(urls.len(), 2);
        assert!(endpoints(["ftp://a/"]).is_err());
        assert!(endpoints(["/relative"]).is_err());
    }
}

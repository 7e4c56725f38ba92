//! `IOP_APPS_FILE`: several apps in one deployment, one TOML table each.
//!
//! ```toml
//! [apps.ae-prod]
//! platform = "aliexpress"                     # or "lazada"
//! app_key = "500123"
//! app_secret_file = "/run/secrets/ae_prod"    # or app_secret = "..."
//! # authorize_url = "...", api_url = "..."    overrides (Daraz, Miravia, a stand-in)
//! # countries = ["sg", "th"]                  Lazada: the `country` a seller may pick
//! ```
//!
//! Any app's key and secret can also come from the environment, for orchestrator secrets:
//! `IOP_APP_<NAME>_KEY`, `IOP_APP_<NAME>_SECRET` or `IOP_APP_<NAME>_SECRET_FILE`, where
//! `<NAME>` is the app's name in upper case with `-` as `_` (`ae-prod`: `IOP_APP_AE_PROD_SECRET`).
//! The environment wins over the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;

use super::{AppConfig, ConfigError, Gateways, parse_base_url_for, parse_url_for};
use crate::apps::AppId;
use crate::iop::Platform;
use crate::iop::platform::LAZADA_SITES;

const VARIABLE: &str = "IOP_APPS_FILE";

/// Lazada's sites, and `cb` for cross-border sellers.
pub const LAZADA_COUNTRIES: [&str; 7] = ["sg", "my", "th", "vn", "ph", "id", "cb"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppsFile {
    apps: BTreeMap<String, Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    platform: String,
    app_key: Option<String>,
    app_secret: Option<String>,
    app_secret_file: Option<PathBuf>,
    authorize_url: Option<String>,
    api_url: Option<String>,
    business_api_url: Option<String>,
    #[serde(default)]
    business_api_urls: BTreeMap<String, String>,
    #[serde(default)]
    countries: Vec<String>,
    #[serde(default)]
    webhook_urls: Vec<String>,
}

fn problem(message: impl Into<String>) -> ConfigError {
    ConfigError {
        variable: VARIABLE,
        problem: message.into(),
    }
}

/// Reads and checks the apps file at `path`; `env` reads a variable (the process's
/// environment, or a test's).
pub(super) fn load(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<AppConfig>, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| problem(format!("cannot read {}: {e}", path.display())))?;
    parse(&text, env).map_err(|e| ConfigError {
        variable: VARIABLE,
        problem: format!("{}: {}", path.display(), e.problem),
    })
}

pub(super) fn parse(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<AppConfig>, ConfigError> {
    let file: AppsFile = toml::from_str(text).map_err(|e| problem(e.to_string()))?;
    if file.apps.is_empty() {
        return Err(problem("defines no app: add an [apps.<name>] table"));
    }
    file.apps
        .into_iter()
        .map(|(name, entry)| app(&name, entry, env))
        .collect()
}

fn app(
    name: &str,
    entry: Entry,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<AppConfig, ConfigError> {
    let field = |field: &str, message: String| problem(format!("app `{name}`, {field}: {message}"));
    let id = AppId::parse(name).map_err(|e| problem(format!("app name: {e}")))?;
    let prefix = format!("IOP_APP_{}", name.to_ascii_uppercase().replace('-', "_"));
    let platform = match entry.platform.as_str() {
        "aliexpress" => Platform::Aliexpress,
        "lazada" => Platform::Lazada,
        other => {
            return Err(field(
                "platform",
                format!("`{other}` is not `aliexpress` or `lazada`"),
            ));
        }
    };
    let app_key = env(&format!("{prefix}_KEY"))
        .or(entry.app_key)
        .map(|k| k.trim().to_owned())
        .filter(|k| !k.is_empty())
        .ok_or_else(|| field("app_key", format!("is required (or {prefix}_KEY)")))?;
    let secret_file = env(&format!("{prefix}_SECRET_FILE"))
        .map(PathBuf::from)
        .or(entry.app_secret_file);
    let app_secret = match (
        env(&format!("{prefix}_SECRET")).or(entry.app_secret),
        secret_file,
    ) {
        (Some(secret), _) => secret,
        (None, Some(path)) => std::fs::read_to_string(&path).map_err(|e| {
            field(
                "app_secret_file",
                format!("cannot read {}: {e}", path.display()),
            )
        })?,
        (None, None) => {
            return Err(field(
                "app_secret",
                format!("is required (app_secret, app_secret_file, or {prefix}_SECRET)"),
            ));
        }
    };
    let app_secret = app_secret.trim().to_owned();
    if app_secret.is_empty() {
        return Err(field("app_secret", "is empty".into()));
    }
    let authorize_url = parse_url_for(
        entry
            .authorize_url
            .as_deref()
            .unwrap_or(platform.authorize_url()),
    )
    .map_err(|e| field("authorize_url", e))?;
    let api_url = parse_base_url_for(entry.api_url.as_deref().unwrap_or(platform.api_url()))
        .map_err(|e| field("api_url", e))?;
    if !entry.countries.is_empty() && platform != Platform::Lazada {
        return Err(field(
            "countries",
            "only Lazada apps choose a country".into(),
        ));
    }
    let mut countries = Vec::new();
    for country in entry.countries {
        let country = country.trim().to_ascii_lowercase();
        if !LAZADA_COUNTRIES.contains(&country.as_str()) {
            return Err(field(
                "countries",
                format!("`{country}` is not one of {}", LAZADA_COUNTRIES.join(", ")),
            ));
        }
        if !countries.contains(&country) {
            countries.push(country);
        }
    }
    let gateways = gateways(
        platform,
        entry.business_api_url.as_deref(),
        entry.business_api_urls,
        &field,
    )?;
    let webhook_urls = super::webhooks::endpoints(entry.webhook_urls.iter().map(String::as_str))
        .map_err(|e| field("webhook_urls", e))?;
    Ok(AppConfig {
        id,
        platform,
        authorize_url,
        api_url,
        app_key,
        app_secret: SecretString::from(app_secret),
        countries,
        gateways,
        webhook_urls,
        named: true,
    })
}

/// `business_api_url` (every country) and `[apps.NAME.business_api_urls]` (by Lazada
/// country, which win).
fn gateways(
    platform: Platform,
    any: Option<&str>,
    by_country: BTreeMap<String, String>,
    field: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Gateways, ConfigError> {
    let any = any
        .map(parse_base_url_for)
        .transpose()
        .map_err(|e| field("business_api_url", e))?;
    if !by_country.is_empty() && platform != Platform::Lazada {
        return Err(field(
            "business_api_urls",
            "only Lazada apps have a gateway per country; use business_api_url".into(),
        ));
    }
    let mut roots = BTreeMap::new();
    for (country, raw) in by_country {
        let country = country.trim().to_ascii_lowercase();
        if !LAZADA_SITES.contains(&country.as_str()) {
            return Err(field(
                "business_api_urls",
                format!("`{country}` is not a Lazada country (sg, my, th, vn, ph, id)"),
            ));
        }
        let url = parse_base_url_for(&raw).map_err(|e| field("business_api_urls", e))?;
        roots.insert(country, url);
    }
    Ok(Gateways {
        any,
        by_country: roots,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    const TWO_APPS: &str = r#"
        [apps.ae-prod]
        platform = "aliexpress"
        app_key = "500123"
        app_secret = "ae-secret"

        [apps.lzd-prod]
        platform = "lazada"
        app_key = "100200"
        app_secret = "lzd-secret"
        api_url = "https://api.lazada.test/rest/"
        countries = ["sg", "TH"]
    "#;

    #[test]
    fn every_app_gets_its_platform_credentials_and_urls() {
        let apps = parse(TWO_APPS, &no_env).unwrap();
        assert_eq!(apps.len(), 2);
        let (ae, lzd) = (&apps[0], &apps[1]);
        assert_eq!(ae.id.as_str(), "ae-prod");
        assert_eq!(ae.platform, Platform::Aliexpress);
        assert_eq!(ae.api_url.as_str(), Platform::Aliexpress.api_url());
        assert_eq!(lzd.api_url.as_str(), "https://api.lazada.test/rest");
        assert_eq!(lzd.countries, ["sg", "th"]);
        assert_eq!(lzd.app_secret.expose_secret(), "lzd-secret");
        assert_eq!(ae.callback_path(), "/callback/ae-prod");
    }

    #[test]
    fn the_environment_supplies_or_overrides_keys_and_secrets() {
        let text = "[apps.ae-prod]\nplatform = \"aliexpress\"\n";
        let env = |name: &str| match name {
            "IOP_APP_AE_PROD_KEY" => Some("777".to_owned()),
            "IOP_APP_AE_PROD_SECRET" => Some("from-env".to_owned()),
            _ => None,
        };
        let apps = parse(text, &env).unwrap();
        assert_eq!(apps[0].app_key, "777");
        assert_eq!(apps[0].app_secret.expose_secret(), "from-env");
    }

    #[test]
    fn each_mistake_names_the_app_and_the_field() {
        let cases = [
            (
                "[apps.x]\nplatform = \"ebay\"\napp_key=\"1\"\napp_secret=\"s\"",
                "app `x`, platform",
            ),
            (
                "[apps.x]\nplatform = \"lazada\"\napp_secret=\"s\"",
                "app `x`, app_key",
            ),
            (
                "[apps.x]\nplatform = \"lazada\"\napp_key=\"1\"",
                "app `x`, app_secret",
            ),
            (
                "[apps.x]\nplatform = \"lazada\"\napp_key=\"1\"\napp_secret=\"s\"\ncountries=[\"uk\"]",
                "app `x`, countries",
            ),
            (
                "[apps.x]\nplatform = \"aliexpress\"\napp_key=\"1\"\napp_secret=\"s\"\ncountries=[\"sg\"]",
                "app `x`, countries",
            ),
            (
                "[apps.x]\nplatform = \"lazada\"\napp_key=\"1\"\napp_secret=\"s\"\napi_url=\"nope\"",
                "app `x`, api_url",
            ),
            ("[apps.Bad_Name]\nplatform = \"lazada\"", "app name"),
            (
                "[apps.x]\nplatform = \"lazada\"\nsecret = \"typo\"",
                "unknown field",
            ),
            ("[apps]\n", "defines no app"),
            ("apps = 3", "invalid type"),
        ];
        for (text, expected) in cases {
            let error = parse(text, &no_env).unwrap_err();
            assert_eq!(error.variable, VARIABLE);
            assert!(
                error.problem.contains(expected),
                "{text:?}: `{}` should say {expected:?}",
                error.problem
            );
        }
    }
}

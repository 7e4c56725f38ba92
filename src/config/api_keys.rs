//! The token API's keys and what each may do: IOP_API_KEYS (comma-separated, every grant)
//! or IOP_API_KEYS_FILE (a key per line, optionally followed by its grants; `#` comments).
//!
//! ```text
//! 3f1c…e9   tokens proxy          # both, every app
//! 9a0b…41   proxy app:shop-sg     # calls APIs for shop-sg's sellers; never reads a token
//! 77de…02                         # no grants named: everything, as before grants existed
//! ```

use secrecy::{ExposeSecret, SecretString};

use super::{AppConfig, ConfigError, Settings, bad};
use crate::apps::AppId;

/// API keys are compared in constant time, but a short one could still be guessed.
const MIN_API_KEY_LEN: usize = 32;

/// What a key may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// The token API: sellers, their access tokens, refreshing and forgetting them.
    Tokens,
    /// The signing proxy: calls on a seller's behalf, never a token value.
    Proxy,
    /// Events: pushes received and lifecycle events, their deliveries, sending them again.
    Events,
}

impl Grant {
    pub fn as_str(self) -> &'static str {
        match self {
            Grant::Tokens => "tokens",
            Grant::Proxy => "proxy",
            Grant::Events => "events",
        }
    }
}

/// A key's grants: which doors, and which apps' sellers (none named: every app).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grants {
    pub tokens: bool,
    pub proxy: bool,
    pub events: bool,
    pub apps: Vec<AppId>,
}

impl Grants {
    pub fn everything() -> Self {
        Grants {
            tokens: true,
            proxy: true,
            events: true,
            apps: Vec::new(),
        }
    }

    pub fn allows(&self, grant: Grant) -> bool {
        match grant {
            Grant::Tokens => self.tokens,
            Grant::Proxy => self.proxy,
            Grant::Events => self.events,
        }
    }

    /// Whether this key reaches the sellers of `app`.
    pub fn reaches(&self, app: &AppId) -> bool {
        self.apps.is_empty() || self.apps.contains(app)
    }
}

/// A key (kept secret: `Debug` shows no value) and its grants.
#[derive(Debug, Clone)]
pub struct ApiKey {
    pub secret: SecretString,
    pub grants: Grants,
}

/// Reads the keys; an `app:NAME` grant must name a configured app.
pub(super) fn read(settings: &Settings, apps: &[AppConfig]) -> Result<Vec<ApiKey>, ConfigError> {
    let (variable, keys) = match (&settings.api_keys, &settings.api_keys_file) {
        (Some(_), Some(_)) => {
            return Err(bad(
                "IOP_API_KEYS_FILE",
                "set either IOP_API_KEYS or IOP_API_KEYS_FILE, not both",
            ));
        }
        (Some(keys), None) => (
            "IOP_API_KEYS",
            keys.expose_secret()
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(|k| ApiKey {
                    secret: k.to_owned().into(),
                    grants: Grants::everything(),
                })
                .collect(),
        ),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                bad(
                    "IOP_API_KEYS_FILE",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            let mut keys = Vec::new();
            for (number, line) in text.lines().enumerate() {
                let line = line.split('#').next().unwrap_or_default().trim();
                if line.is_empty() {
                    continue;
                }
                keys.push(parse_line(line, apps).map_err(|problem| {
                    bad(
                        "IOP_API_KEYS_FILE",
                        format!("line {}: {problem}", number + 1),
                    )
                })?);
            }
            ("IOP_API_KEYS_FILE", keys)
        }
        (None, None) => return Ok(Vec::new()),
    };
    if keys.is_empty() {
        return Err(bad(variable, "holds no key"));
    }
    if let Some(position) = keys
        .iter()
        .position(|k| k.secret.expose_secret().len() < MIN_API_KEY_LEN)
    {
        return Err(bad(
            variable,
            format!(
                "key {} is shorter than {MIN_API_KEY_LEN} characters (make one with `openssl rand -hex 32`)",
                position + 1
            ),
        ));
    }
    Ok(keys)
}

/// `KEY [tokens] [proxy] [events] [app:NAME]...`; no grant named is every grant.
fn parse_line(line: &str, apps: &[AppConfig]) -> Result<ApiKey, String> {
    let mut words = line.split_whitespace();
    let secret = words.next().unwrap_or_default().to_owned();
    let words: Vec<&str> = words.collect();
    if words.is_empty() {
        return Ok(ApiKey {
            secret: secret.into(),
            grants: Grants::everything(),
        });
    }
    let mut grants = Grants {
        tokens: false,
        proxy: false,
        events: false,
        apps: Vec::new(),
    };
    for word in words {
        match word {
            "tokens" => grants.tokens = true,
            "proxy" => grants.proxy = true,
            "events" => grants.events = true,
            _ => {
                let Some(name) = word.strip_prefix("app:") else {
                    return Err(format!(
                        "`{word}` is not a grant (tokens, proxy, events, app:NAME)"
                    ));
                };
                let app = apps
                    .iter()
                    .find(|a| a.id.as_str() == name)
                    .ok_or_else(|| format!("`{word}`: no app is named `{name}`"))?;
                grants.apps.push(app.id.clone());
            }
        }
    }
    if !grants.tokens && !grants.proxy && !grants.events {
        // Only apps named: every door, for those apps.
        grants.tokens = true;
        grants.proxy = true;
        grants.events = true;
    }
    Ok(ApiKey {
        secret: secret.into(),
        grants,
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::config::Config;

    fn config(extra: &[&str]) -> Result<Config, ConfigError> {
        let base = ["iop-callback", "--app-key", "1", "--app-secret", "s"];
        let cli = crate::cli::Cli::try_parse_from([&base[..], extra].concat()).unwrap();
        Config::from_settings(&cli.service.settings())
    }

    #[test]
    fn api_keys_come_from_a_list_or_a_file_with_comments() {
        let long = "k".repeat(32);
        let other = "z".repeat(40);
        let listed = format!("{long}, {other}");
        let c = config(&["--api-keys", &listed]).unwrap();
        assert_eq!(c.api_keys.len(), 2);
        assert_eq!(c.api_keys[1].secret.expose_secret(), other);
        assert_eq!(c.api_keys[1].grants, Grants::everything());
        assert!(!format!("{c:?}").contains(&long), "keys never in Debug");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        std::fs::write(
            &path,
            format!("# ops team\n\n{long}\n  {other}  # billing\n"),
        )
        .unwrap();
        let file = path.to_str().unwrap();
        let c = config(&["--api-keys-file", file]).unwrap();
        assert_eq!(c.api_keys.len(), 2);
        std::fs::write(&path, "# nothing\nshort\n").unwrap();
        let error = config(&["--api-keys-file", file]).unwrap_err();
        assert_eq!(error.variable, "IOP_API_KEYS_FILE");
        assert!(error.problem.contains("shorter than 32"), "{error}");

        assert!(config(&[]).unwrap().api_keys.is_empty());
    }

    #[test]
    fn a_line_may_name_its_grants_and_apps_that_exist() {
        let key = "k".repeat(32);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        let file = path.to_str().unwrap();
        std::fs::write(&path, format!("{key} proxy app:default\n")).unwrap();
        let c = config(&["--api-keys-file", file]).unwrap();
        let grants = &c.api_keys[0].grants;
        assert!(grants.proxy && !grants.tokens);
        assert!(grants.reaches(&AppId::implicit()));

        std::fs::write(&path, format!("{key} app:default\n")).unwrap();
        let grants = config(&["--api-keys-file", file]).unwrap().api_keys[0]
            .grants
            .clone();
        assert!(grants.tokens && grants.proxy, "apps alone: both doors");

        std::fs::write(&path, format!("\n{key} proxy app:nope\n")).unwrap();
        let error = config(&["--api-keys-file", file]).unwrap_err();
        assert!(
            error.problem.contains("line 2") && error.problem.contains("no app is named `nope`"),
            "{error}"
        );
        std::fs::write(&path, format!("{key} read\n")).unwrap();
        let error = config(&["--api-keys-file", file]).unwrap_err();
        assert!(error.problem.contains("`read` is not a grant"), "{error}");
    }
}

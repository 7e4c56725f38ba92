//! Settings that start but will not do what they seem to: said once at startup, so that
//! an operator is not surprised later.

use std::time::Duration;

use super::Config;
use crate::tokens::RefreshBefore;

/// The shortest access-token life the platforms issue (an AliExpress app in test status).
const SHORTEST_ACCESS_LIFE: Duration = Duration::from_secs(24 * 3_600);

impl Config {
    /// Every warning about this configuration, in words an operator can act on.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        for (i, a) in self.apps.iter().enumerate() {
            for b in &self.apps[i + 1..] {
                if a.platform == b.platform && a.app_key == b.app_key {
                    warnings.push(format!(
                        "apps `{}` and `{}` have the same platform and app key: each is one platform app, and stored sellers of that key follow neither when app names change",
                        a.id, b.id
                    ));
                }
            }
        }
        match self.refresh_before {
            RefreshBefore::Share { permille } if permille > 500 => warnings.push(format!(
                "IOP_REFRESH_BEFORE={}% is more than half a token's life: tokens are renewed at half their life instead",
                permille / 10
            )),
            RefreshBefore::Ahead(ahead) if ahead * 2 > SHORTEST_ACCESS_LIFE => warnings.push(format!(
                "IOP_REFRESH_BEFORE={} is more than half of a one-day access token's life: such tokens are renewed at half their life instead",
                humantime::format_duration(ahead)
            )),
            _ => {}
        }
        if self.public_url.scheme() == "http" && !crate::network::is_loopback_url(&self.public_url)
        {
            warnings.push(format!(
                "IOP_PUBLIC_URL {} is plain http on another machine: sellers' browsers send the authorization code and the cookie in clear text; use https (behind a proxy that ends TLS, set the https URL)",
                self.public_url
            ));
        }
        warnings
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    fn config(extra: &[&str]) -> super::Config {
        let base = ["iop-callback", "--app-key", "1", "--app-secret", "s"];
        let cli = crate::cli::Cli::try_parse_from([&base[..], extra].concat()).unwrap();
        super::Config::from_settings(&cli.service.settings()).unwrap()
    }

    #[test]
    fn a_plain_configuration_has_nothing_to_say() {
        assert!(config(&[]).warnings().is_empty());
        let ok = config(&[
            "--refresh-before",
            "12h",
            "--public-url",
            "https://auth.example.com",
        ]);
        assert!(ok.warnings().is_empty(), "{:?}", ok.warnings());
    }

    #[test]
    fn a_capped_refresh_policy_and_a_plain_http_public_url_are_said() {
        let warnings = config(&["--refresh-before", "3d"]).warnings();
        assert!(
            warnings[0].contains("IOP_REFRESH_BEFORE=3days"),
            "{warnings:?}"
        );
        let warnings = config(&["--refresh-before", "75%"]).warnings();
        assert!(warnings[0].contains("75%"), "{warnings:?}");
        let warnings = config(&["--public-url", "http://auth.example.com"]).warnings();
        assert!(warnings[0].contains("plain http"), "{warnings:?}");
        assert!(
            config(&["--public-url", "http://127.0.0.1:8080"])
                .warnings()
                .is_empty()
        );
    }

    #[test]
    fn two_apps_with_one_app_key_are_said() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("apps.toml");
        std::fs::write(
            &file,
            "[apps.a]\nplatform = \"lazada\"\napp_key = \"1\"\napp_secret = \"s\"\n\
             [apps.b]\nplatform = \"lazada\"\napp_key = \"1\"\napp_secret = \"t\"\n",
        )
        .unwrap();
        let cli = crate::cli::Cli::try_parse_from([
            "iop-callback",
            "--apps-file",
            file.to_str().unwrap(),
        ])
        .unwrap();
        let config = super::Config::from_settings(&cli.service.settings()).unwrap();
        let warnings = config.warnings();
        assert!(warnings[0].contains("apps `a` and `b`"), "{warnings:?}");
    }
}

//! Which app of the deployment something belongs to.
//!
//! Today a deployment serves one app, the implicit `default`; every token row, claimed
//! state and metric already carries its `AppId`, so serving several is a configuration
//! change.

use std::fmt;

/// The local, URL-safe name of an app (`ae-prod`): lower-case letters, digits and `-`,
/// 1 to 32 characters, starting with a letter or digit. It appears in callback paths.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppId(String);

impl AppId {
    const MAX_LEN: usize = 32;

    /// The app of a single-app deployment (the `IOP_APP_*` variables).
    pub fn implicit() -> Self {
        AppId("default".to_owned())
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        let valid_chars = raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        let starts_well = raw
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if raw.len() <= Self::MAX_LEN && valid_chars && starts_well {
            Ok(AppId(raw.to_owned()))
        } else {
            Err(format!(
                "`{raw}` is not an app name: use 1 to {} lower-case letters, digits and `-`",
                Self::MAX_LEN
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_names_are_short_and_url_safe() {
        assert_eq!(AppId::parse("ae-prod").unwrap().as_str(), "ae-prod");
        assert_eq!(AppId::implicit().as_str(), "default");
        for bad in ["", "-x", "AE", "a/b", "a b", "é", &"a".repeat(33)] {
            assert!(AppId::parse(bad).is_err(), "{bad:?} must be refused");
        }
    }
}

//! The authorization code, as it arrives on the callback URL.

use crate::redact::redacted_debug;

/// Codes seen are ~40-70 characters; anything this long is not a code.
const MAX_LEN: usize = 512;

/// A syntactically plausible, single-use authorization code. Its `Debug` is redacted:
/// a code is a credential until it is exchanged.
#[derive(Clone)]
pub struct AuthCode(String);
redacted_debug!(AuthCode);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthCodeError {
    #[error("the authorization code is missing")]
    Missing,
    #[error("the authorization code is longer than {MAX_LEN} bytes")]
    TooLong,
    #[error("the authorization code contains control characters")]
    ControlCharacters,
}

impl AuthCode {
    pub fn parse(raw: Option<&str>) -> Result<Self, AuthCodeError> {
        let raw = raw.map(str::trim).unwrap_or_default();
        if raw.is_empty() {
            return Err(AuthCodeError::Missing);
        }
        if raw.len() > MAX_LEN {
            return Err(AuthCodeError::TooLong);
        }
        if raw.chars().any(char::is_control) {
            return Err(AuthCodeError::ControlCharacters);
        }
        Ok(AuthCode(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_platform_shaped_code_is_accepted() {
        let code = AuthCode::parse(Some("3_500000_abcDEF")).unwrap();
        assert_eq!(code.expose(), "3_500000_abcDEF");
    }

    #[test]
    fn missing_or_blank_code_is_rejected() {
        assert_eq!(AuthCode::parse(None).unwrap_err(), AuthCodeError::Missing);
        assert_eq!(
            AuthCode::parse(Some("  ")).unwrap_err(),
            AuthCodeError::Missing
        );
    }

    #[test]
    fn oversized_code_is_rejected() {
        assert!(AuthCode::parse(Some(&"a".repeat(MAX_LEN))).is_ok());
        assert_eq!(
            AuthCode::parse(Some(&"a".repeat(MAX_LEN + 1))).unwrap_err(),
            AuthCodeError::TooLong
        );
    }

    #[test]
    fn control_characters_are_rejected() {
        assert_eq!(
            AuthCode::parse(Some("abc\ndef")).unwrap_err(),
            AuthCodeError::ControlCharacters
        );
    }

    #[test]
    fn debug_output_hides_the_code() {
        let code = AuthCode::parse(Some("3_500000_secretish")).unwrap();
        assert!(!format!("{code:?}").contains("secretish"));
    }
}

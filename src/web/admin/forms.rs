//! Reading the console's forms. The body is parsed by hand rather than with `Form`, so a
//! form without a CSRF token is refused with 403 whatever its content type or fields.

use axum::body::Bytes;

use crate::admin::CsrfToken;
use crate::web::error::AppError;

/// Forms are small; anything longer is not ours.
const MAX_FIELD: usize = 4096;

/// The value of field `name` in a urlencoded body.
pub(super) fn field(body: &Bytes, name: &str) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
        .filter(|value| value.len() <= MAX_FIELD)
}

/// The value of parameter `name` in a query string.
pub(super) fn query_field(query: Option<&str>, name: &str) -> Option<String> {
    field(
        &Bytes::copy_from_slice(query.unwrap_or("").as_bytes()),
        name,
    )
}

/// Refuses (403, nothing done) a form whose `csrf` field is not `expected`.
pub(super) fn check_csrf(expected: &CsrfToken, body: &Bytes) -> Result<(), AppError> {
    if expected.matches(field(body, "csrf").as_deref()) {
        Ok(())
    } else {
        Err(AppError::Csrf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csrf_field_must_match_exactly() {
        let token = CsrfToken::generate();
        let good = Bytes::from(format!("a=1&csrf={}", token.expose()));
        assert!(check_csrf(&token, &good).is_ok());
        for bad in [
            String::new(),
            "csrf=".to_owned(),
            format!("csrf={}x", token.expose()),
            format!("CSRF={}", token.expose()),
            "csrf=%ZZ".to_owned(),
        ] {
            assert!(
                matches!(
                    check_csrf(&token, &Bytes::from(bad.clone())),
                    Err(AppError::Csrf)
                ),
                "{bad}"
            );
        }
        assert_eq!(
            field(&Bytes::from("password=a%20b+c"), "password").as_deref(),
            Some("a b c")
        );
    }
}

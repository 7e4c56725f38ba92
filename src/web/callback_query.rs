//! What a callback's query string says. Public so that the fuzz targets (fuzz/) reach it.

/// The query's parameters we care about; the first of each name wins. Parsing never fails:
/// what is missing is `None` and judged by the callback.
#[derive(Debug, Default)]
pub struct CallbackQuery {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

impl CallbackQuery {
    pub fn parse(query: &str) -> Self {
        let mut params = CallbackQuery::default();
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let slot = match name.as_ref() {
                "state" => &mut params.state,
                "code" => &mut params.code,
                "error" => &mut params.error,
                "error_description" => &mut params.error_description,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(value.into_owned());
            }
        }
        params
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parsing_takes_the_first_of_each_name_and_never_fails() {
        let p = CallbackQuery::parse("code=a%20b&state=s1&state=s2&x=%FF&error=");
        assert_eq!(p.code.as_deref(), Some("a b"));
        assert_eq!(p.state.as_deref(), Some("s1"));
        assert_eq!(p.error.as_deref(), Some(""));
        assert!(CallbackQuery::parse("%%%&&==").state.is_none());
    }
}

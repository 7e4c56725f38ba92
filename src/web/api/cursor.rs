//! The token list's page cursor: opaque to callers (base64url of the last row id, with a
//! version letter), so that the order it keys on can change without breaking their links.

use super::ListQuery;
use super::error::ApiError;
use crate::tokens::TokenId;
use crate::web::opaque;

/// The row id a cursor of this API names.
pub(super) fn read(raw: &str) -> Result<TokenId, ApiError> {
    opaque::open(raw)
        .and_then(|text| text.strip_prefix('t')?.parse::<i64>().ok())
        .filter(|id| *id > 0)
        .map(TokenId::new)
        .ok_or_else(|| {
            ApiError::BadRequest(
                "`after` is not a cursor of this API: take it from a Link header".into(),
            )
        })
}

fn write(id: TokenId) -> String {
    opaque::seal(&format!("t{}", id.get()))
}

/// The `Link` header to the page after `last`, with the same filters and size.
pub(super) fn next_link(query: &ListQuery, limit: u32, last: TokenId) -> String {
    let mut next = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in [
        ("app", &query.app),
        ("status", &query.status),
        ("q", &query.q),
    ] {
        if let Some(value) = value {
            next.append_pair(name, value);
        }
    }
    next.append_pair("limit", &limit.to_string());
    next.append_pair("after", &write(last));
    format!("</api/v1/tokens?{}>; rel=\"next\"", next.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_and_nothing_else_does() {
        let id = TokenId::new(4_711);
        assert_eq!(read(&write(id)).unwrap(), id);
        for bad in ["", "4711", "dDA", "!!", &opaque::seal("t-5")] {
            assert!(read(bad).is_err(), "{bad}");
        }
    }
}

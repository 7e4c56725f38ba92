//! The token API's answers, parsed tolerantly.
//!
//! The platforms' own samples quote numbers as strings and ids as numbers, leave fields out
//! or set them to null, and add fields over time. Parsing goes through a JSON object and
//! reads each field we know with a forgiving accessor instead of a strict derive.

use std::collections::BTreeSet;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::{IopError, PlatformError};

/// A search term is cut to this many bytes: nobody types more to find a seller.
pub const MAX_TERM: usize = 64;

/// `text`, cut at a character boundary to at most `max` bytes.
pub fn truncated(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// A successful answer of `/auth/token/create` or `/auth/token/refresh`.
pub struct TokenResponse {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    /// Remaining lifetime in seconds, as sent.
    pub expires_in: Option<i64>,
    pub refresh_expires_in: Option<i64>,
    /// Absolute expiry in milliseconds since the epoch, as sent (AliExpress only).
    pub expire_time: Option<i64>,
    pub refresh_token_valid_time: Option<i64>,
    pub identity: SellerIdentity,
    pub request_id: Option<String>,
}

/// Who authorized: every identity field either platform returns. Stored as JSON beside the
/// tokens, so it must never hold a token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SellerIdentity {
    pub seller_id: Option<String>,
    pub user_id: Option<String>,
    pub user_nick: Option<String>,
    pub account: Option<String>,
    pub account_id: Option<String>,
    pub account_platform: Option<String>,
    pub havana_id: Option<String>,
    pub sp: Option<String>,
    pub locale: Option<String>,
    /// Lazada: `sg`, `my`, `th`, `vn`, `ph`, `id` or `cb` (cross-border).
    pub country: Option<String>,
    #[serde(default)]
    pub country_user_info: Vec<CountryUserInfo>,
}

/// One Lazada country the token is valid for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = Country)]
pub struct CountryUserInfo {
    pub country: Option<String>,
    pub seller_id: Option<String>,
    pub user_id: Option<String>,
    pub short_code: Option<String>,
}

/// When a token pair stops working, in milliseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiries {
    pub access_expires_at: Option<i64>,
    pub refresh_expires_at: Option<i64>,
    /// False when the platform says the pair cannot be refreshed (`refresh_expires_in` 0).
    pub refreshable: bool,
}

impl TokenResponse {
    /// Reads a gateway answer body. An object with a `code` other than `"0"` is a platform
    /// error; a body that is not a JSON object, or lacks an access token, is invalid.
    pub fn from_json(body: &[u8]) -> Result<Self, IopError> {
        Self::from_object(gateway_object(body)?)
    }

    /// Reads a successful gateway answer (see `gateway_object`).
    pub fn from_object(map: Map<String, Value>) -> Result<Self, IopError> {
        let access_token = opt_string(&map, "access_token")
            .ok_or_else(|| IopError::InvalidBody("no access_token in the answer".into()))?;
        Ok(TokenResponse {
            access_token: access_token.into(),
            refresh_token: opt_string(&map, "refresh_token").map(Into::into),
            expires_in: opt_i64(&map, "expires_in")?,
            refresh_expires_in: opt_i64(&map, "refresh_expires_in")?,
            expire_time: opt_i64(&map, "expire_time")?,
            refresh_token_valid_time: opt_i64(&map, "refresh_token_valid_time")?,
            identity: SellerIdentity::from_map(&map),
            request_id: opt_string(&map, "request_id"),
        })
    }

    /// Absolute expiries: the platform's absolute times when present, otherwise the relative
    /// lifetimes counted from `obtained_at_ms` (when the answer arrived).
    pub fn expiries(&self, obtained_at_ms: i64) -> Expiries {
        let from_now = |secs: i64| obtained_at_ms.saturating_add(secs.saturating_mul(1000));
        let refreshable = self.refresh_token.is_some() && self.refresh_expires_in != Some(0);
        Expiries {
            access_expires_at: self.expire_time.or(self.expires_in.map(from_now)),
            refresh_expires_at: if refreshable {
                self.refresh_token_valid_time
                    .or(self.refresh_expires_in.map(from_now))
            } else {
                None
            },
            refreshable,
        }
    }
}

/// The JSON object of any gateway answer body. An object whose `code` is not `"0"` is the
/// platform's error; a body that is not a JSON object is invalid.
pub fn gateway_object(body: &[u8]) -> Result<Map<String, Value>, IopError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        IopError::InvalidBody(
            match e.classify() {
                serde_json::error::Category::Eof => "truncated JSON",
                _ => "not JSON",
            }
            .into(),
        )
    })?;
    let Value::Object(map) = value else {
        return Err(IopError::InvalidBody("not a JSON object".into()));
    };
    if let Some(code) = opt_string(&map, "code")
        && code != "0"
    {
        return Err(IopError::Platform(PlatformError {
            code,
            kind: opt_string(&map, "type"),
            message: opt_string(&map, "message"),
            request_id: opt_string(&map, "request_id"),
        }));
    }
    Ok(map)
}

impl SellerIdentity {
    fn from_map(map: &Map<String, Value>) -> Self {
        // Refresh answers on Lazada name the list `country_user_info_list`.
        let countries = ["country_user_info", "country_user_info_list"]
            .iter()
            .filter_map(|key| map.get(*key).and_then(Value::as_array))
            .find(|list| !list.is_empty())
            .map(|list| {
                list.iter()
                    .filter_map(Value::as_object)
                    .map(CountryUserInfo::from_map)
                    .collect()
            })
            .unwrap_or_default();
        SellerIdentity {
            seller_id: opt_string(map, "seller_id"),
            user_id: opt_string(map, "user_id"),
            user_nick: opt_string(map, "user_nick"),
            account: opt_string(map, "account"),
            account_id: opt_string(map, "account_id"),
            account_platform: opt_string(map, "account_platform"),
            havana_id: opt_string(map, "havana_id"),
            sp: opt_string(map, "sp"),
            locale: opt_string(map, "locale"),
            country: opt_string(map, "country"),
            country_user_info: countries,
        }
    }

    /// The key that makes one stored row per seller account: the most stable id present.
    pub fn account_key(&self) -> Option<String> {
        let first_country = self.country_user_info.first();
        [
            self.seller_id.as_deref().map(|id| format!("seller:{id}")),
            self.user_id.as_deref().map(|id| format!("user:{id}")),
            first_country
                .and_then(|c| c.seller_id.as_deref())
                .map(|id| format!("seller:{id}")),
            self.account.as_deref().map(|a| format!("account:{a}")),
            self.havana_id.as_deref().map(|id| format!("havana:{id}")),
        ]
        .into_iter()
        .flatten()
        .next()
    }

    /// The seller id, as every view shows it (pages, console, API, CLI, logs) and the
    /// seller is looked up by: the seller id, else the first Lazada country's seller id
    /// (Lazada gives none at the top), else the user id.
    pub fn primary_id(&self) -> Option<&str> {
        self.seller_id
            .as_deref()
            .or_else(|| {
                self.country_user_info
                    .first()
                    .and_then(|c| c.seller_id.as_deref())
            })
            .or(self.user_id.as_deref())
    }

    /// Every id the seller can be looked up by: seller and user ids, top-level and of each
    /// Lazada country, without repeats.
    pub fn lookup_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = [&self.seller_id, &self.user_id]
            .into_iter()
            .chain(
                self.country_user_info
                    .iter()
                    .flat_map(|c| [&c.seller_id, &c.user_id]),
            )
            .flatten()
            .cloned()
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// The words a search finds this seller by, lower-cased: each word of the nick, the
    /// account, every id it can be looked up by and each country, whole and cut at
    /// punctuation (`demo-store@example.com` is also `demo`, `store`, `example`, `com`).
    /// The store keeps them beside the pair; a search matches their beginnings.
    pub fn search_terms(&self) -> BTreeSet<String> {
        let countries = self
            .country_user_info
            .iter()
            .filter_map(|c| c.country.as_deref())
            .chain(self.country.as_deref());
        let words = self
            .user_nick
            .iter()
            .chain(&self.account)
            .flat_map(|text| text.split_whitespace())
            .map(str::to_owned)
            .chain(self.lookup_ids())
            .chain(countries.map(str::to_owned));
        let mut terms = BTreeSet::new();
        for word in words {
            let word = word.to_lowercase();
            terms.extend(
                word.split(|c: char| !c.is_alphanumeric())
                    .filter(|piece| !piece.is_empty() && piece.len() < word.len())
                    .map(|piece| truncated(piece, MAX_TERM)),
            );
            terms.insert(truncated(&word, MAX_TERM));
        }
        terms
    }

    /// A short name for pages and logs-free summaries: nick, account or id.
    pub fn display_name(&self) -> String {
        self.user_nick
            .clone()
            .or_else(|| self.account.clone())
            .or_else(|| self.seller_id.clone())
            .or_else(|| {
                self.country_user_info
                    .first()
                    .and_then(|c| c.seller_id.clone())
            })
            .unwrap_or_else(|| "unknown seller".to_owned())
    }
}

impl CountryUserInfo {
    fn from_map(map: &Map<String, Value>) -> Self {
        CountryUserInfo {
            country: opt_string(map, "country"),
            seller_id: opt_string(map, "seller_id"),
            user_id: opt_string(map, "user_id"),
            short_code: opt_string(map, "short_code"),
        }
    }
}

/// A text field that may arrive as a string or a number; empty and null count as missing.
fn opt_string(map: &Map<String, Value>, key: &str) -> Option<String> {
    match map.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A whole number that may arrive as a number or a numeric string. Missing, null and empty
/// are `None`; anything else that is not a whole number makes the answer invalid, since a
/// wrong expiry would be worse than a clear error.
fn opt_i64(map: &Map<String, Value>, key: &str) -> Result<Option<i64>, IopError> {
    let invalid = || IopError::InvalidBody(format!("`{key}` is not a whole number"));
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .map(Some)
            .ok_or_else(invalid),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| invalid()),
        Some(_) => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    const ALIEXPRESS: &str = r#"{"refresh_token_valid_time":1716784148000,"havana_id":"3000020000814","expire_time":1714192160000,
 "locale":"zh_CN","user_nick":"cn1001","access_token":"50000601c30atpedfgu3","refresh_token":"500016000300bwa2",
 "user_id":"10101","account_platform":"seller_center","refresh_expires_in":5183988,"expires_in":2592000,
 "sp":"ae","seller_id":"1001","account":"xxx@126.com","code":"0","request_id":"212a69f317116001605067741",
 "_trace_id_":"abc"}"#;

    #[test]
    fn aliexpress_success_reads_tokens_times_and_identity() {
        let r = TokenResponse::from_json(ALIEXPRESS.as_bytes()).unwrap();
        assert_eq!(r.access_token.expose_secret(), "50000601c30atpedfgu3");
        assert_eq!(r.refresh_token.unwrap().expose_secret(), "500016000300bwa2");
        assert_eq!(r.expire_time, Some(1714192160000));
        assert_eq!(r.refresh_expires_in, Some(5183988));
        assert_eq!(r.identity.seller_id.as_deref(), Some("1001"));
        assert_eq!(r.identity.havana_id.as_deref(), Some("3000020000814"));
        assert_eq!(r.request_id.as_deref(), Some("212a69f317116001605067741"));
    }

    #[test]
    fn numbers_as_strings_and_ids_as_numbers_are_accepted() {
        let body = r#"{"access_token":"t","expires_in":"86400","refresh_expires_in":" 172800 ",
            "expire_time":"1500","user_id":10101,"seller_id":1001,"account_id":null,"code":0}"#;
        let r = TokenResponse::from_json(body.as_bytes()).unwrap();
        assert_eq!(r.expires_in, Some(86400));
        assert_eq!(r.refresh_expires_in, Some(172800));
        assert_eq!(r.expire_time, Some(1500));
        assert_eq!(r.identity.user_id.as_deref(), Some("10101"));
        assert_eq!(r.identity.seller_id.as_deref(), Some("1001"));
        assert_eq!(r.identity.account_id, None);
    }

    #[test]
    fn lazada_cross_border_lists_every_country() {
        let body = r#"{"access_token":"a","refresh_token":"r","country":"cb","account":"s@example.com",
            "country_user_info_list":[],
            "country_user_info":[{"country":"th","user_id":"100236220","seller_id":"17348","short_code":"TH10FEX"},
                                 {"country":"my","user_id":100236221,"seller_id":17349,"short_code":"MY10FEX"}],
            "code":"0"}"#;
        let r = TokenResponse::from_json(body.as_bytes()).unwrap();
        assert_eq!(r.identity.country.as_deref(), Some("cb"));
        assert_eq!(r.identity.country_user_info.len(), 2);
        assert_eq!(
            r.identity.country_user_info[1].seller_id.as_deref(),
            Some("17349")
        );
        assert_eq!(r.identity.account_key().as_deref(), Some("seller:17348"));
    }

    #[test]
    fn lazada_refresh_list_name_is_read_too() {
        let body =
            r#"{"access_token":"a","country_user_info_list":[{"country":"sg","seller_id":"9"}]}"#;
        let r = TokenResponse::from_json(body.as_bytes()).unwrap();
        assert_eq!(
            r.identity.country_user_info[0].country.as_deref(),
            Some("sg")
        );
    }

    #[test]
    fn error_answer_becomes_a_platform_error() {
        let body = r#"{"type":"ISV","code":"IncompleteSignature","message":"bad sign","request_id":"0ba2"}"#;
        let Err(IopError::Platform(e)) = TokenResponse::from_json(body.as_bytes()) else {
            panic!("expected a platform error");
        };
        assert_eq!(e.code, "IncompleteSignature");
        assert_eq!(e.kind.as_deref(), Some("ISV"));
        assert_eq!(e.request_id.as_deref(), Some("0ba2"));
        assert!(e.advice().unwrap().contains("app secret"));
    }

    #[test]
    fn malformed_answers_are_invalid_bodies() {
        for body in [
            "<html>busy</html>",
            r#"{"access_token":"a""#,
            "[1,2]",
            r#"{"code":"0"}"#,
            r#"{"access_token":"a","expires_in":"soon"}"#,
        ] {
            assert!(
                matches!(
                    TokenResponse::from_json(body.as_bytes()),
                    Err(IopError::InvalidBody(_))
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn expiries_prefer_absolute_times_and_fall_back_to_lifetimes() {
        let abs = TokenResponse::from_json(ALIEXPRESS.as_bytes()).unwrap();
        let e = abs.expiries(1_000);
        assert_eq!(e.access_expires_at, Some(1714192160000));
        assert_eq!(e.refresh_expires_at, Some(1716784148000));

        let rel = TokenResponse::from_json(
            br#"{"access_token":"a","refresh_token":"r","expires_in":10,"refresh_expires_in":60}"#,
        )
        .unwrap();
        let e = rel.expiries(1_000);
        assert_eq!(e.access_expires_at, Some(11_000));
        assert_eq!(e.refresh_expires_at, Some(61_000));
        assert!(e.refreshable);
    }

    #[test]
    fn zero_refresh_lifetime_means_not_refreshable() {
        let r = TokenResponse::from_json(
            br#"{"access_token":"a","refresh_token":"r","expires_in":10,"refresh_expires_in":0}"#,
        )
        .unwrap();
        let e = r.expiries(0);
        assert!(!e.refreshable);
        assert_eq!(e.refresh_expires_at, None);
    }
}

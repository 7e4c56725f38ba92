//! Business API calls (protocol section 7): which endpoint an API name goes to and how the
//! seller's token travels with it, the parameters a caller may not set, and what an answer's
//! `code` asks of the caller. Pure: the client (`client.rs`) sends, the proxy decides.

use std::time::Duration;

use super::platform::Platform;

/// Set by the service on every call; a caller that sends one is refused, not merged.
const SYSTEM_PARAMETERS: &[&str] = &[
    "app_key",
    "sign",
    "sign_method",
    "timestamp",
    "access_token",
    "session",
];

/// A business API, as named by a caller and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusinessApi {
    /// A REST path (`/orders/get`): `{root}/rest{path}`, token as `access_token`, signed
    /// with the path.
    Rest(String),
    /// An AliExpress dotted method (`aliexpress.solution.product.list.get`): `{root}/sync`
    /// with `method=`, token as `session`, signed without a path.
    Sync(String),
}

impl BusinessApi {
    /// Reads `raw` (`orders/get`, `/orders/get` or a dotted name) for an app of `platform`.
    /// Only letters, digits, `/`, `.`, `_` and `-`; no `..` or `//`; never the token APIs,
    /// which are the service's own.
    pub fn parse(raw: &str, platform: Platform) -> Result<Self, String> {
        let name = raw.strip_prefix('/').unwrap_or(raw);
        if name.is_empty() {
            return Err("name an API, like `seller/get`".into());
        }
        if let Some(bad) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-')))
        {
            return Err(format!(
                "the API name holds `{}`: only letters, digits, `/`, `.`, `_` and `-` are allowed",
                bad.escape_default()
            ));
        }
        if name.contains("..") || name.contains("//") || name.ends_with('/') {
            return Err("the API name holds `..`, `//` or a trailing `/`".into());
        }
        if !name.contains('/') && name.contains('.') {
            return match platform {
                Platform::Aliexpress => Ok(BusinessApi::Sync(name.to_owned())),
                Platform::Lazada => Err(format!(
                    "`{name}` is a dotted method name, which only AliExpress apps call (on /sync); \
                     Lazada APIs are paths like `orders/get`"
                )),
            };
        }
        let path = format!("/{name}");
        if path == "/auth/token" || path.starts_with("/auth/token/") {
            return Err(
                "the token APIs are the service's own: use the token API (/api/v1/tokens)".into(),
            );
        }
        Ok(BusinessApi::Rest(path))
    }

    /// The name for logs and metrics: the path, or the dotted method.
    pub fn name(&self) -> &str {
        match self {
            BusinessApi::Rest(path) => path,
            BusinessApi::Sync(method) => method,
        }
    }

    /// Appended to the gateway root, in two pieces (`/rest` and the path, or `/sync`): the
    /// caller builds the whole URL in one buffer.
    pub fn endpoint(&self) -> [&str; 2] {
        match self {
            BusinessApi::Rest(path) => ["/rest", path],
            BusinessApi::Sync(_) => ["/sync", ""],
        }
    }

    /// The path the signature starts with: none on `/sync`.
    pub fn sign_path(&self) -> &str {
        match self {
            BusinessApi::Rest(path) => path,
            BusinessApi::Sync(_) => "",
        }
    }

    /// The parameter that carries the seller's access token.
    pub fn token_parameter(&self) -> &'static str {
        match self {
            BusinessApi::Rest(_) => "access_token",
            BusinessApi::Sync(_) => "session",
        }
    }

    /// The service's own parameter besides the system ones: `method` on `/sync`.
    pub fn own_parameter(&self) -> Option<(&'static str, &str)> {
        match self {
            BusinessApi::Rest(_) => None,
            BusinessApi::Sync(method) => Some(("method", method)),
        }
    }

    /// Why a caller's parameter `name` cannot be sent, if it cannot.
    pub fn refuses_parameter(&self, name: &str) -> Option<String> {
        let reserved = SYSTEM_PARAMETERS.contains(&name)
            || (matches!(self, BusinessApi::Sync(_)) && name == "method");
        reserved.then(|| format!("`{name}` is set by the service; leave it out"))
    }
}

/// What an answer's `code` asks of whoever called (section 7, "What an error code asks for").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeClass {
    Ok,
    /// The access token is stale: refresh the pair, repeat once.
    StaleToken,
    /// Throttled: the call was not executed; wait and repeat.
    Throttled,
    /// Busy: a GET may be repeated, a POST may have acted.
    Busy,
    /// Anything else: the caller's mistake or a business error; never repeated.
    Other,
}

impl CodeClass {
    pub fn of(code: &str) -> Self {
        match code {
            "0" => CodeClass::Ok,
            "IllegalAccessToken" => CodeClass::StaleToken,
            "ApiCallLimit" | "OPEN_API_CALL_EXCEED_LIMIT" | "901" | "E901" => CodeClass::Throttled,
            "ServiceUnavailable" | "ServiceTimeout" | "4136" | "SYSTEM_BUSY" => CodeClass::Busy,
            _ => CodeClass::Other,
        }
    }

    /// The metrics label.
    pub fn label(self) -> &'static str {
        match self {
            CodeClass::Ok => "ok",
            CodeClass::StaleToken => "stale_token",
            CodeClass::Throttled => "throttled",
            CodeClass::Busy => "busy",
            CodeClass::Other => "error",
        }
    }
}

/// The fields of a gateway answer the service reads, from its top level or its
/// `error_response` object (some `/sync` APIs wrap errors in one).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AnswerHead {
    pub code: Option<String>,
    pub message: Option<String>,
    pub request_id: Option<String>,
}

impl AnswerHead {
    /// Reads a body; one that is not a JSON object has no head. Only these fields are
    /// kept: the rest (a catalogue export of tens of MB) is skipped, never built as a tree.
    pub fn read(body: &[u8]) -> Self {
        let Ok(top) = serde_json::from_slice::<HeadFields>(body) else {
            return AnswerHead::default();
        };
        let inner = match top.error_response {
            Some(Wrapped::Fields(inner)) => *inner,
            _ => HeadFields::default(),
        };
        let field = |own: Option<Scalar>, wrapped: Option<Scalar>| {
            own.or(wrapped).and_then(Scalar::into_text)
        };
        AnswerHead {
            code: field(top.code, inner.code),
            message: field(top.message, inner.message).or_else(|| field(top.msg, inner.msg)),
            request_id: field(top.request_id, inner.request_id),
        }
    }

    pub fn class(&self) -> CodeClass {
        // An answer without a code is a success on the APIs that leave it out.
        CodeClass::of(self.code.as_deref().unwrap_or("0"))
    }

    /// How long a throttled answer asks to wait: what its message says, else a second.
    pub fn throttle_wait(&self) -> Duration {
        self.message
            .as_deref()
            .and_then(ban)
            .unwrap_or(Duration::from_secs(1))
    }
}

/// The head's fields as the answer holds them, at its top level or in `error_response`.
#[derive(Default, serde::Deserialize)]
struct HeadFields {
    code: Option<Scalar>,
    message: Option<Scalar>,
    msg: Option<Scalar>,
    request_id: Option<Scalar>,
    error_response: Option<Wrapped>,
}

/// `error_response`, when it is an object.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Wrapped {
    Fields(Box<HeadFields>),
    Other(serde::de::IgnoredAny),
}

/// A field's value: text and numbers are read as text, anything else is no value.
///
/// Read by hand rather than as an untagged enum, which buffers each value and tries every
/// variant in turn: this runs on every proxied answer.
enum Scalar {
    Text(String),
    Number(serde_json::Number),
    Other,
}

impl Scalar {
    fn into_text(self) -> Option<String> {
        match self {
            Scalar::Text(text) => Some(text),
            Scalar::Number(number) => Some(number.to_string()),
            Scalar::Other => None,
        }
    }
}

impl<'de> serde::Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> serde::de::Visitor<'de> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E>(self, text: &str) -> Result<Scalar, E> {
        Ok(Scalar::Text(text.to_owned()))
    }

    fn visit_string<E>(self, text: String) -> Result<Scalar, E> {
        Ok(Scalar::Text(text))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Scalar, E> {
        Ok(Scalar::Number(n.into()))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Scalar, E> {
        Ok(Scalar::Number(n.into()))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Scalar, E> {
        Ok(serde_json::Number::from_f64(n).map_or(Scalar::Other, Scalar::Number))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Scalar, E> {
        Ok(Scalar::Other)
    }

    fn visit_unit<E>(self) -> Result<Scalar, E> {
        Ok(Scalar::Other)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
        while map
            .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
            .is_some()
        {}
        Ok(Scalar::Other)
    }
}

/// The ban an `ApiCallLimit` message announces ("... this ban will last 1 seconds").
pub fn ban(message: &str) -> Option<Duration> {
    let rest = &message[message.find("will last")? + "will last".len()..];
    let seconds: u64 = rest.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_call_limit_ban_is_read_from_the_message() {
        assert_eq!(
            ban("The request has exceeded the limit, this ban will last 17 seconds"),
            Some(Duration::from_secs(17))
        );
        assert_eq!(ban("busy"), None);
        assert_eq!(ban("this ban will last forever"), None);
    }

    #[test]
    fn paths_go_to_rest_and_dotted_names_to_sync_on_aliexpress_only() {
        let rest = BusinessApi::parse("orders/get", Platform::Lazada).unwrap();
        assert_eq!(rest, BusinessApi::Rest("/orders/get".into()));
        assert_eq!(rest.endpoint().concat(), "/rest/orders/get");
        assert_eq!(rest.own_parameter(), None);
        assert_eq!(rest.sign_path(), "/orders/get");
        assert_eq!(rest.token_parameter(), "access_token");
        let sync = BusinessApi::parse("aliexpress.solution.product.list.get", Platform::Aliexpress)
            .unwrap();
        assert_eq!(sync.endpoint().concat(), "/sync");
        assert_eq!(
            sync.own_parameter(),
            Some(("method", "aliexpress.solution.product.list.get"))
        );
        assert_eq!(sync.sign_path(), "");
        assert_eq!(sync.token_parameter(), "session");
        assert!(
            BusinessApi::parse("aliexpress.solution.product.list.get", Platform::Lazada).is_err()
        );
        assert_eq!(
            BusinessApi::parse("/seller/get", Platform::Aliexpress).unwrap(),
            BusinessApi::Rest("/seller/get".into())
        );
    }

    #[test]
    fn anything_that_could_leave_the_gateway_path_is_refused() {
        for raw in [
            "",
            "/",
            "orders/../auth",
            "orders//get",
            "orders/get/",
            "orders/get?x=1",
            "orders/get#x",
            "http:",
            "a b",
            "orders%2Fget",
            "auth/token/create",
            "auth/token/refresh",
            "auth/token",
            "ü/get",
            "orders\\get",
        ] {
            assert!(
                BusinessApi::parse(raw, Platform::Aliexpress).is_err(),
                "{raw:?} was accepted"
            );
        }
        assert!(BusinessApi::parse("auth/token_info/get", Platform::Lazada).is_ok());
    }

    #[test]
    fn the_service_s_own_parameters_are_refused() {
        let rest = BusinessApi::Rest("/orders/get".into());
        for name in SYSTEM_PARAMETERS {
            assert!(rest.refuses_parameter(name).is_some(), "{name}");
        }
        assert!(rest.refuses_parameter("method").is_none());
        assert!(
            BusinessApi::Sync("a.b".into())
                .refuses_parameter("method")
                .is_some()
        );
        assert!(rest.refuses_parameter("limit").is_none());
    }

    #[test]
    fn an_answer_s_head_is_read_at_the_top_or_in_error_response() {
        let top = AnswerHead::read(
            br#"{"code":"IllegalAccessToken","message":"expired","request_id":"r1"}"#,
        );
        assert_eq!(top.class(), CodeClass::StaleToken);
        assert_eq!(top.request_id.as_deref(), Some("r1"));
        let wrapped = AnswerHead::read(
            br#"{"error_response":{"code":"ApiCallLimit","msg":"this ban will last 3 seconds","request_id":"r2"}}"#,
        );
        assert_eq!(wrapped.class(), CodeClass::Throttled);
        assert_eq!(wrapped.throttle_wait(), Duration::from_secs(3));
        assert_eq!(AnswerHead::read(br#"{"code":0}"#).class(), CodeClass::Ok);
        assert_eq!(AnswerHead::read(b"<xml/>"), AnswerHead::default());
        // Odd shapes lose only the field they spoil, never the rest of the head.
        let odd = AnswerHead::read(
            br#"{"code":"E1","message":{"text":"x"},"error_response":"none","request_id":7,"data":{"items":[1,2,{"code":"no"}]}}"#,
        );
        assert_eq!(odd.code.as_deref(), Some("E1"));
        assert_eq!(odd.message, None);
        assert_eq!(odd.request_id.as_deref(), Some("7"));
        assert_eq!(
            AnswerHead::read(br#"{"code":"E901"}"#).throttle_wait(),
            Duration::from_secs(1)
        );
        // Every kind of JSON value: text (escaped too) and numbers are read, the rest is none.
        let kinds =
            AnswerHead::read(br#"{"code":-12,"message":"say \"hi\"","msg":"x","request_id":1.5}"#);
        assert_eq!(kinds.code.as_deref(), Some("-12"));
        assert_eq!(kinds.message.as_deref(), Some("say \"hi\""));
        assert_eq!(kinds.request_id.as_deref(), Some("1.5"));
        for value in ["null", "true", "[1,[2]]", "{}"] {
            let body = format!(r#"{{"code":{value},"request_id":"r"}}"#);
            let head = AnswerHead::read(body.as_bytes());
            assert_eq!(
                (head.code, head.request_id.as_deref()),
                (None, Some("r")),
                "{value}"
            );
        }
    }
}

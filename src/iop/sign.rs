//! The IOP request signature: HMAC-SHA256 over the API path and the sorted parameters.
//!
//! Kept pure (no I/O, no clock) so that it can be checked byte for byte against the
//! published vectors, and reused by the sandbox to verify what it receives.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The exact string the platform signs: `api_path` followed by every parameter's name and
/// value, sorted by name in byte order, concatenated raw (no separators, no URL-encoding).
///
/// `api_path` is `/auth/token/create` style (without `/rest`), or empty for `/sync` calls.
/// The caller passes exactly the parameters it sends, minus `sign` itself.
pub fn string_to_sign<'a, I>(api_path: &str, params: I) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut sorted: Vec<(&str, &str)> = params.into_iter().collect();
    // `str` orders by bytes, which is what the platform does: 'Z' < '_' < 'a'.
    sorted.sort_unstable_by(|a, b| a.0.cmp(b.0).then(a.1.cmp(b.1)));
    let len = api_path.len() + sorted.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
    let mut out = String::with_capacity(len);
    out.push_str(api_path);
    for (name, value) in sorted {
        out.push_str(name);
        out.push_str(value);
    }
    out
}

/// The `sign` parameter: upper-case hex of HMAC-SHA256(app_secret, string_to_sign).
pub fn sign<'a, I>(app_secret: &str, api_path: &str, params: I) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let message = string_to_sign(api_path, params);
    hex::encode_upper(hmac_sha256(app_secret.as_bytes(), &[message.as_bytes()]))
}

/// HMAC-SHA256 of the concatenated `parts` under `key`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length (long ones are hashed), so this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of the protocol's published test vectors: inputs, string to sign, signature.
    fn check(
        secret: &str,
        path: &str,
        params: &[(&str, &str)],
        expected_string: &str,
        expected_sign: &str,
    ) {
        assert_eq!(
            string_to_sign(path, params.iter().copied()),
            expected_string
        );
        assert_eq!(sign(secret, path, params.iter().copied()), expected_sign);
    }

    #[test]
    fn vector_1_lazada_node_sdk() {
        check(
            "1234",
            "/test/api",
            &[
                ("foo", "1"),
                ("bar", "2"),
                ("foo_bar", "3"),
                ("foobar", "4"),
            ],
            "/test/apibar2foo1foo_bar3foobar4",
            "988085883BF9D32D251478D23122C7ECC91518CDF63BA22F792000A378F52409",
        );
    }

    #[test]
    fn vector_2_documentation_http_sample() {
        check(
            "helloworld",
            "/order/get",
            &[
                ("app_key", "123456"),
                ("access_token", "test"),
                ("timestamp", "1517820392000"),
                ("sign_method", "sha256"),
                ("order_id", "1234"),
            ],
            "/order/getaccess_tokentestapp_key123456order_id1234sign_methodsha256timestamp1517820392000",
            "4190D32361CFB9581350222F345CB77F3B19F0E31D162316848A2C1FFD5FAB4A",
        );
    }

    #[test]
    fn vector_3_token_create() {
        check(
            "test_secret",
            "/auth/token/create",
            &[
                ("app_key", "12345678"),
                ("timestamp", "1700000000000"),
                ("sign_method", "sha256"),
                ("code", "3_500000_abcDEF"),
            ],
            "/auth/token/createapp_key12345678code3_500000_abcDEFsign_methodsha256timestamp1700000000000",
            "F293F4724954FD8B1AB6AE5DDF1C4B6BDC1104A5874810068EE420EBEC1FBF8F",
        );
    }

    #[test]
    fn vector_4_token_refresh() {
        check(
            "test_secret",
            "/auth/token/refresh",
            &[
                ("app_key", "12345678"),
                ("timestamp", "1700000000000"),
                ("sign_method", "sha256"),
                ("refresh_token", "50001600212wmSx1bcd"),
            ],
            "/auth/token/refreshapp_key12345678refresh_token50001600212wmSx1bcdsign_methodsha256timestamp1700000000000",
            "EA9A163A3B062DA8A9227335A4B5D03946490A5BFCEF0C2C95169CE0F7A127B7",
        );
    }

    #[test]
    fn vector_5_non_ascii_value_is_signed_as_utf8() {
        check(
            "test_secret",
            "/auth/token/create",
            &[
                ("app_key", "12345678"),
                ("timestamp", "1700000000000"),
                ("sign_method", "sha256"),
                ("code", "码_ü"),
            ],
            "/auth/token/createapp_key12345678code码_üsign_methodsha256timestamp1700000000000",
            "76BE46228968FB3A0152D98351812505C75433383A3F665B951946ED1A28AC55",
        );
    }

    #[test]
    fn vector_6_names_sort_in_byte_order() {
        check(
            "test_secret",
            "/auth/token/create",
            &[("Zeta", "1"), ("alpha", "2"), ("_x", "3")],
            "/auth/token/createZeta1_x3alpha2",
            "DD306F9B669F3F48F6C5DC1B6D499107AE40B9BC9599100DD067CF0C1333F4D7",
        );
    }

    #[test]
    fn vector_6_case_insensitive_order_would_give_the_other_signature() {
        // Guards the vector itself: the wrong order really is a different signature.
        let wrong = "/auth/token/create_x3alpha2Zeta1";
        let wrong_sign = hex::encode_upper(hmac_sha256(b"test_secret", &[wrong.as_bytes()]));
        assert_eq!(
            wrong_sign,
            "DCA74E3AC4BB39F85CB19FB93D93A37901014441F08EB0EE5B58A643395869C0"
        );
        assert_ne!(
            sign(
                "test_secret",
                "/auth/token/create",
                [("Zeta", "1"), ("alpha", "2"), ("_x", "3")]
            ),
            wrong_sign
        );
    }

    #[test]
    fn vector_7_sync_style_has_no_path_prefix() {
        check(
            "test_secret",
            "",
            &[
                ("app_key", "12345678"),
                ("timestamp", "1700000000000"),
                ("sign_method", "sha256"),
                ("method", "aliexpress.solution.product.list.get"),
                ("session", "tok"),
            ],
            "app_key12345678methodaliexpress.solution.product.list.getsessiontoksign_methodsha256timestamp1700000000000",
            "483D09C44EC96F1BC4C455EA69C28EF81D42B2EFDAEA0C4997DE7EFFF5225221",
        );
    }

    #[test]
    fn signature_is_64_upper_case_hex_characters() {
        let s = sign("k", "/p", [("a", "b")]);
        assert_eq!(s.len(), 64);
        assert!(
            s.chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        );
    }

    /// The system parameters of section 7's vectors, with the seller's token.
    const BUSINESS: [(&str, &str); 4] = [
        ("app_key", "12345678"),
        ("timestamp", "1700000000000"),
        ("sign_method", "sha256"),
        ("access_token", "50000tok"),
    ];

    #[test]
    fn vector_8_rest_business_get_with_an_offset_date() {
        let params = [
            ("created_after", "2026-01-01T00:00:00+07:00"),
            ("limit", "10"),
        ];
        check(
            "test_secret",
            "/orders/get",
            &[&BUSINESS[..], &params[..]].concat(),
            "/orders/getaccess_token50000tokapp_key12345678created_after2026-01-01T00:00:00+07:00limit10sign_methodsha256timestamp1700000000000",
            "E0F4D396D1C7444DF3AC6E2C3639A6670EB9039A33D70FF36AE3811BC263499C",
        );
    }

    #[test]
    fn vector_9_a_payload_is_signed_as_sent() {
        let payload = r#"{"Request":{"Product":{"Attributes":{"name":"Tee <b>&</b>"}}}}"#;
        check(
            "test_secret",
            "/product/create",
            &[&BUSINESS[..], &[("payload", payload)][..]].concat(),
            &format!(
                "/product/createaccess_token50000tokapp_key12345678payload{payload}sign_methodsha256timestamp1700000000000"
            ),
            "E469BBC3216EB8CBD301518C64C7FB95DEB6ECCBF018F887C4F25EDA0972E86C",
        );
    }

    #[test]
    fn vector_10_a_file_part_is_not_signed() {
        check(
            "test_secret",
            "/image/upload",
            &BUSINESS,
            "/image/uploadaccess_token50000tokapp_key12345678sign_methodsha256timestamp1700000000000",
            "229C6FE93463821BC71BA58AA365CD921408226410D067013932EFA8747F98EA",
        );
    }
}

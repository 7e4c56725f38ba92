//! Hostile input, table-driven: open-redirect payloads in every parameter and header,
//! oversized and malformed queries, invalid UTF-8, NUL, repeated parameters, and script
//! payloads from the platform. Every answer is a 4xx or the normal page: never a 5xx, never
//! a `Location` off-site, never the payload reflected unescaped.

use serde_json::json;

use crate::helpers::*;

const REDIRECTS: &[&str] = &[
    "//evil.example",
    "/\\evil.example",
    "https:evil.example",
    "https://evil.example",
    "%2F%2Fevil.example",
    "%2f%5cevil.example",
    "javascript:alert(1)",
    "/%0d%0aLocation:%20https://evil.example",
    "\r\nLocation: https://evil.example",
];

const MARKUP: &str = "<script>alert(1)</script>";

/// The routes an anonymous client reaches, with `{}` where a payload goes.
fn targets(payload: &str) -> Vec<String> {
    let p = payload;
    vec![
        format!("/?next={p}&return_to={p}&redirect_uri={p}"),
        format!("/authorize?next={p}&redirect_uri={p}&country={p}&state={p}"),
        format!("/authorize/{p}"),
        format!("/callback?code={p}&state={p}&next={p}"),
        format!("/callback?error={p}&error_description={p}&state={p}"),
        format!("/callback/{p}?code=c&state=s"),
        format!("/cancelled?error={p}&error_description={p}&app={p}"),
        format!("/result/{p}"),
        format!("/static/{p}"),
        format!("/admin?q={p}&notice={p}&next={p}"),
        format!("/admin/login?signed_out={p}&next={p}"),
        format!("/admin/sellers/{p}?notice={p}"),
        format!("/admin/sellers/{p}/delete"),
        format!("/admin/audit?before={p}"),
        format!("/{p}"),
    ]
}

fn assert_safe(what: &str, status: u16, location: Option<&str>, body: &str) {
    assert!((200..500).contains(&status), "{what}: status {status}");
    if let Some(location) = location {
        assert!(
            location.starts_with('/')
                && !location.starts_with("//")
                && !location.starts_with("/\\")
                || location.starts_with("http://127.0.0.1:"),
            "{what}: Location {location}"
        );
    }
    assert!(!body.contains(MARKUP), "{what}: reflected unescaped");
    assert!(
        !body.to_lowercase().contains("href=\"javascript:"),
        "{what}"
    );
}

/// GETs `path` as given on the wire (no normalising by the client) and returns status,
/// Location and body.
async fn raw_get(
    app: &TestApp,
    path: &str,
    header: Option<(&str, &str)>,
) -> (u16, Option<String>, String) {
    let host = app.address.trim_start_matches("http://").to_owned();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    if let Some((name, value)) = header {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let bytes = request.into_bytes();
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(host).unwrap();
        stream.write_all(&bytes).unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let text = String::from_utf8_lossy(&answer).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let location = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("location:"))
            .map(|l| l[9..].trim().to_owned());
        (status, location, body.to_owned())
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn open_redirect_payloads_in_every_parameter_lead_nowhere_off_site() {
    // With the admin console on, so that its routes are tried too.
    let app = spawn_app_with(&["--admin-password", "hostile test password"]).await;
    platform_must_not_be_called(&app).await;
    for payload in REDIRECTS.iter().chain([&MARKUP]) {
        let encoded: String = url::form_urlencoded::byte_serialize(payload.as_bytes()).collect();
        for path in targets(&encoded) {
            let (status, location, body) = raw_get(&app, &path, None).await;
            // A request line the server cannot parse is a 400 from hyper, also fine.
            assert_safe(&path, status, location.as_deref(), &body);
        }
    }
}

#[tokio::test]
async fn hostile_headers_change_nothing() {
    let app = spawn_app().await;
    platform_must_not_be_called(&app).await;
    for payload in REDIRECTS
        .iter()
        .filter(|p| !p.contains('\r'))
        .chain([&MARKUP])
    {
        for header in [
            "x-forwarded-host",
            "x-forwarded-proto",
            "referer",
            "cookie",
            "x-request-id",
            "forwarded",
        ] {
            let value = if header == "cookie" {
                format!("iop-browser={payload}")
            } else {
                (*payload).to_owned()
            };
            for path in [
                "/",
                "/authorize",
                "/callback?code=c&state=s",
                "/result/00000000000000000000000000000000",
            ] {
                let (status, location, body) = raw_get(&app, path, Some((header, &value))).await;
                let what = format!("{header}: {payload} on {path}");
                assert_safe(&what, status, location.as_deref(), &body);
                if let Some(location) = location {
                    assert!(!location.contains("evil"), "{what}: {location}");
                }
            }
        }
    }
}

#[tokio::test]
async fn oversized_malformed_and_repeated_queries_are_refused_or_ignored() {
    let app = spawn_app().await;
    platform_must_not_be_called(&app).await;
    let huge = "a".repeat(60_000);
    for path in [
        format!("/callback?code={huge}&state=s"),
        "/callback?code=%FF%FE&state=%C0%AF".to_owned(),
        "/callback?code=a%00b&state=%00".to_owned(),
        "/callback?%%%&&&===&state".to_owned(),
        "/callback?state=a&state=b&state=c&code=1&code=2".to_owned(),
        "/result/%00".to_owned(),
        "/authorize?country=%FF".to_owned(),
        "/cancelled?error=%FF%00&error_description=%C0".to_owned(),
    ] {
        let (status, location, body) = raw_get(&app, &path, None).await;
        assert_safe(
            &path.chars().take(80).collect::<String>(),
            status,
            location.as_deref(),
            &body,
        );
    }
    // Headers past the bound are refused, not buffered.
    let (status, _, _) = raw_get(&app, "/", Some(("x-big", &"b".repeat(100_000)))).await;
    assert!(
        (400..500).contains(&status) || status == 0,
        "status {status}"
    );
}

#[tokio::test]
async fn script_payloads_from_the_platform_are_escaped_everywhere() {
    let app = spawn_app().await;
    platform_answers(
        &app,
        json!({"access_token": MARKUP, "refresh_token": MARKUP, "user_nick": MARKUP,
               "account": MARKUP, "seller_id": "1", "request_id": MARKUP, "code": "0",
               "country_user_info": [{"country": MARKUP, "seller_id": MARKUP, "short_code": MARKUP}]}),
    )
    .await;
    let (_, html) = Browser::new().authorize_fully(&app, "c").await;
    assert!(!html.contains(MARKUP));
    assert!(
        html.contains("&lt;script&gt;") || html.contains("&#60;script&#62;"),
        "shown, escaped"
    );
}

//! The platforms iop-callback knows, and their documented endpoints.

use std::fmt;

/// Which flavour of IOP gateway we talk to. Both speak the same protocol; they differ in
/// hosts and in the shape of the seller identity they return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Platform {
    Aliexpress,
    Lazada,
}

impl Platform {
    pub fn authorize_url(self) -> &'static str {
        match self {
            Platform::Aliexpress => "https://api-sg.aliexpress.com/oauth/authorize",
            Platform::Lazada => "https://auth.lazada.com/oauth/authorize",
        }
    }

    /// The system-API base; the API path is appended to it (`{api_url}/auth/token/create`).
    pub fn api_url(self) -> &'static str {
        match self {
            Platform::Aliexpress => "https://api-sg.aliexpress.com/rest",
            Platform::Lazada => "https://auth.lazada.com/rest",
        }
    }

    /// The business gateway root (protocol section 7): AliExpress has one, Lazada one per
    /// country; a cross-border (`cb`) or unknown country has none.
    pub fn business_root(self, country: Option<&str>) -> Option<&'static str> {
        match self {
            Platform::Aliexpress => Some("https://api-sg.aliexpress.com"),
            Platform::Lazada => Some(match country? {
                "sg" => "https://api.lazada.sg",
                "my" => "https://api.lazada.com.my",
                "th" => "https://api.lazada.co.th",
                "vn" => "https://api.lazada.vn",
                "ph" => "https://api.lazada.com.ph",
                "id" => "https://api.lazada.co.id",
                _ => return None,
            }),
        }
    }

    /// The stable name used in configuration and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Aliexpress => "aliexpress",
            Platform::Lazada => "lazada",
        }
    }

    /// The inverse of `as_str`.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "aliexpress" => Some(Platform::Aliexpress),
            "lazada" => Some(Platform::Lazada),
            _ => None,
        }
    }

    pub fn display_name(self) -> &'static str {
        match self {
            Platform::Aliexpress => "AliExpress",
            Platform::Lazada => "Lazada",
        }
    }
}

/// The Lazada sites a call or a seller can be sent to. `cb` (cross-border) is a kind of
/// seller, not a site: such a seller sells on several of these.
pub const LAZADA_SITES: [&str; 6] = ["sg", "my", "th", "vn", "ph", "id"];

/// A Lazada site code's name (`cb`: cross-border sellers, who sell into several sites).
pub fn lazada_country_name(code: &str) -> &'static str {
    match code {
        "sg" => "Singapore",
        "my" => "Malaysia",
        "th" => "Thailand",
        "vn" => "Vietnam",
        "ph" => "Philippines",
        "id" => "Indonesia",
        "cb" => "Cross-border",
        _ => "Unknown site",
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

//! Made-up sellers the sandbox can authorize, in each platform's answer shape.

use serde_json::{Map, Value, json};

use crate::iop::Platform;

pub(super) struct SampleSeller {
    /// The value of the consent page's seller choice.
    pub key: &'static str,
    pub label: &'static str,
    pub platform: Platform,
    /// The identity fields of the token answer, as that platform sends them.
    identity: fn() -> Value,
}

const SELLERS: &[SampleSeller] = &[
    SampleSeller {
        key: "ae-store",
        label: "Demo Store Official (seller 2000187331)",
        platform: Platform::Aliexpress,
        identity: || {
            json!({
                "seller_id": "2000187331", "user_id": "2000187331", "user_nick": "cn1529093711demo",
                "account": "demo-store@example.com", "account_platform": "seller_center",
                "havana_id": "3000020000814", "sp": "ae", "locale": "en_US"
            })
        },
    },
    SampleSeller {
        key: "ae-outdoor",
        label: "Outdoor Gear Factory (seller 2000553120)",
        platform: Platform::Aliexpress,
        identity: || {
            // Ids as numbers and a null account_id, as some answers have them.
            json!({
                "seller_id": 2000553120_i64, "user_id": 2000553120_i64, "user_nick": "cn2000553120outdoor",
                "account": "outdoor-gear@example.com", "account_id": null, "account_platform": "seller_center",
                "havana_id": "3000020553120", "sp": "ae", "locale": "zh_CN"
            })
        },
    },
    SampleSeller {
        key: "lz-th",
        label: "Bangkok Home Goods (Thailand)",
        platform: Platform::Lazada,
        identity: || {
            json!({
                "country": "th", "account": "bkk-home@example.com", "account_platform": "seller_center",
                "country_user_info": [
                    {"country": "th", "user_id": "100236220", "seller_id": "17348", "short_code": "TH10FEX"}
                ]
            })
        },
    },
    SampleSeller {
        key: "lz-cb",
        label: "Global Gadgets (cross-border: Thailand, Malaysia)",
        platform: Platform::Lazada,
        identity: || {
            json!({
                "country": "cb", "account": "global-gadgets@example.com", "account_platform": "seller_center",
                "country_user_info": [
                    {"country": "th", "user_id": "100377101", "seller_id": "19001", "short_code": "TH1JX8K2"},
                    {"country": "my", "user_id": "100377102", "seller_id": "19002", "short_code": "MY1JX8K3"}
                ]
            })
        },
    },
];

pub(super) fn for_platform(platform: Platform) -> impl Iterator<Item = &'static SampleSeller> {
    SELLERS.iter().filter(move |s| s.platform == platform)
}

impl SampleSeller {
    /// The id the platform's pushes name this seller by: its seller id, or a Lazada
    /// seller's first country's.
    pub(super) fn seller_id(&self) -> String {
        let identity = (self.identity)();
        let text = |value: &Value| match value {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        identity
            .get("seller_id")
            .and_then(text)
            .or_else(|| {
                identity["country_user_info"][0]
                    .get("seller_id")
                    .and_then(text)
            })
            .unwrap_or_default()
    }
}

/// The seller with this key on this platform, or the platform's first one.
pub(super) fn find(platform: Platform, key: &str) -> &'static SampleSeller {
    for_platform(platform)
        .find(|s| s.key == key)
        .or_else(|| for_platform(platform).next())
        .expect("every platform has sample sellers")
}

impl SampleSeller {
    pub(super) fn identity(&self) -> Map<String, Value> {
        match (self.identity)() {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }
}

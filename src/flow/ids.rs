//! Random identifiers of the flow: the browser cookie and the result page id.

use sha2::{Digest as _, Sha256};

use crate::random::random_hex;
use crate::redact::redacted_debug;

fn is_hex_of_len(raw: &str, len: usize) -> bool {
    raw.len() == len
        && raw
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// SHA-256, so the store is keyed by digests and never holds the raw browser id.
pub(super) fn digest(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

/// The value of the browser-binding cookie: 256 random bits.
#[derive(Clone, PartialEq, Eq)]
pub struct BrowserId(String);
redacted_debug!(BrowserId);

impl BrowserId {
    pub fn generate() -> Self {
        BrowserId(random_hex::<32>())
    }

    /// Accepts only what `generate` makes, so a forged cookie cannot carry anything odd.
    pub fn parse(raw: &str) -> Option<Self> {
        is_hex_of_len(raw, 64).then(|| BrowserId(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the store keeps to recognise this browser.
    pub fn digest(&self) -> [u8; 32] {
        digest(&self.0)
    }
}

/// The id in a result page's URL (`/result/{id}`): 128 random bits. Knowing it is not
/// enough to see the page; the browser cookie must match too. Still a capability, so its
/// `Debug` is redacted like every other credential's.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ResultId(String);
redacted_debug!(ResultId);

impl ResultId {
    pub fn generate() -> Self {
        ResultId(random_hex::<16>())
    }

    pub fn parse(raw: &str) -> Option<Self> {
        is_hex_of_len(raw, 32).then(|| ResultId(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ResultId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_long_random_and_parse_back() {
        let a = BrowserId::generate();
        assert_ne!(a, BrowserId::generate());
        assert_eq!(BrowserId::parse(a.expose()), Some(a));
        let r = ResultId::generate();
        assert_eq!(ResultId::parse(r.as_str()), Some(r));
    }

    #[test]
    fn malformed_ids_are_refused() {
        assert_eq!(BrowserId::parse("abc"), None);
        assert_eq!(BrowserId::parse(&"G".repeat(64)), None);
        assert_eq!(ResultId::parse(&"A".repeat(32)), None);
    }

    #[test]
    fn debug_output_hides_browser_and_result_ids() {
        let b = BrowserId::generate();
        assert!(!format!("{b:?}").contains(b.expose()));
        let r = ResultId::generate();
        assert!(!format!("{r:?}").contains(r.as_str()));
    }
}

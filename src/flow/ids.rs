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

/// The id in a result page's URL (`/result/{id}`): the time it was made, then 128 random
/// bits. Knowing it is not enough to see the page; the browser cookie must match too.
/// Still a capability, so its `Debug` is redacted like every other credential's.
///
/// The time comes first so that ids sort by creation: every flow inserts one, and on
/// SQLite an insert at the end of the B-tree writes a page that the last insert wrote
/// already, where a random id wrote another page to the WAL for each flow.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ResultId(String);
redacted_debug!(ResultId);

/// Hex digits of the creation time (milliseconds, 48 bits: until the year 10889).
const TIME_DIGITS: usize = 12;
const RANDOM_DIGITS: usize = 32;

impl ResultId {
    /// A new id made at `now` (Unix milliseconds).
    pub fn generate(now: i64) -> Self {
        let time = now.clamp(0, (1 << (4 * TIME_DIGITS)) - 1);
        ResultId(format!(
            "{time:0width$x}{}",
            random_hex::<{ RANDOM_DIGITS / 2 }>(),
            width = TIME_DIGITS
        ))
    }

    /// Accepts what `generate` makes, and the random-only ids of earlier versions, whose
    /// pages may still be open while a new version starts.
    pub fn parse(raw: &str) -> Option<Self> {
        (is_hex_of_len(raw, TIME_DIGITS + RANDOM_DIGITS) || is_hex_of_len(raw, RANDOM_DIGITS))
            .then(|| ResultId(raw.to_owned()))
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

    /// 2025-12-21T04:10:38.464Z, an ordinary time in milliseconds.
    const T: i64 = 0x019b_3f1a_2c00;

    #[test]
    fn generated_ids_are_long_random_and_parse_back() {
        let a = BrowserId::generate();
        assert_ne!(a, BrowserId::generate());
        assert_eq!(BrowserId::parse(a.expose()), Some(a));
        let r = ResultId::generate(T);
        assert_ne!(r, ResultId::generate(T));
        assert_eq!(ResultId::parse(r.as_str()), Some(r));
        let legacy = crate::random::random_hex::<16>();
        assert!(ResultId::parse(&legacy).is_some(), "{legacy}");
    }

    #[test]
    fn result_ids_sort_by_creation_time() {
        let ids: Vec<ResultId> = [0, 1, 255, 256, T, T + 1, i64::MAX]
            .into_iter()
            .map(ResultId::generate)
            .collect();
        assert!(
            ids.windows(2).all(|w| w[0].as_str() < w[1].as_str()),
            "{:?}",
            ids.iter().map(ResultId::as_str).collect::<Vec<_>>()
        );
        assert_eq!(&ids[4].as_str()[..12], "019b3f1a2c00");
    }

    #[test]
    fn malformed_ids_are_refused() {
        assert_eq!(BrowserId::parse("abc"), None);
        assert_eq!(BrowserId::parse(&"G".repeat(64)), None);
        assert_eq!(ResultId::parse(&"A".repeat(32)), None);
        assert_eq!(ResultId::parse(&"a".repeat(43)), None);
        assert_eq!(ResultId::parse(&"a".repeat(45)), None);
    }

    #[test]
    fn debug_output_hides_browser_and_result_ids() {
        let b = BrowserId::generate();
        assert!(!format!("{b:?}").contains(b.expose()));
        let r = ResultId::generate(T);
        assert!(!format!("{r:?}").contains(r.as_str()));
    }
}

//! Random identifiers of the flow: the browser cookie, the `state`, the result page id.

use std::fmt;

use sha2::{Digest, Sha256};

/// 32 random bytes from the thread-local CSPRNG as 64 lower-case hex characters.
fn random_hex<const N: usize>() -> String {
    let bytes: [u8; N] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_hex_of_len(raw: &str, len: usize) -> bool {
    raw.len() == len
        && raw
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// SHA-256, so maps are keyed by digests and never hold the raw values.
pub(crate) fn digest(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

macro_rules! redacted_debug {
    ($name:ident) => {
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
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
}

/// The OAuth `state`: 256 random bits, one per authorization.
pub struct FlowState(String);
redacted_debug!(FlowState);

impl FlowState {
    pub fn generate() -> Self {
        FlowState(random_hex::<32>())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The id in a result page's URL (`/result/{id}`): 128 random bits. Knowing it is not
/// enough to see the page; the browser cookie must match too.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ResultId(String);

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

impl fmt::Display for ResultId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ResultId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResultId({})", self.0)
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
        assert_eq!(FlowState::generate().expose().len(), 64);
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
    fn debug_output_hides_browser_and_state() {
        let b = BrowserId::generate();
        assert!(!format!("{b:?}").contains(b.expose()));
        let s = FlowState::generate();
        assert!(!format!("{s:?}").contains(s.expose()));
    }
}

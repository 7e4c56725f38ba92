//! The OAuth `state`, self-verifying: issuing one stores nothing.
//!
//! A state is `nonce ‖ expiry ‖ issued-tag ‖ browser-tag` in hex. The issued tag (a MAC over
//! the app, nonce and expiry) proves that this service made it for this app; the browser
//! tag (a MAC over the nonce and the browser cookie's digest) binds it to one browser. Any
//! replica holding the app secret checks both without a lookup, so `/authorize` costs no
//! memory or storage however often it is called; the store only records states that a
//! valid callback claimed.

use subtle::ConstantTimeEq;

use super::StateRejection;
use super::ids::{BrowserId, digest};
use crate::apps::AppId;
use crate::iop::sign::hmac_sha256;
use crate::redact::redacted_debug;

const NONCE_LEN: usize = 16;
const EXPIRY_LEN: usize = 8;
const TAG_LEN: usize = 16;
const STATE_LEN: usize = NONCE_LEN + EXPIRY_LEN + 2 * TAG_LEN;

/// The label of the binding of states printed for the command line (`authorize-url`).
pub(super) const COMMAND_LINE: &str = "command line";

/// The key states are signed with, derived from the app secret so that every replica of
/// the app shares it without another setting, and a state of one app is refused by another.
pub struct StateKey([u8; 32]);
redacted_debug!(StateKey);

/// The OAuth `state` sent to the platform.
pub struct FlowState(String);
redacted_debug!(FlowState);

impl FlowState {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A state that this service issued for this app and this browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedState {
    /// What the store keys the claim by (never the raw state): see `claim_key`.
    pub digest: [u8; 32],
    pub expires_at: i64,
}

impl StateKey {
    pub fn derive(app_secret: &str) -> Self {
        StateKey(hmac_sha256(
            app_secret.as_bytes(),
            &[b"iop-callback state key v1"],
        ))
    }

    pub fn issue(&self, app: &AppId, browser: &BrowserId, expires_at: i64) -> FlowState {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let expiry = expires_at.to_be_bytes();
        let mut raw = Vec::with_capacity(STATE_LEN);
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&expiry);
        raw.extend_from_slice(&self.issued_tag(app, &nonce, &expiry));
        raw.extend_from_slice(&self.browser_tag(&nonce, browser));
        FlowState(hex::encode(raw))
    }

    /// Checks that `raw` was issued here for `app` and for `browser`. Expiry is left to
    /// the caller: a used state must still say "already used" after it expired.
    pub fn verify(
        &self,
        raw: Option<&str>,
        app: &AppId,
        browser: Option<&BrowserId>,
    ) -> Result<VerifiedState, StateRejection> {
        let raw = raw
            .filter(|s| !s.is_empty())
            .ok_or(StateRejection::Missing)?;
        let bytes = hex::decode(raw)
            .ok()
            .filter(|b| b.len() == STATE_LEN)
            .ok_or(StateRejection::Unknown)?;
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let (expiry, rest) = rest.split_at(EXPIRY_LEN);
        let (issued, bound) = rest.split_at(TAG_LEN);
        if !bool::from(self.issued_tag(app, nonce, expiry).ct_eq(issued)) {
            return Err(StateRejection::Unknown);
        }
        // Checked after the issued tag, so "another browser" is said only of real states.
        let same_browser =
            browser.is_some_and(|b| bool::from(self.browser_tag(nonce, b).ct_eq(bound)));
        if !same_browser {
            let printed = self.browser_tag(nonce, &self.binding(COMMAND_LINE));
            return Err(if bool::from(printed.ct_eq(bound)) {
                StateRejection::CommandLine
            } else {
                StateRejection::OtherBrowser
            });
        }
        let mut expiry_bytes = [0u8; EXPIRY_LEN];
        expiry_bytes.copy_from_slice(expiry);
        Ok(VerifiedState {
            digest: claim_key(raw, expiry_bytes),
            expires_at: i64::from_be_bytes(expiry_bytes),
        })
    }

    /// A browser binding no browser can present: its cookie value is a MAC under this key.
    /// States for the command line (`authorize-url`, `exchange --state`) are bound to it.
    pub fn binding(&self, label: &str) -> BrowserId {
        let mac = hmac_sha256(&self.0, &[b"binding", label.as_bytes()]);
        BrowserId::parse(&hex::encode(mac))
            .unwrap_or_else(|| unreachable!("64 lower-case hex characters"))
    }

    fn issued_tag(&self, app: &AppId, nonce: &[u8], expiry: &[u8]) -> [u8; TAG_LEN] {
        // The app name is length-prefixed so that no two (app, nonce) pairs share bytes.
        let app = app.as_str().as_bytes();
        let app_len = [u8::try_from(app.len()).unwrap_or(u8::MAX)];
        truncate(hmac_sha256(
            &self.0,
            &[b"issued", &app_len, app, nonce, expiry],
        ))
    }

    fn browser_tag(&self, nonce: &[u8], browser: &BrowserId) -> [u8; TAG_LEN] {
        truncate(hmac_sha256(
            &self.0,
            &[b"browser", nonce, &browser.digest()],
        ))
    }
}

/// The state's expiry (big-endian, so keys sort by time) and then the first 24 bytes of
/// its SHA-256. Every callback inserts a claim; keys in time order make those inserts
/// append to the end of the claims' B-tree instead of dirtying a random page of it per
/// flow, which on SQLite is a page written to the WAL and copied by the checkpoint.
/// 192 bits of digest keep distinct states apart; the expiry is public in the state.
fn claim_key(raw: &str, expiry: [u8; EXPIRY_LEN]) -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..EXPIRY_LEN].copy_from_slice(&expiry);
    key[EXPIRY_LEN..].copy_from_slice(&digest(raw)[..32 - EXPIRY_LEN]);
    key
}

/// 128 bits of a MAC are plenty against forgery over a state's minutes of life.
fn truncate(mac: [u8; 32]) -> [u8; TAG_LEN] {
    let mut tag = [0u8; TAG_LEN];
    tag.copy_from_slice(&mac[..TAG_LEN]);
    tag
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (StateKey, AppId, BrowserId) {
        (
            StateKey::derive("app-secret"),
            AppId::implicit(),
            BrowserId::generate(),
        )
    }

    #[test]
    fn an_issued_state_verifies_for_its_browser_with_its_expiry() {
        let (key, app, browser) = setup();
        let state = key.issue(&app, &browser, 1_234);
        assert_eq!(state.expose().len(), 2 * STATE_LEN);
        let verified = key
            .verify(Some(state.expose()), &app, Some(&browser))
            .unwrap();
        assert_eq!(verified.expires_at, 1_234);
        assert_ne!(
            verified.digest,
            key.verify(
                Some(key.issue(&app, &browser, 1_234).expose()),
                &app,
                Some(&browser)
            )
            .unwrap()
            .digest,
            "each state is its own"
        );
    }

    #[test]
    fn claim_keys_sort_by_expiry_and_never_hold_the_raw_state() {
        let (key, app, browser) = setup();
        let claim = |expires_at: i64| {
            let state = key.issue(&app, &browser, expires_at);
            let verified = key
                .verify(Some(state.expose()), &app, Some(&browser))
                .unwrap();
            (state, verified.digest)
        };
        let keys: Vec<[u8; 32]> = [255, 256, 70_000, 1_800_000_000_000]
            .into_iter()
            .map(|at| claim(at).1)
            .collect();
        assert!(keys.is_sorted(), "later states get greater keys");
        let (state, key_of_state) = claim(1_000);
        assert_eq!(key_of_state[..EXPIRY_LEN], 1_000_i64.to_be_bytes());
        let state_bytes = hex::decode(state.expose()).unwrap();
        assert!(
            !key_of_state[EXPIRY_LEN..]
                .windows(8)
                .any(|w| state_bytes.windows(8).any(|s| s == w)),
            "the rest is a digest, not a piece of the state"
        );
    }

    #[test]
    fn missing_forged_and_tampered_states_are_refused() {
        let (key, app, browser) = setup();
        let verify = |raw: &str| key.verify(Some(raw), &app, Some(&browser)).unwrap_err();
        assert_eq!(
            key.verify(None, &app, Some(&browser)).unwrap_err(),
            StateRejection::Missing
        );
        assert_eq!(verify(""), StateRejection::Missing);
        assert_eq!(verify("forged"), StateRejection::Unknown);
        assert_eq!(verify(&"0".repeat(2 * STATE_LEN)), StateRejection::Unknown);
        // Pushing the expiry out breaks the issued tag.
        let state = key.issue(&app, &browser, 1_000).expose().to_owned();
        let later = format!(
            "{}{}{}",
            &state[..2 * NONCE_LEN],
            hex::encode(9_999_999_i64.to_be_bytes()),
            &state[2 * (NONCE_LEN + EXPIRY_LEN)..]
        );
        assert_eq!(verify(&later), StateRejection::Unknown);
    }

    #[test]
    fn a_state_of_another_browser_app_or_secret_is_refused() {
        let (key, app, browser) = setup();
        let state = key.issue(&app, &browser, 1_000);
        assert_eq!(
            key.verify(Some(state.expose()), &app, Some(&BrowserId::generate()))
                .unwrap_err(),
            StateRejection::OtherBrowser
        );
        assert_eq!(
            key.verify(Some(state.expose()), &app, None).unwrap_err(),
            StateRejection::OtherBrowser
        );
        let other_app = AppId::parse("lzd-test").unwrap();
        assert_eq!(
            key.verify(Some(state.expose()), &other_app, Some(&browser))
                .unwrap_err(),
            StateRejection::Unknown
        );
        assert_eq!(
            StateKey::derive("another-secret")
                .verify(Some(state.expose()), &app, Some(&browser))
                .unwrap_err(),
            StateRejection::Unknown
        );
    }

    #[test]
    fn debug_output_hides_the_state_and_key() {
        let (key, app, browser) = setup();
        let state = key.issue(&app, &browser, 1);
        assert!(!format!("{state:?}").contains(state.expose()));
        assert_eq!(format!("{key:?}"), "StateKey([redacted])");
    }
}

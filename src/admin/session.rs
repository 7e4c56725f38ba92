//! An operator's session: a random id in an `HttpOnly`, `SameSite=Strict` cookie, kept in
//! the store by its digest (so any replica can check it, and a stolen database holds no
//! usable session), with a CSRF token derived from it for every form.

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

use crate::iop::sign::hmac_sha256;
use crate::random::random_hex;
use crate::redact::redacted_debug;

/// A session ends after this long without a request.
pub const IDLE_MS: i64 = 12 * 60 * 60 * 1000;

/// A session ends this long after it began, however busy: a stolen cookie does not work
/// for ever.
pub const MAX_AGE_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// A session's `last_seen_at` is written at most this often: every page view would
/// otherwise be a write.
pub const TOUCH_EVERY_MS: i64 = 60 * 1000;

/// The session cookie's value: 256 random bits.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId(String);
redacted_debug!(SessionId);

impl SessionId {
    pub fn generate() -> Self {
        SessionId(random_hex::<32>())
    }

    /// Accepts only what `generate` makes.
    pub fn parse(raw: &str) -> Option<Self> {
        (raw.len() == 64 && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| SessionId(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the store keeps.
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }

    /// The pass of a reveal the audit log recorded, for the page after it: the POST ends
    /// on a GET (`…?revealed=PASS`), so that reloading resubmits nothing. Bound to this
    /// session and this pair, and good until `until` (ms since the epoch).
    pub fn reveal_pass(&self, token_id: i64, until: i64) -> String {
        format!("{until}.{}", hex::encode(self.reveal_mac(token_id, until)))
    }

    /// Whether `raw` is a pass of this session for this pair that still holds at `now`.
    pub fn reveal_pass_holds(&self, token_id: i64, raw: &str, now: i64) -> bool {
        let Some((until, mac)) = raw.split_once('.') else {
            return false;
        };
        let (Ok(until), Ok(mac)) = (until.parse::<i64>(), hex::decode(mac)) else {
            return false;
        };
        now <= until && bool::from(self.reveal_mac(token_id, until).ct_eq(mac.as_slice()))
    }

    fn reveal_mac(&self, token_id: i64, until: i64) -> [u8; 16] {
        let mac = hmac_sha256(
            self.0.as_bytes(),
            &[b"reveal", &token_id.to_be_bytes(), &until.to_be_bytes()],
        );
        let mut short = [0u8; 16];
        short.copy_from_slice(&mac[..16]);
        short
    }

    /// The CSRF token of this session's forms: a MAC under the session id, so it needs no
    /// storage and is worthless without the cookie it is bound to.
    pub fn csrf(&self) -> CsrfToken {
        CsrfToken(hex::encode(hmac_sha256(self.0.as_bytes(), &[b"csrf"])))
    }
}

/// The hidden `csrf` field of a form.
#[derive(Clone, PartialEq, Eq)]
pub struct CsrfToken(String);
redacted_debug!(CsrfToken);

impl CsrfToken {
    /// A token for the sign-in form, before there is a session: the same value goes in a
    /// cookie and in the form (double submit).
    pub fn generate() -> Self {
        CsrfToken(random_hex::<32>())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether a form sent `sent`: compared in constant time; missing is wrong.
    pub fn matches(&self, sent: Option<&str>) -> bool {
        let Some(sent) = sent else {
            return false;
        };
        // Digests have one length, so the comparison's time says nothing about either.
        let expected: [u8; 32] = Sha256::digest(self.0.as_bytes()).into();
        let got: [u8; 32] = Sha256::digest(sent.as_bytes()).into();
        expected.ct_eq(&got).into()
    }

    /// Wraps a value read from the sign-in cookie.
    pub fn from_cookie(raw: &str) -> Option<Self> {
        (raw.len() == 64 && raw.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| CsrfToken(raw.to_owned()))
    }
}

/// A session as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub digest: [u8; 32],
    /// The password in force when it was made (`PasswordVerifier::tag`).
    pub password_tag: String,
    /// The client address that signed in, for the operator's eyes.
    pub client: String,
    pub created_at: i64,
    pub last_seen_at: i64,
}

impl SessionRecord {
    /// Whether the session still holds at `now` under the password named `tag` (a new
    /// password ends every session made under the old one).
    pub fn valid(&self, tag: &str, now_ms: i64) -> bool {
        let same_password: bool = self.password_tag.as_bytes().ct_eq(tag.as_bytes()).into();
        same_password
            && now_ms - self.last_seen_at < IDLE_MS
            && now_ms - self.created_at < MAX_AGE_MS
    }

    /// Whether a request at `now` should move `last_seen_at`.
    pub fn needs_touch(&self, now_ms: i64) -> bool {
        now_ms - self.last_seen_at >= TOUCH_EVERY_MS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(tag: &str, last_seen_at: i64) -> SessionRecord {
        SessionRecord {
            digest: [0; 32],
            password_tag: tag.to_owned(),
            client: "127.0.0.1".to_owned(),
            created_at: last_seen_at,
            last_seen_at,
        }
    }

    #[test]
    fn ids_are_random_parse_back_and_stay_out_of_debug() {
        let id = SessionId::generate();
        assert_ne!(id, SessionId::generate());
        assert_eq!(SessionId::parse(id.expose()), Some(id.clone()));
        assert_eq!(SessionId::parse(&id.expose().to_uppercase()), None);
        assert_eq!(SessionId::parse("abc"), None);
        assert_eq!(format!("{id:?}"), "SessionId([redacted])");
        assert_ne!(id.digest(), SessionId::generate().digest());
    }

    #[test]
    fn a_csrf_token_belongs_to_its_session() {
        let a = SessionId::generate();
        let b = SessionId::generate();
        let token = a.csrf();
        assert_eq!(token, a.csrf(), "stable for the session's life");
        assert!(token.matches(Some(a.csrf().expose())));
        assert!(!token.matches(Some(b.csrf().expose())));
        assert!(!token.matches(Some("")));
        assert!(!token.matches(None));
        assert!(!token.matches(Some(&token.expose()[..63])));
        assert_eq!(format!("{token:?}"), "CsrfToken([redacted])");
    }

    #[test]
    fn a_session_ends_when_idle_or_when_the_password_changes() {
        let now = 100 * IDLE_MS;
        assert!(record("tag", now - IDLE_MS + 1).valid("tag", now));
        assert!(!record("tag", now - IDLE_MS).valid("tag", now), "idle 12 h");
        assert!(!record("tag", now).valid("other", now), "new password");
        assert!(!record("tag", now).needs_touch(now + TOUCH_EVERY_MS - 1));
        assert!(record("tag", now).needs_touch(now + TOUCH_EVERY_MS));
    }

    #[test]
    fn a_session_ends_a_week_after_it_began_however_busy() {
        let busy = |created_at, now| SessionRecord {
            created_at,
            ..record("tag", now)
        };
        assert!(busy(0, MAX_AGE_MS - 1).valid("tag", MAX_AGE_MS - 1));
        assert!(!busy(0, MAX_AGE_MS).valid("tag", MAX_AGE_MS), "seven days");
    }
}

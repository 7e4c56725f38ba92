//! Tokens encrypted at rest: XChaCha20-Poly1305 under the operator's 32-byte key, each
//! value bound to its row and column (associated data), so a ciphertext copied to another
//! seller's row, or from the refresh to the access column, does not decrypt.
//!
//! A stored value is `v1:` + base64(24-byte random nonce ‖ ciphertext ‖ tag). Plain values
//! (a store from before encryption) have no prefix.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use secrecy::{ExposeSecret, SecretString};

use crate::redact::redacted_debug;

const PREFIX: &str = "v1:";
const NONCE_LEN: usize = 24;
/// What the store keeps to recognise the key it was encrypted with.
const KEY_CHECK_PLAINTEXT: &str = "iop-callback encryption key check";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CipherError {
    #[error("the key is not base64 of 32 bytes")]
    BadKey,
    #[error("a stored value does not decrypt with this key (or was moved between rows)")]
    Undecryptable,
}

/// The key that encrypts tokens at rest. Its `Debug` is redacted.
#[derive(Clone)]
pub struct TokenCipher {
    aead: XChaCha20Poly1305,
}
redacted_debug!(TokenCipher);

/// Which row a ciphertext belongs to: the row's unique key.
pub(super) struct Row<'a> {
    pub(super) platform: &'a str,
    pub(super) app_key: &'a str,
    pub(super) account_key: &'a str,
}

impl Row<'_> {
    fn associated_data(&self, column: &str) -> Vec<u8> {
        // Length-prefixed, so that no two bindings share bytes.
        let mut ad = Vec::new();
        for part in [self.platform, self.app_key, self.account_key, column] {
            ad.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
            ad.extend_from_slice(part.as_bytes());
        }
        ad
    }
}

impl TokenCipher {
    /// From `IOP_ENCRYPTION_KEY`'s value: base64 of exactly 32 bytes.
    pub fn from_base64(encoded: &SecretString) -> Result<Self, CipherError> {
        let bytes = BASE64
            .decode(encoded.expose_secret().trim())
            .map_err(|_| CipherError::BadKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| CipherError::BadKey)?;
        Ok(TokenCipher {
            aead: XChaCha20Poly1305::new(&key.into()),
        })
    }

    /// A fresh random key, base64, for `iop-callback store generate-key`.
    pub fn generate_key() -> String {
        BASE64.encode(rand::random::<[u8; 32]>())
    }

    pub(super) fn encrypt(&self, plaintext: &str, row: &Row<'_>, column: &str) -> String {
        self.seal(plaintext, &row.associated_data(column))
    }

    pub(super) fn decrypt(
        &self,
        stored: &str,
        row: &Row<'_>,
        column: &str,
    ) -> Result<SecretString, CipherError> {
        self.open(stored, &row.associated_data(column))
            .map(SecretString::from)
    }

    /// The value that tells, at startup, whether this is the key the store was encrypted
    /// with.
    pub(super) fn key_check(&self) -> String {
        self.seal(KEY_CHECK_PLAINTEXT, b"key check")
    }

    pub(super) fn accepts_key_check(&self, stored: &str) -> bool {
        self.open(stored, b"key check").as_deref() == Ok(KEY_CHECK_PLAINTEXT)
    }

    fn seal(&self, plaintext: &str, ad: &[u8]) -> String {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let sealed = self
            .aead
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: ad,
                },
            )
            // Encryption fails only for messages beyond 256 GiB.
            .unwrap_or_else(|_| unreachable!("a token is far below the AEAD's limit"));
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{}", BASE64.encode(out))
    }

    fn open(&self, stored: &str, ad: &[u8]) -> Result<String, CipherError> {
        let bytes = stored
            .strip_prefix(PREFIX)
            .and_then(|b| BASE64.decode(b).ok())
            .filter(|b| b.len() > NONCE_LEN)
            .ok_or(CipherError::Undecryptable)?;
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CipherError::Undecryptable)?;
        let plain = self
            .aead
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: ad,
                },
            )
            .map_err(|_| CipherError::Undecryptable)?;
        String::from_utf8(plain).map_err(|_| CipherError::Undecryptable)
    }
}

/// Whether a stored value is a ciphertext (of any key).
pub(super) fn is_encrypted(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(account_key: &str) -> Row<'_> {
        Row {
            platform: "aliexpress",
            app_key: "123",
            account_key,
        }
    }

    fn cipher() -> TokenCipher {
        TokenCipher::from_base64(&TokenCipher::generate_key().into()).unwrap()
    }

    #[test]
    fn a_token_decrypts_only_in_its_own_row_and_column() {
        let cipher = cipher();
        let stored = cipher.encrypt("50000secret", &row("seller:1"), "access_token");
        assert!(is_encrypted(&stored) && !stored.contains("50000secret"));
        assert_eq!(
            cipher
                .decrypt(&stored, &row("seller:1"), "access_token")
                .unwrap()
                .expose_secret(),
            "50000secret"
        );
        for (account, column) in [("seller:2", "access_token"), ("seller:1", "refresh_token")] {
            assert_eq!(
                cipher.decrypt(&stored, &row(account), column).unwrap_err(),
                CipherError::Undecryptable,
                "{account} {column}"
            );
        }
        assert_ne!(
            stored,
            cipher.encrypt("50000secret", &row("seller:1"), "access_token"),
            "a fresh nonce each time"
        );
    }

    #[test]
    fn another_key_is_recognised_by_the_key_check() {
        let (a, b) = (cipher(), cipher());
        assert!(a.accepts_key_check(&a.key_check()));
        assert!(!b.accepts_key_check(&a.key_check()));
        assert!(!a.accepts_key_check("plain"));
    }

    #[test]
    fn keys_must_be_base64_of_32_bytes() {
        for bad in ["", "not base64!", "c2hvcnQ="] {
            assert_eq!(
                TokenCipher::from_base64(&bad.to_owned().into()).unwrap_err(),
                CipherError::BadKey,
                "{bad}"
            );
        }
        assert!(format!("{:?}", cipher()).contains("redacted"));
    }
}

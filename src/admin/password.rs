//! The operator's password: given in plain (`IOP_ADMIN_PASSWORD`, `_FILE`) or as an
//! argon2 PHC string (`IOP_ADMIN_PASSWORD_HASH`), checked in constant time either way.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier as _, SaltString};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

use crate::redact::redacted_debug;

/// Shorter passwords are refused at startup.
pub const MIN_PASSWORD_LEN: usize = 12;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("is shorter than {MIN_PASSWORD_LEN} characters")]
    TooShort,
    #[error(
        "is not an argon2 PHC string like $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash> (make one with `iop-callback admin hash-password`)"
    )]
    NotArgon2,
}

/// The configured password, as given.
#[derive(Clone)]
pub enum AdminPassword {
    Plain(SecretString),
    /// An argon2 PHC string: the plain password never sits in the environment.
    Hash(SecretString),
}
redacted_debug!(AdminPassword);

impl AdminPassword {
    pub fn plain(password: SecretString) -> Result<Self, PasswordError> {
        if password.expose_secret().chars().count() < MIN_PASSWORD_LEN {
            return Err(PasswordError::TooShort);
        }
        Ok(AdminPassword::Plain(password))
    }

    pub fn hash(phc: SecretString) -> Result<Self, PasswordError> {
        let parsed =
            PasswordHash::new(phc.expose_secret()).map_err(|_| PasswordError::NotArgon2)?;
        if !parsed.algorithm.as_str().starts_with("argon2") || parsed.hash.is_none() {
            return Err(PasswordError::NotArgon2);
        }
        Ok(AdminPassword::Hash(phc))
    }
}

/// Checks sign-in attempts, and names the password in force so that a session made under
/// another password is no longer accepted.
pub struct PasswordVerifier {
    check: Check,
    tag: String,
}
redacted_debug!(PasswordVerifier);

enum Check {
    /// SHA-256 of the password: comparing digests takes the same time whatever the input.
    Digest([u8; 32]),
    Phc(SecretString),
}

impl PasswordVerifier {
    /// `deployment` salts the password's tag (the public URL does): the tag is stored
    /// with every session, and must not let a stolen database be searched for a password
    /// faster than argon2 allows.
    pub fn new(password: &AdminPassword, deployment: &str) -> Self {
        match password {
            AdminPassword::Plain(plain) => {
                let salt: [u8; 16] = Sha256::digest(format!("iop-callback admin {deployment}"))
                    [..16]
                    .try_into()
                    .unwrap_or([0; 16]);
                let mut stretched = [0u8; 32];
                // Argon2's defaults with valid parameters cannot fail on a 16-byte salt;
                // if they ever did, the tag is still the password's digest's digest.
                let tag = match Argon2::default().hash_password_into(
                    plain.expose_secret().as_bytes(),
                    &salt,
                    &mut stretched,
                ) {
                    Ok(()) => tag_of(&stretched),
                    Err(_) => tag_of(&Sha256::digest(Sha256::digest(plain.expose_secret()))),
                };
                PasswordVerifier {
                    check: Check::Digest(Sha256::digest(plain.expose_secret().as_bytes()).into()),
                    tag,
                }
            }
            AdminPassword::Hash(phc) => PasswordVerifier {
                tag: tag_of(phc.expose_secret().as_bytes()),
                check: Check::Phc(phc.clone()),
            },
        }
    }

    /// Whether `attempt` is the password. Argon2 takes tens of milliseconds: call it off
    /// the async threads.
    pub fn verify(&self, attempt: &str) -> bool {
        match &self.check {
            Check::Digest(expected) => {
                let digest: [u8; 32] = Sha256::digest(attempt.as_bytes()).into();
                digest.ct_eq(expected).into()
            }
            Check::Phc(phc) => PasswordHash::new(phc.expose_secret())
                .map(|hash| {
                    Argon2::default()
                        .verify_password(attempt.as_bytes(), &hash)
                        .is_ok()
                })
                .unwrap_or(false),
        }
    }

    /// Names the password in force without revealing it: sessions carry it, and one made
    /// under another password is refused.
    pub fn tag(&self) -> &str {
        &self.tag
    }
}

fn tag_of(bytes: &[u8]) -> String {
    hex::encode(&Sha256::digest([b"iop-admin-session\0".as_slice(), bytes].concat())[..16])
}

/// An argon2id PHC string of `password`, for IOP_ADMIN_PASSWORD_HASH.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(PasswordError::TooShort);
    }
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|_| PasswordError::NotArgon2)?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|_| PasswordError::NotArgon2)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "correct horse battery";

    fn plain(raw: &str) -> AdminPassword {
        AdminPassword::plain(raw.to_owned().into()).unwrap()
    }

    #[test]
    fn short_passwords_and_foreign_hashes_are_refused() {
        assert_eq!(
            AdminPassword::plain("elevenchars".to_owned().into()).unwrap_err(),
            PasswordError::TooShort
        );
        assert!(AdminPassword::plain("twelve chars".to_owned().into()).is_ok());
        for not_argon in ["secret", "$2b$12$abcdefghijklmnopqrstuv", "$pbkdf2$x$y"] {
            assert_eq!(
                AdminPassword::hash(not_argon.to_owned().into()).unwrap_err(),
                PasswordError::NotArgon2,
                "{not_argon}"
            );
        }
        assert_eq!(hash_password("short").unwrap_err(), PasswordError::TooShort);
    }

    #[test]
    fn a_plain_password_is_checked_exactly() {
        let verifier = PasswordVerifier::new(&plain(GOOD), "https://x.example");
        assert!(verifier.verify(GOOD));
        for wrong in [
            "",
            "correct horse battery ",
            "Correct horse battery",
            "correct",
        ] {
            assert!(!verifier.verify(wrong), "{wrong:?}");
        }
    }

    #[test]
    fn a_hash_made_here_checks_its_password() {
        let phc = hash_password(GOOD).unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        let verifier = PasswordVerifier::new(
            &AdminPassword::hash(phc.into()).unwrap(),
            "https://x.example",
        );
        assert!(verifier.verify(GOOD));
        assert!(!verifier.verify("correct horse batter"));
    }

    #[test]
    fn the_tag_changes_with_the_password_and_never_shows_it() {
        let a = PasswordVerifier::new(&plain(GOOD), "https://x.example");
        let again = PasswordVerifier::new(&plain(GOOD), "https://x.example");
        let b = PasswordVerifier::new(&plain("another password"), "https://x.example");
        assert_eq!(a.tag(), again.tag(), "replicas agree");
        assert_ne!(a.tag(), b.tag(), "a new password ends old sessions");
        assert_eq!(a.tag().len(), 32);
        assert!(!a.tag().contains("correct"));
        let unsalted = hex::encode(&Sha256::digest(GOOD)[..16]);
        assert_ne!(a.tag(), unsalted);
        assert_eq!(format!("{a:?}"), "PasswordVerifier([redacted])");
        assert_eq!(format!("{:?}", plain(GOOD)), "AdminPassword([redacted])");
    }
}

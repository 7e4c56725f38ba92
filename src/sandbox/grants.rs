//! The sandbox's memory of what it issued: single-use codes and refresh tokens.
//! Pure bookkeeping with `now` passed in, so expiry is tested without waiting.

use std::collections::HashMap;

use super::sellers::SampleSeller;

/// Bounds memory if something calls the sandbox in a loop.
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Clone, Copy)]
pub(super) struct Lifetimes {
    pub code_ms: i64,
    pub access_ms: i64,
    pub refresh_ms: i64,
}

/// A token pair as issued, with absolute expiries in epoch ms.
pub(super) struct Issued {
    pub seller: &'static SampleSeller,
    pub access_token: String,
    pub refresh_token: String,
    pub access_expires_at: i64,
    pub refresh_expires_at: i64,
}

struct CodeGrant {
    seller: &'static SampleSeller,
    expires_at: i64,
}

struct RefreshGrant {
    seller: &'static SampleSeller,
    expires_at: i64,
}

/// An access token the sandbox issued, until it expires or is revoked.
struct AccessGrant {
    seller: &'static SampleSeller,
    expires_at: i64,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum GrantError {
    /// Unknown, already used, or expired: the platform does not say which.
    InvalidCode,
    InvalidRefreshToken,
    Full,
}

pub(super) struct Grants {
    lifetimes: Lifetimes,
    codes: HashMap<String, CodeGrant>,
    refresh_tokens: HashMap<String, RefreshGrant>,
    access_tokens: HashMap<String, AccessGrant>,
}

fn random_alnum(len: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..len)
        .map(|_| CHARS[usize::from(rand::random::<u8>()) % CHARS.len()] as char)
        .collect()
}

impl Grants {
    pub(super) fn new(lifetimes: Lifetimes) -> Self {
        Grants {
            lifetimes,
            codes: HashMap::new(),
            refresh_tokens: HashMap::new(),
            access_tokens: HashMap::new(),
        }
    }

    /// A code shaped like the platform's: `3_<appkey>_<random>` (AliExpress) or `0_...` (Lazada).
    pub(super) fn issue_code(
        &mut self,
        prefix: &str,
        app_key: &str,
        seller: &'static SampleSeller,
        now: i64,
    ) -> Result<String, GrantError> {
        self.prune(now);
        if self.codes.len() >= MAX_ENTRIES {
            return Err(GrantError::Full);
        }
        let code = format!("{prefix}_{app_key}_{}", random_alnum(32));
        self.codes.insert(
            code.clone(),
            CodeGrant {
                seller,
                expires_at: now + self.lifetimes.code_ms,
            },
        );
        Ok(code)
    }

    /// Spends a code: it works once, within its lifetime.
    pub(super) fn redeem_code(&mut self, code: &str, now: i64) -> Result<Issued, GrantError> {
        let grant = self.codes.remove(code).ok_or(GrantError::InvalidCode)?;
        if now > grant.expires_at {
            return Err(GrantError::InvalidCode);
        }
        if self.refresh_tokens.len() >= MAX_ENTRIES {
            self.prune(now);
        }
        let refresh_token = format!("50001{}", random_alnum(48));
        let refresh_expires_at = now + self.lifetimes.refresh_ms;
        self.refresh_tokens.insert(
            refresh_token.clone(),
            RefreshGrant {
                seller: grant.seller,
                expires_at: refresh_expires_at,
            },
        );
        Ok(self.pair(grant.seller, refresh_token, refresh_expires_at, now))
    }

    /// A new access token for a live refresh token. The refresh token's expiry is not
    /// extended, as on the platform.
    pub(super) fn refresh(&mut self, refresh_token: &str, now: i64) -> Result<Issued, GrantError> {
        let grant = self
            .refresh_tokens
            .get(refresh_token)
            .ok_or(GrantError::InvalidRefreshToken)?;
        if now > grant.expires_at {
            return Err(GrantError::InvalidRefreshToken);
        }
        let (seller, expires_at) = (grant.seller, grant.expires_at);
        Ok(self.pair(seller, refresh_token.to_owned(), expires_at, now))
    }

    /// The seller whose live access token this is (business calls).
    pub(super) fn seller_of(&self, access_token: &str, now: i64) -> Option<&'static SampleSeller> {
        self.access_tokens
            .get(access_token)
            .filter(|grant| now <= grant.expires_at)
            .map(|grant| grant.seller)
    }

    /// Revokes every access token of the seller `key` (the sandbox home page's button), as
    /// the platform does when a seller changes a password: the next business call with one
    /// answers `IllegalAccessToken`, and a refresh gets a working one. Returns how many.
    pub(super) fn revoke_access(&mut self, key: &str) -> usize {
        let before = self.access_tokens.len();
        self.access_tokens
            .retain(|_, grant| grant.seller.key != key);
        before - self.access_tokens.len()
    }

    fn pair(
        &mut self,
        seller: &'static SampleSeller,
        refresh_token: String,
        refresh_expires_at: i64,
        now: i64,
    ) -> Issued {
        let access_token = format!("50000{}", random_alnum(48));
        // An access token never outlives the refresh token that renews it.
        let access_expires_at = (now + self.lifetimes.access_ms).min(refresh_expires_at);
        if self.access_tokens.len() >= MAX_ENTRIES {
            self.prune(now);
        }
        if self.access_tokens.len() < MAX_ENTRIES {
            self.access_tokens.insert(
                access_token.clone(),
                AccessGrant {
                    seller,
                    expires_at: access_expires_at,
                },
            );
        }
        Issued {
            seller,
            access_token,
            refresh_token,
            access_expires_at,
            refresh_expires_at,
        }
    }

    fn prune(&mut self, now: i64) {
        self.codes.retain(|_, g| g.expires_at >= now);
        self.refresh_tokens.retain(|_, g| g.expires_at >= now);
        self.access_tokens.retain(|_, g| g.expires_at >= now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iop::Platform;
    use crate::sandbox::sellers;

    const T0: i64 = 1_700_000_000_000;
    const LIFETIMES: Lifetimes = Lifetimes {
        code_ms: 180_000,
        access_ms: 86_400_000,
        refresh_ms: 172_800_000,
    };

    fn seller() -> &'static SampleSeller {
        sellers::find(Platform::Aliexpress, "ae-store")
    }

    #[test]
    fn a_code_has_the_platform_shape_and_works_once() {
        let mut grants = Grants::new(LIFETIMES);
        let code = grants.issue_code("3", "12345678", seller(), T0).unwrap();
        assert!(code.starts_with("3_12345678_"));
        let issued = grants.redeem_code(&code, T0 + 1).unwrap();
        assert_eq!(issued.access_expires_at, T0 + 1 + LIFETIMES.access_ms);
        assert_eq!(
            grants.redeem_code(&code, T0 + 2).err(),
            Some(GrantError::InvalidCode)
        );
    }

    #[test]
    fn an_expired_code_is_invalid() {
        let mut grants = Grants::new(LIFETIMES);
        let code = grants.issue_code("3", "k", seller(), T0).unwrap();
        assert_eq!(
            grants.redeem_code(&code, T0 + LIFETIMES.code_ms + 1).err(),
            Some(GrantError::InvalidCode)
        );
    }

    #[test]
    fn refresh_gives_a_new_access_token_without_extending_the_refresh_token() {
        let mut grants = Grants::new(LIFETIMES);
        let code = grants.issue_code("3", "k", seller(), T0).unwrap();
        let first = grants.redeem_code(&code, T0).unwrap();
        let later = T0 + 3_600_000;
        let renewed = grants.refresh(&first.refresh_token, later).unwrap();
        assert_ne!(renewed.access_token, first.access_token);
        assert_eq!(renewed.refresh_expires_at, first.refresh_expires_at);
        assert_eq!(renewed.access_expires_at, later + LIFETIMES.access_ms);
        assert_eq!(
            grants
                .refresh(&first.refresh_token, first.refresh_expires_at + 1)
                .err(),
            Some(GrantError::InvalidRefreshToken)
        );
        assert_eq!(
            grants.refresh("50001unknown", later).err(),
            Some(GrantError::InvalidRefreshToken)
        );
    }

    #[test]
    fn access_tokens_never_outlive_their_refresh_token() {
        let mut grants = Grants::new(Lifetimes {
            code_ms: 1000,
            access_ms: 10_000,
            refresh_ms: 15_000,
        });
        let code = grants.issue_code("3", "k", seller(), T0).unwrap();
        let issued = grants.redeem_code(&code, T0).unwrap();
        let renewed = grants.refresh(&issued.refresh_token, T0 + 10_000).unwrap();
        assert_eq!(renewed.access_expires_at, T0 + 15_000);
    }
}

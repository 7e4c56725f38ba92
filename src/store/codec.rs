//! Rows of the `tokens` table to and from the token domain: the columns a read selects,
//! sealing tokens on the way in (encrypted when the store has a key) and unsealing them on
//! the way out. Reads that show no token select `PAIR_COLUMNS` and decrypt nothing.

use secrecy::{ExposeSecret, SecretString};

use super::StoreError;
use super::cipher::{Row, TokenCipher, is_encrypted};
use crate::apps::AppId;
use crate::iop::Platform;
use crate::tokens::{Pair, StoredToken, TokenId, TokenStatus};

/// The columns of a `PairRow`: everything but the tokens. A macro so that statements stay
/// static strings.
macro_rules! pair_columns {
    () => {
        "id, app_id, platform, app_key, account_key, \
         CAST(CASE WHEN refresh_token IS NULL THEN 0 ELSE 1 END AS BIGINT) AS has_refresh_token, \
         access_expires_at, refresh_expires_at, refreshable, identity, last_request_id, status, \
         created_at, updated_at, issued_at, authorized_at, last_refresh_at, last_error, \
         last_error_code, consecutive_failures, retry_after, authorization_expires_at, closed_at"
    };
}

/// The columns of a `TokenRow`: the pair's and its tokens.
macro_rules! token_columns {
    () => {
        concat!(
            $crate::store::codec::pair_columns!(),
            ", access_token, refresh_token"
        )
    };
}

/// The row of a seller's pair, by its identity: later statements of the same write find
/// the row the upsert made without needing its id.
macro_rules! pair_by_identity {
    () => {
        "(SELECT id FROM tokens
          WHERE platform = :platform AND app_key = :app_key AND account_key = :account_key)"
    };
}

pub(super) use {pair_by_identity, pair_columns, token_columns};

/// The columns whose values are encrypted, as named in the associated data.
const ACCESS: &str = "access_token";
const REFRESH: &str = "refresh_token";

#[derive(Clone, sqlx::FromRow)]
pub(super) struct PairRow {
    id: i64,
    app_id: String,
    platform: String,
    app_key: String,
    account_key: String,
    has_refresh_token: i64,
    access_expires_at: Option<i64>,
    refresh_expires_at: Option<i64>,
    refreshable: i64,
    identity: String,
    last_request_id: Option<String>,
    status: String,
    created_at: i64,
    updated_at: i64,
    issued_at: Option<i64>,
    authorized_at: Option<i64>,
    last_refresh_at: Option<i64>,
    last_error: Option<String>,
    last_error_code: Option<String>,
    consecutive_failures: i64,
    retry_after: Option<i64>,
    authorization_expires_at: Option<i64>,
    closed_at: Option<i64>,
}

#[derive(Clone, sqlx::FromRow)]
pub(super) struct TokenRow {
    #[sqlx(flatten)]
    pair: PairRow,
    access_token: String,
    refresh_token: Option<String>,
}

impl TokenRow {
    pub(super) fn id(&self) -> i64 {
        self.pair.id
    }
}

impl TryFrom<PairRow> for Pair {
    type Error = StoreError;

    fn try_from(row: PairRow) -> Result<Self, StoreError> {
        Ok(Pair {
            id: TokenId::new(row.id),
            app: app_id(&row.app_id)?,
            platform: Platform::parse(&row.platform)
                .ok_or_else(|| StoreError::Corrupt(format!("platform `{}`", row.platform)))?,
            app_key: row.app_key,
            account_key: row.account_key,
            has_refresh_token: row.has_refresh_token != 0,
            access_expires_at: row.access_expires_at,
            refresh_expires_at: row.refresh_expires_at,
            refreshable: row.refreshable != 0,
            identity: serde_json::from_str(&row.identity)?,
            last_request_id: row.last_request_id,
            status: TokenStatus::parse(&row.status)
                .ok_or_else(|| StoreError::Corrupt(format!("token status `{}`", row.status)))?,
            created_at: row.created_at,
            updated_at: row.updated_at,
            issued_at: row.issued_at.unwrap_or(row.updated_at),
            authorized_at: row.authorized_at.unwrap_or(row.created_at),
            last_refresh_at: row.last_refresh_at,
            last_error: row.last_error,
            last_error_code: row.last_error_code,
            consecutive_failures: row.consecutive_failures,
            retry_after: row.retry_after,
            authorization_expires_at: row.authorization_expires_at,
            closed_at: row.closed_at,
        })
    }
}

pub(super) fn app_id(raw: &str) -> Result<AppId, StoreError> {
    AppId::parse(raw).map_err(StoreError::Corrupt)
}

/// Seals and unseals token values: encrypted under the store's key, when it has one.
#[derive(Clone)]
pub(super) struct Codec {
    cipher: Option<TokenCipher>,
}

impl Codec {
    pub(super) fn new(cipher: Option<TokenCipher>) -> Self {
        Codec { cipher }
    }

    pub(super) fn cipher(&self) -> Option<&TokenCipher> {
        self.cipher.as_ref()
    }

    /// A token value as stored.
    fn seal(&self, value: &SecretString, row: &Row<'_>, column: &str) -> String {
        match &self.cipher {
            Some(cipher) => cipher.encrypt(value.expose_secret(), row, column),
            None => value.expose_secret().to_owned(),
        }
    }

    /// A pair's access and refresh tokens as stored in `row`.
    pub(super) fn seal_pair(
        &self,
        access: &SecretString,
        refresh: Option<&SecretString>,
        row: &Row<'_>,
    ) -> (String, Option<String>) {
        (
            self.seal(access, row, ACCESS),
            refresh.map(|t| self.seal(t, row, REFRESH)),
        )
    }

    /// A stored token value as it was given.
    fn unseal(
        &self,
        stored: String,
        row: &Row<'_>,
        column: &str,
    ) -> Result<SecretString, StoreError> {
        match &self.cipher {
            Some(cipher) => cipher
                .decrypt(&stored, row, column)
                .map_err(|e| StoreError::Encryption(e.to_string())),
            None if is_encrypted(&stored) => Err(StoreError::Encryption(
                "a token is encrypted, but no IOP_ENCRYPTION_KEY is set".into(),
            )),
            None => Ok(stored.into()),
        }
    }

    pub(super) fn token(&self, row: TokenRow) -> Result<StoredToken, StoreError> {
        let TokenRow {
            pair,
            access_token,
            refresh_token,
        } = row;
        let pair = Pair::try_from(pair)?;
        let identity = row_of(&pair);
        Ok(StoredToken {
            access_token: self.unseal(access_token, &identity, ACCESS)?,
            refresh_token: refresh_token
                .map(|t| self.unseal(t, &identity, REFRESH))
                .transpose()?,
            pair,
        })
    }
}

/// The row a pair's ciphertexts are bound to.
pub(super) fn row_of(pair: &Pair) -> Row<'_> {
    Row {
        platform: pair.platform.as_str(),
        app_key: &pair.app_key,
        account_key: &pair.account_key,
    }
}

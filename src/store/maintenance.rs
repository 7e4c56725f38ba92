//! Looking after the store as a whole: the key check that proves which key its tokens are
//! encrypted with, encrypting a plain store and rotating keys (`iop-callback store ...`),
//! consistent backups of a running SQLite store, and the readiness probe.

use sqlx::Connection;

use super::codec::{Codec, TokenRow, row_of, token_columns};
use super::statement::{Sql, Statement};
use super::{Engine, Store, StoreError, TokenCipher};

static KEY_CHECK: Sql = Sql::new("SELECT value FROM store_meta WHERE name = 'key_check'");

static COUNT_TOKENS: Sql = Sql::new("SELECT COUNT(*) FROM tokens");

/// Records the key check of a new store; a check another process wrote first wins.
static FIRST_KEY_CHECK: Sql = Sql::new(
    "INSERT INTO store_meta (name, value) VALUES ('key_check', :check)
     ON CONFLICT (name) DO NOTHING",
);

static SET_KEY_CHECK: Sql = Sql::new(
    "INSERT INTO store_meta (name, value) VALUES ('key_check', :check)
     ON CONFLICT (name) DO UPDATE SET value = excluded.value",
);

static ALL_TOKENS: Sql = Sql::new(concat!("SELECT ", token_columns!(), " FROM tokens"));

/// A pair's tokens sealed again, over the row exactly as it was read.
static RESEAL: Sql = Sql::new(
    "UPDATE tokens SET access_token = :access_token, refresh_token = :refresh_token
     WHERE id = :id AND updated_at = :seen_updated_at",
);

static READY_PROBE: Sql = Sql::new(
    "INSERT INTO store_meta (name, value) VALUES ('ready_probe', :value)
     ON CONFLICT (name) DO UPDATE SET value = excluded.value",
);

impl Store {
    async fn key_check(&self) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = self
            .db
            .fetch_optional(Statement::new(&KEY_CHECK, [])?)
            .await?;
        Ok(row.map(|(check,)| check))
    }

    pub(super) async fn check_key(&self) -> Result<(), StoreError> {
        match (self.key_check().await?, self.codec.cipher()) {
            (None, None) => Ok(()),
            (Some(check), Some(cipher)) if cipher.accepts_key_check(&check) => Ok(()),
            (Some(_), Some(_)) => Err(StoreError::Encryption(
                "IOP_ENCRYPTION_KEY is not the key this store's tokens are encrypted with \
                 (to change keys, use `iop-callback store rotate-key`)"
                    .into(),
            )),
            (Some(_), None) => Err(StoreError::Encryption(
                "the store's tokens are encrypted: set IOP_ENCRYPTION_KEY (or \
                 IOP_ENCRYPTION_KEY_FILE) to its key"
                    .into(),
            )),
            (None, Some(cipher)) => {
                let (plain,): (i64,) = self
                    .db
                    .fetch_one(Statement::new(&COUNT_TOKENS, [])?)
                    .await?;
                if plain > 0 {
                    return Err(StoreError::Encryption(
                        "IOP_ENCRYPTION_KEY is set, but the store holds unencrypted tokens: \
                         run `iop-callback store encrypt` once with the key set"
                            .into(),
                    ));
                }
                // A new store: encrypted from the start.
                self.db
                    .write_one(Statement::new(
                        &FIRST_KEY_CHECK,
                        [("check", cipher.key_check().into())],
                    )?)
                    .await?;
                Ok(())
            }
        }
    }

    /// Encrypts every plain token under the store's key (`iop-callback store encrypt`),
    /// in one transaction. Returns how many pairs it encrypted.
    pub async fn encrypt_all(&self) -> Result<u64, StoreError> {
        let cipher = self.codec.cipher().cloned().ok_or_else(|| {
            StoreError::Encryption("set IOP_ENCRYPTION_KEY to the key to encrypt with".into())
        })?;
        if let Some(check) = self.key_check().await? {
            if cipher.accepts_key_check(&check) {
                return Ok(0);
            }
            return Err(StoreError::Encryption(
                "the store is already encrypted under another key: use `store rotate-key`".into(),
            ));
        }
        self.reseal_all(&Codec::new(None), &cipher).await
    }

    /// Re-encrypts every token under `new` (`iop-callback store rotate-key`), in one
    /// transaction. Returns how many pairs it re-encrypted.
    pub async fn rotate_key(&self, new: TokenCipher) -> Result<u64, StoreError> {
        if self.codec.cipher().is_none() {
            return Err(StoreError::Encryption(
                "the store is not encrypted: use `store encrypt`".into(),
            ));
        }
        self.reseal_all(&self.codec, &new).await
    }

    /// Reads every pair with `from`'s key and writes it back under `to`, key check
    /// included, all or nothing. A pair renewed between the read and the write fails the
    /// whole write (nothing changes), rather than be overwritten with its old tokens.
    async fn reseal_all(&self, from: &Codec, to: &TokenCipher) -> Result<u64, StoreError> {
        let target = Codec::new(Some(to.clone()));
        let rows: Vec<TokenRow> = self.db.fetch_all(Statement::new(&ALL_TOKENS, [])?).await?;
        let count = u64::try_from(rows.len()).unwrap_or(u64::MAX);
        let mut write = Vec::with_capacity(rows.len() + 1);
        for row in rows {
            let token = from.token(row)?;
            let (access_token, refresh_token) = target.seal_pair(
                &token.access_token,
                token.refresh_token.as_ref(),
                &row_of(&token),
            );
            write.push(
                Statement::new(
                    &RESEAL,
                    [
                        ("access_token", access_token.into()),
                        ("refresh_token", refresh_token.into()),
                        ("id", token.id.get().into()),
                        ("seen_updated_at", token.updated_at.into()),
                    ],
                )?
                .changing_one_row(),
            );
        }
        write.push(Statement::new(
            &SET_KEY_CHECK,
            [("check", to.key_check().into())],
        )?);
        self.db.write(write).await?;
        self.compact().await?;
        Ok(count)
    }

    /// Rewrites a SQLite file without its free pages, so that values
    /// replaced before secure_delete was on (or by `store encrypt`) leave no copy behind.
    /// PostgreSQL keeps dead rows until its own VACUUM (README: encryption at rest).
    async fn compact(&self) -> Result<(), StoreError> {
        let Some(database) = self.db.sqlite_file() else {
            return Ok(());
        };
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(database)
            .busy_timeout(std::time::Duration::from_secs(5));
        let mut connection = sqlx::SqliteConnection::connect_with(&options).await?;
        sqlx::raw_sql("PRAGMA secure_delete = ON; VACUUM;")
            .execute(&mut connection)
            .await?;
        connection.close().await?;
        Ok(())
    }

    /// A consistent copy of a SQLite store while it runs (`iop-callback store backup`).
    pub async fn backup(&self, file: &std::path::Path) -> Result<(), StoreError> {
        let Some(database) = self
            .db
            .sqlite_file()
            .filter(|_| self.engine() == Engine::Sqlite)
        else {
            return Err(StoreError::Usage(
                "`store backup` copies SQLite stores; back up PostgreSQL with pg_dump".into(),
            ));
        };
        let shown = std::path::absolute(file).unwrap_or_else(|_| file.to_owned());
        let failed = |source| StoreError::File {
            path: shown.display().to_string(),
            source,
        };
        if file.exists() {
            return Err(failed(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "already exists",
            )));
        }
        let path = file.to_str().ok_or_else(|| {
            StoreError::Usage(format!(
                "the backup path {} is not valid UTF-8",
                shown.display()
            ))
        })?;
        // VACUUM INTO writes a transactionally consistent copy while others keep writing.
        // It reads the database and writes another file, on a connection of its own: the
        // pool only reads, and the writer's transactions cannot hold a VACUUM.
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(database);
        let mut connection = sqlx::SqliteConnection::connect_with(&options).await?;
        sqlx::query("VACUUM INTO ?")
            .bind(path)
            .execute(&mut connection)
            .await?;
        connection.close().await?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))
                .map_err(failed)?;
        }
        Ok(())
    }

    /// Ready means writable: the SQLite file is still the one opened, and a write lands
    /// (through the writer thread, on SQLite).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.check_file()?;
        self.db
            .write_one(Statement::new(
                &READY_PROBE,
                [("value", crate::random::random_hex::<4>().into())],
            )?)
            .await?;
        Ok(())
    }
}

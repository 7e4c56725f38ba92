//! Looking after the store as a whole: the key check that proves which key its tokens are
//! encrypted with, encrypting a plain store and rotating keys (`iop-callback store ...`),
//! consistent backups of a running SQLite store, and the readiness probe.

use sqlx::Connection;

use super::codec::{Codec, TokenRow, row_of, token_columns};
use super::statement::{Sql, Statement};
use super::{Engine, Store, StoreError, TokenCipher};
use crate::tokens::StoredToken;

static KEY_CHECK: Sql = Sql::new("SELECT value FROM store_meta WHERE name = 'key_check'");

static COUNT_TOKENS: Sql = Sql::new("SELECT COUNT(*) FROM tokens");

/// Records the key check of a new store; a check another process wrote first wins.
static FIRST_KEY_CHECK: Sql = Sql::repeatable(
    "INSERT INTO store_meta (name, value) VALUES ('key_check', :check)
     ON CONFLICT (name) DO NOTHING",
);

static SET_KEY_CHECK: Sql = Sql::repeatable(
    "INSERT INTO store_meta (name, value) VALUES ('key_check', :check)
     ON CONFLICT (name) DO UPDATE SET value = excluded.value",
);

/// Pairs with their tokens a batch at a time, in id order.
static TOKEN_BATCH: Sql = Sql::new(concat!(
    "SELECT ",
    token_columns!(),
    " FROM tokens WHERE id > :after ORDER BY id LIMIT 500"
));

/// A pair's tokens sealed again, over the row exactly as it was read.
static RESEAL: Sql = Sql::new(
    "UPDATE tokens SET access_token = :access_token, refresh_token = :refresh_token
     WHERE id = :id AND updated_at = :seen_updated_at",
);

static READY_PROBE: Sql = Sql::repeatable(
    "INSERT INTO store_meta (name, value) VALUES ('ready_probe', :value)
     ON CONFLICT (name) DO UPDATE SET value = excluded.value",
);

/// Hears how many of how many pairs a long run has done.
pub type Progress<'a> = dyn FnMut(u64, u64) + Send + 'a;

/// A row's tokens if they are under `from` (to be written under `to`); none if they are
/// under `to` already; an error if under neither.
fn opened(from: &Codec, to: &Codec, row: TokenRow) -> Result<Option<StoredToken>, StoreError> {
    if to.token(row.clone()).is_ok() {
        return Ok(None);
    }
    from.token(row).map(Some)
}

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

    /// Encrypts every plain token under the store's key (`iop-callback store encrypt`).
    /// Returns how many pairs it encrypted; `progress` hears how far it is.
    pub async fn encrypt_all(&self, progress: &mut Progress<'_>) -> Result<u64, StoreError> {
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
        self.reseal_all(&Codec::new(None), &cipher, progress).await
    }

    /// Re-encrypts every token under `new` (`iop-callback store rotate-key`). Returns how
    /// many pairs it re-encrypted; `progress` hears how far it is.
    pub async fn rotate_key(
        &self,
        new: TokenCipher,
        progress: &mut Progress<'_>,
    ) -> Result<u64, StoreError> {
        if self.codec.cipher().is_none() {
            return Err(StoreError::Encryption(
                "the store is not encrypted: use `store encrypt`".into(),
            ));
        }
        self.reseal_all(&self.codec, &new, progress).await
    }

    /// Writes every pair under `to`, a batch at a time so that memory does not grow with
    /// the store. First every pair is read: one that opens under neither key stops it
    /// before anything is written. Then each batch is written, over the rows exactly as
    /// read. A pair already under `to` is left as it is, so a run that stopped half way
    /// (killed, or a pair renewed meanwhile) is finished by running it again with the same
    /// keys. The key check changes last, once every pair is under `to`.
    async fn reseal_all(
        &self,
        from: &Codec,
        to: &TokenCipher,
        progress: &mut Progress<'_>,
    ) -> Result<u64, StoreError> {
        let target = Codec::new(Some(to.clone()));
        let (total,): (i64,) = self
            .db
            .fetch_one(Statement::new(&COUNT_TOKENS, [])?)
            .await?;
        let total = u64::try_from(total).unwrap_or(0);
        let mut after = 0;
        while let Some(rows) = self.token_batch(&mut after).await? {
            for row in rows {
                opened(from, &target, row)?;
            }
        }
        let (mut after, mut seen, mut resealed) = (0, 0_u64, 0_u64);
        while let Some(rows) = self.token_batch(&mut after).await? {
            seen += rows.len() as u64;
            let mut write = Vec::with_capacity(rows.len());
            for row in rows {
                let Some(token) = opened(from, &target, row)? else {
                    continue;
                };
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
            resealed += write.len() as u64;
            if !write.is_empty() {
                self.db.write(write).await?;
            }
            progress(seen, total);
        }
        self.db
            .write_one(Statement::new(
                &SET_KEY_CHECK,
                [("check", to.key_check().into())],
            )?)
            .await?;
        self.compact().await?;
        Ok(resealed)
    }

    /// The next batch of pairs after `after` (moved past it), or none at the end.
    async fn token_batch(&self, after: &mut i64) -> Result<Option<Vec<TokenRow>>, StoreError> {
        let rows: Vec<TokenRow> = self
            .db
            .fetch_all(Statement::new(&TOKEN_BATCH, [("after", (*after).into())])?)
            .await?;
        let Some(last) = rows.last() else {
            return Ok(None);
        };
        *after = last.id();
        Ok(Some(rows))
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
        // Errors name the backup's own path: IOP_DATABASE_URL is not what is wrong.
        let shown = std::path::absolute(file).unwrap_or_else(|_| file.to_owned());
        let refused = |why: String| {
            StoreError::Usage(format!(
                "cannot write the backup to {}: {why}",
                shown.display()
            ))
        };
        if file.exists() {
            return Err(refused(
                "it already exists (a backup never overwrites)".into(),
            ));
        }
        if let Some(folder) = shown.parent().filter(|folder| !folder.is_dir()) {
            return Err(refused(format!(
                "the folder {} does not exist",
                folder.display()
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
            .await
            .map_err(|e| refused(e.to_string()))?;
        connection.close().await?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| refused(e.to_string()))?;
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

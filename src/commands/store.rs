//! `iop-callback store ...`: encryption at rest (`generate-key`, `encrypt`, `rotate-key`)
//! and `backup`.

use std::path::Path;

use secrecy::{ExposeSecret, SecretString};

use super::CommandError;
use crate::cli::StoreCommand;
use crate::config::{Config, Settings};
use crate::store::{Store, TokenCipher};

pub(super) async fn run(service: &Settings, command: StoreCommand) -> Result<(), CommandError> {
    if let StoreCommand::GenerateKey = command {
        println!("{}", TokenCipher::generate_key());
        return Ok(());
    }
    let config = Config::from_settings(service)?;
    super::refuse_new_store(&config)?;
    let key = config.encryption_key.clone();
    match command {
        StoreCommand::GenerateKey => {}
        StoreCommand::Encrypt => {
            if key.is_none() {
                return Err(CommandError::Usage(
                    "IOP_ENCRYPTION_KEY: set it (or IOP_ENCRYPTION_KEY_FILE) to the key to encrypt with"
                        .into(),
                ));
            }
            // The store is not yet what the key says, so it is opened without the check.
            let store = Store::open_unchecked(&config.database_url, key).await?;
            let count = store.encrypt_all(&mut show_progress("encrypted")).await;
            store_close(&store).await;
            println!("encrypted {} token pairs", count?);
        }
        StoreCommand::RotateKey {
            new_key_file,
            new_key,
        } => {
            let new = new_cipher(new_key.as_ref(), new_key_file.as_deref())?;
            let store = Store::open(&config.database_url, key).await?;
            let count = store
                .rotate_key(new, &mut show_progress("re-encrypted"))
                .await;
            store_close(&store).await;
            println!(
                "re-encrypted {} token pairs: start the service with the new IOP_ENCRYPTION_KEY",
                count?
            );
        }
        StoreCommand::Backup { file } => {
            let store = Store::open(&config.database_url, key).await?;
            let result = store.backup(&file).await;
            store_close(&store).await;
            result?;
            println!("wrote a consistent copy to {}", file.display());
        }
    }
    Ok(())
}

/// On a terminal, a line that counts the pairs done (rewritten in place, at most every
/// half second); elsewhere nothing, so that logs and pipes get only the result.
fn show_progress(done_what: &'static str) -> impl FnMut(u64, u64) + Send {
    use std::io::{IsTerminal, Write};
    let terminal = std::io::stderr().is_terminal();
    let mut last = std::time::Instant::now();
    move |done, total| {
        if !terminal || (last.elapsed().as_millis() < 500 && done < total) {
            return;
        }
        last = std::time::Instant::now();
        let mut err = std::io::stderr();
        let _ = write!(err, "\r{done_what} {done} of {total} pairs");
        if done >= total {
            let _ = writeln!(err);
        }
    }
}

async fn store_close(store: &Store) {
    crate::store::Store::close(store).await;
}

fn new_cipher(
    value: Option<&SecretString>,
    file: Option<&Path>,
) -> Result<TokenCipher, CommandError> {
    let encoded = match (value, file) {
        (Some(value), None) => value.expose_secret().to_owned(),
        (None, Some(path)) => std::fs::read_to_string(path).map_err(|e| {
            CommandError::Usage(format!(
                "IOP_NEW_ENCRYPTION_KEY_FILE: cannot read {}: {e}",
                path.display()
            ))
        })?,
        _ => {
            return Err(CommandError::Usage(
                "give the new key with --new-key-file (IOP_NEW_ENCRYPTION_KEY_FILE) or IOP_NEW_ENCRYPTION_KEY"
                    .into(),
            ));
        }
    };
    TokenCipher::from_base64(&encoded.trim().to_owned().into())
        .map_err(|e| CommandError::Usage(format!("the new key: {e}")))
}

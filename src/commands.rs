//! What each subcommand does, once the command line is parsed.

use crate::cli::{Cli, Command};
use crate::config::Config;
use crate::startup::{Application, shutdown_signal};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub async fn run(cli: Cli) -> Result<(), BoxError> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let config = Config::from_args(&cli.service)?;
            let app = Application::build(config).await?;
            app.run_until(shutdown_signal()).await?;
        }
    }
    Ok(())
}

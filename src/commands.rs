//! What each subcommand does, once the command line is parsed.

use crate::cli::{Cli, Command};
use crate::clock;
use crate::config::Config;
use crate::demo;
use crate::startup::{self, Application, shutdown_signal};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub async fn run(cli: Cli) -> Result<(), BoxError> {
    // Installed first, so that a signal during startup already means "stop gracefully".
    let shutdown = shutdown_signal();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let config = Config::from_args(&cli.service)?;
            let app = Application::build(config).await?;
            app.run_until(shutdown).await?;
        }
        Command::Demo(lifetimes) => {
            let app = demo::build_demo(&cli.service, &lifetimes, clock::system()).await?;
            let config = app.config();
            println!(
                "\n  iop-callback demo: the whole flow against a built-in sandbox {} (nothing real).\n\n  Open {}/ in a browser and click \"Authorize a seller\".\n",
                config.platform.display_name(),
                config.public_url.as_str().trim_end_matches('/'),
            );
            app.run_until(shutdown).await?;
        }
        Command::Sandbox(args) => {
            let (listener, router, settings) =
                demo::build_sandbox(&cli.service, &args, clock::system()).await?;
            println!(
                "\n  iop-callback sandbox: a stand-in {} platform.\n\n  IOP_APP_KEY={}\n  IOP_APP_SECRET={}\n  IOP_AUTHORIZE_URL={}\n  IOP_API_URL={}\n  registered redirect_uri: {}\n",
                settings.platform.display_name(),
                settings.app_key,
                settings.app_secret,
                settings.authorize_url(),
                settings.api_url(),
                settings.redirect_uri,
            );
            startup::serve(listener, router, shutdown).await?;
        }
        Command::Healthcheck => {
            let listen =
                crate::config::parse_listen(&cli.service, crate::config::SERVICE_DEFAULTS.listen)?;
            crate::healthcheck::probe(listen, std::time::Duration::from_secs(3)).await?;
        }
    }
    Ok(())
}

//! What each subcommand does, once the command line is parsed, and the exit code it ends
//! with: 0 ok, 1 platform or store failure, 2 configuration, 3 not found, 4 the seller
//! must authorize again.

mod call;
mod events;
mod onboarding;
mod store;
mod tokens;

use crate::apps::AppId;
use crate::cli::{AdminCommand, Cli, Command, PushCommand, TokensCommand, WebhooksCommand};
use crate::clock;
use crate::config::{Config, ConfigError, Settings};
use crate::demo::{self, DemoError};
use crate::healthcheck::Unhealthy;
use crate::iop::IopError;
use crate::renewal::TokenError;
use crate::services::Services;
use crate::startup::{Application, StartupError, shutdown_signal};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error(transparent)]
    Demo(#[from] DemoError),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Serve(#[from] std::io::Error),
    #[error(transparent)]
    Unhealthy(#[from] Unhealthy),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{}", platform_error(.0))]
    Platform(#[from] IopError),
    /// A refresh failed before and its backoff still runs.
    #[error("{0}")]
    Backoff(String),
    #[error("no stored seller has the id `{0}`")]
    NotFound(String),
    #[error("no kept event has the id `{0}` (events are kept IOP_EVENTS_RETENTION)")]
    NoEvent(String),
    /// A business call the platform answered with an error code.
    #[error("{0}")]
    PlatformAnswer(String),
    /// The platform could not be reached (or did not answer in time).
    #[error(transparent)]
    Unreachable(IopError),
    #[error("{seller} must authorize again: send the seller to {authorize_url}")]
    Reauthorize {
        seller: String,
        authorize_url: String,
    },
}

/// A platform failure as the error page tells it: the platform's code, message and request
/// id, and what to do about it.
fn platform_error(error: &IopError) -> String {
    let IopError::Platform(platform) = error else {
        return error.to_string();
    };
    let mut said = format!("the platform refused: {}", platform.code);
    if let Some(message) = &platform.message {
        said.push_str(&format!(": {message}"));
    }
    if let Some(request_id) = &platform.request_id {
        said.push_str(&format!(" (platform request id {request_id})"));
    }
    if let Some(advice) = platform.advice() {
        said.push_str(&format!("\n{advice}"));
    }
    said
}

impl CommandError {
    /// The documented exit code (README, "Command line").
    pub fn exit_code(&self) -> u8 {
        match self {
            // What was asked cannot be done as asked: a usage error, not a failure.
            CommandError::Store(StoreError::Usage(_)) => 2,
            CommandError::Serve(_)
            | CommandError::Unhealthy(_)
            | CommandError::Store(_)
            | CommandError::Platform(_)
            | CommandError::Backoff(_)
            | CommandError::PlatformAnswer(_) => 1,
            CommandError::Config(_)
            | CommandError::Startup(_)
            | CommandError::Demo(_)
            | CommandError::Usage(_) => 2,
            CommandError::NotFound(_) | CommandError::NoEvent(_) => 3,
            CommandError::Reauthorize { .. } => 4,
            CommandError::Unreachable(_) => 5,
        }
    }

    /// A token error about `seller` of `app`, in the command line's terms.
    fn from_token(error: TokenError, seller: &str, app: &AppId, services: &Services) -> Self {
        match error {
            TokenError::NotFound => CommandError::NotFound(seller.to_owned()),
            TokenError::Reauthorize => CommandError::Reauthorize {
                seller: seller.to_owned(),
                authorize_url: services.config.authorize_link(app),
            },
            TokenError::Platform(e) => CommandError::Platform(e),
            TokenError::Store(e) => CommandError::Store(e),
            backoff @ TokenError::Backoff { .. } => CommandError::Backoff(backoff.to_string()),
            other => CommandError::Usage(other.to_string()),
        }
    }
}

pub async fn run(cli: Cli) -> Result<(), CommandError> {
    // Installed first, so that a signal during startup already means "stop gracefully".
    let shutdown = shutdown_signal();
    let Cli { command, service } = cli;
    let service = service.settings();
    match command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let config = Config::from_settings(&service)?;
            let app = Application::build(config).await?;
            app.run_until(shutdown).await?;
        }
        Command::Demo(demo_args) => {
            let app = demo::build_demo(&service, &demo_args, clock::system()).await?;
            let config = app.config();
            let platforms: Vec<&str> = config
                .apps
                .iter()
                .map(|a| a.platform.display_name())
                .collect();
            println!(
                "\n  iop-callback demo: the whole flow against built-in sandbox platforms ({}), nothing real.\n\n  Open {}/ in a browser and click \"Authorize a seller\".\n",
                platforms.join(" and "),
                config.public_base(),
            );
            app.run_until(shutdown).await?;
        }
        Command::Sandbox(args) => {
            let (listener, router, settings) =
                demo::build_sandbox(&service, &args, clock::system()).await?;
            // Lines that paste into a shell as they are.
            println!(
                "# iop-callback sandbox: a stand-in {} platform; its registered redirect_uri is {}\n{}",
                settings.platform.display_name(),
                settings.redirect_uri,
                settings.service_env(),
            );
            if let Ok(address) = listener.local_addr() {
                tracing::info!(
                    %address,
                    platform = %settings.platform,
                    redirect_uri = %settings.redirect_uri,
                    home = %format!("{}/sandbox/", settings.public_base),
                    "sandbox listening"
                );
            }
            crate::serve::serve(listener, router, shutdown, Default::default()).await?;
        }
        Command::Healthcheck => {
            let listen =
                crate::config::parse_listen(&service, crate::config::SERVICE_DEFAULTS.listen)?;
            crate::healthcheck::probe(listen, std::time::Duration::from_secs(3)).await?;
        }
        Command::Tokens(command) => {
            let services = match &command {
                // Reading (and forgetting) stored pairs signs nothing: no app secret needed.
                TokensCommand::List { .. }
                | TokensCommand::Show { .. }
                | TokensCommand::Delete { .. }
                    if Config::names_no_app(&service) =>
                {
                    open_existing_with(Config::stored_pairs_only(&service)?).await?
                }
                _ => open_existing(&service).await?,
            };
            tokens::run(services, command).await?;
        }
        Command::Store(command) => store::run(&service, command).await?,
        Command::Admin(AdminCommand::HashPassword) => hash_password()?,
        Command::Events(command) => events::run(open_existing(&service).await?, command).await?,
        Command::Push(PushCommand::Test { app, message_type }) => {
            events::push_test(&open(&service).await?, app.as_deref(), message_type).await?;
        }
        Command::Webhooks(WebhooksCommand::GenerateSecret) => {
            use secrecy::ExposeSecret;
            println!(
                "{}",
                crate::config::WebhookSecret::generate().expose_secret()
            );
        }
        Command::AuthorizeUrl { app } => {
            onboarding::authorize_url(&open(&service).await?, app.as_deref())?;
        }
        Command::Exchange { app, code, state } => {
            let services = open(&service).await?;
            onboarding::exchange(&services, app.as_deref(), &code, state.as_deref()).await?;
        }
        Command::Call(args) => call::run(&open_existing(&service).await?, args).await?,
        Command::Import { app, refresh_token } => {
            // Said here, not by clap: its message would list every setting the service reads.
            let refresh_token = refresh_token.ok_or_else(|| {
                CommandError::Usage(
                    "import needs the refresh token to adopt: set IOP_IMPORT_REFRESH_TOKEN (it stays out of the process list) or pass --refresh-token".into(),
                )
            })?;
            onboarding::import(&open(&service).await?, app.as_deref(), &refresh_token).await?;
        }
    }
    Ok(())
}

/// The service's configuration and database, for a command that runs beside it.
async fn open(service: &Settings) -> Result<Services, CommandError> {
    let config = Config::from_settings(service)?;
    Ok(Services::open(config, clock::system()).await?)
}

/// As `open`, for a command that reads or changes stored pairs: it never creates a store
/// (a wrong folder or a missing IOP_DATABASE_URL would otherwise show an empty new one).
async fn open_existing(service: &Settings) -> Result<Services, CommandError> {
    open_existing_with(Config::from_settings(service)?).await
}

async fn open_existing_with(config: Config) -> Result<Services, CommandError> {
    refuse_new_store(&config)?;
    Ok(Services::open(config, clock::system()).await?)
}

/// An error when the configured SQLite file does not exist.
fn refuse_new_store(config: &Config) -> Result<(), CommandError> {
    match config.database_url.sqlite_file() {
        Some(file) if !file.exists() => Err(CommandError::Usage(format!(
            "no database at {}: set IOP_DATABASE_URL (or --database-url) to the service's",
            file.display()
        ))),
        _ => Ok(()),
    }
}

/// `admin hash-password`: the first line of standard input (so the password stays out of
/// the shell history and process list), as an argon2id PHC string.
fn hash_password() -> Result<(), CommandError> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| CommandError::Usage(format!("cannot read the password: {e}")))?;
    let password = line.trim_end_matches(['\r', '\n']);
    let hash = crate::admin::password::hash_password(password)
        .map_err(|e| CommandError::Usage(format!("the password {e}")))?;
    println!("{hash}");
    Ok(())
}

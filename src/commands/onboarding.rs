//! Bringing a seller in without the web page: `authorize-url`, `exchange`, `import`.

use secrecy::SecretString;

use super::CommandError;
use crate::clock;
use crate::clock::EpochMs;
use crate::iop::{AuthCode, TokenApi, TokenResponse};
use crate::runtime::AppRuntime;
use crate::services::Services;
use crate::store::ClaimAttempt;
use crate::tokens::Owner;
use crate::web::authorize_url as platform_authorize_url;

/// The app a command acts on: `--app`, or the only one.
fn pick<'a>(services: &'a Services, app: Option<&str>) -> Result<&'a AppRuntime, CommandError> {
    let config = services.config.pick_app(app)?;
    services
        .apps
        .get(&config.id)
        .map(AsRef::as_ref)
        .ok_or_else(|| CommandError::Usage(format!("no app `{}` is configured", config.id)))
}

/// Prints the platform's authorize page for this app, with a state bound to the command
/// line: the seller's browser cannot finish it at /callback, but `exchange --state` can.
pub(super) fn authorize_url(services: &Services, app: Option<&str>) -> Result<(), CommandError> {
    let runtime = pick(services, app)?;
    let binding = runtime.flows.command_line();
    let state = runtime.flows.start(&binding, services.tokens.now_ms());
    let url = platform_authorize_url(&services.config, &runtime.config, &state, None);
    println!("{url}");
    Ok(())
}

pub(super) async fn exchange(
    services: &Services,
    app: Option<&str>,
    code: &str,
    state: Option<&str>,
) -> Result<(), CommandError> {
    let runtime = pick(services, app)?;
    let code = AuthCode::parse(Some(code)).map_err(|e| CommandError::Usage(e.to_string()))?;
    let claimed = match state {
        Some(state) => Some(claim(services, runtime, state).await?),
        None => None,
    };
    let result = services
        .metrics
        .platform_call(
            &runtime.config.id,
            TokenApi::Create,
            runtime.client.create_token(&code),
        )
        .await;
    if let Some(digest) = claimed {
        services.store.finish_claim(&digest, None).await?;
    }
    store(services, runtime, &result?, "exchanged").await
}

/// Checks that `state` was printed by `authorize-url` for this app, and uses it up.
async fn claim(
    services: &Services,
    runtime: &AppRuntime,
    state: &str,
) -> Result<[u8; 32], CommandError> {
    let binding = runtime.flows.command_line();
    let refused = |why: &str| {
        CommandError::Usage(format!(
            "--state was not printed by `authorize-url` for this app, or is no longer good ({why})"
        ))
    };
    let verified = runtime
        .flows
        .verify(Some(state), Some(&binding))
        .map_err(|r| refused(r.as_str()))?;
    let now = services.tokens.now_ms();
    let record = runtime
        .flows
        .claim_record(&verified, &binding, now)
        .map_err(|r| refused(r.as_str()))?;
    match services
        .store
        .claim_state(&record, EpochMs::new(now))
        .await?
    {
        ClaimAttempt::Claimed => Ok(verified.digest),
        ClaimAttempt::Taken(_) => Err(refused("already used")),
    }
}

pub(super) async fn import(
    services: &Services,
    app: Option<&str>,
    refresh_token: &SecretString,
) -> Result<(), CommandError> {
    let runtime = pick(services, app)?;
    let response = services
        .metrics
        .platform_call(
            &runtime.config.id,
            TokenApi::Refresh,
            runtime.client.refresh_token(refresh_token),
        )
        .await?;
    store(services, runtime, &response, "imported").await
}

async fn store(
    services: &Services,
    runtime: &AppRuntime,
    response: &TokenResponse,
    how: &str,
) -> Result<(), CommandError> {
    let now = services.tokens.now_ms();
    let owner = Owner {
        app: &runtime.config.id,
        platform: runtime.config.platform,
        app_key: &runtime.config.app_key,
    };
    let id = services
        .store
        .save_authorization(owner, response, EpochMs::new(now))
        .await?;
    services.store.close().await;
    let identity = &response.identity;
    let expires = response
        .expiries(now)
        .access_expires_at
        .map_or("never".to_owned(), |at| clock::remaining(at, now));
    println!(
        "{how} and stored seller {} ({}) as token {id}: the access token expires {expires}",
        identity.primary_id().unwrap_or("-"),
        identity.display_name(),
    );
    Ok(())
}

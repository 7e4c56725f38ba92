//! Bringing a seller in without the web page: `authorize-url`, `exchange`, `import`.

use secrecy::SecretString;

use super::CommandError;
use crate::clock;
use crate::iop::{AuthCode, TokenApi, TokenResponse};
use crate::startup::Services;
use crate::store::{ClaimAttempt, Owner};
use crate::web::authorize_url as platform_authorize_url;

/// Prints the platform's authorize page for this app, with a state bound to the command
/// line: the seller's browser cannot finish it at /callback, but `exchange --state` can.
pub(super) fn authorize_url(services: &Services) {
    let binding = services.flows.command_line();
    let state = services.flows.start(&binding, services.tokens.now_ms());
    println!("{}", platform_authorize_url(&services.config, &state));
}

pub(super) async fn exchange(
    services: &Services,
    code: &str,
    state: Option<&str>,
) -> Result<(), CommandError> {
    let code = AuthCode::parse(Some(code)).map_err(|e| CommandError::Usage(e.to_string()))?;
    let claimed = match state {
        Some(state) => Some(claim(services, state).await?),
        None => None,
    };
    let result = services
        .metrics
        .platform_call(
            &services.app,
            TokenApi::Create,
            services.client.create_token(&code),
        )
        .await;
    if let Some(digest) = claimed {
        services.store.finish_claim(&digest, None).await?;
    }
    store(services, &result?, "exchanged").await
}

/// Checks that `state` was printed by `authorize-url` for this app, and uses it up.
async fn claim(services: &Services, state: &str) -> Result<[u8; 32], CommandError> {
    let binding = services.flows.command_line();
    let refused = |why: &str| {
        CommandError::Usage(format!(
            "--state was not printed by `authorize-url` for this app, or is no longer good ({why})"
        ))
    };
    let verified = services
        .flows
        .verify(Some(state), Some(&binding))
        .map_err(|r| refused(r.as_str()))?;
    let now = services.tokens.now_ms();
    let record = services
        .flows
        .claim_record(&verified, &binding, now)
        .map_err(|r| refused(r.as_str()))?;
    match services.store.claim_state(&record, now).await? {
        ClaimAttempt::Claimed => Ok(verified.digest),
        ClaimAttempt::Taken(_) => Err(refused("already used")),
    }
}

pub(super) async fn import(
    services: &Services,
    refresh_token: &SecretString,
) -> Result<(), CommandError> {
    let response = services
        .metrics
        .platform_call(
            &services.app,
            TokenApi::Refresh,
            services.client.refresh_token(refresh_token),
        )
        .await?;
    store(services, &response, "imported").await
}

async fn store(
    services: &Services,
    response: &TokenResponse,
    how: &str,
) -> Result<(), CommandError> {
    let now = services.tokens.now_ms();
    let owner = Owner {
        app: &services.app,
        platform: services.config.platform,
        app_key: &services.config.app_key,
    };
    let id = services
        .store
        .save_authorization(owner, response, now)
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

//! `iop-callback events ...` (the kept events: list, show, send again) and `push test` (a
//! signed sample push to this service, as the platform console's verify button sends).

use secrecy::ExposeSecret;

use super::CommandError;
use crate::cli::EventsCommand;
use crate::events::history;
use crate::services::Services;
use crate::store::EventFilter;

pub(super) async fn run(services: Services, command: EventsCommand) -> Result<(), CommandError> {
    let result = match command {
        EventsCommand::List {
            kind,
            seller,
            app,
            limit,
            json,
        } => {
            let filter = EventFilter { kind, seller, app };
            list(&services, &filter, limit, json).await
        }
        EventsCommand::Show { id } => {
            let detail = history::detail(&services.store, &services.config, &id)
                .await?
                .ok_or(CommandError::NoEvent(id))?;
            println!(
                "{}",
                serde_json::to_string_pretty(&detail).unwrap_or_default()
            );
            Ok(())
        }
        EventsCommand::Redeliver { id } => {
            let now = services.clock.now();
            let event = services
                .store
                .event(&id)
                .await?
                .ok_or_else(|| CommandError::NoEvent(id.clone()))?;
            let due = history::redeliver(&services.store, &services.config, &event, now).await?;
            tracing::info!(event_id = %id, deliveries = due, "event sent again from the command line");
            println!(
                "{id}: due now at {due} endpoint{} (the running service sends it within a second)",
                if due == 1 { "" } else { "s" }
            );
            Ok(())
        }
    };
    services.store.close().await;
    result
}

async fn list(
    services: &Services,
    filter: &EventFilter,
    limit: i64,
    json: bool,
) -> Result<(), CommandError> {
    if !(1..=10_000).contains(&limit) {
        return Err(CommandError::Usage(
            "--limit is a number from 1 to 10000".into(),
        ));
    }
    let page = history::page(&services.store, &services.config, filter, None, limit).await?;
    if json {
        let events: Vec<_> = page.into_iter().map(|(_, event)| event).collect();
        println!("{}", serde_json::to_string(&events).unwrap_or_default());
        return Ok(());
    }
    if page.is_empty() {
        eprintln!("no events");
        return Ok(());
    }
    println!(
        "{:<28} {:<24} {:<30} {:<12} SELLER",
        "ID", "CREATED", "TYPE", "APP"
    );
    for (_, event) in page {
        let kind = match event.message_type {
            Some(n) => format!("{} ({n})", event.kind),
            None => event.kind.clone(),
        };
        println!(
            "{:<28} {:<24} {:<30} {:<12} {}",
            event.id,
            event.created_at,
            kind,
            event.app,
            event.seller_id.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}

/// Signs a sample push of `message_type` for `app` and sends it to this service's push
/// URL; fails unless it is acknowledged with a 200.
pub(super) async fn push_test(
    services: &Services,
    app: Option<&str>,
    message_type: i64,
) -> Result<(), CommandError> {
    let config = services.config.pick_app(app)?;
    let path = if config.named {
        format!("/push/{}", config.id)
    } else {
        "/push".to_owned()
    };
    let url = services
        .config
        .public_url
        .join(&path)
        .map_err(|e| CommandError::Usage(format!("IOP_PUBLIC_URL: {e}")))?;
    let now = services.clock.now_ms();
    let body = serde_json::json!({
        "seller_id": "0",
        "message_type": message_type,
        "data": {"test": true, "sent_by": "iop-callback push test"},
        "timestamp": now,
        "site": config.platform.as_str(),
    })
    .to_string();
    let signature = crate::iop::push::signature(
        config.app_secret.expose_secret(),
        &config.app_key,
        body.as_bytes(),
    );
    let answer = reqwest::Client::new()
        .post(url.clone())
        .header("content-type", "application/json")
        .header("authorization", signature)
        .body(body)
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| CommandError::Usage(format!("cannot reach {url}: {e}")))?;
    let status = answer.status();
    if status.is_success() {
        println!("{url} acknowledged the signed test push ({status})");
        Ok(())
    } else {
        Err(CommandError::PlatformAnswer(format!(
            "{url} answered {status} to a correctly signed push: {}",
            answer.text().await.unwrap_or_default().trim()
        )))
    }
}

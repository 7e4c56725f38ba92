//! `iop-callback tokens ...`: the stored sellers, for a person at a terminal (a table) or
//! a script (`--json`). Data goes to stdout, errors to stderr.

use std::io::Write;

use secrecy::ExposeSecret;

use super::CommandError;
use crate::admin::{AuditAction, AuditEntry, COMMAND_LINE};
use crate::apps::AppId;
use crate::cli::{SellerArg, TokensCommand};
use crate::clock;
use crate::renewal::{self, SellerLookup};
use crate::services::Services;
use crate::store::PairFilter;
use crate::tokens::{Health, SellerDetails, TokenSummary};
use crate::tokens::{Pair, StoredToken};

pub(super) async fn run(services: Services, command: TokensCommand) -> Result<(), CommandError> {
    let result = match command {
        TokensCommand::List {
            json,
            jsonl,
            app,
            limit,
        } => {
            let format = match (json, jsonl) {
                (_, true) => Format::JsonLines,
                (true, false) => Format::Json,
                _ => Format::Table,
            };
            match list(&services, format, app.as_deref(), limit).await {
                // `tokens list --jsonl | head`: the reader has what it wanted.
                Err(CommandError::Serve(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                other => other,
            }
        }
        TokensCommand::Show {
            seller,
            json,
            reveal,
        } => show(&services, &seller, json, reveal).await,
        TokensCommand::Refresh { seller } => refresh(&services, &seller).await,
        TokensCommand::Delete { seller } => delete(&services, &seller).await,
    };
    services.store.close().await;
    result
}

/// The configured app `--app` names, if given; a name that is not configured is a usage
/// error (exit 2). Reading with no app configured, any well-formed name filters.
fn app_filter(services: &Services, raw: Option<&str>) -> Result<Option<AppId>, CommandError> {
    raw.map(|a| {
        if services.config.apps.is_empty() {
            AppId::parse(a).map_err(CommandError::Usage)
        } else {
            services.apps.resolve(a).map_err(CommandError::Usage)
        }
    })
    .transpose()
}

/// How `tokens list` prints.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Table,
    /// One JSON array, written as the pages come.
    Json,
    /// One JSON object per line, for pipes.
    JsonLines,
}

/// Sellers read and printed a page at a time, so that a store of any size lists in
/// constant memory and the first lines come at once.
const PAGE: u32 = 500;

async fn list(
    services: &Services,
    format: Format,
    app: Option<&str>,
    limit: Option<usize>,
) -> Result<(), CommandError> {
    let now = services.tokens.now_ms();
    let filter = PairFilter {
        app: app_filter(services, app)?,
        ..PairFilter::default()
    };
    let mut left = limit.unwrap_or(usize::MAX);
    let (mut after, mut printed) = (None, 0_usize);
    let mut out = std::io::stdout().lock();
    if format == Format::Json {
        write!(out, "[")?;
    }
    while left > 0 {
        let size = u32::try_from(left).unwrap_or(PAGE).min(PAGE);
        let page = services
            .store
            .page_pairs(&filter, after, size, clock::EpochMs::new(now))
            .await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        match format {
            Format::Table => write!(out, "{}", table(&page, now, printed == 0))?,
            Format::Json | Format::JsonLines => {
                for pair in &page {
                    let summary = serde_json::to_string(&TokenSummary::new(pair, now))
                        .map_err(|e| CommandError::Usage(format!("cannot write JSON: {e}")))?;
                    match format {
                        Format::Json if printed > 0 => write!(out, ",\n{summary}")?,
                        Format::Json => write!(out, "\n{summary}")?,
                        _ => writeln!(out, "{summary}")?,
                    }
                    printed += 1;
                }
            }
        }
        if format == Format::Table {
            printed += page.len();
        }
        left = left.saturating_sub(page.len());
        out.flush()?;
    }
    match format {
        Format::Json => writeln!(out, "\n]")?,
        Format::Table if printed == 0 => writeln!(
            out,
            "No sellers yet: open {}/ and click \"Authorize a seller\".",
            services.config.public_url.as_str().trim_end_matches('/')
        )?,
        _ => {}
    }
    Ok(())
}

/// The listing for people: one line per seller, in columns aligned within each page (the
/// header on the first).
fn table(tokens: &[Pair], now: i64, header: bool) -> String {
    let expiry = |at: Option<i64>| at.map_or("never".to_owned(), |at| clock::remaining(at, now));
    let mut rows = vec![[
        "SELLER".to_owned(),
        "NICK".to_owned(),
        "APP".to_owned(),
        "STATUS".to_owned(),
        "ACCESS EXPIRES".to_owned(),
        "REFRESH EXPIRES".to_owned(),
    ]];
    rows.extend(tokens.iter().map(|t| {
        [
            t.identity.primary_id().unwrap_or("-").to_owned(),
            t.identity.display_name(),
            t.app.to_string(),
            Health::of(t, now).as_str().to_owned(),
            expiry(t.access_expires_at),
            expiry(t.refresh_expires_at),
        ]
    }));
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows.into_iter().skip(usize::from(!header)) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

async fn show(
    services: &Services,
    seller: &SellerArg,
    json: bool,
    reveal: bool,
) -> Result<(), CommandError> {
    let token = find(services, seller).await?;
    let now = services.tokens.now_ms();
    if reveal {
        audit(services, AuditAction::Reveal, &token).await?;
    }
    if json {
        print_json(&SellerDetails::new(&token, now, reveal));
        return Ok(());
    }
    let time = |at: Option<i64>| {
        at.map_or("-".to_owned(), |at| {
            format!("{} ({})", clock::format_utc(at), clock::remaining(at, now))
        })
    };
    let id = &token.identity;
    let lines = [
        ("seller", id.primary_id().unwrap_or("-").to_owned()),
        ("name", id.display_name()),
        (
            "app",
            format!(
                "{} ({}, app key {})",
                token.app, token.platform, token.app_key
            ),
        ),
        ("status", Health::of(&token, now).as_str().to_owned()),
        ("access expires", time(token.access_expires_at)),
        ("refresh expires", time(token.refresh_expires_at)),
        (
            "last refresh",
            token.last_refresh_at.map_or("never".to_owned(), |at| {
                format!("{} ({})", clock::format_utc(at), clock::ago(at, now))
            }),
        ),
        (
            "last error",
            token.last_error.clone().unwrap_or_else(|| "-".into()),
        ),
    ];
    // What the platform's pushes said, when they said anything.
    let pushed = [
        (
            "authorization",
            token
                .authorization_expires_at
                .map(|at| format!("expires {}", time(Some(at)))),
        ),
        ("closed", token.closed_at.map(clock::format_utc)),
    ];
    let lines = lines.into_iter().chain(
        pushed
            .into_iter()
            .filter_map(|(label, value)| Some((label, value?))),
    );
    for (label, value) in lines {
        println!("{label:<16} {value}");
    }
    for country in &id.country_user_info {
        println!(
            "{:<16} {} seller {} user {} ({})",
            "country",
            country.country.as_deref().unwrap_or("-"),
            country.seller_id.as_deref().unwrap_or("-"),
            country.user_id.as_deref().unwrap_or("-"),
            country.short_code.as_deref().unwrap_or("-"),
        );
    }
    if reveal {
        println!(
            "{:<16} {}",
            "access token",
            token.access_token.expose_secret()
        );
    }
    Ok(())
}

async fn refresh(services: &Services, seller: &SellerArg) -> Result<(), CommandError> {
    let token = find(services, seller).await?;
    let renewed = services.tokens.refresh_now(&token).await;
    let action = match &renewed {
        Ok(_) => AuditAction::Refresh,
        Err(_) => AuditAction::RefreshFailed,
    };
    audit(services, action, &token).await?;
    let token =
        renewed.map_err(|e| CommandError::from_token(e, &seller.seller, &token.app, services))?;
    let now = services.tokens.now_ms();
    println!(
        "refreshed {}: the access token expires {}",
        seller.seller,
        token
            .access_expires_at
            .map_or("never".to_owned(), |at| clock::remaining(at, now))
    );
    Ok(())
}

async fn delete(services: &Services, seller: &SellerArg) -> Result<(), CommandError> {
    let token = find(services, seller).await?;
    audit(services, AuditAction::Delete, &token).await?;
    services.store.delete_token(token.id).await?;
    println!(
        "forgot {} ({})",
        seller.seller,
        token.identity.display_name()
    );
    Ok(())
}

/// Records what the command line does to `token`: nothing is revealed or deleted that the
/// audit log cannot show (those are recorded before they happen).
async fn audit(
    services: &Services,
    action: AuditAction,
    token: &StoredToken,
) -> Result<(), CommandError> {
    services
        .store
        .append_audit(&AuditEntry::new(
            services.tokens.now_ms(),
            action,
            COMMAND_LINE,
            Some(token),
            None,
        ))
        .await?;
    Ok(())
}

/// The one pair `seller` names, within `--app` when given.
async fn find(services: &Services, seller: &SellerArg) -> Result<StoredToken, CommandError> {
    let app = app_filter(services, seller.app.as_deref())?;
    renewal::find_seller(
        services.store.as_ref(),
        &seller.seller,
        app.as_ref(),
        &|_| true,
    )
    .await
    .map_err(|lookup| match lookup {
        // The command line reaches every app.
        SellerLookup::NotFound | SellerLookup::Unreachable(_) => {
            CommandError::NotFound(seller.seller.clone())
        }
        SellerLookup::Ambiguous(found) => {
            let apps: Vec<String> = found.iter().map(|t| t.app.to_string()).collect();
            CommandError::Usage(format!(
                "`{}` names sellers of several apps: add --app (one of {})",
                seller.seller,
                apps.join(", ")
            ))
        }
        SellerLookup::Store(e) => CommandError::Store(e),
    })
}

fn print_json(value: &impl serde::Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("iop-callback: cannot write JSON: {e}"),
    }
}

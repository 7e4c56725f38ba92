//! `iop-callback call SELLER API [NAME=VALUE ...]`: one business call through the signing
//! proxy's own code (like `gh api`), from a shell. Prints the platform's body; exits 0 when
//! its `code` is `0`, 1 on a platform error (code, message and request id on stderr), 2 on
//! a usage mistake, 3 for an unknown seller, 4 when the seller must authorize again, 5 when
//! the platform cannot be reached.

use std::io::Write;

use super::CommandError;
use crate::cli::CallArgs;
use crate::config::Grants;
use crate::iop::IopError;
use crate::iop::multipart::FilePart;
use crate::proxy::{ProxyError, ProxyRequest};
use crate::renewal::TokenError;
use crate::services::Services;

pub(super) async fn run(services: &Services, args: CallArgs) -> Result<(), CommandError> {
    let request = request(services, &args)?;
    // The command line is the operator's own door: every app, both grants.
    let proxied = services
        .proxy
        .call(request, &Grants::everything())
        .await
        .map_err(|e| explain(services, &args.seller, e))?;
    let answer = proxied.answer;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&answer.body)?;
    if !answer.body.ends_with(b"\n") {
        stdout.write_all(b"\n")?;
    }
    stdout.flush()?;
    match answer.head.code.as_deref() {
        None | Some("0") => Ok(()),
        Some(code) => Err(CommandError::PlatformAnswer(format!(
            "the platform answered {code}: {} (request id {})",
            answer.head.message.as_deref().unwrap_or("no message"),
            answer.head.request_id.as_deref().unwrap_or("none"),
        ))),
    }
}

fn request(services: &Services, args: &CallArgs) -> Result<ProxyRequest, CommandError> {
    let app = args
        .app
        .as_deref()
        .map(|name| services.apps.resolve(name).map_err(CommandError::Usage))
        .transpose()?;
    let params = args
        .params
        .iter()
        .map(|pair| split(pair, "NAME=VALUE"))
        .collect::<Result<Vec<_>, _>>()?;
    let mut files = Vec::new();
    for pair in &args.files {
        let (name, path) = split(pair, "--file NAME=PATH")?;
        let bytes = std::fs::read(&path)
            .map_err(|e| CommandError::Usage(format!("--file {name}: cannot read {path}: {e}")))?;
        let file_name = std::path::Path::new(&path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        files.push(FilePart {
            name,
            file_name,
            content_type: None,
            bytes: bytes.into(),
        });
    }
    Ok(ProxyRequest {
        seller: args.seller.clone(),
        app,
        country: args.country.clone(),
        api: args.api.clone(),
        // A file goes in a multipart body, which only a POST has.
        post: args.post || !files.is_empty(),
        params,
        files,
    })
}

fn split(pair: &str, form: &str) -> Result<(String, String), CommandError> {
    pair.split_once('=')
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .ok_or_else(|| CommandError::Usage(format!("`{pair}` is not {form}")))
}

fn explain(services: &Services, seller: &str, error: ProxyError) -> CommandError {
    match error {
        ProxyError::BadRequest(why) | ProxyError::Forbidden(why) => CommandError::Usage(why),
        ProxyError::NotFound => CommandError::NotFound(seller.to_owned()),
        ProxyError::Ambiguous(found) => {
            let apps: Vec<String> = found.iter().map(|t| t.app.to_string()).collect();
            CommandError::Usage(format!(
                "`{seller}` names sellers of several apps: add --app (one of {})",
                apps.join(", ")
            ))
        }
        ProxyError::Reauthorize(app) => CommandError::Reauthorize {
            seller: seller.to_owned(),
            authorize_url: services.config.authorize_link(&app),
        },
        ProxyError::Token(TokenError::Platform(
            e @ (IopError::Connect(_) | IopError::Timeout(_) | IopError::Transport(_)),
        )) => CommandError::Unreachable(e),
        ProxyError::Token(e) => {
            CommandError::from_token(e, seller, &crate::apps::AppId::implicit(), services)
        }
    }
}

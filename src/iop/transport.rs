//! The HTTP transport of every IOP call: a request out, its status, content type and body
//! back (up to a limit), within one deadline for connecting, sending and reading.
//!
//! Calls go out on hyper's pooled client over rustls (the platform verifier, no redirects).
//! Each thread keeps its own pool of connections: a serving thread (`serve::lanes`) then
//! sends its calls on connections its own runtime drives, with no hop to another core.
//!
//! The signing proxy sends every call of its callers through here, and reqwest's layers
//! (URL parsing, its service stack, its body wrapper) cost a proxied call about a tenth of
//! its CPU on the benchmark of BENCHMARKS.md. Behind an HTTP proxy named by the
//! environment (`HTTPS_PROXY` and the like), calls go through reqwest instead, which
//! speaks it: the service has always honoured those variables, and keeps doing so.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{CONTENT_TYPE, HeaderValue, USER_AGENT};
use hyper::{Method, Request};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use thread_local::ThreadLocal;

use super::error::IopError;

const AGENT: &str = concat!("iop-callback/", env!("CARGO_PKG_VERSION"));

/// The variables that name an HTTP proxy (reqwest reads the same ones).
const PROXY_VARIABLES: [&str; 6] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Why the transport could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot set up TLS: {0}")]
    Tls(#[from] std::io::Error),
    #[error("{0}")]
    Proxied(#[from] reqwest::Error),
}

/// What goes out: the method, the whole URL, and the body with its content type.
pub struct Outgoing<'a> {
    pub method: Method,
    pub url: &'a str,
    pub content_type: Option<&'a str>,
    pub body: Bytes,
}

/// What came back.
pub struct Answer {
    pub status: u16,
    pub content_type: Option<HeaderValue>,
    pub body: Bytes,
}

pub struct Transport {
    way: Way,
    timeout: Duration,
}

type Direct = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

enum Way {
    Direct(Box<PerThread>),
    Proxied(reqwest::Client),
}

/// A client (and its pool) for each thread that calls, made on its first call: a client's
/// connections are driven by the runtime that opened them.
struct PerThread {
    connector: HttpsConnector<HttpConnector>,
    clients: ThreadLocal<Direct>,
}

impl PerThread {
    fn client(&self) -> &Direct {
        self.clients
            .get_or(|| Client::builder(TokioExecutor::new()).build(self.connector.clone()))
    }
}

impl Transport {
    pub fn new(timeout: Duration) -> Result<Self, BuildError> {
        let proxied = PROXY_VARIABLES
            .iter()
            .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()));
        let way = if proxied {
            Way::Proxied(
                reqwest::Client::builder()
                    .connect_timeout(timeout)
                    // A redirect would resend the signed call somewhere else.
                    .redirect(reqwest::redirect::Policy::none())
                    .user_agent(AGENT)
                    .build()?,
            )
        } else {
            let mut http = HttpConnector::new();
            http.enforce_http(false);
            http.set_nodelay(true);
            http.set_connect_timeout(Some(timeout));
            let https = hyper_rustls::HttpsConnectorBuilder::new()
                .with_provider_and_platform_verifier(rustls::crypto::aws_lc_rs::default_provider())?
                // Plain http is allowed by the configuration only for loopback addresses.
                .https_or_http()
                .enable_all_versions()
                .wrap_connector(http);
            Way::Direct(Box::new(PerThread {
                connector: https,
                clients: ThreadLocal::new(),
            }))
        };
        Ok(Transport { way, timeout })
    }

    /// Sends `outgoing` and reads the answer's body, at most `limit` bytes (`TooLarge` past
    /// it, without reading on).
    pub async fn send(&self, outgoing: Outgoing<'_>, limit: usize) -> Result<Answer, IopError> {
        let exchange = async {
            match &self.way {
                Way::Direct(clients) => direct(clients.client(), outgoing, limit).await,
                Way::Proxied(client) => proxied(client, outgoing, limit).await,
            }
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or(Err(IopError::Timeout(self.timeout)))
    }
}

async fn direct(client: &Direct, outgoing: Outgoing<'_>, limit: usize) -> Result<Answer, IopError> {
    let mut request = Request::builder()
        .method(outgoing.method)
        .uri(outgoing.url)
        .header(USER_AGENT, AGENT);
    if let Some(content_type) = outgoing.content_type {
        request = request.header(CONTENT_TYPE, content_type);
    }
    let request = request
        .body(Full::new(outgoing.body))
        .map_err(|e| IopError::Transport(innermost(&e)))?;
    let response = client
        .request(request)
        .await
        .map_err(|e| failure(e.is_connect(), &e))?;
    let status = response.status().as_u16();
    let content_type = response.headers().get(CONTENT_TYPE).cloned();
    let body = Limited::new(response.into_body(), limit)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                IopError::TooLarge { limit }
            } else {
                IopError::Transport(innermost(e.as_ref()))
            }
        })?
        .to_bytes();
    Ok(Answer {
        status,
        content_type,
        body,
    })
}

async fn proxied(
    client: &reqwest::Client,
    outgoing: Outgoing<'_>,
    limit: usize,
) -> Result<Answer, IopError> {
    let classify = |e: reqwest::Error| failure(e.is_connect(), &e);
    let mut request = client
        .request(outgoing.method, outgoing.url)
        .body(outgoing.body);
    if let Some(content_type) = outgoing.content_type {
        request = request.header(CONTENT_TYPE, content_type);
    }
    let mut response = request.send().await.map_err(classify)?;
    let status = response.status().as_u16();
    let content_type = response.headers().get(CONTENT_TYPE).cloned();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(classify)? {
        if body.len() + chunk.len() > limit {
            return Err(IopError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer {
        status,
        content_type,
        body: body.into(),
    })
}

/// A failed exchange, by whether it failed to connect (nothing reached the platform).
fn failure(connecting: bool, error: &(dyn std::error::Error + 'static)) -> IopError {
    if connecting {
        IopError::Connect(innermost(error))
    } else {
        IopError::Transport(innermost(error))
    }
}

/// The innermost cause ("Connection refused") says the most and names no URL; it is for
/// the log, pages show a fixed sentence.
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}

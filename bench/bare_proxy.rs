//! The floor of this stack as a proxy, for `bench/proxy.sh`: hyper's HTTP/1 server and the
//! same pooled client, runtime and allocator as the service, passing each GET to one
//! upstream and its answer back, and nothing else: no routing, no key, no seller, no
//! signature, no headers of ours, no counts. Against it, the service's gap to nginx splits
//! into what the stack costs and what the service's own work costs.
//!
//!   cargo run --release --example bare-proxy -- 127.0.0.1:8081 http://127.0.0.1:8080

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

type Upstream = Client<HttpConnector, Full<Bytes>>;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream)) = (args.next(), args.next()) else {
        eprintln!("usage: bare-proxy LISTEN_ADDRESS UPSTREAM_ROOT");
        std::process::exit(2);
    };
    let upstream: Arc<str> = upstream.trim_end_matches('/').into();
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Upstream = Client::builder(TokioExecutor::new()).build(connector);
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .expect("the listen address is free");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (client, upstream) = (client.clone(), upstream.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                forward(client.clone(), upstream.clone(), request)
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The request's path and query sent on to the upstream, and its answer back (a 502 when
/// it cannot be had).
async fn forward(
    client: Upstream,
    upstream: Arc<str>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let outgoing = Request::get(format!("{upstream}{path}")).body(Full::new(Bytes::new()));
    let answer = match outgoing {
        Ok(outgoing) => client.request(outgoing).await.ok(),
        Err(_) => None,
    };
    let Some(answer) = answer else {
        return Ok(bad_gateway());
    };
    let (parts, body) = answer.into_parts();
    Ok(match body.collect().await {
        Ok(body) => Response::from_parts(parts, Full::new(body.to_bytes())),
        Err(_) => bad_gateway(),
    })
}

fn bad_gateway() -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::BAD_GATEWAY;
    response
}

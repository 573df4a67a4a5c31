//! `mfa serve`: the PhoneCheck redirect endpoint over HTTP/1.1 (hyper).
//!
//! Only the HTTP plumbing lives here: connection limits and timeouts,
//! headers, logging. Validation, completion, page text and the rate limiter
//! are `mfa_core::phonecheck::callback`. Plain HTTP on loopback by default:
//! put a TLS reverse proxy in front (docs/phonecheck.md).

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use mfa_core::phonecheck::callback::{
    client_address, page_html, CallbackService, ProxyTrust, RateLimiter, CALLBACK_PATH,
};
use mfa_core::phonecheck::slots::{self, ConnectionSlots};
use mfa_core::phonecheck::truid::TruIdClient;
use mfa_core::Config;
use serde_json::json;
use tokio::net::TcpListener;

use super::{runtime, CliError, Status};
use crate::output::Output;

/// Time for a client to send its request headers: a phone's browser sends
/// them at once; an idle socket is dropped soon.
const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
/// Whole connection, including our PATCH to the provider.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Configuration file with the [phonecheck] section (default /etc/mfa/mfa.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Requests allowed per client address per minute.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    rate_limit: u32,
    /// A reverse proxy forwards the requests: count them against the last
    /// X-Forwarded-For address when the connection comes from the proxy.
    /// Without ADDR the proxy is any loopback address (on this machine);
    /// with ADDR, that address only.
    #[arg(
        long,
        value_name = "ADDR",
        num_args = 0..=1,
        default_missing_value = "loopback",
        value_parser = parse_proxy
    )]
    behind_proxy: Option<ProxyTrust>,
}

/// `--behind-proxy` alone means a proxy on this machine; with a value,
/// exactly that address.
fn parse_proxy(s: &str) -> Result<ProxyTrust, String> {
    if s == "loopback" {
        return Ok(ProxyTrust::Loopback);
    }
    s.parse::<IpAddr>()
        .map(ProxyTrust::Address)
        .map_err(|_| format!("{s:?} is not an IP address"))
}

pub fn run(a: ServeArgs, out: &Output) -> Result<Status, CliError> {
    let config = Config::load_or_default(a.config.as_deref())?;
    let pc = config.phonecheck.as_ref().ok_or_else(|| {
        CliError::Usage(format!(
            "{}: no [phonecheck] section; mfa serve completes PhoneChecks",
            config.source_name().display()
        ))
    })?;
    let timeout = Duration::from_secs(*config.general.request_timeout_secs.get_ref());
    let client =
        TruIdClient::from_config(pc, timeout).map_err(|e| CliError::Usage(e.to_string()))?;
    let limiter = RateLimiter::new(a.rate_limit, Duration::from_secs(60), 10_000);
    let service = Arc::new(CallbackService::with_limiter(Arc::new(client), limiter));
    let rt = runtime()?;
    rt.block_on(async {
        let listener = TcpListener::bind(a.listen)
            .await
            .map_err(|e| CliError::Failed(format!("cannot listen on {}: {e}", a.listen)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| CliError::Failed(e.to_string()))?;
        out.result(
            &json!({ "listening": addr.to_string(), "path": CALLBACK_PATH }),
            &format!("mfa serve: listening on http://{addr}{CALLBACK_PATH}"),
        );
        tokio::select! {
            _ = serve(listener, service, a.behind_proxy.unwrap_or(ProxyTrust::None)) => {}
            r = tokio::signal::ctrl_c() => {
                r.map_err(|e| CliError::Failed(format!("cannot wait for Ctrl-C: {e}")))?;
            }
        }
        Ok(Status::Success)
    })
}

/// Accept connections forever (the demo spawns this on its own listener).
/// Each client address holds a few connections at most, so one client
/// cannot starve the others; the trusted proxy carries every client's
/// connections, so for it only the total counts.
pub async fn serve(listener: TcpListener, service: Arc<CallbackService>, proxy: ProxyTrust) {
    let slots = ConnectionSlots::new(slots::PER_ADDRESS, slots::TOTAL);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(target: "mfa::serve", error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Only the trusted proxy may hold many connections (it carries
        // every client's); anyone else reaching the socket directly, with
        // `--behind-proxy ADDR` on a public address, is one client.
        let limit = if proxy.trusts(peer.ip()) {
            slots::TOTAL
        } else {
            slots::PER_ADDRESS
        };
        let Some(permit) = slots.try_acquire_within(peer.ip(), limit) else {
            tracing::warn!(target: "mfa::serve", peer = %peer.ip(), "too many connections; closed");
            continue;
        };
        let service = Arc::clone(&service);
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let service = Arc::clone(&service);
                async move { Ok::<_, Infallible>(respond(&service, peer.ip(), proxy, req).await) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .keep_alive(false)
                .max_buf_size(8192)
                .serve_connection(TokioIo::new(stream), svc);
            if tokio::time::timeout(CONNECTION_TIMEOUT, conn)
                .await
                .is_err()
            {
                tracing::warn!(target: "mfa::serve", peer = %peer.ip(), "connection timed out");
            }
            drop(permit);
        });
    }
}

async fn respond(
    service: &CallbackService,
    peer: IpAddr,
    proxy: ProxyTrust,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    // Every line: the proxy's entry is the last one of the last line. A
    // line that is not text reads as empty (so, last, as unreadable).
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.to_str().unwrap_or(""));
    let client = client_address(peer, forwarded, proxy);
    let method = req.method().as_str().to_owned();
    let reply = service
        .handle(client, &method, req.uri().path(), req.uri().query())
        .await;
    let event = |r: &mfa_core::phonecheck::callback::Reply| {
        tracing::info!(
            target: "mfa::serve",
            peer = %client,
            method = %mfa_core::sanitize::for_log(&method),
            status = r.status,
            outcome = r.outcome,
            detail = %mfa_core::sanitize::for_log(&r.detail),
            "callback"
        );
    };
    event(&reply);
    let body = Bytes::from(page_html(reply.kind));
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() =
        hyper::StatusCode::from_u16(reply.status).unwrap_or(hyper::StatusCode::BAD_REQUEST);
    let h = resp.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The URL holds the code: never send it on as a Referer.
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    );
    if let Some(secs) = reply.retry_after {
        h.insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

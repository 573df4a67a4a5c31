//! Each configured provider reached with the configured credentials:
//! Duo `/auth/v2/check` (and the clock against Duo's), a tru.ID token, the
//! webhook host's TLS. Nothing is sent to a user.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use tokio::time::Instant;

use super::{Finding, Setup};
use crate::admin::Root;
use crate::context::{Clock, SystemClock};
use crate::phonecheck::truid::TruIdClient;
use crate::provider::http::{self, HttpSettings};
use crate::push::duo::{DuoClient, DuoSettings, Stamp};

pub(super) fn check(setup: &Setup<'_>, out: &mut Vec<Finding>) {
    let Some(config) = &setup.config else { return };
    if config.push.is_none() && config.phonecheck.is_none() && config.webhook.is_none() {
        return;
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            out.push(Finding::fail(
                "providers",
                format!("cannot start a runtime: {e}"),
                "retry",
            ));
            return;
        }
    };
    let timeout = Duration::from_secs(*config.general.request_timeout_secs.get_ref());
    let root = &setup.opts.root;
    let ca = |p: &Option<PathBuf>| p.as_deref().map(|p| root.path(p));
    if let Some(p) = &config.push {
        let ca_file = ca(&p.ca_file);
        let settings = DuoSettings {
            ikey: p.ikey.get_ref(),
            skey: p.skey.get_ref().expose_secret(),
            host: p.host.get_ref(),
            http: HttpSettings {
                timeout,
                ca_file: ca_file.as_deref(),
                proxy: p.proxy.as_ref().map(|x| x.get_ref().expose_secret()),
            },
        };
        rt.block_on(duo(&settings, timeout, out));
    }
    if let Some(pc) = &config.phonecheck {
        let mut pc = pc.clone();
        pc.ca_file = ca(&pc.ca_file);
        pc.credentials_file = pc.credentials_file.as_deref().map(|p| root.path(p));
        let result = TruIdClient::from_config(&pc, timeout).map_err(|e| e.to_string());
        let result = match result {
            Ok(client) => rt
                .block_on(client.check_credentials())
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        out.push(match result {
            Ok(()) => Finding::ok("provider.phonecheck", format!("tru.ID at {} issued a token", pc.api_base_url.get_ref())),
            Err(e) => Finding::fail("provider.phonecheck", format!("tru.ID: no token with the configured credentials: {e}"), "check api_base_url, client_id/client_secret (or credentials_file), ca_file and the network"),
        });
    }
    if let Some(w) = &config.webhook {
        out.push(rt.block_on(webhook_tls(
            root,
            w.url.get_ref().expose_secret(),
            w.ca_file.as_deref(),
            timeout,
        )));
    }
}

async fn duo(settings: &DuoSettings<'_>, timeout: Duration, out: &mut Vec<Finding>) {
    let client = match DuoClient::new(settings) {
        Ok(c) => c,
        Err(e) => {
            out.push(Finding::fail(
                "provider.push",
                format!("Duo: {e}"),
                "check ca_file and proxy",
            ));
            return;
        }
    };
    let deadline = Instant::now() + timeout;
    let server_time = match client.ping(deadline).await {
        Ok(t) => t,
        Err(e) => {
            out.push(Finding::fail(
                "provider.push",
                format!("Duo at {}: {e}", settings.host),
                "check host, ca_file and the network",
            ));
            return;
        }
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    out.push(super::clock::skew(
        "clock.duo",
        "Duo",
        server_time,
        clock.now_unix(),
    ));
    let stamp = Stamp::from_server_time(clock, server_time);
    out.push(match client.check(&stamp, deadline).await {
        Ok(_) => Finding::ok(
            "provider.push",
            format!("Duo at {} accepts the integration keys", settings.host),
        ),
        Err(e) => Finding::fail(
            "provider.push",
            format!("Duo at {}: /auth/v2/check: {e}", settings.host),
            "check ikey and skey (an Auth API application)",
        ),
    });
}

/// A TLS handshake with the webhook's host: a HEAD of `/`, never the
/// secret path, so nothing is posted to the channel.
async fn webhook_tls(root: &Root, url: &str, ca_file: Option<&Path>, timeout: Duration) -> Finding {
    let Ok(mut base) = url::Url::parse(url) else {
        return Finding::fail(
            "provider.webhook",
            "webhook url does not parse",
            "fix [webhook] url",
        );
    };
    base.set_path("/");
    base.set_query(None);
    let _ = base.set_username("");
    let _ = base.set_password(None);
    let host = base.host_str().unwrap_or("?").to_owned();
    let ca = ca_file.map(|p| root.path(p));
    let client = match http::client(&HttpSettings {
        timeout,
        ca_file: ca.as_deref(),
        proxy: None,
    }) {
        Ok(c) => c,
        Err(e) => {
            return Finding::fail("provider.webhook", format!("webhook: {e}"), "check ca_file")
        }
    };
    match client.head(base.as_str()).send().await {
        Ok(_) => Finding::ok(
            "provider.webhook",
            format!("webhook host {host} answers over a trusted connection"),
        ),
        Err(e) => Finding::fail(
            "provider.webhook",
            format!("webhook host {host}: {}", http_error(&e)),
            "check the host, its certificate (ca_file) and the network",
        ),
    }
}

/// The error's kind and causes, without the URL (it may hold the secret).
fn http_error(e: &reqwest::Error) -> String {
    let mut msg = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "cannot connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(&format!(": {s}"));
        src = s.source();
    }
    msg
}

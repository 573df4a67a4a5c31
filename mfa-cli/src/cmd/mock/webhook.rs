//! The webhook sink: a stand-in team channel. Accepts any JSON object on its
//! URL (point `[webhook] url` at it, any preset) and prints each message, so
//! `mfa check --factor webhook` can be tried by hand.

use std::net::IpAddr;

use mfa_core::sanitize::strip_control;
use mfa_sim::webhook_sink::{Service, WebhookSink};

use super::Running;
use crate::cmd::CliError;

pub async fn start(bind: IpAddr) -> Result<Running, CliError> {
    let sink = WebhookSink::start_on(bind, Service::Generic)
        .await
        .map_err(|e| CliError::Failed(format!("cannot start the webhook sink: {e}")))?;
    sink.on_message(|m| {
        println!(
            "webhook sink received: {}",
            strip_control(&m.request.body_text(), false)
        );
    });
    Ok(Running {
        name: "webhook",
        url: sink.url(),
        _guard: Box::new(sink),
    })
}

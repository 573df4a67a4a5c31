//! The webhook [`Factor`]: post a one-time code to the team channel, then
//! ask for it.
//!
//! Enrolment: the channel is shared by the team, so there is no per-user
//! secret to enrol. A user is enrolled when the account exists (the
//! engine's account database); who must use this factor is chosen by the
//! policy (`policy.factors`, rules, or the user's `factors` in users.toml).
//! Unknown names get the decoy, and nothing is posted for them, so a scanner
//! cannot spam the channel with made-up names.

use std::time::Duration;

use async_trait::async_trait;

use crate::audit;
use crate::config::{Config, ConfigError};
use crate::context::AuthContext;
use crate::conversation::{Conversation, ConversationError, SecretAnswer};
use crate::factor::{Factor, FactorError, FactorKind, Outcome};
use crate::provider::decoy;
use crate::provider::http::HttpSettings;
use crate::webhook::client::{DeliveryError, WebhookClient};

use super::code::{session_tag, Check, Code, Pending};
use super::template::{rfc3339_utc, Template, Values};

/// The prompt, with the session tag so the person picks the right message.
pub fn prompt(tag: &str) -> String {
    format!("Code for session {tag}: ")
}

/// Shown before the prompt (with it, before OpenSSH 10.3).
pub fn sent_message(tag: &str) -> String {
    format!("A login code was posted to the team channel (session {tag}).")
}

/// Shown at once when the message could not be delivered: no prompt follows.
pub fn not_sent_message(tag: &str) -> String {
    format!("The login code could not be sent to the team channel (session {tag}).")
}

/// Without a terminal (scp, `ssh host cmd`) nobody can type a code that
/// does not exist yet, so nothing is posted.
pub const NEEDS_TERMINAL_MESSAGE: &str =
    "The team-channel code needs an interactive login (ssh -t); nothing was sent.";

pub const EXPIRED_MESSAGE: &str = "The code has expired; log in again for a new one.";
pub const EXHAUSTED_MESSAGE: &str = "Too many wrong codes.";

pub fn wrong_message(left: u32) -> String {
    format!("Wrong code; {left} attempt(s) left.")
}

#[derive(Debug)]
pub struct WebhookFactor {
    client: WebhookClient,
    template: Template,
    digits: u32,
    expiry_secs: u64,
    attempts: u32,
    echo: bool,
}

impl WebhookFactor {
    /// Build from `[webhook]` and `[general] request_timeout_secs`.
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let err = |key: &str, message: String| config.error(key, message);
        let Some(w) = &config.webhook else {
            return Err(err(
                "webhook",
                "the webhook factor is used but there is no [webhook] section".into(),
            ));
        };
        let template = w
            .template()
            .map_err(|e| err("webhook.template", e.to_string()))?;
        let settings = HttpSettings {
            timeout: Duration::from_secs(*config.general.request_timeout_secs.get_ref()),
            ca_file: w.ca_file.as_deref(),
            proxy: None,
        };
        let client = WebhookClient::new(
            secrecy::ExposeSecret::expose_secret(w.url.get_ref()),
            &settings,
        )
        .map_err(|e| err("webhook.ca_file", e.to_string()))?;
        Ok(Self {
            client,
            template,
            digits: *w.code_digits.get_ref(),
            expiry_secs: *w.expiry_secs.get_ref(),
            attempts: *w.attempts.get_ref(),
            echo: w.echo_code,
        })
    }

    async fn ask(
        &self,
        conv: &mut dyn Conversation,
        tag: &str,
    ) -> Result<SecretAnswer, ConversationError> {
        if self.echo {
            conv.prompt_visible(&prompt(tag))
                .await
                .map(zeroize::Zeroizing::new)
        } else {
            conv.prompt_secret(&prompt(tag)).await
        }
    }

    /// Render and post the message. The rendered payload holds the code and
    /// is wiped when it goes out of scope.
    async fn send(
        &self,
        ctx: &AuthContext,
        code: &Code,
        tag: &str,
        now: u64,
    ) -> Result<(), DeliveryError> {
        let time = rfc3339_utc(now);
        let values = Values {
            code: code.expose(),
            session: tag,
            user: &ctx.user,
            host: &ctx.hostname,
            rhost: ctx.rhost.as_deref().unwrap_or("unknown"),
            service: &ctx.service,
            command: ctx.command.as_deref().unwrap_or(""),
            time: &time,
        };
        let payload = self.template.render(&values);
        self.client.post(payload).await
    }
}

fn random_failed(e: crate::context::RandomError) -> FactorError {
    FactorError::Internal(e.to_string())
}

#[async_trait]
impl Factor for WebhookFactor {
    fn kind(&self) -> FactorKind {
        FactorKind::Webhook
    }

    async fn authenticate(
        &self,
        ctx: &AuthContext,
        conv: &mut dyn Conversation,
    ) -> Result<Outcome, FactorError> {
        // Every existing account is enrolled (the channel is the factor).
        // The engine denies unknown names before any factor runs; here too
        // they are denied, never "not enrolled", and nothing is posted.
        match ctx.account() {
            Ok(Some(_)) => {}
            Ok(None) => return Ok(Outcome::Deny("no such account".into())),
            Err(e) => return Err(FactorError::State(e.to_string())),
        }
        if !ctx.interactive {
            // A deny, not NotEnrolled: `unenrolled = allow` must not turn
            // "no terminal" into a way around the factor.
            conv.error(NEEDS_TERMINAL_MESSAGE).await?;
            return Ok(Outcome::Deny(
                "no terminal to type the code; nothing sent".into(),
            ));
        }
        let code = Code::generate(ctx.rng.as_ref(), self.digits).map_err(random_failed)?;
        let tag = session_tag(ctx.rng.as_ref()).map_err(random_failed)?;
        audit::note_session(&tag);
        let issued = ctx.now();

        if let Err(why) = self.send(ctx, &code, &tag, issued).await {
            tracing::warn!(session = %tag, error = %why, "webhook delivery failed");
            // Tell the person now; nobody is left at a prompt for a code
            // that never arrives.
            let _ = conv.error(&not_sent_message(&tag)).await;
            if why.is_unavailable() {
                return Err(FactorError::Unavailable(format!("delivery failed: {why}")));
            }
            return Ok(Outcome::Deny(format!("delivery refused: {why}")));
        }
        conv.info(&sent_message(&tag)).await?;

        let mut pending = Pending::new(code, issued, self.expiry_secs);
        for attempt in 1..=self.attempts {
            let answer = self.ask(conv, &tag).await?;
            match pending.check(&answer, ctx.now()) {
                Check::Accepted => return Ok(Outcome::Allow),
                Check::Expired => {
                    conv.error(EXPIRED_MESSAGE).await?;
                    return Ok(Outcome::Deny("code expired".into()));
                }
                Check::AlreadyUsed => return Ok(Outcome::Deny("code already used".into())),
                Check::Wrong if attempt < self.attempts => {
                    conv.error(&wrong_message(self.attempts - attempt)).await?;
                }
                Check::Wrong => {}
            }
        }
        conv.error(EXHAUSTED_MESSAGE).await?;
        Ok(Outcome::Deny(format!(
            "wrong code {} time(s); attempts exhausted",
            self.attempts
        )))
    }

    /// What an enrolled user whose code is wrong sees, message for message
    /// and wait for wait (the post's round trips, the code's expiry);
    /// nothing is posted.
    async fn decoy(
        &self,
        ctx: &AuthContext,
        conv: &mut dyn Conversation,
    ) -> Result<(), ConversationError> {
        if !ctx.interactive {
            return conv.error(NEEDS_TERMINAL_MESSAGE).await;
        }
        let tag = session_tag(ctx.rng.as_ref()).unwrap_or_else(|_| "ACDEF".into());
        audit::note_session(&tag);
        let issued = ctx.now();
        // The post: connection, TLS and the request.
        let deadline = tokio::time::Instant::from_std(ctx.deadline);
        decoy::pause(ctx, decoy::ROUND_TRIP, decoy::FIRST_REQUEST, deadline).await;
        conv.info(&sent_message(&tag)).await?;
        let expires = issued.saturating_add(self.expiry_secs);
        for attempt in 1..=self.attempts {
            drop(self.ask(conv, &tag).await?);
            if ctx.now() >= expires {
                return conv.error(EXPIRED_MESSAGE).await;
            }
            if attempt < self.attempts {
                conv.error(&wrong_message(self.attempts - attempt)).await?;
            }
        }
        conv.error(EXHAUSTED_MESSAGE).await
    }
}

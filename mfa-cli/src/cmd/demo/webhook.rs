//! The webhook leg: a code posted to a (simulated) Slack channel, typed
//! back; then the channel goes down and the login is refused at once.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use mfa_core::accounts::StaticAccounts;
use mfa_core::audit::{AuditRecord, AuditSink};
use mfa_core::config::UsersDb;
use mfa_core::conversation::terminal::TerminalConversation;
use mfa_core::conversation::SecretAnswer;
use mfa_core::sanitize::strip_control;
use mfa_core::{AuthContext, Config, Conversation, ConversationError, Decision, Engine};
use mfa_sim::webhook_sink::{Channel, Service, WebhookSink};
use mfa_sim::Fault;

use super::totp::demo_account;
use super::{describe, Leg};
use crate::cmd::{runtime, CliError};

const DIGITS: usize = 8;

/// Shows what the channel received; types the code from it under `--auto`,
/// otherwise lets the person type it on the terminal.
struct ChannelReader {
    channel: Channel,
    auto: bool,
    terminal: TerminalConversation,
}

impl ChannelReader {
    fn show_channel(&self) {
        match self.channel.last_text() {
            Some(t) => println!(
                "   [#ssh-logins, simulated Slack] {}",
                strip_control(&t, false)
            ),
            None => println!("   [#ssh-logins, simulated Slack] (nothing arrived)"),
        }
    }
}

#[async_trait]
impl Conversation for ChannelReader {
    async fn prompt_secret(&mut self, prompt: &str) -> Result<SecretAnswer, ConversationError> {
        if !self.auto {
            println!("   Type the code shown in the channel above.");
            return self.terminal.prompt_secret(prompt).await;
        }
        let code = self
            .channel
            .last_code(DIGITS)
            .ok_or(ConversationError::Aborted)?;
        println!("{prompt}{code}    <- typed by the demo, read from the channel");
        Ok(zeroize::Zeroizing::new(code))
    }
    async fn prompt_visible(&mut self, prompt: &str) -> Result<String, ConversationError> {
        self.prompt_secret(prompt).await.map(|s| s.to_string())
    }
    async fn info(&mut self, text: &str) -> Result<(), ConversationError> {
        println!("{text}");
        self.show_channel();
        Ok(())
    }
    async fn error(&mut self, text: &str) -> Result<(), ConversationError> {
        println!("{text}");
        Ok(())
    }
}

/// Prints each audit line, to show the session tag there and no code.
struct PrintAudit;
impl AuditSink for PrintAudit {
    fn record(&self, r: &AuditRecord) {
        println!("   audit: {}", r.to_line());
    }
}

fn failed(e: impl std::fmt::Display) -> CliError {
    CliError::Failed(e.to_string())
}

pub fn leg(dir: &Path, auto: bool) -> Result<Leg, CliError> {
    println!("\n== Webhook (one-time code posted to a team channel) ==");
    let rt = runtime()?;
    let sink = rt
        .block_on(WebhookSink::start(Service::Slack))
        .map_err(|e| failed(format!("cannot start the webhook sink: {e}")))?;
    println!("1. A simulated Slack channel listens on 127.0.0.1 (the sink checks Slack's payload rules).");
    let src = format!(
        "[general]\nrequest_timeout_secs = 3\n[policy]\nfactors = [\"webhook\"]\n\
         [webhook]\nurl = \"{}\"\npreset = \"slack\"\ncode_digits = {DIGITS}\n",
        sink.url()
    );
    let config = Config::parse(&dir.join("webhook-demo.toml"), &src)?;
    let mut engine = Engine::with_users(config, UsersDb::default())?;
    engine.add_audit_sink(Box::new(PrintAudit));

    let home = dir.join("webhook-home");
    std::fs::create_dir(&home).map_err(failed)?;
    let account = demo_account(&home);
    let mut ctx = AuthContext::new(account.name.clone(), "mfa-demo");
    ctx.rhost = Some("203.0.113.7".into());
    ctx.accounts = Arc::new(StaticAccounts(vec![account]));
    let mut conv = ChannelReader {
        channel: sink.channel(),
        auto,
        terminal: TerminalConversation::new(),
    };

    println!("\n2. Log in: the code goes to the channel, you type it back:");
    let first = rt.block_on(engine.authenticate(&ctx, &mut conv));
    println!("   engine says: {}", describe(&first));

    println!("\n3. The channel is down (the webhook answers 500): refused at once, no prompt:");
    sink.set_fault(Some(Fault::Status(500)));
    let second = rt.block_on(engine.authenticate(&ctx, &mut conv));
    println!("   engine says: {}", describe(&second));

    let passed = first.is_allow()
        && matches!(&second, Decision::Deny { reason } if reason.contains("provider unavailable"));
    Ok(Leg {
        name: "webhook",
        passed,
        detail: format!(
            "login: {}; channel down: {}",
            describe(&first),
            describe(&second)
        ),
    })
}

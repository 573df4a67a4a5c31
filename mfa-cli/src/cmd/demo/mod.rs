//! `mfa demo`: the whole flow of every factor, on a fresh machine, with no
//! accounts and no real provider. State lives in a throw-away directory;
//! the decisions come from the real engine.
//!
//! Interactive on a terminal (you type what the "phone" shows); with
//! `--auto`, or when stdin is not a terminal, the demo types for you.

use std::collections::VecDeque;
use std::io::IsTerminal;

use async_trait::async_trait;
use clap::Args;
use mfa_core::conversation::terminal::TerminalConversation;
use mfa_core::conversation::SecretAnswer;
use mfa_core::{Conversation, ConversationError, Decision};
use serde_json::json;

use crate::output::Output;

mod phonecheck;
mod push;
mod totp;
mod webhook;

use super::qr_out::QrFormat;
use super::{CliError, Status};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Type the answers automatically instead of asking.
    #[arg(long)]
    auto: bool,
    #[arg(long, default_value = "utf8", value_parser = str::parse::<QrFormat>)]
    qr: QrFormat,
}

/// Answers prompts from a queue and shows what it "types".
pub struct AutoTyper {
    answers: VecDeque<String>,
}

impl AutoTyper {
    pub fn new(answers: impl IntoIterator<Item = String>) -> Self {
        Self {
            answers: answers.into_iter().collect(),
        }
    }
}

#[async_trait]
impl Conversation for AutoTyper {
    async fn prompt_secret(&mut self, prompt: &str) -> Result<SecretAnswer, ConversationError> {
        let a = self.answers.pop_front().ok_or(ConversationError::Aborted)?;
        println!("{prompt}{a}    <- typed by the demo");
        Ok(zeroize::Zeroizing::new(a))
    }
    async fn prompt_visible(&mut self, prompt: &str) -> Result<String, ConversationError> {
        let a = self.answers.pop_front().ok_or(ConversationError::Aborted)?;
        println!("{prompt}{a}    <- typed by the demo");
        Ok(a)
    }
    async fn info(&mut self, text: &str) -> Result<(), ConversationError> {
        println!("{text}");
        Ok(())
    }
    async fn error(&mut self, text: &str) -> Result<(), ConversationError> {
        println!("{text}");
        Ok(())
    }
}

/// One step's conversation: the terminal, or the auto-typer.
pub fn conversation(auto: bool, answer: impl FnOnce() -> String) -> Box<dyn Conversation> {
    if auto {
        Box::new(AutoTyper::new([answer()]))
    } else {
        Box::new(TerminalConversation::new())
    }
}

/// The result of one factor's leg of the demo.
pub struct Leg {
    pub name: &'static str,
    pub passed: bool,
    pub detail: String,
}

pub fn run(a: DemoArgs, out: &Output) -> Result<Status, CliError> {
    let auto = a.auto || !std::io::stdin().is_terminal();
    let dir = tempfile::Builder::new()
        .prefix("mfa-demo-")
        .tempdir()
        .map_err(|e| CliError::Failed(format!("cannot create a state directory: {e}")))?;
    println!("mfa demo: every factor against the built-in simulators.");
    println!("Throw-away state directory: {}", dir.path().display());
    if auto {
        println!("(answers are typed automatically; run on a terminal without --auto to type them yourself)");
    }
    // One leg per factor; each lives in its own module.
    let legs = [
        totp::leg(dir.path(), auto, &a.qr)?,
        phonecheck::leg(auto, &a.qr)?,
        push::leg(dir.path(), auto)?,
        webhook::leg(dir.path(), auto)?,
    ];

    println!();
    let all = legs.iter().all(|l| l.passed);
    let summary: Vec<String> = legs
        .iter()
        .map(|l| {
            format!(
                "  {:<10} {}  {}",
                l.name,
                if l.passed { "ok  " } else { "FAIL" },
                l.detail
            )
        })
        .collect();
    out.result(
        &json!({
            "ok": all,
            "legs": legs.iter().map(|l| json!({"factor": l.name, "ok": l.passed, "detail": l.detail})).collect::<Vec<_>>(),
        }),
        &format!("Summary:\n{}", summary.join("\n")),
    );
    Ok(if all { Status::Success } else { Status::Denied })
}

pub fn describe(d: &Decision) -> String {
    match d {
        Decision::Allow {
            fail_open: false, ..
        } => "allowed".into(),
        Decision::Allow {
            fail_open: true, ..
        } => "allowed (failmode=safe)".into(),
        Decision::Deny { reason } => format!("denied ({reason})"),
        Decision::Ignore { reason } => format!("ignored ({reason})"),
    }
}

//! A conversation on a terminal. Prompts and messages never go to stdout, so
//! scp/sftp/git streams stay byte-clean.
//!
//! - [`TerminalConversation::new`] (the `mfa` CLI): prompts on stderr,
//!   answers from stdin; when stdin is a terminal, secret prompts use the
//!   raw `/dev/tty` reader (echo off before the prompt is shown).
//! - [`TerminalConversation::controlling_tty`] (`mfa-login`): prompts and
//!   answers on `/dev/tty`, messages on stderr; stdin is never touched.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::time::Instant;

use async_trait::async_trait;
use zeroize::Zeroizing;

use super::{Conversation, ConversationError, SecretAnswer};

/// Longest answer accepted from the terminal; anything longer is refused
/// rather than buffered without bound.
const MAX_ANSWER: usize = 4096;

#[derive(Debug, Default)]
pub struct TerminalConversation {
    tty: bool,
    /// Prompts on `/dev/tty` give up here (the engine's timeout cannot
    /// interrupt a blocking terminal read).
    deadline: Option<Instant>,
}

impl TerminalConversation {
    pub fn new() -> Self {
        Self {
            tty: false,
            deadline: None,
        }
    }

    /// Talk on the controlling terminal (`/dev/tty`) only.
    pub fn controlling_tty() -> Self {
        Self {
            tty: true,
            deadline: None,
        }
    }

    /// Stop waiting for answers on `/dev/tty` at `deadline`.
    pub fn until(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Same raw reader as secret prompts, echoing: Ctrl-C denies cleanly
    /// here too, and the deadline applies.
    fn tty_prompt_visible(&self, prompt: &str) -> Result<String, ConversationError> {
        super::hidden::prompt_on_tty(prompt, MAX_ANSWER, self.deadline, true)
            .map(|answer| answer.as_str().to_owned())
    }

    fn write_err(text: &str) -> Result<(), ConversationError> {
        let mut err = std::io::stderr().lock();
        err.write_all(text.as_bytes())
            .and_then(|_| err.flush())
            .map_err(|e| ConversationError::Failed(e.to_string()))
    }

    fn read_line() -> Result<Zeroizing<String>, ConversationError> {
        let mut line = Zeroizing::new(String::new());
        let stdin = std::io::stdin();
        let mut handle = stdin.lock().take(MAX_ANSWER as u64 + 1);
        let n = handle
            .read_line(&mut line)
            .map_err(|e| ConversationError::Failed(e.to_string()))?;
        if n == 0 {
            return Err(ConversationError::Aborted);
        }
        if line.len() > MAX_ANSWER {
            return Err(ConversationError::Failed("answer too long".into()));
        }
        while line.ends_with('\n') || line.ends_with('\r') {
            line.pop();
        }
        Ok(line)
    }
}

#[async_trait]
impl Conversation for TerminalConversation {
    async fn prompt_secret(&mut self, prompt: &str) -> Result<SecretAnswer, ConversationError> {
        if self.tty {
            return super::hidden::prompt_on_tty(prompt, MAX_ANSWER, self.deadline, false);
        }
        if std::io::stdin().is_terminal() {
            // A person at a terminal: the same reader as mfa-login, which
            // turns echo off before the prompt is shown (so a code typed at
            // once is never echoed) and treats Ctrl-C as a clean denial.
            return super::hidden::prompt_on_tty(prompt, MAX_ANSWER, self.deadline, false);
        }
        Self::write_err(prompt)?;
        let line = Self::read_line()?;
        Self::write_err("\n")?;
        Ok(line)
    }

    async fn prompt_visible(&mut self, prompt: &str) -> Result<String, ConversationError> {
        if self.tty {
            return self.tty_prompt_visible(prompt);
        }
        Self::write_err(prompt)?;
        Ok(Self::read_line()?.to_string())
    }

    async fn info(&mut self, text: &str) -> Result<(), ConversationError> {
        Self::write_err(text)?;
        Self::write_err("\n")
    }

    async fn error(&mut self, text: &str) -> Result<(), ConversationError> {
        Self::write_err(text)?;
        Self::write_err("\n")
    }
}

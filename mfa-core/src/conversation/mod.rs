//! The only way a factor talks to the person logging in.
//!
//! Implemented by the PAM conversation (mfa-pam), by a terminal
//! ([`terminal::TerminalConversation`]) and by a scripted test double
//! (`scripted::ScriptedConversation`, only in test builds).

mod hidden;
pub mod noninteractive;
// The test double is compiled for this crate's unit tests, and for other
// crates' tests through the `scripted` feature, which only dev-dependencies
// enable: it never reaches pam_mfa.so, mfa-login or mfa.
#[cfg(any(test, feature = "scripted"))]
pub mod scripted;
pub mod terminal;

use async_trait::async_trait;
use zeroize::Zeroizing;

/// A secret answer (a code, a password). Wiped from memory when dropped.
pub type SecretAnswer = Zeroizing<String>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConversationError {
    /// The person went away: Ctrl-C, closed terminal, PAM_CONV_ERR.
    #[error("the conversation was aborted")]
    Aborted,
    /// There is nobody to ask (no terminal, non-interactive session).
    #[error("no interactive conversation is available")]
    NotInteractive,
    #[error("conversation failed: {0}")]
    Failed(String),
}

#[async_trait]
pub trait Conversation: Send {
    /// Ask with echo off (codes, passwords).
    async fn prompt_secret(&mut self, prompt: &str) -> Result<SecretAnswer, ConversationError>;
    /// Ask with echo on (menu choices, "press Enter").
    async fn prompt_visible(&mut self, prompt: &str) -> Result<String, ConversationError>;
    /// Show information. Under OpenSSH < 10.3 this appears only with the
    /// next prompt, so a factor that must be seen now follows it with one.
    async fn info(&mut self, text: &str) -> Result<(), ConversationError>;
    /// Show an error message.
    async fn error(&mut self, text: &str) -> Result<(), ConversationError>;
}
